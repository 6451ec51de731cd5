"""The backup store's wire contract, shared by the workstation's CloudStore and the cloud service.

The cloud keeps a clinic's encrypted backups as opaque bytes; the workstation encrypts
before upload and decrypts after download, so neither plaintext nor keys reach the service.

- ``GET    /v1/backups``                               complete backups: ``{"ids": [...]}``
- ``GET    /v1/backups/{id}/manifest``                 the manifest's bytes
- ``GET    /v1/backups/{id}/chunks/{n}``               a chunk's bytes
- ``DELETE /v1/backups/{id}``                          delete a complete backup
- ``GET    /v1/backup-uploads``                        unfinished uploads: ``{"ids": [...]}``
- ``PUT    /v1/backup-uploads/{id}``                   begin (or re-begin) one; body = its state blob
- ``GET    /v1/backup-uploads/{id}``                   its state blob
- ``DELETE /v1/backup-uploads/{id}``                   discard it
- ``PUT    /v1/backup-uploads/{id}/chunks/{n}``        store chunk n (1-based); ``X-Chunk-SHA256`` header
- ``GET    /v1/backup-uploads/{id}/chunks/{n}/sha256`` ``{"sha256": hex or null}`` (resuming)
- ``PUT    /v1/backup-uploads/{id}/manifest?chunks=N`` store the manifest: the upload becomes a backup

The clinic is always the calling workstation's (from its device token), never a parameter.
"""

import re

from pydantic import BaseModel

BACKUPS = "/v1/backups"
UPLOADS = "/v1/backup-uploads"
CHUNK_SHA256_HEADER = "X-Chunk-SHA256"
# letters, digits, '-' and '_' only: one safe path segment, never '.' or '..'
BLOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")  # use fullmatch
MAX_CHUNKS = 999_999  # chunk files are numbered with six digits
MAX_STATE_BYTES = 64 * 1024


class BlobIds(BaseModel):
    ids: list[str]


class ChunkDigest(BaseModel):
    sha256: str | None
