"""Topics, pods and resources: slugs, access rules and targets."""

from __future__ import annotations

import pytest

from gll_mail import catalog
from gll_mail.catalog import CatalogError


def test_access_rules():
    assert catalog.parse_access("public") == ("public", None)
    assert catalog.parse_access("registered") == ("registered", None)
    assert catalog.parse_access("pod:compassion") == ("pod", "compassion")
    for bad in ("", "members", "pod:", "pod:Bad Slug"):
        with pytest.raises(CatalogError):
            catalog.parse_access(bad)


def test_resource_needs_existing_pod_and_safe_target(session, settings):
    catalog.create_pod(session, slug="compassion", name="Compassion")
    with pytest.raises(CatalogError, match="no learning pod"):
        catalog.add_resource(
            session,
            slug="r",
            title="R",
            access="pod:wash",
            url="https://who.int/r",
            resources_dir=settings.resources_dir,
        )
    for url in ("javascript:alert(1)", "ftp://x.org/f", "//evil.example/x", "https://"):
        with pytest.raises(CatalogError):
            catalog.add_resource(
                session, slug="r", title="R", access="public", url=url, resources_dir=settings.resources_dir
            )
    with pytest.raises(CatalogError, match="inside the resources folder"):
        catalog.add_resource(
            session,
            slug="r",
            title="R",
            access="public",
            file_path="../etc/passwd",
            resources_dir=settings.resources_dir,
        )
    with pytest.raises(CatalogError, match="does not exist"):
        catalog.add_resource(
            session, slug="r", title="R", access="public", file_path="missing.pdf", resources_dir=settings.resources_dir
        )
    resource = catalog.add_resource(
        session,
        slug="scoping",
        title="Scoping report",
        access="pod:compassion",
        url="https://www.who.int/servicedeliverysafety",
        resources_dir=settings.resources_dir,
    )
    assert catalog.get_resource(session, "scoping").id == resource.id


def test_duplicate_and_invalid_slugs(session):
    catalog.create_topic(session, slug="announcements", name="GLL announcements")
    with pytest.raises(CatalogError, match="already exists"):
        catalog.create_topic(session, slug="announcements", name="again")
    with pytest.raises(CatalogError, match="invalid slug"):
        catalog.create_pod(session, slug="Has Spaces", name="x")
