"""Opening the SQLCipher database: raw key, WAL, foreign keys, a large page cache."""

from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import QueuePool

from app.db.keys import sqlcipher_key_literal
from app.domain.errors import UserError

SQLITE_HEADER = b"SQLite format 3\x00"


class NotAClinicDatabase(UserError):
    pass


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # read first: a wrong key fails here, before any pragma could write to the file
    cur.execute("SELECT count(*) FROM sqlite_master")
    cur.execute("PRAGMA cache_size = -65536")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


_FOREIGN_KEYS_OFF = "chairside.foreign_keys_off"


def foreign_keys_off(conn: Connection) -> None:
    """Stop checking foreign keys on this connection until it goes back to the pool.

    For applying pulled rows, which arrive in the cloud's order (a child may come a page
    before its parent). Must be the first statement of the transaction: SQLite ignores
    the pragma inside one.
    """
    conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
    conn.connection.info[_FOREIGN_KEYS_OFF] = True


def _restore_foreign_keys(dbapi_conn: Any, record: Any) -> None:
    if record.info.pop(_FOREIGN_KEYS_OFF, False):
        dbapi_conn.execute("PRAGMA foreign_keys = ON")


def build_engine(path: Path, key: bytes) -> Engine:
    """An engine over the encrypted file (built from a URL object: a URL string loses the key)."""
    url = URL.create("sqlite+pysqlcipher", password=sqlcipher_key_literal(key), database=str(path))
    engine = create_engine(
        url,
        module=sqlcipher3.dbapi2,
        connect_args={"check_same_thread": False},
        # a few long-lived connections shared by the GUI and worker threads
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=4,
    )
    event.listen(engine, "connect", _pragmas)
    event.listen(engine, "checkin", _restore_foreign_keys)
    return engine


def open_engine(path: Path, key: bytes, *, create: bool = False) -> Engine:
    """Open (or, with create, make) the clinic database, refusing anything that isn't one."""
    if not create:
        if not path.exists():
            raise NotAClinicDatabase(f"There is no clinic database at {path}.")
        with open(path, "rb") as f:
            header = f.read(16)
        if not header:
            # SQLite would treat an empty file as a new database and build a schema in it
            raise NotAClinicDatabase(f"{path} is empty, not a clinic database; restore it from a backup.")
        if header == SQLITE_HEADER:
            raise NotAClinicDatabase(f"{path} is an unencrypted SQLite file, not a Chairside clinic database.")
    elif path.exists() and path.stat().st_size > 0:
        raise NotAClinicDatabase(f"{path} already exists; refusing to overwrite it.")
    engine = build_engine(path, key)
    try:
        with engine.connect():
            pass
    except DatabaseError:
        engine.dispose()
        raise NotAClinicDatabase(
            f"{path} could not be decrypted with this clinic's key: it is damaged, or it belongs to another clinic."
        ) from None
    return engine
