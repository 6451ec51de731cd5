"""The bench's sync figures, measured on a small clinic against the service as a real process."""

from pathlib import Path

from app.services import bench_sync
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from tests.conftest import PASSPHRASE
from tests.server.workstations import register


def test_sync_figures_come_from_a_real_push_join_and_load(runtime: ClinicRuntime, staff: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    desk: Ctx = next(iter(staff.values()))
    for i in range(120):
        register(desk, f"Pat{i}", "Bench")
    data_dir = runtime.data_dir
    runtime.close()

    figures = bench_sync.sync_figures(data_dir, lambda: PASSPHRASE)

    assert figures["sync_rows"] > 120  # the patients and the rest of the clinic
    assert figures["incremental_changes"] == figures["incremental_pulled"] == 100
    for key in ("initial_push_s", "first_sync_s", "incremental_sync_ms", "server_pulls_per_s"):
        value = figures[key]
        assert isinstance(value, float) and value > 0, (key, figures)
