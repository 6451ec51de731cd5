"""`chairside-cloud serve` as a real process on loopback: it migrates a new database and syncs."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION
from tests.server.workstations import free_port, wait_until_serving

PATIENT_NAME = "Ottoline Brackenridge"
CLI = str(Path(sys.executable).with_name("chairside-cloud"))


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def server(
    fresh_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], Path]]:
    """The service serving a brand-new database: `serve` has to migrate it first."""
    env = {**os.environ, "DATABASE_URL": fresh_database_url}
    port = free_port()
    log_path = tmp_path_factory.mktemp("cloud") / "serve.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log_file, stderr=log_file
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log_path)
        yield url, env, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_served_cloud_enrols_two_workstations_and_carries_a_change_between_them(
    server: tuple[str, dict[str, str], Path],
) -> None:
    url, env, log_path = server
    clinic_id = _cli(env, "clinic", "create", "--name", "Harbour Dental")
    codes = [_cli(env, "enrol-code", "--clinic", clinic_id, "--hours", "1") for _ in range(2)]

    with httpx.Client(base_url=url, timeout=10) as http:
        health = http.get("/health").json()
        assert http.get("/docs").status_code == 200
        tokens = []
        for code, name in zip(codes, ("Front desk", "Surgery"), strict=True):
            enrolled = http.post("/v1/enrol", json={"code": code, "device_name": name})
            assert enrolled.status_code == 200, enrolled.text
            assert enrolled.json()["clinic_name"] == "Harbour Dental"
            tokens.append(enrolled.json()["token"])
        desk, surgery = ({"Authorization": f"Bearer {t}", SCHEMA_HEADER: SCHEMA_VERSION} for t in tokens)
        row = {"id": str(uuid.uuid4()), "version": 1, "full_name": PATIENT_NAME}
        pushed = http.post(
            "/v1/sync/push",
            headers=desk,
            json={"push_id": uuid.uuid4().hex, "last_pulled_cursor": 0, "changes": {"patient": {"created": [row]}}},
        )
        pulled = http.get("/v1/sync/pull", params={"cursor": 0}, headers=surgery)

    assert health["status"] == "ok"
    assert pushed.status_code == 200 and pushed.json()["applied"] == 1
    assert pulled.json()["changes"] == {"patient": {"created": [row], "updated": [], "deleted": []}}
    assert pulled.json()["cursor"] == pushed.json()["cursor"]
    # the process logs JSON lines with no row data
    time.sleep(0.2)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert {"POST /v1/sync/push 200", "GET /v1/sync/pull 200"} <= {
        f"{e.get('method')} {e.get('path')} {e.get('status')}" for e in lines
    }
    assert PATIENT_NAME not in log_path.read_text()


def test_the_command_line_says_clearly_when_a_clinic_does_not_exist(server: tuple[str, dict[str, str], Path]) -> None:
    _url, env, _log = server

    done = subprocess.run([CLI, "enrol-code", "--clinic", "no-such-clinic"], env=env, capture_output=True, text=True)

    assert done.returncode == 1
    assert "There is no clinic with id no-such-clinic" in done.stderr
    assert done.stdout == ""
