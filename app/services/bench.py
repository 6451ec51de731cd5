"""`chairside bench`: measures a generated clinic against DESIGN.md's budgets, as one JSON object.

Each figure comes with the floor it stands on (the raw SQLite query, a bare Qt window), so a
slow number can be told apart from a slow machine. Nothing here asserts: it only reports.
"""

import collections
import json
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from queue import Empty, Queue
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app import bootstrap
from app.config import Paths
from app.db.models import Appointment, Location, Patient
from app.domain.patient_search import fold
from app.services import auth, bench_sync, demo, patients, scheduling
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime

CLINIC_NAME = "Bench Dental (demo)"
DEFAULT_PASSPHRASE = "bench recovery passphrase"
DEFAULT_ADMIN_PASSWORD = "bench-admin-password"
STARTUP_TIMEOUT_S = 30.0
STARTUP_RUNS = 3

BUDGETS = {
    "cold_start_budget_s": 1.5,
    "patient_search_p95_budget_ms": 20,
    "sqlcipher_overhead_budget_ratio": 1.3,
    "next_slot_budget_ms": 20,
    "move_appointment_budget_ms": 20,
    "day_view_budget_ms": 50,
    "backup_budget_mb_per_s": 100,
    "first_sync_budget_s": 30,
    "incremental_sync_budget_ms": 300,
    "server_pulls_budget_per_s": 1000,
}
NEXT_SLOT_CALLS = 50
NEXT_SLOT_PROVIDERS = 5
NEXT_SLOT_DAYS = 91
MOVES = 30

_FLOOR_WINDOW = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
window = QMainWindow()
window.show()
def idle():
    print("ready", flush=True)
    app.quit()
QTimer.singleShot(0, idle)
sys.exit(app.exec())
"""

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


# --- the clinic ---


def _open_or_create(
    data_dir: Path, provider: Callable[[], str | None], patient_count: int
) -> tuple[ClinicRuntime, str | None, str, float | None]:
    """The open clinic, the passphrase used (if any), the admin password, and seeding time."""
    asked: list[str | None] = []

    def remembered() -> str | None:
        # ask once (it may prompt), and remember it for the GUI runs
        if not asked:
            asked.append(provider())
        return asked[0]

    if Paths(data_dir).db.exists():
        runtime = bootstrap.open_clinic(data_dir, remembered)
        password = os.environ.get("CHAIRSIDE_BENCH_PASSWORD", DEFAULT_ADMIN_PASSWORD)
        return runtime, (asked[0] if asked else None), password, None
    passphrase = remembered() or DEFAULT_PASSPHRASE
    started = time.perf_counter()
    runtime = bootstrap.create_clinic(
        data_dir, clinic_name=CLINIC_NAME, passphrase=passphrase, admin_password=DEFAULT_ADMIN_PASSWORD
    )
    try:
        demo.seed(runtime, patients=patient_count, staff_password=DEFAULT_ADMIN_PASSWORD)
    finally:
        runtime.close()
    seeded = time.perf_counter() - started
    # measure a freshly opened clinic, as a workstation would see it after a restart
    return bootstrap.open_clinic(data_dir, lambda: passphrase), passphrase, DEFAULT_ADMIN_PASSWORD, seeded


def _sample(runtime: ClinicRuntime, n: int, rng: random.Random) -> list[Any]:
    with runtime.sessions() as s:
        rows = s.execute(
            select(
                Patient.id,
                Patient.chart_no,
                Patient.first_name,
                Patient.last_name,
                Patient.date_of_birth,
                Patient.mobile_phone,
                Patient.home_phone,
            )
            .where(Patient.deleted_at.is_(None), Patient.archived_at.is_(None))
            .order_by(Patient.id)
        ).all()
    return rng.sample(rows, min(n, len(rows)))


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # two keys swapped
    return word[:i] + word[i + 1 :]  # one key dropped


def _queries(rows: list[Any], rng: random.Random) -> tuple[list[tuple[str, str]], list[str]]:
    """(kind, text) searches as typed at the front desk, and the stored-case name prefixes typed."""
    queries: list[tuple[str, str]] = []
    prefixes: list[str] = []
    names = [r for r in rows if len(fold(r.last_name)) >= 4]
    for r in names[:24]:
        typed = fold(r.last_name)
        for k in range(1, len(typed) + 1):
            queries.append(("prefix", typed[:k]))
            prefixes.append(r.last_name[:k])
    for r in names[24:64]:
        queries.append(("typo", _typo(fold(r.last_name), rng)))
    for r in rows[64:104]:
        queries.append(("first_last", f"{fold(r.first_name)} {fold(r.last_name)}"))
    for r in rows[104:110]:
        full = f"{fold(r.first_name)} {fold(r.last_name)}"
        queries.extend(("first_last", full[:k]) for k in range(len(fold(r.first_name)) + 2, len(full) + 1))
    for r in rows[110:135]:
        d = r.date_of_birth
        queries.append(("dob", f"{d.month:02d}/{d.day:02d}/{d.year}"))
        queries.append(("dob", d.isoformat()))
    phones = [p for r in rows[135:] for p in (r.mobile_phone, r.home_phone) if p][:30]
    for n, p in enumerate(phones):
        digits = p[-10:]
        queries.append(("phone", [digits[-4:], digits[-7:], f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"][n % 3]))
    queries.extend(("chart", r.chart_no) for r in rows[-30:])
    return queries, prefixes


def _search_figures(ctx: Ctx, rows: list[Any], rng: random.Random) -> dict[str, Any]:
    started = time.perf_counter()
    patients.warm_search(ctx)
    build = time.perf_counter() - started
    queries, prefixes = _queries(rows, rng)
    times = []
    for _kind, text in queries:
        t0 = time.perf_counter()
        patients.search(ctx, text)
        times.append(time.perf_counter() - t0)
    floor = _raw_prefix_times(ctx.runtime, prefixes)
    p95, floor_p95 = _p95(times), _p95(floor)
    return {
        "search_queries": len(queries),
        "search_index_build_ms": _ms(build),
        "patient_search_p50_ms": _ms(statistics.median(times)),
        "patient_search_p95_ms": _ms(p95),
        "patient_search_max_ms": _ms(max(times)),
        "patient_search_floor_ms": _ms(floor_p95),
        "patient_search_ratio_to_floor": _ratio(p95, floor_p95),
    }


def _raw_prefix_times(runtime: ClinicRuntime, prefixes: list[str]) -> list[float]:
    """The raw indexed query under a name search: GLOB is LIKE that the BINARY index can serve."""
    conn = runtime.engine.raw_connection()
    try:
        cur = conn.cursor()
        sql = (
            "SELECT id, chart_no, first_name, last_name, date_of_birth FROM patient "
            "WHERE last_name GLOB ? AND deleted_at IS NULL LIMIT 50"
        )
        times = []
        for prefix in prefixes:
            t0 = time.perf_counter()
            cur.execute(sql, (prefix + "*",))
            cur.fetchall()
            times.append(time.perf_counter() - t0)
        cur.close()
        return times
    finally:
        conn.close()


def _open_figures(ctx: Ctx, rows: list[Any]) -> dict[str, Any]:
    ids = [r.id for r in rows[:50]]
    times = []
    for pid in ids:
        t0 = time.perf_counter()
        patients.open_record(ctx, pid)
        times.append(time.perf_counter() - t0)
    conn = ctx.runtime.engine.raw_connection()
    try:
        cur = conn.cursor()
        floor = []
        for pid in ids:
            t0 = time.perf_counter()
            cur.execute("SELECT * FROM patient WHERE id = ?", (pid,))
            cur.fetchone()
            floor.append(time.perf_counter() - t0)
        cur.close()
    finally:
        conn.close()
    median, floor_median = statistics.median(times), statistics.median(floor)
    return {
        "open_patient_ms": _ms(median),
        "open_patient_floor_ms": _ms(floor_median),
        "open_patient_ratio_to_floor": _ratio(median, floor_median),
    }


# --- the appointment book ---


def _local_today(tz_name: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(tz_name)).date()


def _slot_floor(runtime: ClinicRuntime, location_id: str, start: datetime, end: datetime, n: int) -> list[float]:
    """The raw query under a slot search: the window's active bookings at the location."""
    conn = runtime.engine.raw_connection()
    try:
        cur = conn.cursor()
        sql = (
            "SELECT id, provider_id, operatory_id, patient_id, starts_at, ends_at FROM appointment "
            "WHERE location_id = ? AND deleted_at IS NULL AND on_pinboard = 0 AND starts_at < ? AND starts_at >= ? "
            "AND ends_at > ? "
            "AND status IN ('scheduled', 'confirmed', 'arrived', 'seated', 'completed')"
        )
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        args = (location_id, end.strftime(stamp), (start - timedelta(hours=12)).strftime(stamp), start.strftime(stamp))
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            cur.execute(sql, args)
            cur.fetchall()
            times.append(time.perf_counter() - t0)
        cur.close()
        return times
    finally:
        conn.close()


def _schedule_figures(ctx: Ctx) -> dict[str, Any]:
    """Next free slot across 5 providers over 3 months, and moving a booking (then back)."""
    with ctx.runtime.sessions() as s:
        loc = s.scalar(select(Location).where(Location.deleted_at.is_(None)).order_by(Location.created_at).limit(1))
        if loc is None:
            return {"schedule_error": "the clinic has no location"}
        location_id, tz_name = loc.id, loc.time_zone
        provider_ids = tuple(p.id for p in scheduling.providers(s))[:NEXT_SLOT_PROVIDERS]
    today = _local_today(tz_name)
    hour = timedelta(hours=1)
    times = []
    for n in range(NEXT_SLOT_CALLS):
        first = today + timedelta(days=n % 7)
        query = scheduling.SlotQuery(
            location_id, hour, first, first + timedelta(days=NEXT_SLOT_DAYS), provider_ids=provider_ids
        )
        t0 = time.perf_counter()
        scheduling.next_available(ctx, query)
        times.append(time.perf_counter() - t0)
    now = datetime.now(UTC)
    floor = _slot_floor(ctx.runtime, location_id, now, now + timedelta(days=NEXT_SLOT_DAYS), NEXT_SLOT_CALLS)
    p95, floor_p95 = _p95(times), _p95(floor)
    figures: dict[str, Any] = {
        "next_slot_p50_ms": _ms(statistics.median(times)),
        "next_slot_ms": _ms(p95),
        "next_slot_floor_ms": _ms(floor_p95),
        "next_slot_ratio_to_floor": _ratio(p95, floor_p95),
    }
    figures.update(_move_figures(ctx, location_id, today))
    return figures


def _move_figures(ctx: Ctx, location_id: str, today: date) -> dict[str, Any]:
    """Each of MOVES future bookings moved to its next free slot and back, so the book ends as it began."""
    with ctx.runtime.sessions() as s:
        rows = list(
            s.scalars(
                select(Appointment)
                .where(
                    Appointment.location_id == location_id,
                    Appointment.deleted_at.is_(None),
                    Appointment.on_pinboard.is_(False),
                    Appointment.status.in_(("scheduled", "confirmed")),
                    Appointment.starts_at > datetime.now(UTC) + timedelta(days=1),
                )
                .order_by(Appointment.starts_at)
                .limit(MOVES)
            )
        )
    times = []
    for a in rows:
        assert a.starts_at is not None and a.ends_at is not None
        length = a.ends_at - a.starts_at
        query = scheduling.SlotQuery(
            location_id,
            length,
            today + timedelta(days=1),
            today + timedelta(days=NEXT_SLOT_DAYS),
            provider_ids=(a.provider_id,),
            patient_id=a.patient_id,
            limit=1,
        )
        options = scheduling.next_available(ctx, query)
        if not options:
            continue
        slot = options[0]
        t0 = time.perf_counter()
        moved = scheduling.move(ctx, a.id, a.version, slot.start, slot.end, operatory_id=slot.operatory_id)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scheduling.move(ctx, a.id, moved.version, a.starts_at, a.ends_at, operatory_id=a.operatory_id)
        times.append(time.perf_counter() - t0)
    if not times:
        return {"move_appointment_error": "no future booking to move"}
    return {"moves": len(times), "move_appointment_ms": _ms(statistics.median(times))}


# --- SQLCipher against plain SQLite ---


def _connect_sqlite(path: Path) -> Any:
    return sqlite3.connect(path, isolation_level=None)


def _connect_sqlcipher(path: Path) -> Any:
    import sqlcipher3.dbapi2 as sqlcipher

    conn = sqlcipher.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{secrets.token_hex(32).upper()}'\"")
    return conn


def _workload(connect: Callable[[Path], Any], path: Path) -> float:
    """Seconds for one run of the shared read/write workload on a new database at `path`."""
    rng = random.Random(11)
    conn = connect(path)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536"):
        conn.execute(f"PRAGMA {pragma}").fetchall()
    rows = [
        (
            f"{n:08d}-{rng.getrandbits(64):016x}",
            str(1001 + n),
            rng.choice(demo.FEMALE_NAMES + demo.MALE_NAMES),
            rng.choice(demo.LAST_NAMES),
            f"{rng.randrange(1935, 2024)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            f"+1212555{rng.randrange(10000):04d}",
            f"patient{n}@example.org",
            f"{rng.randrange(1, 9999)} {rng.choice(demo.STREETS)} St",
            "New York",
            "Synthetic demo patient.",
            "2026-01-01T00:00:00.000000Z",
        )
        for n in range(5000)
    ]
    ids = [r[0] for r in rows]
    started = time.perf_counter()
    conn.execute(
        "CREATE TABLE patient (id TEXT PRIMARY KEY, chart_no TEXT UNIQUE, first_name TEXT, last_name TEXT, "
        "date_of_birth TEXT, mobile_phone TEXT, email TEXT, address_line1 TEXT, city TEXT, notes TEXT, "
        "updated_at TEXT, version INTEGER NOT NULL DEFAULT 1)"
    )
    # NOCASE so that LIKE 'prefix%' can use the index
    conn.execute("CREATE INDEX ix_patient_last_name ON patient (last_name COLLATE NOCASE)")
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO patient VALUES ({', '.join('?' * 11)}, 1)", rows)
    conn.execute("COMMIT")
    for _ in range(2000):
        conn.execute("SELECT * FROM patient WHERE id = ?", (rng.choice(ids),)).fetchone()
    for _ in range(200):
        prefix = fold(rng.choice(demo.LAST_NAMES))[: rng.randrange(1, 5)]
        conn.execute(
            "SELECT id, first_name, last_name FROM patient WHERE last_name LIKE ? LIMIT 50", (prefix + "%",)
        ).fetchall()
    for n in range(500):
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE patient SET notes = ?, updated_at = ?, version = version + 1 WHERE id = ?",
            (f"Edited {n}", f"2026-01-02T00:00:{n % 60:02d}.000000Z", rng.choice(ids)),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _cipher_figures() -> dict[str, Any]:
    plain, cipher = [], []
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        for run in range(3):  # alternate, so a busy moment of the machine hits both sides
            plain.append(_workload(_connect_sqlite, Path(tmp, f"plain{run}.db")))
            cipher.append(_workload(_connect_sqlcipher, Path(tmp, f"cipher{run}.db")))
    p, c = statistics.median(plain), statistics.median(cipher)
    return {"sqlite_workload_ms": _ms(p), "sqlcipher_workload_ms": _ms(c), "sqlcipher_overhead_ratio": _ratio(c, p)}


# --- cold start ---


def _pump(stream: Any, sink: Callable[[Any], None], end: object = "") -> None:
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()
    if end != "":
        sink(end)  # tells the reader the process closed its output


def _time_until_ready(cmd: list[str], env: dict[str, str]) -> tuple[float | None, str]:
    """Seconds from spawning `cmd` to its 'ready' line, or None and what went wrong."""
    lines: Queue[str | None] = Queue()
    stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=_PROJECT_ROOT,
        text=True,
    )
    threading.Thread(target=_pump, args=(proc.stdout, lines.put, None), daemon=True).start()
    err = threading.Thread(target=_pump, args=(proc.stderr, stderr_tail.append), daemon=True)
    err.start()
    ready_at = None
    deadline = started + STARTUP_TIMEOUT_S
    while ready_at is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.perf_counter()))
        except Empty:
            break
        if line is None:
            break
        if line.startswith("ready"):
            ready_at = time.perf_counter() - started
    try:
        code = proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    err.join(timeout=2)
    tail = "".join(stderr_tail).strip()[-2000:]
    if ready_at is None:
        why = "no 'ready' line" if code is not None else f"no 'ready' within {STARTUP_TIMEOUT_S:.0f} s"
        return None, f"{why} (exit code {code}): {tail}"
    if code != 0:
        return None, f"exit code {code} after 'ready': {tail}"
    return ready_at, ""


def _median_startup(cmd: list[str], env: dict[str, str]) -> tuple[float | None, str]:
    times = []
    for _ in range(STARTUP_RUNS):
        t, error = _time_until_ready(cmd, env)
        if t is None:
            return None, error  # a broken start will not mend itself on the next try
        times.append(t)
    return round(statistics.median(times), 3), ""


def _startup_figures(data_dir: Path, passphrase: str | None, password: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    # a clinic's install keeps its compiled bytecode; with this set (as on some build machines)
    # every start would compile the whole program again, which no workstation does
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    floor, floor_error = _median_startup([sys.executable, "-c", _FLOOR_WINDOW], env)
    app_env = {
        **env,
        "CHAIRSIDE_BENCH_STARTUP": "1",
        "CHAIRSIDE_BENCH_USER": "admin",
        "CHAIRSIDE_BENCH_PASSWORD": password,
    }
    if passphrase:
        app_env["CHAIRSIDE_RECOVERY_PASSPHRASE"] = passphrase
    cold, error = _median_startup([sys.executable, "-m", "app", "--data-dir", str(data_dir)], app_env)
    figures: dict[str, Any] = {
        "cold_start_s": cold,
        "cold_start_floor_s": floor,
        "cold_start_ratio_to_floor": _ratio(cold, floor),
    }
    if error:
        figures["cold_start_error"] = error
    if floor_error:
        figures["cold_start_floor_error"] = floor_error
    return figures


def _backup_figures(runtime: ClinicRuntime, passphrase: str | None) -> dict[str, Any]:
    """A whole encrypted backup of the clinic into a scratch folder (deleted afterwards)."""
    from app.services import backup

    with tempfile.TemporaryDirectory(prefix="chairside-bench-backup-") as folder:
        return backup.measure_throughput(runtime, Path(folder), passphrase=lambda: passphrase)


def main(
    data_dir: Path,
    *,
    patients: int,
    passphrase: Callable[[], str | None],
    extra: Callable[[Ctx], dict[str, Any]] | None = None,
) -> int:
    """Measure the clinic in `data_dir` (made and seeded with `patients` if absent); print JSON.

    `extra` adds figures measured outside the service layer (the GUI's, passed in by the CLI
    so that services never import Qt).
    """
    started = time.perf_counter()
    runtime, used_passphrase, password, seeded = _open_or_create(data_dir, passphrase, patients)
    report: dict[str, Any] = {}
    try:
        ctx = Ctx(runtime, auth.sign_in(runtime, "admin", password))
        with runtime.sessions() as s:
            report["patients"] = s.scalar(select(func.count()).select_from(Patient).where(Patient.deleted_at.is_(None)))
        if seeded is not None:
            report["seed_s"] = round(seeded, 3)
        rng = random.Random(2026)
        rows = _sample(runtime, 400, rng)
        report.update(_search_figures(ctx, rows, rng))
        report.update(_open_figures(ctx, rows))
        report.update(_schedule_figures(ctx))
        report.update(_backup_figures(runtime, used_passphrase))
        if extra is not None:
            report.update(extra(ctx))
    finally:
        runtime.close()
    report.update(_cipher_figures())
    if os.environ.get("CHAIRSIDE_BENCH_SYNC", "1") != "0":
        report.update(bench_sync.sync_figures(data_dir, lambda: used_passphrase))
    report.update(_startup_figures(data_dir, used_passphrase, password))
    report.update(BUDGETS)
    report["bench_total_s"] = round(time.perf_counter() - started, 3)
    print(json.dumps(report))
    return 0
