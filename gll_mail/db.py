"""Engines, sessions and migrations for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import time
import weakref
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def upsert(engine: Engine, table):
    """``INSERT`` with ``ON CONFLICT`` clauses (``on_conflict_do_nothing/do_update``) for this engine's
    dialect: SQLite and PostgreSQL spell them alike."""
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.insert(table) if is_sqlite(engine) else postgresql.insert(table)


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, for the rest of the transaction: SQLite has no
    row locks (``FOR UPDATE`` is ignored), so a read-decide-write (a throttle) would let two requests
    decide on the same old state. The no-op UPDATE makes pysqlite begin the transaction and SQLite
    take the lock; the other request waits for our commit, then reads what we wrote. Elsewhere a
    no-op: use ``FOR UPDATE`` on the rows themselves."""
    if is_sqlite(session.get_bind().url):
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0"))


class ReadCache:
    """Rows that change rarely but are read on every click (a resource, whether a campaign exists),
    kept for ``seconds``. Each engine has its own entries, which go with it: a test's fresh database
    starts with none, and :meth:`forget` drops one engine's entries after an edit. ``keep_missing``
    also keeps "no such row" answers; ``clock`` is injectable for tests."""

    def __init__(self, seconds: float, *, keep_missing: bool = True, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.keep_missing = keep_missing
        self.clock = clock
        self._entries: weakref.WeakKeyDictionary[Engine, dict[Hashable, tuple[float, Any]]] = (
            weakref.WeakKeyDictionary())

    def get(self, engine: Engine, key: Hashable, load: Callable[[], Any]) -> Any:
        entries = self._entries.setdefault(engine, {})
        now = self.clock()
        hit = entries.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = load()
        if value is not None or self.keep_missing:
            entries[key] = (now, value)
        return value

    def forget(self, engine: Engine) -> None:
        self._entries.pop(engine, None)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One shared engine per URL within a process."""
    return make_engine(url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "heads") -> str | None:
    """Create the schema or bring it up to ``revision``. Returns the revision now in force."""
    with engine.begin() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("subscriber")
