"""Campaign sources: front matter + Markdown, language variants, errors with file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gll_mail.campaigns.sources import (
    SourceError,
    find_source,
    list_sources,
    load_source,
)

REPO = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_real_report_release_in_six_languages():
    source = load_source(REPO / "campaigns" / "2019-06-compassion-reports.md")
    assert source.slug == "2019-06-compassion-reports"
    assert source.kind == "report-release" and source.template == "report-release"
    assert source.audience == {"topics": ["announcements"]}
    assert source.subject == "WHO GLL releases reports on compassion – the heart of quality health services"
    assert source.languages == ["ar", "zh", "en", "fr", "ru", "es"]
    fr = source.variants["fr"]
    assert fr.path.name == "2019-06-compassion-reports.fr.md" and fr.subject.startswith("Le GLL de l’OMS")
    lines = fr.path.read_text(encoding="utf-8").split("\n")
    assert lines[fr.body_line - 1] == fr.body.split("\n")[0]
    assert source.variant("de").language == "en"
    assert len(source.source_hash) == 64


def test_the_real_corrigendum_defaults_to_the_originals_recipients():
    source = load_source(REPO / "campaigns" / "2019-06-18-corrigendum.md")
    assert source.kind == "corrigendum" and source.corrects == "2019-06-compassion-reports"
    assert source.audience == {"recipients_of": "2019-06-compassion-reports"} and source.audience_defaulted
    assert source.template == "corrigendum"


def test_find_source_by_slug_path_or_variant(settings):
    assert find_source(settings, "2019-06-compassion-reports").slug == "2019-06-compassion-reports"
    by_variant = find_source(settings, str(REPO / "campaigns" / "2019-06-compassion-reports.ar.md"))
    assert by_variant.path.name == "2019-06-compassion-reports.md"
    with pytest.raises(SourceError, match="no campaign 'nope'.*known: "):
        find_source(settings, "nope")
    assert [p.name for p in list_sources(settings)] == ["2019-06-18-corrigendum.md", "2019-06-compassion-reports.md"]


def test_full_front_matter(tmp_path):
    path = write(
        tmp_path,
        "webinar.md",
        """---
slug: webinar
kind: event
subject: Webinar on compassion
preheader: Thursday, 15:00 CEST
template: announcement
audience:
  pods: [compassion, ipc]
  registered: true
send_at: 2019-06-20T09:00:00+02:00
from: GLL events <events@who.int>
---

Join us.
""",
    )
    source = load_source(path)
    assert source.send_at == datetime(2019, 6, 20, 7, 0, tzinfo=UTC)
    assert source.from_address == "GLL events <events@who.int>"
    assert source.audience == {"pods": ["compassion", "ipc"], "registered": True}
    assert source.template == "announcement" and source.preheader == "Thursday, 15:00 CEST"
    assert source.base.body_line == 13 and source.base.body == "\nJoin us.\n"  # the line after ---


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("subject: x\n", "must start with a `---` line", 1),
        ("---\nsubject: x\n", "not closed", 1),
        ("---\nsubject: x\naudience: [oops\n---\nbody\n", "not valid YAML", 3),
        ("---\nsubject: x\ncolour: blue\n---\nbody\n", "unknown front matter key", 3),
        ("---\nsubject: x\nkind: newsletter\n---\nbody\n", "unknown kind 'newsletter'", 3),
        ("---\nsubject: x\nsend_at: 2019-06-20T09:00:00\n---\nbody\n", "needs a time zone", 3),
        ("---\nsubject: x\nsend_at: next tuesday\n---\nbody\n", "not an ISO 8601", 3),
        ("---\nsubject: x\naudience:\n  country: Ghana\n---\nbody\n", "unknown audience key", 3),
        ("---\nsubject: x\naudience: {topics: []}\n---\nbody\n", "non-empty list", 3),
        ("---\nsubject: x\nkind: corrigendum\n---\nbody\n", "must name the campaign it corrects", 2),
        ("---\nsubject: x\ncorrects: other\n---\nbody\n", "only for `kind: corrigendum`", 3),
        ("---\nslug: another\nsubject: x\n---\nbody\n", "must match the file name", 2),
        ("---\nsubject: x\nfrom: not an address\n---\nbody\n", "not an email address", 3),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, message, line):
    path = write(tmp_path, "broken.md", text)
    with pytest.raises(SourceError, match=message) as info:
        load_source(path)
    assert info.value.file == path and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    "text, line, problem",
    [
        # an unclosed bracket or quote is noticed lines later: the line that opened it is the one to fix
        (
            "---\nsubject: x\naudience: [oops\nkind: event\n---\nbody\n",
            3,
            "expected ',' or ']', but got ':' on line 4 (while parsing a flow sequence that starts on this line)",
        ),
        ("---\nsubject: x\naudience: {all: true\nkind: event\n---\nbody\n", 3, "while parsing a flow mapping"),
        (
            '---\nkind: event\nsubject: "Webinar\naudience: {all: true}\n---\nbody\n',
            3,
            "found unexpected end of stream on line 4 (while scanning a quoted scalar that starts on this line)",
        ),
        # errors PyYAML finds where they are
        ("---\nsubject: x\n\tkind: event\n---\nbody\n", 3, "found character '\\t' that cannot start any token"),
        ("---\nsubject: Note: hi\nkind: event\n---\nbody\n", 2, "mapping values are not allowed here"),
        ("---\nsubject: x\n- item\nkind: event\n---\nbody\n", 3, "expected <block end>, but found '-'"),
    ],
)
def test_yaml_errors_point_at_the_faulty_line(tmp_path, text, line, problem):
    path = write(tmp_path, "broken.md", text)
    with pytest.raises(SourceError, match="front matter is not valid YAML") as info:
        load_source(path)
    assert info.value.line == line, info.value
    assert problem in info.value.message


def test_a_mismatched_slug_is_kept_for_the_preflight_when_not_strict(tmp_path):
    write(tmp_path, "news.md", "---\nslug: old-news\nsubject: News\naudience: {all: true}\n---\nHello\n")
    write(tmp_path, "news.fr.md", "---\nslug: nouvelles\nsubject: Nouvelles\n---\nBonjour\n")
    with pytest.raises(SourceError, match="must match the file name"):
        load_source(tmp_path / "news.md")
    source = load_source(tmp_path / "news.md", strict=False)
    assert source.slug == "news" and source.languages == ["en", "fr"]
    assert [(p.file.name, p.line, p.message) for p in source.problems] == [
        ("news.md", 2, "slug 'old-news' must match the file name 'news.md'"),
        ("news.fr.md", 2, "slug must be 'news' like news.md"),
    ]
    assert load_source(REPO / "campaigns" / "2019-06-compassion-reports.md", strict=False).problems == ()


def test_variants_may_not_change_campaign_keys(tmp_path):
    write(tmp_path, "news.md", "---\nsubject: News\naudience: {all: true}\n---\nHello\n")
    write(tmp_path, "news.fr.md", "---\nsubject: Nouvelles\naudience: {all: true}\n---\nBonjour\n")
    with pytest.raises(SourceError, match="may only set subject, preheader and translation_of") as info:
        load_source(tmp_path / "news.md")
    assert info.value.file.name == "news.fr.md" and info.value.line == 3


def test_not_utf8_is_reported_with_its_line(tmp_path):
    path = tmp_path / "latin.md"
    path.write_bytes("---\nsubject: x\n---\n\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(SourceError, match="not UTF-8") as info:
        load_source(path)
    assert info.value.line == 5


def test_send_at_with_a_named_zone_rfc_9557(tmp_path):
    winter = write(tmp_path, "w.md", "---\nsubject: x\nsend_at: 2026-12-01T09:00:00+01:00[Europe/Zurich]\n---\nbody\n")
    assert load_source(winter).send_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    summer = write(tmp_path, "s.md", "---\nsubject: x\nsend_at: 2026-07-01T09:00[Europe/Zurich]\n---\nbody\n")
    assert load_source(summer).send_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # summer time: +02:00
    for text, message in (
        ("2026-12-01T09:00:00+01:00[Europe/Geneva]", "unknown time zone"),  # IANA names Geneva Europe/Zurich
        ("2026-07-01T09:00:00+01:00[Europe/Zurich]", "offset that Europe/Zurich does not have"),
    ):
        path = write(tmp_path, "bad.md", f"---\nsubject: x\nsend_at: {text}\n---\nbody\n")
        with pytest.raises(SourceError, match=message) as info:
            load_source(path)
        assert info.value.line == 3
