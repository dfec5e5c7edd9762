"""Rendering: an MJML layout compiled once per campaign × language, then filled per recipient by Jinja.

Construction does everything that is the same for every recipient:

1. the Markdown body becomes HTML and plain text (:mod:`.markdown`: ``resource:``/``pod:``/
   ``manage:``/``archive:`` links become Jinja placeholders such as
   ``{{ links["resource:compassion-tools"] }}``);
2. the layout ``templates/emails/<template>.mjml`` is filled with the layout's words in the language
   (a first Jinja pass with ``[[ ]]``/``[% %]`` delimiters, so ``{{ }}`` survives for later; the words
   are ``[[ _('…') ]]`` gettext messages from :mod:`gll_mail.i18n`);
3. mjml-python compiles that MJML to HTML — once;
4. the HTML, the text and the subject become Jinja templates (autoescaping on for the HTML).

``render(recipient)`` then only mints the recipient's signed links (:class:`gll_mail.links.CampaignLinks`)
and fills the templates: no MJML compile and no database query per recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import mjml
from jinja2 import nodes
from markupsafe import Markup, escape
from sqlmodel import Session, select

from gll_mail.campaigns.markdown import (
    RenderError,
    convert_body,
    did_you_mean,
    jinja_literal,
    unknown_target,
)
from gll_mail.campaigns.sources import CampaignSource, SourceError, find_source
from gll_mail.i18n import Translator, translator
from gll_mail.languages import DEFAULT_LANGUAGE, language_tag, text_direction
from gll_mail.links import CampaignLinks, open_pixel_url
from gll_mail.models import Campaign, Pod, PodMembership, Resource, Subscriber
from gll_mail.settings import Settings

LAYOUT_LINKS = ("archive", "manage", "unsubscribe")


# --- layout ----------------------------------------------------------------------------------


def _stage1_finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return Markup(str(escape(value)).replace("{", "&#123;"))


def layout_environment(templates_dir: Path) -> jinja2.Environment:
    """The first pass over the MJML layouts, with ``[[ ]]`` delimiters so per-recipient ``{{ }}`` stay."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_stage1_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_SLOT_NAMES = tuple(f"gll_link_{i}" for i in range(256))
_LINK_EXPR = re.compile(r"\{\{\s*links(?:\.([a-z]+)|\['([a-z]+(?::[a-z0-9-]+)?)'\])\s*\}\}")


def _link_slots(source: str, keys: list[str]) -> str:
    """``{{ links['resource:x'] }}`` → ``{{ gll_link_N }}``, a plain variable lookup.

    Signed links hold URL-safe characters only, so they need no escaping: :meth:`CampaignRenderer.render`
    passes them as ``Markup``, which autoescaping lets through without switching the evaluation
    context (an ``{% autoescape false %}`` block per link cost a fifth of the render time).
    """

    def slot(match: re.Match) -> str:
        key = match.group(1) or match.group(2)
        if key not in keys:
            return match.group(0)
        return "{{ " + _SLOT_NAMES[keys.index(key)] + " }}"

    return _LINK_EXPR.sub(slot, source)


_HTML_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_GLOBALS = dict(_HTML_ENV.globals)
_SPLIT = "\x1e--gll-mail-text-part--\x1e"
_TEXT_ENV = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


class Recipient(NamedTuple):
    """A light recipient, as the delivery engine may pass one."""

    public_id: str
    email: str
    name: str
    language: str
    pods: tuple[str, ...] = ()


class _SubscriberView:
    """What a campaign body sees as ``subscriber``."""

    __slots__ = ("name", "email", "language", "public_id", "pods", "has_name")

    def __init__(self, name, email, language, public_id, pods, has_name):
        self.name, self.email, self.language = name, email, language
        self.public_id, self.pods, self.has_name = public_id, pods, has_name

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class RenderedMessage:
    language: str
    subject: str
    html: str
    text: str
    preheader: str


@dataclass
class CompiledVariant:
    language: str
    mjml: str
    html_source: str
    text_source: str
    template: jinja2.Template  # renders "HTML <_SPLIT> text"
    subject: jinja2.Template | None
    subject_text: str
    preheader: str
    link_keys: tuple[str, ...]
    salutation: str  # "Dear %(name)s," in the language
    salutation_unnamed: str
    colleague: str


_EXTENDS = re.compile(r"\[%-?\s*extends\s+[\"']([^\"']+)\.mjml[\"']")


def layouts(templates_dir: Path) -> list[str]:
    """The layout names a campaign's ``template:`` may give (``templates/emails/NAME.mjml``), without
    the bases the layouts extend."""
    files = {path.stem: path for path in templates_dir.glob("*.mjml")}
    bases = {base for path in files.values() for base in _EXTENDS.findall(path.read_text(encoding="utf-8"))}
    return sorted(set(files) - bases)


# What personalization may use: the names :meth:`CampaignRenderer.render` puts in the context.
PERSONAL_VARIABLES = ("subscriber", "salutation", "subject", "language", "pods", "links")
SUBSCRIBER_FIELDS = _SubscriberView.__slots__
_JINJA_NAMES = ("loop", "caller", "varargs", "kwargs")


def unknown_names(source: str) -> list[tuple[int, str]]:
    """(line in ``source``, what is wrong) for each variable, ``subscriber`` field or filter that
    personalization in ``source`` uses and the render does not provide, with the nearest known one.

    Raises :class:`jinja2.TemplateSyntaxError` when ``source`` does not parse.
    """
    tree = _HTML_ENV.parse(source)
    defined = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
    known = set(PERSONAL_VARIABLES) | set(_GLOBALS) | set(_JINJA_NAMES) | defined
    found: list[tuple[int, str]] = []
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in known:
            hint = did_you_mean(node.name, PERSONAL_VARIABLES) or did_you_mean(
                node.name, SUBSCRIBER_FIELDS, "subscriber."
            )
            found.append((node.lineno, f"`{node.name}` is not a variable here{hint}"))
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "subscriber" and node.attr not in SUBSCRIBER_FIELDS:
            hint = did_you_mean(node.attr, SUBSCRIBER_FIELDS, "subscriber.")
            found.append(
                (
                    node.lineno,
                    f"`subscriber.{node.attr}` is not a subscriber field{hint} "
                    f"(fields: {', '.join(SUBSCRIBER_FIELDS)})",
                )
            )
    for node in tree.find_all(nodes.Filter):
        if node.name not in _HTML_ENV.filters:
            hint = did_you_mean(node.name, _HTML_ENV.filters)
            found.append((node.lineno, f"`{node.name}` is not a Jinja filter{hint}"))
    return sorted(found)


def compile_mjml(source: str) -> str:
    """mjml-python, with no remote fonts."""
    return mjml.mjml2html(source, fonts={})


class CampaignRenderer:
    """``CampaignRenderer(settings, session, source, campaign).render(recipient)``.

    ``campaign`` may be ``None`` (a preview or a preflight before the campaign row exists); links
    then carry no campaign id. ``languages``: compile only these (a preview shows one; a language
    the campaign lacks falls back to English, compiled then), not every language of the campaign.
    """

    def __init__(
        self,
        settings: Settings,
        session: Session,
        source: CampaignSource,
        campaign: Campaign | None = None,
        *,
        languages: tuple[str, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.campaign = campaign
        self.campaign_id = campaign.id if campaign is not None else None
        self.resources = {r.slug: r for r in session.exec(select(Resource))}
        self.pods = {p.slug: p for p in session.exec(select(Pod))}
        self.original = self._original(session)
        self.minter = CampaignLinks(settings, self.campaign_id, source.slug)
        if str(escape(settings.base_url)) != settings.base_url:
            raise RenderError(f"GLL_MAIL_BASE_URL {settings.base_url!r} has characters that need escaping in HTML")
        self.layout_env = layout_environment(settings.templates_dir)
        layout = f"{source.template}.mjml"
        if not (settings.templates_dir / layout).is_file():
            raise RenderError(
                f"layout {layout} not found in {settings.templates_dir} "
                f"(layouts: {', '.join(layouts(settings.templates_dir)) or 'none'})"
            )
        self.variants: dict[str, CompiledVariant] = {}
        wanted = list(source.languages)
        if languages is not None:
            wanted = [code for code in wanted if code in languages]
            if len(wanted) < len(set(languages)) and DEFAULT_LANGUAGE in source.languages:
                wanted.append(DEFAULT_LANGUAGE)  # what variant_for falls back to
        for language in dict.fromkeys(wanted):
            self.variants[language] = self._compile(language)

    # -- construction --

    def _original(self, session: Session) -> dict[str, Any] | None:
        """A corrigendum's original: its subject per language and the date it was sent."""
        if not self.source.corrects:
            return None
        info: dict[str, Any] = {"slug": self.source.corrects, "subjects": {}, "date": None}
        row = session.exec(select(Campaign).where(Campaign.slug == self.source.corrects)).first()
        original_source = None
        try:
            original_source = find_source(self.settings, self.source.corrects)
        except SourceError:
            pass
        if original_source is not None:
            info["subjects"] = {code: v.subject for code, v in original_source.variants.items()}
            info["date"] = original_source.send_at
        if row is not None:
            info["subjects"].setdefault(DEFAULT_LANGUAGE, row.subject)
            info["date"] = row.started_at or row.finished_at or row.send_at or info["date"]
        if not info["subjects"]:
            info["subjects"][DEFAULT_LANGUAGE] = self.source.corrects
        return info

    def _compile(self, language: str) -> CompiledVariant:
        from gll_mail.campaigns.records import effective_subject

        source = self.source
        variant = source.variants[language]
        where = f"{variant.path.name}"
        t = translator(language)
        try:
            body_html, body_text, keys = convert_body(variant.body)
        except RenderError as exc:
            raise RenderError(f"{where}: {exc}") from None
        for key in keys:
            kind, _, slug = key.partition(":")
            problem = unknown_target(kind, slug, self.resources, self.pods)
            if problem:
                raise RenderError(f"{where}: {problem}")
        for key in LAYOUT_LINKS:
            if key not in keys:
                keys.append(key)
        if len(keys) > len(_SLOT_NAMES):
            raise RenderError(f"{where}: more than {len(_SLOT_NAMES)} different personal links")

        direction = text_direction(language)
        banner = ""
        if self.original is not None:
            subjects = self.original["subjects"]
            original_subject = subjects.get(language) or subjects.get(DEFAULT_LANGUAGE) or ""
            when = t.format_date(self.original["date"])
            if when:
                # Translators: the banner on top of a corrigendum; %(subject)s is the subject of the email
                # it corrects, %(date)s the day that email was sent (written out, e.g. "18 June 2019").
                banner = t.gettext(
                    "This corrigendum corrects the email “%(subject)s” sent on %(date)s.",
                    subject=original_subject,
                    date=when,
                )
            else:
                # Translators: as above, when the day the corrected email was sent is unknown.
                banner = t.gettext("This corrigendum corrects the email “%(subject)s”.", subject=original_subject)
        contact = parseaddr(self.settings.from_address)[1] or "gll4quhc@who.int"
        context = {
            "lang": language,
            "lang_tag": language_tag(language),  # the layouts' lang attribute: zh-Hans, not zh
            "dir": direction,
            "align": "right" if direction == "rtl" else "left",
            "_": t.gettext,
            "gettext": t.gettext,
            "pgettext": t.pgettext,
            "ngettext": t.ngettext,
            "kind": source.kind,
            "kind_label": kind_label(t, source.kind),
            "preheader": variant.preheader,
            "body": Markup(body_html),
            "banner": banner,
            "postal_address": self.settings.postal_address,
            "contact": contact,
            "campaign_slug": source.slug,
        }
        try:
            mjml_source = self.layout_env.get_template(f"{source.template}.mjml").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"layout {source.template}.mjml: {exc}") from None
        try:
            html_source = compile_mjml(mjml_source)
        except Exception as exc:  # mjml-python raises plain exceptions for bad MJML
            raise RenderError(f"layout {source.template}.mjml does not compile: {exc}") from None

        text_source = self._text_source(t, context, body_text, banner)
        subject_text = effective_subject(source, language)
        try:
            # One template renders both parts (one context per recipient); the text half is not HTML.
            combined = html_source + _SPLIT + "{% autoescape false %}" + text_source + "{% endautoescape %}"
            message_template = _HTML_ENV.from_string(_link_slots(combined, keys))
            subject_template = (
                _TEXT_ENV.from_string(subject_text) if ("{{" in subject_text or "{%" in subject_text) else None
            )
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{where}: personalization does not parse: {exc.message}") from None
        return CompiledVariant(
            language=language,
            mjml=mjml_source,
            html_source=html_source,
            text_source=text_source,
            template=message_template,
            subject=subject_template,
            subject_text=subject_text,
            preheader=context["preheader"],
            link_keys=tuple(keys),
            # Translators: the greeting a campaign body may use ({{ salutation }}); %(name)s is the member's name.
            salutation=t.pgettext("email", "Dear %(name)s,"),
            # Translators: the greeting when we have no name for the member.
            salutation_unnamed=t.gettext("Dear Colleague,"),
            # Translators: what {{ subscriber }} shows in a campaign body when we have no name for the member.
            colleague=t.pgettext("email", "Colleague"),
        )

    def _text_source(self, t: Translator, context: dict, body_text: str, banner: str) -> str:
        lit = jinja_literal
        # Translators: the header and the signature of every email.
        gll = t.pgettext("email", "WHO Global Learning Laboratory for Quality Universal Health Coverage")
        lines = [lit(gll), ""]
        if banner:
            # Translators: the heading of the banner on top of a corrected email.
            corrigendum = t.gettext("Corrigendum")
            lines += [lit(f"{corrigendum.upper()}: {banner}"), ""]
        if context["kind_label"] and not banner:
            lines.append(lit(context["kind_label"]))
        lines.append("{{ subject }}")
        if context["preheader"]:
            lines.append(lit(context["preheader"]))
        lines += [
            "",
            body_text,
            "",
            "-- ",
            # Translators: the signature of every email.
            lit(t.gettext("The GLL Team")),
            lit(gll),
            # Translators: the GLL's motto, under the signature of every email.
            lit(t.gettext("Sharing knowledge and experiences, challenging ideas and sparking innovation")),
            "",
            lit(
                # Translators: in the footer of every campaign email.
                t.gettext(
                    "You receive this email because you subscribed to the mailing list of the WHO Global "
                    "Learning Laboratory for Quality Universal Health Coverage."
                )
            ),
            "",
            # Translators: the link to the web version of the email, above the header and in the footer.
            lit(t.gettext("View this email in your browser")) + ": {{ links.archive }}",
            lit(t.gettext("Manage your subscription")) + ": {{ links.manage }}",
            # Translators: a link in the footer of every email.
            lit(t.pgettext("email", "Unsubscribe")) + ": {{ links.unsubscribe }}",
            "",
            lit(context["postal_address"]),
            # Translators: before the team's email address in the footer.
            lit(f"{t.gettext('Contact')}: {context['contact']}"),
            "",
        ]
        return "\n".join(lines)

    # -- per recipient --

    def variant_for(self, language: str | None) -> CompiledVariant:
        return self.variants.get(language or DEFAULT_LANGUAGE) or self.variants[DEFAULT_LANGUAGE]

    def render(self, recipient: Any, *, language: str | None = None) -> RenderedMessage:
        variant = self.variant_for(language or recipient.language)
        public_id = recipient.public_id
        urls = self.minter.url_list(variant.link_keys, public_id, variant.language)
        links = dict(zip(variant.link_keys, urls, strict=False))
        name = (recipient.name or "").strip()
        pods = tuple(getattr(recipient, "pods", None) or ())
        view = _SubscriberView(
            name or variant.colleague, recipient.email, variant.language, public_id, pods, bool(name)
        )
        context = dict(_GLOBALS)
        context["subscriber"] = view
        context["links"] = links
        context["language"] = variant.language
        context["pods"] = pods
        context.update(zip(_SLOT_NAMES, map(Markup, urls), strict=False))  # URL-safe characters only: see _link_slots
        context["salutation"] = variant.salutation % {"name": name} if name else variant.salutation_unnamed
        try:
            if variant.subject is not None:
                subject = " ".join(variant.subject.render(context).split())
            else:
                subject = variant.subject_text
            context["subject"] = subject
            template = variant.template
            html, _, text = "".join(template.root_render_func(template.new_context(context, shared=True))).partition(
                _SPLIT
            )
        except jinja2.TemplateError as exc:
            raise RenderError(
                f"{self.source.variants[variant.language].path.name}: personalization failed: {exc}"
            ) from None
        if self.settings.open_tracking:
            html = with_open_pixel(html, open_pixel_url(self.settings, public_id, self.campaign_id))
        return RenderedMessage(variant.language, subject, html, text, variant.preheader)


def kind_label(t: Translator, kind: str) -> str:
    """The small label above a campaign's title, naming its kind."""
    if kind == "announcement":
        # Translators: a short label above the title of an email, naming its kind.
        return t.pgettext("kind of email", "Announcement")
    if kind == "report-release":
        # Translators: a short label above the title of an email, naming its kind.
        return t.pgettext("kind of email", "Report release")
    if kind == "event":
        # Translators: a short label above the title of an email, naming its kind.
        return t.pgettext("kind of email", "Event")
    if kind == "corrigendum":
        # Translators: a short label above the title of an email, naming its kind.
        return t.pgettext("kind of email", "Corrigendum")
    return ""


def with_open_pixel(html: str, url: str) -> str:
    """Add the 1×1 open-tracking image (GLL_MAIL_OPEN_TRACKING only) just before ``</body>``."""
    pixel = (
        f'<img src="{escape(url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )
    head, sep, tail = html.rpartition("</body>")
    return head + pixel + sep + tail if sep else html + pixel


def recipient_for(session: Session, subscriber: Subscriber) -> Recipient:
    """A :class:`Recipient` with the subscriber's active learning pods (for previews and test sends)."""
    pods = tuple(
        session.exec(
            select(Pod.slug)
            .join(PodMembership, PodMembership.pod_id == Pod.id)
            .where(PodMembership.subscriber_id == subscriber.id, PodMembership.left_at.is_(None))
            .order_by(Pod.slug)
        )
    )
    return Recipient(subscriber.public_id, subscriber.email, subscriber.name, subscriber.language, pods)


def sample_recipient(language: str = DEFAULT_LANGUAGE, name: str = "Amina Haddad") -> Recipient:
    """A made-up recipient for previews and the preflight."""
    return Recipient("preview-" + language, f"preview.{language}@example.org", name, language, ())
