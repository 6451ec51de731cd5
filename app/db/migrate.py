"""Schema versions: refuse a database from a newer Chairside, upgrade an older one."""

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from app.domain.errors import UserError

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"


class NewerSchema(UserError):
    pass


def known_revisions() -> list[str]:
    """Revision ids shipped with this build, oldest first (files are named NNNN_*.py)."""
    return sorted(p.name.split("_", 1)[0] for p in VERSIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _alembic_config(connection: object) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, target: str = "head") -> None:
    """Bring the schema to `target`; checked first so a newer database is never touched."""
    known = known_revisions()
    current = current_revision(engine)
    if current is not None and current not in known:
        raise NewerSchema(
            f"This clinic database was written by a newer version of Chairside "
            f"(schema {current}; this version knows up to {known[-1]}). "
            "Install the newer version; the database was not changed."
        )
    if current == known[-1] and target == "head":
        return
    # alembic is imported only when there is work to do: it costs start-up time
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), target)  # type: ignore[arg-type]
