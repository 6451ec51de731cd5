"""The cloud schema: the migration builds exactly the models, and the protocol names the client's schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db.migrate import known_revisions
from sync.protocol import SCHEMA_VERSION
from sync.server.db import make_engine
from sync.server.migrate import current_revision
from sync.server.migrate import known_revisions as server_revisions
from sync.server.models import Base


def test_the_migrations_build_exactly_the_tables_the_models_describe(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert current_revision(engine) == server_revisions()[-1]
    finally:
        engine.dispose()

    assert diff == []


def test_the_protocol_schema_is_the_client_databases_newest_migration() -> None:
    # a new client migration changes what rows hold: bump SCHEMA_VERSION in sync/protocol.py with it
    assert SCHEMA_VERSION == known_revisions()[-1]
