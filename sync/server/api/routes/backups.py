"""Backups: a clinic's workstations upload, list, download and delete encrypted backups.

The bodies are ciphertext made on the workstation; the service checks sizes and SHA-256
digests and stores the bytes (see sync.backups for the endpoints).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import FileResponse

from sync.backups import BACKUPS, CHUNK_SHA256_HEADER, UPLOADS, BlobIds, ChunkDigest
from sync.server.api.deps import CurrentDevice, SettingsDep
from sync.server.services.backup_store import ClinicBackups

router = APIRouter(tags=["backups"])

_BYTES_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string"}}}}
}
_NO_CONTENT = 204


def clinic_backups(device: CurrentDevice, settings: SettingsDep) -> ClinicBackups:
    """The calling workstation's clinic's backups: the clinic comes from the token alone."""
    return ClinicBackups(settings.backup_dir, device.clinic_id)


async def raw_body(request: Request) -> bytes:
    # the size limit middleware has already bounded it
    return await request.body()


Backups = Annotated[ClinicBackups, Depends(clinic_backups)]
# declared after Backups in each route: the token is checked before a body is read
RawBody = Annotated[bytes, Depends(raw_body)]


@router.get(BACKUPS)
def list_backups(backups: Backups) -> BlobIds:
    """The clinic's complete backups, oldest first."""
    return BlobIds(ids=backups.list_backups())


@router.get(BACKUPS + "/{backup_id}/manifest", response_class=FileResponse)
def get_manifest(backup_id: str, backups: Backups) -> FileResponse:
    return FileResponse(backups.manifest(backup_id), media_type="application/json")


@router.get(BACKUPS + "/{backup_id}/chunks/{index}", response_class=FileResponse)
def get_chunk(backup_id: str, index: int, backups: Backups) -> FileResponse:
    return FileResponse(backups.chunk(backup_id, index), media_type="application/octet-stream")


@router.delete(BACKUPS + "/{backup_id}", status_code=_NO_CONTENT)
def delete_backup(backup_id: str, backups: Backups) -> Response:
    backups.delete(backup_id)
    return Response(status_code=_NO_CONTENT)


@router.get(UPLOADS)
def list_uploads(backups: Backups) -> BlobIds:
    """The clinic's unfinished uploads (a workstation resumes its own)."""
    return BlobIds(ids=backups.list_uploads())


@router.put(UPLOADS + "/{backup_id}", status_code=_NO_CONTENT, openapi_extra=_BYTES_BODY)
def begin_upload(backup_id: str, backups: Backups, state: RawBody) -> Response:
    """Begin uploading a backup; the body is the workstation's (non-secret) state of it."""
    backups.begin(backup_id, state)
    return Response(status_code=_NO_CONTENT)


@router.get(UPLOADS + "/{backup_id}", response_class=FileResponse)
def get_upload_state(backup_id: str, backups: Backups) -> FileResponse:
    return FileResponse(backups.state(backup_id), media_type="application/octet-stream")


@router.delete(UPLOADS + "/{backup_id}", status_code=_NO_CONTENT)
def discard_upload(backup_id: str, backups: Backups) -> Response:
    backups.discard(backup_id)
    return Response(status_code=_NO_CONTENT)


@router.put(UPLOADS + "/{backup_id}/chunks/{index}", status_code=_NO_CONTENT, openapi_extra=_BYTES_BODY)
def put_chunk(
    backup_id: str,
    index: int,
    sha256: Annotated[str, Header(alias=CHUNK_SHA256_HEADER)],
    backups: Backups,
    data: RawBody,
) -> Response:
    """Store one encrypted chunk, if it matches its SHA-256; sending it again is harmless."""
    backups.put_chunk(backup_id, index, data, sha256)
    return Response(status_code=_NO_CONTENT)


@router.get(UPLOADS + "/{backup_id}/chunks/{index}/sha256")
def chunk_digest(backup_id: str, index: int, backups: Backups) -> ChunkDigest:
    """The SHA-256 of a chunk already uploaded (null if it is not there): what a resumed upload skips."""
    return ChunkDigest(sha256=backups.chunk_sha256(backup_id, index))


@router.put(UPLOADS + "/{backup_id}/manifest", status_code=_NO_CONTENT, openapi_extra=_BYTES_BODY)
def complete_upload(backup_id: str, chunks: int, backups: Backups, manifest: RawBody) -> Response:
    """Store the manifest: once chunks 1..`chunks` are all there, the upload becomes a backup."""
    backups.complete(backup_id, manifest, chunks)
    return Response(status_code=_NO_CONTENT)
