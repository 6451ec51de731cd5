"""`chairside bench` end to end: a real subprocess, a real clinic, one JSON object out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]

NUMERIC_KEYS = (
    "patients",
    "search_index_build_ms",
    "patient_search_p50_ms",
    "patient_search_p95_ms",
    "patient_search_floor_ms",
    "patient_search_ratio_to_floor",
    "open_patient_ms",
    "open_patient_floor_ms",
    "open_patient_ratio_to_floor",
    "sqlite_workload_ms",
    "sqlcipher_workload_ms",
    "sqlcipher_overhead_ratio",
    "cold_start_floor_s",
    "cold_start_budget_s",
    "patient_search_p95_budget_ms",
    "sqlcipher_overhead_budget_ratio",
    "chart_render_ms",
    "perio_keystroke_ms",
    "perio_exam_save_ms",
    "backup_mb_per_s",
)
COLD_START_KEYS = ("cold_start_s", "cold_start_ratio_to_floor")


def _bench(data_dir: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "CHAIRSIDE_RECOVERY_PASSPHRASE": PASSPHRASE,
        # never touch the real keyring of whoever runs the tests
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONPATH": str(ROOT),
        # the sync figures push a whole demo clinic (minutes); test_bench_sync measures a small one
        "CHAIRSIDE_BENCH_SYNC": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--data-dir", str(data_dir), "--patients", "300"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one object and nothing else on stdout
    assert isinstance(report, dict)
    return report


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@pytest.mark.slow
def test_bench_reports_every_figure_as_one_json_object(tmp_path: Path) -> None:
    data_dir = tmp_path / "bench-clinic"
    first = _bench(data_dir)
    for key in NUMERIC_KEYS:
        assert _is_number(first.get(key)), (key, first.get(key))
    assert first["patients"] == 300
    assert first["search_queries"] >= 300  # type: ignore[operator]
    assert _is_number(first["seed_s"])
    for key in COLD_START_KEYS:
        # null only with the reason beside it (the GUI's bench start-up mode failed)
        assert _is_number(first[key]) or (first[key] is None and first.get("cold_start_error")), key
    assert not any(isinstance(v, dict | list) for v in first.values())

    # a second run opens the clinic it made instead of making another
    again = _bench(data_dir)
    assert again["patients"] == 300
    assert "seed_s" not in again
    assert all(_is_number(again[key]) for key in NUMERIC_KEYS)
