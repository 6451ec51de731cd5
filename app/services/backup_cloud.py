"""Backups in the clinic's cloud service: the `BackupStore` over the endpoints of sync.backups.

The workstation encrypts every chunk and seals the manifest before upload (app.services.
backup), so the service stores ciphertext only. Each chunk travels with its SHA-256,
which the service checks before storing it. A connection that drops mid-upload ends the
backup with a message saying to run it again; the next run resumes the same upload (the
service keeps it, and `chunk_digest` tells which chunks are already there). Chunk
transfers are retried a couple of times first: a blip should not cost a night's backup.
"""

import contextlib
import hashlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from app.config import workstation_name
from app.domain.backup_format import is_backup_id
from app.domain.errors import UserError
from app.services import backup, cloud
from app.services.backup import BackupError, BackupNotFound, ChunkMissing, check_backup_id
from app.services.runtime import ClinicRuntime
from sync.backups import BACKUPS, CHUNK_SHA256_HEADER, UPLOADS, BlobIds, ChunkDigest
from sync.client import CloudClient, CloudError, CloudRefused, CloudUnreachable

RETRY_DELAYS = (1.0, 4.0)  # seconds before the second and third try of a chunk transfer


class CloudStore:
    """One clinic's backups in its cloud service (the clinic is the device token's)."""

    def __init__(self, client: CloudClient, *, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self.client = client
        self.retry_delays = tuple(retry_delays)

    def describe(self) -> str:
        return f"the cloud service at {self.client.base_url}"

    # --- plumbing -------------------------------------------------------------------

    def _send(
        self, method: str, path: str, *, writing: bool = False, retried: bool = False, **kwargs: Any
    ) -> httpx.Response | None:
        """The response, or None for a 404; every other failure as a BackupError.

        With `retried`, a connection problem is tried again after each of `retry_delays`.
        """
        delays = self.retry_delays if retried else ()
        try:
            for delay in delays:
                try:
                    return self.client.request(method, path, **kwargs)
                except CloudUnreachable:
                    time.sleep(delay)
            return self.client.request(method, path, **kwargs)
        except CloudRefused as e:
            if e.status == 404:
                return None
            raise BackupError(f"{self.describe().capitalize()} refused the backup: {e.message}") from None
        except CloudUnreachable:
            if writing:
                raise BackupError(
                    f"The backup to {self.describe()} could not be written: the connection was lost (or the "
                    "service is restarting). Run it again to resume where it stopped."
                ) from None
            raise BackupError(f"{self.describe().capitalize()} could not be reached; try again later.") from None
        except CloudError as e:  # a revoked workstation and the like: the message says what to do
            raise BackupError(e.message) from None

    def _ids(self, path: str) -> list[str]:
        response = self._send("GET", path)
        ids = BlobIds.model_validate_json(response.content).ids if response is not None else []
        return sorted(i for i in ids if is_backup_id(i))

    # --- BackupStore ----------------------------------------------------------------

    def list_backups(self) -> list[str]:
        return self._ids(BACKUPS)

    def list_partials(self) -> list[str]:
        return self._ids(UPLOADS)

    def get_manifest(self, backup_id: str) -> bytes:
        response = self._send("GET", f"{BACKUPS}/{check_backup_id(backup_id)}/manifest")
        if response is None:
            raise BackupNotFound(f"There is no backup {backup_id} in {self.describe()}.")
        return response.content

    def get_chunk(self, backup_id: str, index: int) -> bytes:
        path = f"{BACKUPS}/{check_backup_id(backup_id)}/chunks/{index}"
        response = self._send("GET", path, retried=True)
        if response is None:
            raise ChunkMissing(index)
        return response.content

    def begin(self, backup_id: str, state: bytes) -> None:
        self._send("PUT", f"{UPLOADS}/{check_backup_id(backup_id)}", writing=True, content=state)

    def get_state(self, backup_id: str) -> bytes | None:
        response = self._send("GET", f"{UPLOADS}/{check_backup_id(backup_id)}")
        return response.content if response is not None else None

    def chunk_digest(self, backup_id: str, index: int) -> str | None:
        response = self._send("GET", f"{UPLOADS}/{check_backup_id(backup_id)}/chunks/{index}/sha256")
        return ChunkDigest.model_validate_json(response.content).sha256 if response is not None else None

    def put_chunk(self, backup_id: str, index: int, data: bytes) -> None:
        headers = {CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest(), "Content-Type": "application/octet-stream"}
        path = f"{UPLOADS}/{check_backup_id(backup_id)}/chunks/{index}"
        response = self._send("PUT", path, writing=True, retried=True, content=data, headers=headers)
        if response is None:
            raise BackupError(f"The upload of backup {backup_id} is no longer in {self.describe()}; run it again.")

    def put_manifest(self, backup_id: str, data: bytes, chunk_count: int) -> None:
        path = f"{UPLOADS}/{check_backup_id(backup_id)}/manifest"
        response = self._send("PUT", path, writing=True, content=data, params={"chunks": chunk_count})
        if response is None:
            raise BackupError(f"The upload of backup {backup_id} is no longer in {self.describe()}; run it again.")

    def delete(self, backup_id: str) -> None:
        self._send("DELETE", f"{BACKUPS}/{check_backup_id(backup_id)}")  # already gone is fine

    def discard_partial(self, backup_id: str) -> None:
        self._send("DELETE", f"{UPLOADS}/{check_backup_id(backup_id)}")


@contextlib.contextmanager
def open_cloud_store(runtime: ClinicRuntime) -> Iterator[CloudStore]:
    """This enrolled workstation's clinic's backups in the cloud; NotEnrolled otherwise."""
    with cloud.client(cloud.require(runtime)) as api:
        yield CloudStore(api)


def restore_from_cloud(
    url: str,
    code: str,
    backup_id: str | None,
    to_dir: Path,
    passphrase: str,
    *,
    ca_bundle: str | None = None,
    overwrite: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> backup.RestoreReport:
    """Restore a clinic from its cloud onto a machine that holds nothing of it yet.

    The machine has no device token, so it enrols with a one-time code from the clinic's
    administrator (as "restore on <this computer>"). After a good restore the restored
    clinic keeps that connection, so it backs up and syncs without enrolling again; if the
    restore fails the enrolment is withdrawn (the device revoked) and the code stays spent.
    """
    from app import bootstrap

    url = cloud.checked_address(url, ca_bundle)
    backup.check_restore_target(to_dir.expanduser(), overwrite=overwrite)  # before the code is spent
    try:
        with CloudClient(url, ca_bundle=ca_bundle, transport=transport) as api:
            answer = api.enrol(code, f"restore on {workstation_name()}")
    except CloudUnreachable:
        raise UserError(
            f"The cloud service at {url} could not be reached; check the address and the network, then try again."
        ) from None
    except CloudError as e:
        raise UserError(e.message) from None
    with CloudClient(url, answer.token, ca_bundle=ca_bundle, transport=transport) as api:
        try:
            report = backup.restore(CloudStore(api), backup_id, to_dir, passphrase, overwrite=overwrite)
        except BaseException as e:
            with contextlib.suppress(CloudError):  # best effort: an unused token should not stay valid
                api.request("POST", f"/v1/devices/{answer.device_id}/revoke")
            if isinstance(e, UserError):
                raise BackupError(
                    f"{e} The enrolment code is now used up: ask the clinic's administrator for a new one to try again."
                ) from None
            raise
    runtime = bootstrap.open_clinic(report.to_dir, lambda: passphrase)
    try:
        cloud.remember(runtime, url, ca_bundle, answer)
    finally:
        runtime.close()
    return report


_IMPLEMENTS: type[backup.BackupStore] = CloudStore
