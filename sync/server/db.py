"""Engine and sessions of the cloud database."""

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, *, for_the_event_loop: bool = False) -> Engine:
    """An engine whose errors never echo statement parameters (they may hold patient data).

    Connections are not pinged before each use (a round trip on every request): after a
    database restart the first statement on a dead connection fails, SQLAlchemy then drops
    all the pool's connections, and that request answers 500 (a workstation retries; a
    push changed nothing) or, for pulls, is run again at once (api.deps.run_for_clinic).

    `for_the_event_loop`: one connection, used only by the event loop for the no-change poll
    (api.deps.nothing_new), so it is never waited for; a 2-second statement timeout bounds
    how long a sick database can hold the loop.
    """
    pool: dict[str, int] = {"pool_size": 1, "max_overflow": 0} if for_the_event_loop else {}
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, hide_parameters=True, connect_args={"check_same_thread": False}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA busy_timeout = 5000")
            cursor.close()

        return engine
    # psycopg prepares repeated statements; PostgreSQL's generic plan for "this clinic's rows
    # with these ids" walks every row of the clinic (one clinic is most of a shard), so each
    # execution is planned for its own parameters
    options = "-c plan_cache_mode=force_custom_plan"
    if for_the_event_loop:
        return create_engine(
            database_url,
            hide_parameters=True,
            connect_args={"options": f"{options} -c statement_timeout=2000", "connect_timeout": 2},
            **pool,
        )
    return create_engine(
        database_url,
        hide_parameters=True,
        # kept open for a busy service's concurrent requests: an overflow connection is opened
        # and closed per request, which costs more than the request
        pool_size=20,
        max_overflow=20,
        connect_args={"options": options},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # objects stay readable after commit: routes answer from them once the work is saved
    return sessionmaker(engine, expire_on_commit=False)


def make_reader(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads that need no transaction around them: each statement sees what was
    committed when it ran, and no BEGIN and ROLLBACK travel to the database (the hot
    no-change pull). A reader's writes commit at once."""
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
