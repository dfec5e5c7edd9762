"""Engines, sessions and migrations for SQLite (the embedded default) and PostgreSQL, and the one-line
explanation of a database that cannot be used."""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import Session, create_engine

from gll_mail.errors import GllMailError
from gll_mail.settings import mask_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
URL_SETTING = "GLL_MAIL_DATABASE_URL"


class DatabaseProblem(GllMailError):
    """The database cannot be reached, does not exist or is not ready; the message says what to do."""


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
    # no server-side prepared statements: after an error inside a transaction (an IntegrityError the
    # code expects and handles) psycopg could forget a statement the server kept, and the pooled
    # connection then failed every later request with DuplicatePreparedStatement
    kwargs.setdefault("connect_args", {"prepare_threshold": None})
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
            weakref.WeakKeyDictionary()
        )

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


def head_revisions() -> set[str]:
    """The newest schema revision(s) this version of gll-mail knows."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(cfg).get_heads())


# --- telling people what is wrong with their database, in one line --------------------------------


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of an SQLite file database (relative paths resolve from the current folder);
    None for in-memory SQLite and for other databases."""
    url = make_url(url) if isinstance(url, str) else url
    if (
        url.get_backend_name() != "sqlite"
        or not url.database
        or url.database == ":memory:"
        or url.database.startswith("file:")
    ):
        return None
    return Path(url.database).expanduser().absolute()


def describe(url: str | URL) -> str:
    """The database as a person should read it: the absolute file of SQLite, the password hidden."""
    parsed = make_url(url) if isinstance(url, str) else url
    path = sqlite_file(parsed)
    return str(path) if path is not None else parsed.render_as_string(hide_password=True)


def open_engine(url: str, factory=None) -> Engine:
    """An engine for ``url`` (through ``factory``, default :func:`make_engine`), or a
    :class:`DatabaseProblem` naming GLL_MAIL_DATABASE_URL when the URL cannot be used at all."""
    try:
        return (factory or make_engine)(url)
    except ArgumentError:
        raise DatabaseProblem(
            f"{URL_SETTING} is not a database URL: {mask_url(url)!r}. Write it like sqlite:///subscribers.db "
            f"or postgresql://user:password@host:5432/dbname"
        ) from None
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        scheme = url.split(":", 1)[0]
        raise DatabaseProblem(
            f"{URL_SETTING} asks for a {scheme} database, which gll-mail cannot open "
            f"({exc.__class__.__name__}: {exc}). Use sqlite:///FILE or postgresql://user@host/dbname"
        ) from None


def check_folder(engine: Engine) -> None:
    """Refuse an SQLite file in a folder that does not exist (SQLite says only "unable to open")."""
    path = sqlite_file(engine.url)
    if path is not None and not path.parent.is_dir():
        raise DatabaseProblem(_no_folder(path))


def _no_folder(path: Path) -> str:
    return (
        f"the folder {path.parent} of the SQLite database {path.name} does not exist: create it, "
        f"or set {URL_SETTING} to a file in a folder that exists"
    )


def check_ready(engine: Engine) -> None:
    """Refuse, with what to do, a database that is missing, empty or behind on migrations. Creates
    nothing: only `gll-mail init` and `gll-mail demo` create a database."""
    where = describe(engine.url)
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        check_folder(engine)
        relative = not Path(engine.url.database).expanduser().is_absolute()
        raise DatabaseProblem(
            f"no database at {where}"
            + (
                f" ({URL_SETTING} is {engine.url.render_as_string()}, a file in the folder you run in)"
                if relative
                else ""
            )
            + f". Run gll-mail in the folder that holds your database, set {URL_SETTING} to it, or create "
            f"a new one with `gll-mail init`"
        )
    with engine.connect() as connection:
        from alembic.runtime.migration import MigrationContext

        tables = inspect(connection).has_table("subscriber")
        revision = MigrationContext.configure(connection).get_current_revision()
    if not tables:
        raise DatabaseProblem(f"the database {where} has no gll-mail tables yet: run `gll-mail init` to create them")
    heads = head_revisions()
    if revision not in heads:
        raise DatabaseProblem(
            f"the database {where} is at schema {revision or 'unknown'}, this gll-mail needs {', '.join(sorted(heads))}: "
            f"run `gll-mail init` to migrate it (back it up first)"
        )


def explain(exc: DBAPIError, url: str | URL) -> str:
    """One line for a failure to reach or open the database, saying what to do."""
    parsed = make_url(url) if isinstance(url, str) else url
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    reason = re.sub(r"^connection failed: ", "", reason)
    reason = re.sub(r'^connection to server at "?[^",]+"?, port \d+ failed: ', "", reason)
    reason = reason.removeprefix("FATAL:").strip()
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not path.parent.is_dir():
            return _no_folder(path)
        return f"cannot use the SQLite database {describe(parsed)}: {reason}"
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if re.search(r'database "[^"]*" does not exist', reason):
        return (
            f"the database {parsed.database!r} does not exist on the PostgreSQL server at {server}: create it "
            f"(createdb -h {parsed.host or 'localhost'} -U {parsed.username or 'postgres'} {parsed.database}), "
            f"then run `gll-mail init`; or fix the database name in {URL_SETTING}"
        )
    if re.search(r'role "[^"]*" does not exist|password authentication failed|no password supplied', reason):
        return (
            f"the PostgreSQL server at {server} refused user {parsed.username!r} ({reason}): fix the user "
            f"or password in {URL_SETTING}"
        )
    if re.search(
        r"Connection refused|could not connect|timeout expired|Name or service not known|"
        r"could not translate host name|No route to host|Network is unreachable",
        reason,
        re.IGNORECASE,
    ):
        return (
            f"cannot reach the database server at {server} ({reason}): is PostgreSQL running there? "
            f"Start it, or fix the host and port in {URL_SETTING}"
        )
    return f"database {describe(parsed)}: {reason}"
