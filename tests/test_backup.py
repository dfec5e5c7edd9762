"""`gll-mail backup` / `restore`: a consistent archive taken during a send, restored into a fresh
database with the campaign's ledger and every member intact, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import tarfile
import threading
import uuid

import pytest
from delivery_support import add_subscribers, deliveries, write_campaign
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from gll_mail.campaigns.sources import load_source
from gll_mail.cli import main
from gll_mail.db import make_engine, migrate
from gll_mail.delivery.control import send_now
from gll_mail.models import Subscriber
from gll_mail.ops.backup import BackupError, backup, holds_data, manifest_of, restore

MEMBERS = 120


def _members(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        return [
            tuple(r)
            for r in connection.execute(
                select(Subscriber.email, Subscriber.public_id, Subscriber.status).order_by(Subscriber.id)
            )
        ]


@pytest.fixture
def fresh(any_engine, tmp_path):
    """A second, empty database of the same kind, migrated."""
    if any_engine.dialect.name == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    admin = make_engine(
        any_engine.url.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    name = f"gll_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(any_engine.url).set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_during_a_send_restores_the_ledger_and_every_member(any_engine, fresh, settings, smtp_server, tmp_path):
    live = settings.replace(
        database_url=any_engine.url.render_as_string(hide_password=False),
        smtp_url=smtp_server.url,
        campaigns_dir=tmp_path / "campaigns",
        rate_per_second=40.0,  # three seconds of sending, to back up in the middle of
        smtp_connections=2,
    )
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "guide.pdf").write_bytes(b"%PDF-1.4 guide")
    add_subscribers(any_engine, MEMBERS)
    source = load_source(write_campaign(live.campaigns_dir, "during"))
    halfway = threading.Event()
    taken: dict = {}

    def progress(snapshot) -> None:
        if 0 < snapshot.sent < MEMBERS - 20:
            halfway.set()

    sender = threading.Thread(
        target=lambda: taken.setdefault("result", send_now(any_engine, live, source, progress=progress))
    )
    sender.start()
    assert halfway.wait(60)
    archive = backup(live, any_engine, tmp_path / "backups")
    sender.join(120)
    assert taken["result"].sent == MEMBERS
    manifest = manifest_of(archive)
    assert {"campaigns/during.md", "resources/guide.pdf"} <= set(manifest["files"])
    assert manifest["schema"] and manifest["database"]["kind"] in ("sqlite", "postgresql")

    target = live.replace(
        database_url=fresh.url.render_as_string(hide_password=False),
        campaigns_dir=tmp_path / "restored-campaigns",
        resources_dir=tmp_path / "restored-resources",
    )
    done = restore(target, fresh, archive)
    assert done.files == 2
    assert (tmp_path / "restored-resources" / "guide.pdf").read_bytes() == b"%PDF-1.4 guide"
    assert _members(fresh) == _members(any_engine)
    then = {row["id"]: row for row in deliveries(fresh, "during")}
    now = {row["id"]: row for row in deliveries(any_engine, "during")}
    assert set(then) == set(now) and len(then) == MEMBERS  # the whole ledger, taken mid-send
    sent_then = [i for i, row in then.items() if row["status"] == "sent"]
    assert 0 < len(sent_then) < MEMBERS  # a snapshot of the send under way
    for i in sent_then:  # what the backup calls sent was sent, with the same message
        assert now[i]["status"] == "sent" and now[i]["message_id"] == then[i]["message_id"]


def test_restore_refuses_a_database_with_data_unless_forced(engine, settings, tmp_path):
    add_subscribers(engine, 3)
    archive = backup(settings, engine, tmp_path / "b")
    with pytest.raises(BackupError, match="already holds members"):
        restore(settings, engine, archive)
    add_subscribers(engine, 2, prefix="late")
    restore(settings, engine, archive, force=True)
    assert len(_members(engine)) == 3 and holds_data(engine)


def test_a_damaged_archive_is_refused(engine, settings, tmp_path):
    archive = backup(settings, engine, tmp_path / "b")
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name.endswith("database.sqlite3"):
                content = data.read() + b"x"
                member.size = len(content)
                data = io.BytesIO(content)
            target.addfile(member, data)
    with pytest.raises(BackupError, match="checksum"):
        restore(settings, engine, damaged, force=True)


def test_the_commands(engine, runner, settings, tmp_path):
    add_subscribers(engine, 2)
    made = runner.invoke(main, ["backup", str(tmp_path / "out")])
    assert made.exit_code == 0, made.output
    archive = next((tmp_path / "out").glob("gll-mail-backup-*.tar.gz"))
    refused = runner.invoke(main, ["restore", str(archive)])
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = runner.invoke(main, ["restore", "--force", str(archive)])
    assert forced.exit_code == 0, forced.output
