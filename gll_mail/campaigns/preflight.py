"""The preflight: every problem that must stop a campaign, found before anything is sent.

``check(settings, session, source)`` returns a :class:`PreflightReport`; the delivery engine refuses
to schedule or send unless ``report.ok``. The rules exist because the GLL once sent an announcement
whose links were lost (the stray ``[`` of the 2019-06-18 corrigendum): a link that names nothing,
a half-written link, a language variant missing a link, a footer without an unsubscribe link or a
rendering error now stop the send with the file, line and link text to fix.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from gll_mail.campaigns import translations
from gll_mail.campaigns.audience import (
    AudienceError,
    audience_select,
    original_recipient_count,
    unreachable_recipients,
)
from gll_mail.campaigns.markdown import (
    SCHEMES,
    BodyLink,
    RenderError,
    classify_link,
    excerpt,
    scan_body,
    unknown_target,
)
from gll_mail.campaigns.records import effective_subject, get_campaign
from gll_mail.campaigns.render import (
    CampaignRenderer,
    Recipient,
    layouts,
    unknown_names,
)
from gll_mail.campaigns.sources import CampaignSource
from gll_mail.catalog import CatalogError, parse_access
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.models import CampaignStatus, Pod, Resource
from gll_mail.settings import Settings
from gll_mail.smtp.dkim import DkimError, DkimSigner
from gll_mail.smtp.dkim_setup import misalignment

MAX_SUBJECT = 150  # characters; longer subjects are cut by every client
GMAIL_CLIP_BYTES = 102_000  # Gmail clips messages whose HTML is larger ("[Message clipped]")
URL_TIMEOUT = 5.0
URL_CACHE_SECONDS = 600
_UNRESOLVED = re.compile(r"\{\{|\}\}|\{%|%\}|GLLJ\d+J")
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\balt=\"[^\"]+\")[^>]*>", re.I)


@dataclass(frozen=True)
class Problem:
    file: Path | None
    line: int | None
    message: str
    link_text: str | None = None
    severity: str = "error"
    detail: str = ""  # e.g. the diff of the English text a stale translation missed

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        link = f" (link “{self.link_text}”)" if self.link_text else ""
        return f"{where}{self.message}{link}"


@dataclass
class PreflightReport:
    source: CampaignSource
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    audience: int | None = None
    links: dict[str, list[str]] = field(default_factory=dict)  # language -> hrefs found

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, file, line, message, link_text=None) -> None:
        problem = Problem(Path(file) if file else None, line, message, link_text)
        if problem not in self.errors:
            self.errors.append(problem)

    def warn(self, file, line, message, link_text=None) -> None:
        problem = Problem(Path(file) if file else None, line, message, link_text, "warning")
        if problem not in self.warnings:
            self.warnings.append(problem)

    def summary(self) -> str:
        return f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"


# --- URL checks ------------------------------------------------------------------------------

_url_cache: dict[str, tuple[float, str | None]] = {}


def url_problem(url: str, *, timeout: float = URL_TIMEOUT) -> str | None:
    """None when ``url`` answers 2xx/3xx, else why not. Answers are cached for a few minutes."""
    cached = _url_cache.get(url)
    if cached and time.monotonic() - cached[0] < URL_CACHE_SECONDS:
        return cached[1]
    problem: str | None = None
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": "gll-mail preflight"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
            problem = None if 200 <= status < 400 else f"answers HTTP {status}"
        except urllib.error.HTTPError as exc:
            problem = f"answers HTTP {exc.code}"
            if method == "HEAD" and exc.code in (403, 405, 501):
                continue  # some servers refuse HEAD; ask again with GET
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = f"does not answer ({reason})"
        break
    _url_cache[url] = (time.monotonic(), problem)
    return problem


# --- the check -------------------------------------------------------------------------------


def _key_line(path: Path, key: str) -> int | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else None


def check(
    settings: Settings,
    session: Session,
    source: CampaignSource,
    *,
    check_urls: bool = False,
    counted: dict[str, int] | None = None,
) -> PreflightReport:
    """Every problem with ``source`` against the database: errors block sending, warnings do not.
    ``counted``: the audience by language, just counted by the caller (the editor), not counted again."""
    report = PreflightReport(source)
    resources = {r.slug: r for r in session.exec(select(Resource))}
    pods = set(session.exec(select(Pod.slug)))

    for problem in source.problems:  # read with load_source(strict=False): reported with the rest
        report.error(problem.file, problem.line, problem.message)
    _check_subjects(report, source)
    _check_bodies(report, settings, source, resources, pods, check_urls)
    named = _check_personalization(report, source)
    _check_resources_targets(report, settings, source, resources, check_urls)
    _check_corrigendum(report, session, source)
    _check_audience(report, session, source, counted)
    _check_rendering(report, settings, session, source, personalization_named=named)
    _check_schedule(report, session, source)
    _check_dkim(report, settings, source)
    _check_production_signing(report, settings, source)
    for found in translations.problems(settings, session, source):
        problem = Problem(found.file, found.line, found.message, severity=found.severity, detail=found.detail)
        (report.errors if found.severity == "error" else report.warnings).append(problem)
    return report


def _check_subjects(report: PreflightReport, source: CampaignSource) -> None:
    for language, variant in source.variants.items():
        line = _key_line(variant.path, "subject") or 1
        if not variant.subject.strip():
            report.error(variant.path, line, "the subject is empty")
            continue
        subject = effective_subject(source, language)
        if len(subject) > MAX_SUBJECT:
            report.error(
                variant.path,
                line,
                f"the subject is too long ({len(subject)} characters, at most {MAX_SUBJECT}); inboxes cut it",
            )
        if "\n" in subject:
            report.error(variant.path, line, "the subject must be one line")


def _check_bodies(report, settings, source, resources, pods, check_urls) -> None:
    english_links: list[BodyLink] = []
    scanned: dict[str, list[BodyLink]] = {}
    for language, variant in source.variants.items():
        if not variant.body.strip():
            report.error(variant.path, variant.body_line, "the body is empty")
        links, problems, images, hints = scan_body(variant)
        scanned[language] = links
        report.links[language] = [link.info.href for link in links]
        for line, message, text in problems:
            report.error(variant.path, line, message, text or None)
        for line, text in hints:
            report.warn(variant.path, line, "the text promises a link (“here”) but has none", text)
        for line, src in images:
            report.warn(variant.path, line, f"image {src} has no alt text: describe it for readers without images")
        for link in links:
            info = link.info
            if info.problem:
                report.error(variant.path, link.line, info.problem, link.text or None)
                continue
            if not link.text:
                report.error(variant.path, link.line, f"the link to {info.href} has no text to click")
            unknown = unknown_target(info.kind, info.slug, resources, pods)
            if unknown:
                report.error(variant.path, link.line, unknown, link.text)
            elif info.kind == "external":
                if info.href.lower().startswith("http://"):
                    report.warn(variant.path, link.line, f"{info.href} is not https", link.text)
                if check_urls:
                    problem = url_problem(info.href)
                    if problem:
                        report.error(variant.path, link.line, f"{info.href} {problem}", link.text)
        if language == DEFAULT_LANGUAGE:
            english_links = links
    for language, links in scanned.items():
        if language == DEFAULT_LANGUAGE:
            continue
        have = {link.info.href.strip() for link in links}
        variant = source.variants[language]
        missing = []
        for link in english_links:
            href = link.info.href.strip()
            if href not in have and href not in missing:
                missing.append(href)
                report.error(
                    variant.path,
                    variant.body_line,
                    f"the {language} variant lacks the link {href} that the English text has "
                    f"({source.base.path.name}:{link.line})",
                    link.text,
                )


def _check_personalization(report: PreflightReport, source: CampaignSource) -> bool:
    """Each variable, ``subscriber`` field or filter the subjects and bodies use that does not exist,
    at its line, with the nearest one that does; True when there was one."""
    before = len(report.errors)
    for variant in source.variants.values():
        for text, first_line in (
            (variant.subject, _key_line(variant.path, "subject") or 1),
            (variant.body, variant.body_line),
        ):
            try:
                found = unknown_names(text)
            except jinja2.TemplateSyntaxError as exc:
                report.error(
                    variant.path, first_line + (exc.lineno or 1) - 1, f"personalization does not parse: {exc.message}"
                )
                continue
            for line, message in found:
                report.error(variant.path, first_line + line - 1, message)
    return len(report.errors) > before


def _check_resources_targets(report, settings, source, resources, check_urls) -> None:
    used: dict[str, tuple[Path, int, str]] = {}
    for variant in source.variants.values():
        links = scan_body(variant)[0]
        for link in links:
            if link.info.kind == "resource" and link.info.slug in resources and link.info.slug not in used:
                used[link.info.slug] = (variant.path, link.line, link.text)
    for slug, (path, line, text) in used.items():
        resource = resources[slug]
        try:
            kind, pod_slug = parse_access(resource.access)
        except CatalogError as exc:
            report.error(path, line, f"resource:{slug}: {exc}", text)
            continue
        if resource.file_path:
            target = settings.resources_dir / resource.file_path
            if not target.is_file():
                report.error(path, line, f"resource:{slug} points to the file {target}, which does not exist", text)
        elif resource.url:
            if check_urls:
                problem = url_problem(resource.url)
                if problem:
                    report.error(path, line, f"resource:{slug} points to {resource.url}, which {problem}", text)
        else:
            report.error(path, line, f"resource:{slug} has no target (neither a file nor a URL)", text)


def _check_corrigendum(report: PreflightReport, session: Session, source: CampaignSource) -> None:
    if not source.corrects:
        return
    line = _key_line(source.path, "corrects")
    original = get_campaign(session, source.corrects)
    if original is None:
        report.error(source.path, line, f"the original campaign {source.corrects!r} does not exist in the database")
        return
    sent = original_recipient_count(session, source.corrects)
    if not sent and original.status != CampaignStatus.SENT:
        report.error(source.path, line, f"the original campaign {source.corrects!r} was never sent")
        return
    if source.audience_defaulted:
        count, sample = unreachable_recipients(session, source.corrects, limit=5)
        if count:
            shown = ", ".join(f"{u.email} ({u.reason})" for u in sample)
            more = f" and {count - len(sample)} more" if count > len(sample) else ""
            report.warn(
                source.path,
                line,
                f"{count} of the {sent} recipients of {source.corrects} can no longer be reached: {shown}{more}",
            )


def _check_audience(
    report: PreflightReport, session: Session, source: CampaignSource, counted: dict[str, int] | None = None
) -> None:
    line = _key_line(source.path, "audience") or _key_line(source.path, "corrects")
    if not source.audience:
        report.error(source.path, line or 2, "the audience is not set (e.g. `audience: {topics: [announcements]}`)")
        return
    try:
        by_language = counted
        if by_language is None:
            audience = audience_select(session, source.audience).order_by(None).subquery()
            by_language = dict(
                session.execute(sa_select(audience.c.language, func.count()).group_by(audience.c.language)).all()
            )
    except AudienceError as exc:
        report.error(source.path, line, str(exc))
        return
    report.audience = sum(by_language.values())
    if report.audience == 0:
        report.error(source.path, line, f"the audience is empty: no mailable subscriber matches {source.audience}")
        return
    fallback = {code: count for code, count in sorted(by_language.items()) if code not in source.variants}
    if fallback:
        names = {code: info["english"] for code, info in LANGUAGES.items()}
        untranslated = ", ".join(f"{names.get(code, code)}: {count}" for code, count in fallback.items())
        report.warn(
            source.path,
            None,
            f"no translation for {sum(fallback.values())} of the {report.audience} "
            f"recipients: they will get the {names[DEFAULT_LANGUAGE]} text ({untranslated})",
        )


def _check_rendering(
    report: PreflightReport,
    settings: Settings,
    session: Session,
    source: CampaignSource,
    *,
    personalization_named: bool = False,
) -> None:
    layout = settings.templates_dir / f"{source.template}.mjml"
    if not layout.is_file():
        report.error(
            source.path,
            _key_line(source.path, "template") or _key_line(source.path, "kind"),
            f"layout {layout} does not exist (layouts: {', '.join(layouts(settings.templates_dir)) or 'none'})",
        )
        return
    campaign = get_campaign(session, source.slug)
    try:
        renderer = CampaignRenderer(settings, session, source, campaign)
    except RenderError as exc:
        cause = str(exc).split(": ", 1)[-1].split(" (")[0]
        named = personalization_named and "personalization" in cause
        if not named and not any(cause in p.message for p in report.errors):  # not already reported with its line
            report.error(source.path, None, f"rendering fails: {exc}")
        return
    for language in source.languages:
        variant = source.variants[language]
        for name in ("", "Preflight Check"):
            recipient = Recipient("preflight-check-id", "preflight@example.org", name, language, ())
            try:
                message = renderer.render(recipient)
            except RenderError as exc:
                report.error(variant.path, None, f"rendering fails in {language}: {exc}")
                break
        else:
            _check_message(report, renderer, variant.path, language, message)


def _check_message(report, renderer: CampaignRenderer, path: Path, language: str, message) -> None:
    # Compare up to the signed payload: the token's timestamp may have ticked since the render.
    unsubscribe = _unsigned(renderer.minter.url("unsubscribe", "preflight-check-id", message.language))
    manage = _unsigned(renderer.minter.url("manage", "preflight-check-id", message.language))
    if f'href="{unsubscribe}' not in message.html or unsubscribe not in message.text:
        report.error(
            path,
            None,
            f"the layout {renderer.source.template}.mjml lacks the unsubscribe link "
            f"({language} {'HTML' if unsubscribe in message.text else 'text'} part)",
        )
    if f'href="{manage}' not in message.html:
        report.error(path, None, f"the layout {renderer.source.template}.mjml lacks the manage-subscription link")
    for part, content in (("HTML", message.html), ("text", message.text), ("subject", message.subject)):
        match = _UNRESOLVED.search(content)
        if match:
            report.error(
                path,
                None,
                f"the rendered {language} {part} still contains `{match.group(0)}` "
                f"near “{excerpt(content, match.group(0), 25)}”",
            )
    for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', message.html):
        info = classify_link(href.replace("&amp;", "&"))
        if info.problem or info.kind in SCHEMES:
            report.error(path, None, f"the rendered {language} HTML has a broken link {href!r}")
    size = len(message.html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        report.warn(path, None, f"the {language} HTML is {size // 1000} KB; Gmail clips messages over 102 KB")
    for img in _IMG_NO_ALT.findall(message.html):
        if 'width="1" height="1" alt=""' in img:
            continue  # the opt-in open-tracking pixel: empty alt is right for a 1×1 image
        report.warn(path, None, f"an image in the {language} layout has no alt text: {img[:80]}")


def _unsigned(url: str) -> str:
    """A signed link up to and including its payload's dot: ``…/u/<payload>.`` (timestamp and MAC cut)."""
    return url.rsplit(".", 2)[0] + "."


def _check_schedule(report: PreflightReport, session: Session, source: CampaignSource) -> None:
    if source.send_at is None:
        return
    campaign = get_campaign(session, source.slug)
    if campaign is not None and campaign.status in (CampaignStatus.SENDING, CampaignStatus.SENT):
        return
    if source.send_at < datetime.now(UTC):
        report.warn(
            source.path,
            _key_line(source.path, "send_at"),
            f"send_at {source.send_at.isoformat()} is in the past: scheduling sends at once",
        )


def _check_dkim(report: PreflightReport, settings: Settings, source: CampaignSource) -> None:
    """A DKIM key that cannot sign stops the campaign before its first message, not in the middle;
    a signature in another domain than From is allowed but does not count for DMARC."""
    try:
        signer = DkimSigner.from_settings(settings)
    except DkimError as exc:
        report.error(None, None, f"DKIM: {exc}")
        return
    problem = signer and misalignment(signer, source.from_address or settings.from_address)
    if problem:
        report.warn(source.path, _key_line(source.path, "from") if source.from_address else None, problem)


def _check_production_signing(report: PreflightReport, settings: Settings, source: CampaignSource) -> None:
    """In production, unsigned mail or a signature DMARC does not count (d= not aligned with the From
    domain) is an error: receivers would file the campaign as spam or reject it. Elsewhere the
    warnings of :func:`_check_dkim` stay warnings."""
    if settings.env != "production":
        return
    try:
        signer = DkimSigner.from_settings(settings)
    except DkimError:
        return  # already an error
    if signer is None:
        report.error(
            None,
            None,
            "production refuses unsigned mail: set GLL_MAIL_DKIM_KEY_FILE, "
            "GLL_MAIL_DKIM_SELECTOR and GLL_MAIL_DKIM_DOMAIN (see `gll-mail dkim keygen`)",
        )
        return
    problem = misalignment(signer, source.from_address or settings.from_address)
    if problem:
        report.error(
            source.path,
            _key_line(source.path, "from") if source.from_address else None,
            f"production refuses mail DMARC would not count as signed: {problem}",
        )
