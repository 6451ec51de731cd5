"""Real workstations against a real service: uvicorn on loopback over the test PostgreSQL.

Not a test module: the workstation sync tests share these helpers.
"""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.domain.patients import PatientInput
from app.services import cloud, patients
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from sync.server.app import create_app
from sync.server.config import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def enrolled_with(runtime: ClinicRuntime, address: str) -> None:
    """The settings of a workstation enrolled with the cloud at `address` (token and ids made up)."""
    cloud.write_settings(runtime, {cloud.URL: address, cloud.DEVICE_ID: "d", cloud.CLOUD_CLINIC: "c", cloud.TOKEN: "t"})


def enrolled_offline(runtime: ClinicRuntime) -> None:
    """Enrolled with a cloud nobody answers at: connections are refused at once."""
    enrolled_with(runtime, f"http://127.0.0.1:{free_port()}")


@contextmanager
def silent_cloud(runtime: ClinicRuntime) -> Iterator[None]:
    """Enrolled with a cloud that takes connections and never answers, so a round hangs on the
    network until the block ends (the socket closes and the round fails)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        enrolled_with(runtime, f"http://127.0.0.1:{silent.getsockname()[1]}")
        yield


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    """Until a `chairside-cloud serve` process answers /health; the test fails with its log otherwise."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"chairside-cloud serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"chairside-cloud serve did not answer /health in 30 s:\n{log_path.read_text()}")
        time.sleep(0.1)


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def serve(settings: Settings, port: int | None = None) -> Iterator[Served]:
    """The cloud service answering on a loopback port in this process, until the block ends."""
    app = create_app(settings)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test cloud service did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


class DropReplies(httpx.HTTPTransport):
    """A connection that delivers requests but loses the replies of the next `count` pushes."""

    def __init__(self) -> None:
        super().__init__()
        self.drop_pushes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/push") and self.drop_pushes:
            response.read()  # the server has committed the push by now
            response.close()
            self.drop_pushes -= 1
            raise httpx.ReadError("connection dropped before the reply (test)")
        return response


def register(ctx: Ctx, first: str, last: str, **fields: str) -> str:
    data = PatientInput(first_name=first, last_name=last, date_of_birth=date(1984, 6, 2).isoformat(), **fields)
    return patients.register(ctx, data).id  # type: ignore[return-value]


def edit(ctx: Ctx, patient_id: str, first: str, last: str, **fields: str) -> None:
    """Save the patient form with these values (what a receptionist's Save does)."""
    version = patients.open_record(ctx, patient_id).version
    data = PatientInput(first_name=first, last_name=last, date_of_birth=date(1984, 6, 2).isoformat(), **fields)
    patients.update(ctx, patient_id, version, data)
