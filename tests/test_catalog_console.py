"""The catalog as the team edits it: names in six languages, renames, archiving, repointing and
replacing resources, access changes with their impact, deletion rules, figures and pod rosters."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select
from team_support import EN, SLUG, team
from web_support import add_member

from gll_mail import catalog, links
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.library import resources as library
from gll_mail.library import topics_pods
from gll_mail.models import Campaign, CampaignStatus, Event, EventType, Resource, Subscriber
from gll_mail.team.audit import COMMAND_LINE, entries
from gll_mail.team.roles import PermissionDenied


@pytest.fixture
def db(any_engine):
    with session_scope(any_engine) as session:
        catalog.create_topic(session, slug="announcements", name="GLL announcements")
        catalog.create_pod(session, slug="ipc", name="Infection Prevention and Control")
        yield session


def test_display_name_falls_back_to_english(db):
    _, changes = catalog.update_topic(db, "announcements", names={"ar": "إعلانات المختبر", "fr": "Annonces"})
    topic = catalog.get_topic(db, "announcements")
    assert catalog.display_name(topic, "ar") == "إعلانات المختبر"
    assert catalog.display_name(topic, "fr") == "Annonces"
    assert catalog.display_name(topic, "zh") == "GLL announcements"
    assert changes["names"] == {"before": {}, "after": {"fr": "Annonces", "ar": "إعلانات المختبر"}}
    catalog.update_topic(db, "announcements", names={"fr": ""})  # "" removes a translation
    assert catalog.display_name(catalog.get_topic(db, "announcements"), "fr") == "GLL announcements"
    with pytest.raises(catalog.CatalogError, match="no name translation into 'de'"):
        catalog.update_topic(db, "announcements", names={"de": "Ankündigungen"})


def test_edits_check_the_role_and_go_to_the_audit_log(db):
    users = team(db)
    with pytest.raises(PermissionDenied, match="vic is a viewer"):
        topics_pods.update_pod(db, users["vic"], "ipc", name="IPC")
    pod, changes = topics_pods.update_pod(
        db, users["eve"], "ipc", name="IPC", names={"es": "Prevención y control de infecciones"}
    )
    assert pod.name == "IPC" and changes["name"] == {"before": "Infection Prevention and Control", "after": "IPC"}
    topics_pods.update_pod(db, users["eve"], "ipc", name="IPC")  # no change: no entry
    topics_pods.archive_pod(db, COMMAND_LINE, "ipc")
    log = entries(db, object="pod:ipc")
    assert [(e.username, e.action) for e in log] == [("eve", "pod.update"), ("(command line)", "pod.archive")]
    assert log[0].details["names"]["after"] == {"es": "Prevención y control de infecciones"}
    with pytest.raises(PermissionDenied, match="sign in first"):
        topics_pods.archive_pod(db, None, "ipc")


def test_archiving_hides_from_members_choices_and_keeps_the_memberships(db):
    member = Subscriber(email="ana@example.org", name="Ana")
    db.add(member)
    db.flush()
    catalog.join_pod(db, member, catalog.get_pod(db, "ipc"), source="cli")
    assert catalog.archive_pod(db, "ipc") and not catalog.archive_pod(db, "ipc")
    assert catalog.list_pods(db) == [] and [p.slug for p in catalog.list_pods(db, archived=True)] == ["ipc"]
    assert [p.slug for p in catalog.member_pods(db, member)] == ["ipc"]
    assert catalog.archive_pod(db, "ipc", archived=False) and catalog.list_pods(db)[0].archived_at is None


def test_pod_roster_with_join_dates_and_a_safe_csv(db):
    pod = catalog.get_pod(db, "ipc")
    ana = Subscriber(email="ana@example.org", name="=HYPERLINK(1)", organization="MoH")
    bo = Subscriber(email="bo@example.org", name="Bo")
    db.add_all([ana, bo])
    db.flush()
    catalog.join_pod(db, ana, pod, source="cli")
    catalog.join_pod(db, bo, pod, source="cli")
    catalog.leave_pod(db, bo, pod, source="cli")
    rows = topics_pods.roster(db, COMMAND_LINE, "ipc")
    assert [r["email"] for r in rows] == ["ana@example.org"] and rows[0]["joined_at"]
    everyone = topics_pods.roster(db, COMMAND_LINE, "ipc", former=True)
    assert [r["email"] for r in everyone] == ["ana@example.org", "bo@example.org"] and everyone[1]["left_at"]
    parsed = list(csv.DictReader(io.StringIO(topics_pods.roster_csv(db, COMMAND_LINE, "ipc"))))
    assert parsed[0]["name"] == "'=HYPERLINK(1)" and parsed[0]["organization"] == "MoH"


def _sent_campaign(settings, session, status=CampaignStatus.SENT):
    path = settings.campaigns_dir / f"{SLUG}.md"
    path.write_text(EN, encoding="utf-8")
    session.add(Campaign(slug=SLUG, subject="December news", status=status, source_path=str(path)))
    session.flush()


@pytest.fixture
def library_db(team_settings, any_engine):
    with session_scope(any_engine) as session:
        catalog.create_pod(session, slug="ipc", name="IPC")
        catalog.add_resource(
            session,
            slug="dec-report",
            title="December report",
            access="registered",
            url="https://www.who.int/dec-report",
            resources_dir=team_settings.resources_dir,
        )
        yield team_settings, session


def test_an_access_change_lists_the_linking_campaigns_before_it_is_saved(library_db):
    settings, session = library_db
    _sent_campaign(settings, session)
    with pytest.raises(library.ImpactNotConfirmed, match="linked from 1 sent and 0 scheduled") as raised:
        library.update_resource(settings, session, COMMAND_LINE, "dec-report", access="pod:ipc")
    assert [c.slug for c in raised.value.impact.sent] == [SLUG]
    assert catalog.get_resource(session, "dec-report").access == "registered"
    _, changes = library.update_resource(
        settings, session, COMMAND_LINE, "dec-report", access="pod:ipc", confirmed=True
    )
    assert changes == {"access": {"before": "registered", "after": "pod:ipc"}}


def test_a_resource_linked_from_a_sent_campaign_cannot_be_deleted_only_archived(library_db):
    settings, session = library_db
    _sent_campaign(settings, session)
    with pytest.raises(GllMailError, match="cannot be deleted; archive it instead"):
        library.delete_resource(settings, session, COMMAND_LINE, "dec-report")
    assert library.archive_resource(session, COMMAND_LINE, "dec-report", moved_to="https://www.who.int/new")
    assert catalog.get_resource(session, "dec-report").moved_to == "https://www.who.int/new"
    catalog.add_resource(
        session,
        slug="unused",
        title="Unused",
        access="public",
        url="https://x.example/",
        resources_dir=settings.resources_dir,
    )
    library.delete_resource(settings, session, COMMAND_LINE, "unused")
    assert session.exec(select(Resource).where(Resource.slug == "unused")).first() is None
    assert [e.action for e in entries(session, object="resource")] == ["resource.archive", "resource.delete"]


def test_a_campaign_known_only_from_its_revision_still_counts(library_db):
    from gll_mail.models import CampaignRevision

    settings, session = library_db
    session.add(Campaign(slug="old-news", subject="Old", status=CampaignStatus.SCHEDULED, source_path="gone.md"))
    session.add(CampaignRevision(slug="old-news", content_hash="x" * 64, inputs={"resources": {"dec-report": {}}}))
    session.flush()
    impact = library.resource_impact(settings, session, "dec-report")
    assert [c.slug for c in impact.scheduled] == ["old-news"] and not impact.sent


def test_figures_count_human_clicks_and_registrations_per_resource(library_db):
    settings, session = library_db
    resource = catalog.get_resource(session, "dec-report")
    ana = Subscriber(email="ana@example.org")
    session.add(ana)
    session.flush()
    for bot in (False, False, True):
        session.add(Event(type=EventType.CLICK, subscriber_id=ana.id, resource_id=resource.id, is_bot=bot))
    session.add(Event(type=EventType.CONFIRMED, subscriber_id=ana.id, resource_id=resource.id))
    session.flush()
    figures = library.resource_figures(session, COMMAND_LINE)["dec-report"]
    assert (figures.clicks, figures.members, figures.registrations) == (2, 1, 1)


def test_replacing_the_file_keeps_the_slug_and_writes_under_the_resources_folder(library_db):
    settings, session = library_db
    resource, changes = library.replace_file(
        settings, session, COMMAND_LINE, "dec-report", filename="../Report v2.pdf", data=b"%PDF-1.7"
    )
    assert resource.file_path == "dec-report/Report-v2.pdf" and resource.url is None
    assert (settings.resources_dir / "dec-report" / "Report-v2.pdf").read_bytes() == b"%PDF-1.7"
    assert changes["url"]["before"] == "https://www.who.int/dec-report"


# --- through the member web -------------------------------------------------------------------


def test_a_repointed_resource_old_emailed_link_opens_the_new_target(client, session, web_settings):
    catalog.add_resource(
        session,
        slug="who-report",
        title="Report",
        access="registered",
        url="https://www.who.int/old-place",
        resources_dir=web_settings.resources_dir,
    )
    member = add_member(session, "amina@example.org")
    mailed = links.gate_url(web_settings, member.public_id, "who-report")  # the link in last month's email
    assert client.get(mailed).headers["Location"] == "https://www.who.int/old-place"
    library.update_resource(web_settings, session, COMMAND_LINE, "who-report", url="https://www.who.int/new-place")
    session.commit()
    assert client.get(mailed).headers["Location"] == "https://www.who.int/new-place"


def test_an_archived_resource_link_says_where_it_went_in_the_member_language(client, session, web_settings):
    member = add_member(session, "amina@example.org", language="fr")
    mailed = links.gate_url(web_settings, member.public_id, "compassion-tools")
    library.archive_resource(session, COMMAND_LINE, "compassion-tools", moved_to="https://www.who.int/compassion")
    session.commit()
    response = client.get(mailed)
    html = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "Cette ressource a été archivée" in html and "Compassion : outils et ressources" in html
    assert 'href="https://www.who.int/compassion"' in html
    [event] = session.exec(select(Event).where(Event.type == EventType.CLICK)).all()
    assert event.data["outcome"] == "archived"


def test_a_topic_renamed_in_arabic_shows_on_the_member_manage_page(client, session, web_settings):
    member = add_member(session, "amina@example.org", language="ar")
    topics_pods.update_topic(session, COMMAND_LINE, "webinars", names={"ar": "ندوات المختبر الجديدة"})
    session.commit()
    html = client.get(links.manage_url(web_settings, member.public_id)).get_data(as_text=True)
    assert "ندوات المختبر الجديدة" in html
    assert "الوقاية من العدوى ومكافحتها" in html  # the demo catalog's pods, in Arabic
    assert "Infection Prevention and Control" not in html


def test_an_archived_topic_is_not_offered_on_the_manage_page(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    topics_pods.archive_topic(session, COMMAND_LINE, "webinars")
    session.commit()
    html = client.get(links.manage_url(web_settings, member.public_id)).get_data(as_text=True)
    assert "GLL announcements" in html and "Webinars and events" not in html
