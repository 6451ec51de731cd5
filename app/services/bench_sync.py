"""Sync figures for `chairside bench`: the cloud service as a real process on loopback.

- first_sync_s: a new workstation joins and pulls the whole clinic (after a copy of the
  bench clinic pushed it all; that push is reported as initial_push_s).
- incremental_sync_ms: 100 changes pushed by one workstation and pulled by the other.
- server_pulls_per_s: no-change pulls per second, from a separate load process
  (app.services.bench_load), the median of three runs; the service's /health (one
  `SELECT 1` on the same event-loop connection the no-change poll uses) is measured the
  same way as the floor.

The service uses CHAIRSIDE_BENCH_CLOUD_DATABASE_URL (PostgreSQL, as in production) or, by
default, a SQLite file in a scratch folder. The bench clinic itself is never enrolled: a
copy of it is.
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app import bootstrap
from app.db.models import Patient
from app.services import cloud, sync
from app.services.runtime import ClinicRuntime
from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION

CLOUD_CLI = str(Path(sys.executable).with_name("chairside-cloud"))
INCREMENTAL_CHANGES = 100
LOAD_SECONDS = 4.0
LOAD_CONNECTIONS = 16
LOAD_ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cloud(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CLOUD_CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"chairside-cloud {args[0]} failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip().split()[-1]


@contextmanager
def _service(scratch: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = os.environ.get("CHAIRSIDE_BENCH_CLOUD_DATABASE_URL") or f"sqlite:///{scratch / 'cloud.db'}"
    env = {**os.environ, "DATABASE_URL": url, "ENROL_RATE_PER_MINUTE": "1000", "LOG_LEVEL": "WARNING"}
    port = _free_port()
    process = subprocess.Popen(
        [CLOUD_CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the cloud service did not start")
            time.sleep(0.1)
        yield base, env
    finally:
        process.terminate()
        process.wait(30)


def _touch_patients(runtime: ClinicRuntime, n: int) -> None:
    """n patients' notes changed, each in its own transaction as a receptionist would."""
    with runtime.sessions() as s:
        ids = list(s.scalars(select(Patient.id).where(Patient.deleted_at.is_(None)).limit(n)))
    for i, pid in enumerate(ids):
        with runtime.sessions() as s:
            p = s.get(Patient, pid)
            assert p is not None
            p.notes = f"bench change {i} at {time.time()}"
            s.commit()


def sync_figures(data_dir: Path, passphrase: Callable[[], str | None]) -> dict[str, Any]:
    secret = passphrase()
    if not secret:
        return {"sync_error": "the recovery passphrase is needed to copy and join the bench clinic"}
    with tempfile.TemporaryDirectory(prefix="chairside-bench-sync-") as folder:
        scratch = Path(folder)
        shutil.copytree(data_dir, scratch / "desk", ignore=shutil.ignore_patterns("backups", "*.before-upgrade-*"))
        with _service(scratch) as (base, env):
            clinic = _cloud(env, "clinic", "create", "--name", "Bench Dental")
            desk = bootstrap.open_clinic(scratch / "desk", lambda: secret)
            try:
                t0 = time.perf_counter()
                sync.connect_clinic(desk, base, _cloud(env, "enrol-code", "--clinic", clinic))
                pushed = sync.run_once(desk)
                initial_push = time.perf_counter() - t0
                t0 = time.perf_counter()
                surgery = bootstrap.join_clinic(
                    scratch / "surgery", url=base, code=_cloud(env, "enrol-code", "--clinic", clinic), passphrase=secret
                )
                first_sync = time.perf_counter() - t0
                try:
                    _touch_patients(desk, INCREMENTAL_CHANGES)
                    t0 = time.perf_counter()
                    out = sync.run_once(desk)
                    into = sync.run_once(surgery)
                    incremental = time.perf_counter() - t0
                    token = cloud.require(surgery).token
                finally:
                    surgery.close()
            finally:
                desk.close()
            # the floor: the same load process against the bare health endpoint
            auth = [f"Authorization: Bearer {token}", f"{SCHEMA_HEADER}: {SCHEMA_VERSION}"]
            pull_path = f"/v1/sync/pull?cursor={_head_cursor(base, token)}"
            loads = _loads(base, auth, [pull_path, "/health"])
    figures: dict[str, Any] = {
        "sync_rows": pushed.pushed,
        "initial_push_s": round(initial_push, 2),
        "first_sync_s": round(first_sync, 2),
        "incremental_changes": out.pushed,
        "incremental_pulled": into.pulled,
        "incremental_sync_ms": round(incremental * 1000, 1),
        "cloud_database": "postgresql" if os.environ.get("CHAIRSIDE_BENCH_CLOUD_DATABASE_URL") else "sqlite",
    }
    pulls, health = loads[pull_path], loads["/health"]
    if isinstance(pulls, float) and isinstance(health, float):
        figures.update(
            server_pulls_per_s=round(pulls, 1),
            server_health_floor_per_s=round(health, 1),
            server_pulls_ratio_to_floor=round(pulls / health, 2),
        )
    else:
        figures["server_pulls_error"] = str(pulls if isinstance(pulls, str) else health)
    return figures


def _head_cursor(base: str, token: str) -> int:
    """Page up to the head, so that every pull of the load is a no-change pull."""
    headers = {"Authorization": f"Bearer {token}", SCHEMA_HEADER: SCHEMA_VERSION}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        page = {"cursor": 0, "has_more": True}
        while page["has_more"]:
            page = client.get("/v1/sync/pull", params={"cursor": page["cursor"]}).raise_for_status().json()
    return int(page["cursor"])


def _loads(base: str, headers: list[str], paths: list[str]) -> dict[str, float | str]:
    """Each path's median of LOAD_ROUNDS runs, taken in turns (this machine's speed wanders)."""
    runs: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(LOAD_ROUNDS):
        for path in paths:
            rate = _load(base, path, headers)
            if isinstance(rate, str):
                return dict.fromkeys(paths, rate)
            runs[path].append(rate)
    return {path: statistics.median(rates) for path, rates in runs.items()}


def _load(base: str, path: str, headers: list[str]) -> float | str:
    """Requests per second from a separate process; or why it failed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.services.bench_load",
            base,
            path,
            str(LOAD_SECONDS),
            str(LOAD_CONNECTIONS),
            *headers,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return float(done.stdout.strip()) if done.returncode == 0 else done.stderr.strip()[-300:]
