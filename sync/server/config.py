"""Settings of the cloud service, read from the environment (and a .env file)."""

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """`DATABASE_URL`, `MAX_BODY_BYTES`, `ENROL_RATE_PER_MINUTE`, `LOG_LEVEL`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # a SQLite file is for trying the service on one machine; production and tests use PostgreSQL
    database_url: str = "sqlite:///./chairside-cloud.db"
    max_body_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    # enrolment attempts allowed per client address per minute (guards the one-time codes)
    enrol_rate_per_minute: Annotated[int, Field(gt=0)] = 10
    # rows in one pull page: bounds the memory a first sync takes on both ends
    pull_page_rows: Annotated[int, Field(gt=0, le=50_000)] = 2_000
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        # plain postgresql:// URLs (as hosting providers hand them out) mean psycopg 3 here
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value
