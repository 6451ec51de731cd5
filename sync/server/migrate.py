"""Schema of the cloud database: upgraded by Alembic on `serve` start-up, refused if newer."""

from pathlib import Path

from sqlalchemy import Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class NewerServerSchema(Exception):
    """The database was migrated by a newer release of the cloud service."""


def known_revisions() -> list[str]:
    """Revision ids shipped with this build, oldest first (files are named NNNN_*.py)."""
    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a database from a newer release is left alone."""
    known = known_revisions()
    current = current_revision(engine)
    if current is not None and current not in known:
        raise NewerServerSchema(
            f"The cloud database has schema {current}, newer than this release knows ({known[-1]}); "
            "run the newer release of the cloud service. Nothing was changed."
        )
    if current == known[-1]:
        return
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several instances may start together; one migrates, the others wait and find it done
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('chairside-cloud-migrate'))"))
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
