"""Opening the events database: SQLite (WAL) in a data folder by default, PostgreSQL (or
any SQLAlchemy URL) for a site where several machines share one database. The schema is
brought up to date with Alembic every time a database is opened."""

from __future__ import annotations

import contextlib
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from ..errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers (the web page, reports) never block the writer; FULL: an event whose
    # transaction returned is on disk even if the process is killed right after.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_engine(url: str, migrate_schema: bool = True) -> Engine:
    """An engine for ``url``, schema migrated to head."""
    try:
        parsed = make_url(url)
    except Exception:
        raise StoreError(
            f"database: {url!r} is not a database URL (sqlite:///file.db, postgresql+psycopg://...)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{folder}: cannot create the data folder ({exc.strerror or exc})") from None
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrate_schema:
        migrate(engine)
    return engine


def alembic_config(engine: Engine | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def _migration_lock(engine: Engine):
    """One migrating process at a time on a SQLite file (two ``watch`` started together on
    one data folder would both create the tables): an exclusive lock on ``<db>.lock``."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, nothing shared there
        yield
        return
    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(engine: Engine, revision: str = "head", downgrade: bool = False) -> None:
    """Upgrade the schema (or ``downgrade`` it to ``revision``); safe to run on every start
    (a no-op when already there)."""
    from alembic import command

    cfg = alembic_config(engine)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with _migration_lock(engine), engine.connect() as conn:
            if sqlite:
                # SQLite changes a table by copying it (Alembic's batch mode); with foreign keys
                # on, dropping the old copy of a table others refer to fails. Off for the
                # migration (only possible outside a transaction), checked after it.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()  # SQLAlchemy's autobegun transaction; pysqlite began none for a PRAGMA
            with conn.begin():
                cfg.attributes["connection"] = conn
                (command.downgrade if downgrade else command.upgrade)(cfg, revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
                if broken:
                    raise StoreError(f"{engine.url}: the migration left {len(broken)} rows without their parent")
    except StoreError:
        raise
    except Exception as exc:  # connection refused, wrong password, read-only disk...
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError | OSError):
            raise StoreError(f"{engine.url.render_as_string()}: cannot open the events database ({exc})") from exc
        raise


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
