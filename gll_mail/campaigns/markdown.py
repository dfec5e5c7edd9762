"""Campaign bodies: Markdown to HTML and plain text, and what each link in them means.

Author Jinja such as ``{{ salutation }}`` is kept aside while Markdown runs (:func:`protect_jinja`,
:func:`restore_jinja`); ``resource:``/``pod:``/``manage:``/``archive:`` links become Jinja placeholders
such as ``{{ links['resource:compassion-tools'] }}``, filled per recipient by :mod:`.render`. Every
link is classified (:func:`classify_link`): a link that would not work in an email is refused with
the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markupsafe import escape

from gll_mail.campaigns.sources import SLUG_RE
from gll_mail.errors import GllMailError

SCHEMES = ("resource", "pod", "manage", "archive", "unsubscribe")
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_GUARD_RE = re.compile(r"GLLJ(\d+)J")
_HOST_RE = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d+)?([/?#][^\s<>\"{}]*)?$")
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


def jinja_literal(text: str) -> str:
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
        return f'<a href="{jinja_literal(str(escape(info.href)))}">'

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        info = classify_link(token.attrGet("src"))
        if info.kind != "external":
            raise RenderError(f"image source {token.attrGet('src')!r} must be an https:// URL")
        alt = self.renderInlineAsText(token.children or [], options, env)
        return (f'<img src="{jinja_literal(str(escape(info.href)))}" alt="{escape(alt)}" '
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
                parts.append(f" <{jinja_literal(info.href)}>")
        elif t == "image":
            alt = "".join(c.content for c in child.children or [])
            parts.append(f"[{alt}]" if alt else "")
    return "".join(parts)


def convert_body(body: str) -> tuple[str, str, list[str]]:
    """A Markdown body as (HTML, plain text, the personal link keys it uses, in order of appearance)."""
    protected, jinja_parts = protect_jinja(body)
    md = markdown_parser()
    keys: list[str] = []
    tokens = md.parse(protected)
    html = restore_jinja(body_to_html(md, tokens, keys), jinja_parts)
    text = restore_jinja(body_to_text(tokens, keys), jinja_parts)
    return html, text, keys
