"""Rendering: an MJML layout compiled once per campaign × language, then filled per recipient by Jinja.

Construction does everything that is the same for every recipient:

1. the Markdown body becomes HTML and plain text (author Jinja such as ``{{ salutation }}`` is kept
   aside while Markdown runs; ``resource:``/``pod:``/``manage:``/``archive:`` links become Jinja
   placeholders such as ``{{ links["resource:compassion-tools"] }}``);
2. the layout ``templates/emails/<template>.mjml`` is filled with the layout strings of the language
   (a first Jinja pass with ``[[ ]]``/``[% %]`` delimiters, so ``{{ }}`` survives for later);
3. mjml-python compiles that MJML to HTML — once;
4. the HTML, the text and the subject become Jinja templates (autoescaping on for the HTML).

``render(recipient)`` then only mints the recipient's signed links and fills the templates: no MJML
compile and no database query per recipient.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import time
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import mjml
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from sqlmodel import Session, select

from gll_mail.campaigns import email_strings
from gll_mail.campaigns.sources import SLUG_RE, CampaignSource, SourceError, find_source
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, text_direction
from gll_mail.links import open_pixel_url
from gll_mail.models import Campaign, Pod, PodMembership, Resource, Subscriber
from gll_mail.settings import Settings

SCHEMES = ("resource", "pod", "manage", "archive", "unsubscribe")
_PATHS = {"resource": ("gate", "/r/"), "pod": ("join-pod", "/p/"), "manage": ("manage", "/m/"),
          "unsubscribe": ("unsubscribe", "/u/"), "archive": ("archive", "/a/")}
LAYOUT_LINKS = ("archive", "manage", "unsubscribe")
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_GUARD_RE = re.compile(r"GLLJ(\d+)J")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HOST_RE = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d+)?([/?#][^\s<>\"{}]*)?$")
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_MAILTO_RE = re.compile(r"^mailto:[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"?]+(\?[^\s<>\"]*)?$", re.I)


class RenderError(GllMailError):
    """The campaign cannot be rendered (bad layout, bad link, broken personalization)."""


# --- links -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkInfo:
    href: str
    kind: str  # resource, pod, manage, archive, unsubscribe, external, mailto, invalid
    slug: str | None = None
    problem: str | None = None

    @property
    def key(self) -> str:
        """The per-recipient link this href stands for (``resource:slug``, ``manage`` …)."""
        return f"{self.kind}:{self.slug}" if self.slug else self.kind


def classify_link(href: str | None) -> LinkInfo:
    """What a link in a campaign body means, or what is wrong with it."""
    href = (href or "").strip()
    if not href:
        return LinkInfo(href, "invalid", problem="empty link")
    scheme, sep, rest = href.partition(":")
    scheme_l = scheme.lower()
    if not sep:
        return LinkInfo(href, "invalid", problem=f"malformed link {href!r}: relative links do not work in email; "
                        "use https://…, resource:SLUG, pod:SLUG, manage: or archive:")
    if scheme_l in ("javascript", "vbscript", "data", "file"):
        return LinkInfo(href, "invalid", problem=f"{scheme_l}: links are not allowed in email")
    if scheme_l in ("resource", "pod"):
        if not SLUG_RE.match(rest or ""):
            return LinkInfo(href, "invalid", problem=f"malformed link {href!r}: {scheme_l}: needs a slug, "
                            f"e.g. {scheme_l}:compassion")
        return LinkInfo(href, scheme_l, rest)
    if scheme_l in ("manage", "archive", "unsubscribe"):
        if rest:
            return LinkInfo(href, "invalid", problem=f"malformed link {href!r}: write just `{scheme_l}:`")
        return LinkInfo(href, scheme_l)
    if scheme_l in ("http", "https"):
        if not _HOST_RE.match(href):
            return LinkInfo(href, "invalid", problem=f"malformed URL {href!r}")
        return LinkInfo(href, "external")
    if scheme_l == "mailto":
        if not _MAILTO_RE.match(href):
            return LinkInfo(href, "invalid", problem=f"malformed mailto: link {href!r}")
        return LinkInfo(href, "mailto")
    return LinkInfo(href, "invalid", problem=f"unknown link scheme {scheme!r} in {href!r} "
                    "(use https:, mailto:, resource:, pod:, manage: or archive:)")


class LinkMinter:
    """Mints the signed URLs of :mod:`gll_mail.links` for many recipients, fast.

    The tokens are exactly those of ``tokens.make_token`` (itsdangerous URL-safe timed
    serializer, newest key, one salt per purpose, uncompressed payload), so ``read_token`` and the
    web verify them unchanged; only the per-call key derivation and serializer set-up are done once.
    """

    def __init__(self, settings: Settings, campaign_id: int | None, campaign_slug: str) -> None:
        key = settings.secret_keys[0].encode()
        self._keys = {}
        for purpose, _ in _PATHS.values():
            # itsdangerous' "django-concat" key derivation, then HMAC-SHA1 with its pads pre-hashed.
            derived = hashlib.sha1(f"gll-mail.{purpose}".encode() + b"signer" + key).digest().ljust(64, b"\0")
            self._keys[purpose] = (hashlib.sha1(derived.translate(_IPAD)), hashlib.sha1(derived.translate(_OPAD)))
        self._base = settings.base_url.rstrip("/")
        self.campaign_id = campaign_id
        self.campaign_slug = campaign_slug
        self._ts = -1
        self._ts_b64 = b""
        self._specs: dict[str, tuple] = {}

    def _spec(self, key: str) -> tuple:
        """(inner pad hash, outer pad hash, URL prefix, JSON after the subject, extra payload)."""
        spec = self._specs.get(key)
        if spec is None:
            kind, _, slug = key.partition(":")
            purpose, path = _PATHS[kind]
            if kind == "resource":
                extra = {"r": slug, "c": self.campaign_id}
            elif kind == "pod":
                extra = {"p": slug, "c": self.campaign_id}
            elif kind in ("unsubscribe", "manage"):  # the campaign an unsubscribe is counted for
                extra = {"c": self.campaign_id}
            elif kind == "archive":
                extra = {"c": self.campaign_slug}
            else:
                extra = {}
            extra = {k: v for k, v in extra.items() if v is not None}
            suffix = json.dumps(extra, separators=(",", ":"), ensure_ascii=False)[1:-1]
            inner, outer = self._keys[purpose]
            tail = ("," + suffix if suffix else "") + "}"
            spec = (inner, outer, self._base + path, tail.encode(), extra)
            self._specs[key] = spec
        return spec

    def _timestamp(self) -> bytes:
        now = int(time.time())
        if now != self._ts:
            self._ts = now
            self._ts_b64 = b"." + _b64(now.to_bytes((now.bit_length() + 7) // 8, "big"))
        return self._ts_b64

    def urls(self, keys: tuple[str, ...], public_id: str) -> dict[str, str]:
        """The recipient's URL for each link key (``resource:slug``, ``manage`` …)."""
        return dict(zip(keys, self.url_list(keys, public_id)))

    def url_list(self, keys: tuple[str, ...], public_id: str) -> list[str]:
        """The recipient's URLs for ``keys``, in order (the renderer's hot path)."""
        stamp = self._timestamp()
        b2a, table = binascii.b2a_base64, _URLSAFE
        head = ('{"s":"' + public_id + '"').encode() if _SAFE_ID.match(public_id) else None
        specs = self._specs
        out = []
        for key in keys:
            inner_pad, outer_pad, prefix, suffix, extra = specs.get(key) or self._spec(key)
            if head is not None:
                payload = head + suffix
            else:
                payload = json.dumps({"s": public_id, **extra}, separators=(",", ":"), ensure_ascii=False).encode()
            value = b2a(payload, newline=False).translate(table).rstrip(b"=") + stamp
            inner = inner_pad.copy()
            inner.update(value)
            outer = outer_pad.copy()
            outer.update(inner.digest())
            # an HMAC-SHA1 is 20 bytes: 27 base64 characters once the one "=" is dropped
            out.append(prefix + (value + b"." + b2a(outer.digest(), newline=False)[:27].translate(table)).decode())
        return out

    def url(self, key: str, public_id: str) -> str:
        return self.urls((key,), public_id)[key]


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


# --- Markdown --------------------------------------------------------------------------------

def markdown_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # every link is checked (and refused) by us, with a reason
    return md


def protect_jinja(text: str) -> tuple[str, list[str]]:
    """Replace author Jinja (``{{ … }}``, ``{% … %}``) by inert markers while Markdown runs."""
    found: list[str] = []

    def keep(match: re.Match) -> str:
        found.append(match.group(0))
        return f"GLLJ{len(found) - 1}J"

    return _JINJA_RE.sub(keep, text), found


def restore_jinja(text: str, found: list[str]) -> str:
    return _GUARD_RE.sub(lambda m: found[int(m.group(1))] if int(m.group(1)) < len(found) else m.group(0), text)


def _link_placeholder(info: LinkInfo) -> str:
    return "{{ links['" + info.key + "'] }}"


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


def _literal(text: str) -> str:
    """Static text inside a Jinja template source: braces cannot start a Jinja tag."""
    return text.replace("{", "{{ '{' }}") if "{" in text else text


def body_to_html(md: MarkdownIt, tokens, keys: list[str]) -> str:
    def link_open(self, tokens, idx, options, env):
        info = classify_link(tokens[idx].attrGet("href"))
        if info.problem:
            raise RenderError(info.problem)
        if info.kind in SCHEMES:
            if info.key not in keys:
                keys.append(info.key)
            return f'<a href="{_link_placeholder(info)}">'
        return f'<a href="{_literal(str(escape(info.href)))}">'

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        info = classify_link(token.attrGet("src"))
        if info.kind != "external":
            raise RenderError(f"image source {token.attrGet('src')!r} must be an https:// URL")
        alt = self.renderInlineAsText(token.children or [], options, env)
        return (f'<img src="{_literal(str(escape(info.href)))}" alt="{escape(alt)}" '
                'style="max-width:100%;height:auto;">')

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md.renderer.render(tokens, md.options, {})


def body_to_text(tokens, keys: list[str]) -> str:
    """The plain-text rendering of the same Markdown tokens (links as ``text <URL>``)."""
    out: list[str] = []
    prefix: list[str] = []
    lists: list[list[int | None]] = []
    for token in tokens:
        t = token.type
        if t == "bullet_list_open":
            lists.append([None])
        elif t == "ordered_list_open":
            lists.append([int(token.attrGet("start") or 1)])
        elif t in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("")
        elif t == "list_item_open":
            counter = lists[-1]
            bullet = "- " if counter[0] is None else f"{counter[0]}. "
            if counter[0] is not None:
                counter[0] += 1
            prefix.append(bullet)
        elif t == "list_item_close":
            prefix.pop()
        elif t == "blockquote_open":
            prefix.append("> ")
        elif t == "blockquote_close":
            prefix.pop()
        elif t == "hr":
            out.append("-" * 40)
            out.append("")
        elif t in ("fence", "code_block"):
            out.extend(token.content.rstrip("\n").split("\n"))
            out.append("")
        elif t == "inline":
            text = _inline_text(token.children or [], keys)
            lead = "".join(prefix)
            indent = " " * len(lead)
            lines = text.split("\n")
            out.append(lead + lines[0])
            out.extend(indent + line for line in lines[1:])
        elif t in ("paragraph_close", "heading_close") and not lists:
            out.append("")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


def _inline_text(children, keys: list[str]) -> str:
    parts: list[str] = []
    hrefs: list[tuple[LinkInfo, int]] = []
    for child in children:
        t = child.type
        if t in ("text", "code_inline"):
            parts.append(child.content)
        elif t in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif t == "link_open":
            info = classify_link(child.attrGet("href"))
            if info.problem:
                raise RenderError(info.problem)
            hrefs.append((info, len(parts)))
        elif t == "link_close" and hrefs:
            info, start = hrefs.pop()
            label = "".join(parts[start:])
            if info.kind in SCHEMES:
                if info.key not in keys:
                    keys.append(info.key)
                parts.append(f" <{_link_placeholder(info)}>")
            elif label.strip() != info.href and label.strip() != info.href.removeprefix("mailto:"):
                parts.append(f" <{_literal(info.href)}>")
        elif t == "image":
            alt = "".join(c.content for c in child.children or [])
            parts.append(f"[{alt}]" if alt else "")
    return "".join(parts)


# --- layout ----------------------------------------------------------------------------------

def _stage1_finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return Markup(str(escape(value)).replace("{", "&#123;"))


def layout_environment(templates_dir: Path) -> jinja2.Environment:
    """The first pass over the MJML layouts, with ``[[ ]]`` delimiters so per-recipient ``{{ }}`` stay."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        block_start_string="[%", block_end_string="%]",
        variable_start_string="[[", variable_end_string="]]",
        comment_start_string="[#", comment_end_string="#]",
        autoescape=True, undefined=jinja2.StrictUndefined, finalize=_stage1_finalize,
        trim_blocks=True, lstrip_blocks=True,
    )


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
    strings: dict[str, str]


def compile_mjml(source: str) -> str:
    """mjml-python, with no remote fonts."""
    return mjml.mjml2html(source, fonts={})


class CampaignRenderer:
    """``CampaignRenderer(settings, session, source, campaign).render(recipient)``.

    ``campaign`` may be ``None`` (a preview or a preflight before the campaign row exists); links
    then carry no campaign id.
    """

    def __init__(self, settings: Settings, session: Session, source: CampaignSource,
                 campaign: Campaign | None = None) -> None:
        self.settings = settings
        self.source = source
        self.campaign = campaign
        self.campaign_id = campaign.id if campaign is not None else None
        self.resources = {r.slug: r for r in session.exec(select(Resource))}
        self.pods = {p.slug: p for p in session.exec(select(Pod))}
        self.original = self._original(session)
        self.minter = LinkMinter(settings, self.campaign_id, source.slug)
        if str(escape(settings.base_url)) != settings.base_url:
            raise RenderError(f"GLL_MAIL_BASE_URL {settings.base_url!r} has characters that need escaping in HTML")
        self.layout_env = layout_environment(settings.templates_dir)
        layout = f"{source.template}.mjml"
        if not (settings.templates_dir / layout).is_file():
            raise RenderError(f"layout {layout} not found in {settings.templates_dir}")
        self.variants: dict[str, CompiledVariant] = {}
        for language in source.languages:
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
        strings = email_strings.strings_for(language)
        protected, jinja_parts = protect_jinja(variant.body)
        md = markdown_parser()
        keys: list[str] = []
        try:
            tokens = md.parse(protected)
            body_html = restore_jinja(body_to_html(md, tokens, keys), jinja_parts)
            body_text = restore_jinja(body_to_text(tokens, keys), jinja_parts)
        except RenderError as exc:
            raise RenderError(f"{where}: {exc}") from None
        for key in keys:
            kind, _, slug = key.partition(":")
            if kind == "resource" and slug not in self.resources:
                raise RenderError(f"{where}: resource:{slug} names no resource (see `gll-mail resources list`)")
            if kind == "pod" and slug not in self.pods:
                raise RenderError(f"{where}: pod:{slug} names no learning pod (see `gll-mail pods list`)")
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
            when = email_strings.format_date(self.original["date"], language)
            template = strings["corrigendum_banner"] if when else strings["corrigendum_banner_undated"]
            banner = template.format(subject=original_subject, date=when)
        contact = parseaddr(self.settings.from_address)[1] or "gll4quhc@who.int"
        context = {
            "lang": language, "dir": direction, "align": "right" if direction == "rtl" else "left",
            "s": strings, "kind": source.kind, "kind_label": strings.get(f"kind_{source.kind}", ""),
            "preheader": variant.preheader,
            "body": Markup(body_html), "banner": banner, "postal_address": self.settings.postal_address,
            "contact": contact, "campaign_slug": source.slug,
        }
        try:
            mjml_source = self.layout_env.get_template(f"{source.template}.mjml").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"layout {source.template}.mjml: {exc}") from None
        try:
            html_source = compile_mjml(mjml_source)
        except Exception as exc:  # mjml-python raises plain exceptions for bad MJML
            raise RenderError(f"layout {source.template}.mjml does not compile: {exc}") from None

        text_source = self._text_source(strings, context, body_text, banner)
        subject_text = effective_subject(source, language)
        try:
            # One template renders both parts (one context per recipient); the text half is not HTML.
            combined = html_source + _SPLIT + "{% autoescape false %}" + text_source + "{% endautoescape %}"
            message_template = _HTML_ENV.from_string(_link_slots(combined, keys))
            subject_template = _TEXT_ENV.from_string(subject_text) if ("{{" in subject_text or "{%" in subject_text) \
                else None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{where}: personalization does not parse: {exc.message}") from None
        return CompiledVariant(
            language=language, mjml=mjml_source, html_source=html_source, text_source=text_source,
            template=message_template, subject=subject_template, subject_text=subject_text,
            preheader=context["preheader"], link_keys=tuple(keys), strings=strings,
        )

    def _text_source(self, strings: dict[str, str], context: dict, body_text: str, banner: str) -> str:
        lit = _literal
        lines = [lit(strings["gll"]), ""]
        if banner:
            lines += [lit(f"{strings['corrigendum'].upper()}: {banner}"), ""]
        if context["kind_label"] and not banner:
            lines.append(lit(context["kind_label"]))
        lines.append("{{ subject }}")
        if context["preheader"]:
            lines.append(lit(context["preheader"]))
        lines += ["", body_text, "", "-- ", lit(strings["team"]), lit(strings["gll"]), lit(strings["tagline"]), "",
                  lit(strings["why"]), "",
                  lit(strings["view_online"]) + ": {{ links.archive }}",
                  lit(strings["manage"]) + ": {{ links.manage }}",
                  lit(strings["unsubscribe"]) + ": {{ links.unsubscribe }}", "",
                  lit(context["postal_address"]),
                  lit(f"{strings['contact']}: {context['contact']}"), ""]
        return "\n".join(lines)

    # -- per recipient --

    def variant_for(self, language: str | None) -> CompiledVariant:
        return self.variants.get(language or DEFAULT_LANGUAGE) or self.variants[DEFAULT_LANGUAGE]

    def render(self, recipient: Any, *, language: str | None = None) -> RenderedMessage:
        variant = self.variant_for(language or recipient.language)
        public_id = recipient.public_id
        urls = self.minter.url_list(variant.link_keys, public_id)
        links = dict(zip(variant.link_keys, urls))
        name = (recipient.name or "").strip()
        strings = variant.strings
        pods = tuple(getattr(recipient, "pods", None) or ())
        view = _SubscriberView(name or strings["colleague"], recipient.email, variant.language, public_id,
                               pods, bool(name))
        context = dict(_GLOBALS)
        context["subscriber"] = view
        context["links"] = links
        context["language"] = variant.language
        context["pods"] = pods
        context.update(zip(_SLOT_NAMES, map(Markup, urls)))  # URL-safe characters only: see _link_slots
        context["salutation"] = strings["salutation_named"].format(name=name) if name else strings["salutation"]
        try:
            if variant.subject is not None:
                subject = " ".join(variant.subject.render(context).split())
            else:
                subject = variant.subject_text
            context["subject"] = subject
            template = variant.template
            html, _, text = "".join(template.root_render_func(template.new_context(context, shared=True))) \
                .partition(_SPLIT)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{self.source.variants[variant.language].path.name}: personalization failed: "
                              f"{exc}") from None
        if self.settings.open_tracking:
            html = with_open_pixel(html, open_pixel_url(self.settings, public_id, self.campaign_id))
        return RenderedMessage(variant.language, subject, html, text, variant.preheader)


def with_open_pixel(html: str, url: str) -> str:
    """Add the 1×1 open-tracking image (GLL_MAIL_OPEN_TRACKING only) just before ``</body>``."""
    pixel = (f'<img src="{escape(url)}" width="1" height="1" alt="" '
             'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">')
    head, sep, tail = html.rpartition("</body>")
    return head + pixel + sep + tail if sep else html + pixel


def recipient_for(session: Session, subscriber: Subscriber) -> Recipient:
    """A :class:`Recipient` with the subscriber's active learning pods (for previews and test sends)."""
    pods = tuple(session.exec(
        select(Pod.slug).join(PodMembership, PodMembership.pod_id == Pod.id)
        .where(PodMembership.subscriber_id == subscriber.id, PodMembership.left_at.is_(None))
        .order_by(Pod.slug)
    ))
    return Recipient(subscriber.public_id, subscriber.email, subscriber.name, subscriber.language, pods)


def sample_recipient(language: str = DEFAULT_LANGUAGE, name: str = "Amina Haddad") -> Recipient:
    """A made-up recipient for previews and the preflight."""
    return Recipient("preview-" + language, f"preview.{language}@example.org", name, language, ())
