"""Engine and sessions of the cloud database."""

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str) -> Engine:
    """An engine whose errors never echo statement parameters (they may hold patient data)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, hide_parameters=True, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA busy_timeout = 5000")
            cursor.close()

        return engine
    return create_engine(
        database_url,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # psycopg prepares repeated statements; PostgreSQL's generic plan for "this clinic's rows
        # with these ids" walks every row of the clinic (one clinic is most of a shard), so each
        # execution is planned for its own parameters
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # objects stay readable after commit: routes answer from them once the work is saved
    return sessionmaker(engine, expire_on_commit=False)
