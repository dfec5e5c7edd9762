"""`gll-mail backup` and `gll-mail restore`: one timestamped archive of everything that is not code.

An archive (``gll-mail-backup-20261201T063000Z.tar.gz``) holds:

- ``database.sqlite3`` — a consistent copy made with SQLite's online backup API while the worker and
  the web keep writing — or ``database.dump``, ``pg_dump``'s custom format of PostgreSQL (one
  snapshot transaction), made by the client of the server's major version when it is installed;
- ``campaigns/`` and ``resources/`` (GLL_MAIL_CAMPAIGNS_DIR, GLL_MAIL_RESOURCES_DIR);
- ``dkim/*.pub``: the public half of each DKIM key, to compare with DNS. The private keys are never
  in a backup: keep them apart (a stolen backup must not let anyone sign as us);
- ``manifest.json`` (what, when, which schema) and ``SHA256SUMS`` (``sha256sum -c`` checks it).

:func:`restore` checks every checksum first, and refuses to overwrite a database that holds members,
campaigns or team accounts, or files that differ, unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine

from gll_mail.db import current_revision, is_sqlite, sqlite_file
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, Campaign, Subscriber, utcnow
from gll_mail.settings import Settings

FORMAT = 1
SQLITE_NAME, PG_NAME = "database.sqlite3", "database.dump"


class BackupError(GllMailError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Restored:
    database: str
    schema: str | None
    files: int
    kept: list[str]  # files left as they were (same content)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pg_tool(name: str, engine: Engine) -> str:
    """``pg_dump``/``pg_restore`` of the server's major version when installed (Debian keeps them in
    /usr/lib/postgresql/N/bin), else the one on PATH."""
    with engine.connect() as connection:
        major = int(connection.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
    matching = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if matching.exists():
        return str(matching)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed: install postgresql-client-{major}")
    return found


def libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The libpq URL of the engine's database (no password) and the environment that carries it."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(
            f"{Path(command[0]).name} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        )


def _dump_database(engine: Engine, folder: Path) -> str:
    if is_sqlite(engine):
        source = sqlite_file(engine.url)
        if source is None or not source.exists():
            raise BackupError(f"no SQLite database file at {engine.url.database}")
        target = sqlite3.connect(folder / SQLITE_NAME)
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            origin.backup(target)  # SQLite's online backup: a consistent copy while others write
        finally:
            origin.close()
            target.close()
        return SQLITE_NAME
    url, env = libpq(engine)
    _run(
        [
            pg_tool("pg_dump", engine),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={folder / PG_NAME}",
            url,
        ],
        env,
    )
    return PG_NAME


def _copy_tree(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", ".*"))


def _dkim_public(settings: Settings, folder: Path) -> list[str]:
    from cryptography.hazmat.primitives import serialization

    from gll_mail.smtp.dkim import DkimSigner

    signer = DkimSigner.from_settings(settings)
    if signer is None:
        return []
    (folder / "dkim").mkdir()
    names = []
    for one in signer.signers:
        name = f"dkim/{one.selector.decode()}._domainkey.{one.domain.decode()}.pub"
        pem = one.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / name).write_bytes(pem + f"# DNS: {one.public_dns_record()}\n".encode())
        names.append(name)
    return names


def backup(settings: Settings, engine: Engine, dest: Path, now: datetime | None = None) -> Path:
    """Write the archive into folder ``dest``; its path."""
    now = now or utcnow()
    dest.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    archive = dest / f"gll-mail-backup-{stamp}.tar.gz"
    if archive.exists():
        raise BackupError(f"{archive} exists already")
    with tempfile.TemporaryDirectory(prefix="gll-mail-backup-") as tmp:
        root = Path(tmp) / f"gll-mail-backup-{stamp}"
        root.mkdir()
        database = _dump_database(engine, root)
        _copy_tree(settings.campaigns_dir, root / "campaigns")
        _copy_tree(settings.resources_dir, root / "resources")
        _dkim_public(settings, root)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        sums = {name: _sha256(root / name) for name in files}
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "gll_mail": version("gll-mail"),
            "schema": current_revision(engine),
            "database": {"kind": "sqlite" if is_sqlite(engine) else "postgresql", "file": database},
            "files": {name: {"sha256": sums[name], "bytes": (root / name).stat().st_size} for name in files},
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (root / "SHA256SUMS").write_text("".join(f"{sums[n]}  {n}\n" for n in files), encoding="utf-8")
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(root, arcname=root.name)
        partial.rename(archive)
    return archive


def _unpack(archive: Path, into: Path) -> tuple[Path, dict]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a gll-mail backup: {exc}") from None
    roots = [p for p in into.iterdir() if p.is_dir()]
    if len(roots) != 1 or not (roots[0] / "manifest.json").exists():
        raise BackupError(f"{archive} has no manifest.json: not a gll-mail backup")
    root = roots[0]
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"manifest.json", "SHA256SUMS"}
    if present != set(manifest["files"]):
        raise BackupError(f"{archive} does not hold the files its manifest lists: it is incomplete or altered")
    for name, entry in manifest["files"].items():
        if _sha256(root / name) != entry["sha256"]:
            raise BackupError(f"{name} in {archive} does not match its checksum: the archive is damaged")
    return root, manifest


def holds_data(engine: Engine) -> bool:
    """Does the database hold members, campaigns or team accounts?"""
    names = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for model in (Subscriber, Campaign, AdminUser):
            if model.__tablename__ in names and connection.execute(select(func.count()).select_from(model)).scalar():
                return True
    return False


def _restore_files(source: Path, target: Path, force: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(copies to make, files already the same); refuses differing files unless ``force``."""
    copies, same = [], []
    if not source.is_dir():
        return copies, same
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        goal = target / path.relative_to(source)
        if goal.exists():
            if _sha256(goal) == _sha256(path):
                same.append(str(goal))
                continue
            if not force:
                raise BackupError(
                    f"{goal} exists and differs from the backup's copy; restore with --force to overwrite"
                )
        copies.append((path, goal))
    return copies, same


def restore(settings: Settings, engine: Engine, archive: Path, *, force: bool = False) -> Restored:
    with tempfile.TemporaryDirectory(prefix="gll-mail-restore-") as tmp:
        root, manifest = _unpack(archive, Path(tmp))
        kind = manifest["database"]["kind"]
        if kind != ("sqlite" if is_sqlite(engine) else "postgresql"):
            raise BackupError(f"the archive holds a {kind} database but GLL_MAIL_DATABASE_URL is not {kind}")
        if not force and holds_data(engine):
            raise BackupError(
                "the database already holds members, campaigns or team accounts; restore into an empty "
                "database, or add --force to replace it (back it up first)"
            )
        copies = []
        kept: list[str] = []
        for folder, target in (("campaigns", settings.campaigns_dir), ("resources", settings.resources_dir)):
            more, same = _restore_files(root / folder, Path(target), force)
            copies += more
            kept += same
        _load_database(engine, root / manifest["database"]["file"])
        for path, goal in copies:
            goal.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, goal)
        return Restored(
            str(engine.url.render_as_string(hide_password=True)), current_revision(engine), len(copies), kept
        )


def _load_database(engine: Engine, dump: Path) -> None:
    if is_sqlite(engine):
        target_path = sqlite_file(engine.url)
        if target_path is None:
            raise BackupError("restore needs an SQLite file database")
        engine.dispose()  # no pooled connection may keep the old pages
        source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)  # replaces every page of the target, atomically for its readers
        finally:
            source.close()
            target.close()
        engine.dispose()
        return
    url, env = libpq(engine)
    engine.dispose()
    _run(
        [
            pg_tool("pg_restore", engine),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            f"--dbname={url}",
            str(dump),
        ],
        env,
    )
    engine.dispose()


def manifest_of(archive: Path) -> dict:
    """The manifest of an archive, after checking every checksum."""
    with tempfile.TemporaryDirectory(prefix="gll-mail-check-") as tmp:
        return _unpack(archive, Path(tmp))[1]
