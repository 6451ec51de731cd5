"""Settings of the cloud service, read from the environment (and a .env file)."""

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Each field from the environment variable of its name in capitals: `DATABASE_URL`, `LOG_LEVEL`, ..."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # a SQLite file is for trying the service on one machine; production and tests use PostgreSQL
    database_url: str = "sqlite:///./chairside-cloud.db"
    max_body_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    # enrolment attempts allowed per client address per minute (guards the one-time codes)
    enrol_rate_per_minute: Annotated[int, Field(gt=0)] = 10
    # rows in one pull page: bounds the memory a first sync takes on both ends
    pull_page_rows: Annotated[int, Field(gt=0, le=50_000)] = 2_000
    log_level: str = "INFO"
    # clinics' encrypted backups, one folder per clinic (see services.backup_store)
    backup_dir: Path = Path("chairside-backups")
    # backup uploads only: a chunk is 8 MiB, and a manifest lists every stored file
    # (about 25 MB for 100,000 images); every other request keeps MAX_BODY_BYTES
    backup_max_body_bytes: Annotated[int, Field(gt=0)] = 64 * 1024 * 1024
    # live change events (GET /v1/sync/events): how often each open stream reads the clinic's
    # sequence, sends a keepalive comment (so proxies and the client's read timeout see life),
    # and re-checks the workstation's token (so a revoked workstation's stream ends)
    events_poll_seconds: Annotated[float, Field(gt=0, le=10)] = 0.25
    events_keepalive_seconds: Annotated[float, Field(gt=0)] = 15.0
    events_recheck_seconds: Annotated[float, Field(gt=0)] = 30.0
    # on SIGTERM, requests still running after this long are cut; event streams never end by
    # themselves, so without it a restart would wait for every workstation to hang up
    shutdown_grace_seconds: Annotated[int, Field(ge=1)] = 10

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        # plain postgresql:// URLs (as hosting providers hand them out) mean psycopg 3 here
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value
