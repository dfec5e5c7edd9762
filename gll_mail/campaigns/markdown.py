"""Campaign bodies: Markdown to HTML and plain text, and what each link in them means.

Author Jinja such as ``{{ salutation }}`` is kept aside while Markdown runs (:func:`protect_jinja`,
:func:`restore_jinja`); ``resource:``/``pod:``/``manage:``/``archive:`` links become Jinja placeholders
such as ``{{ links['resource:compassion-tools'] }}``, filled per recipient by :mod:`.render`. Every
link is classified (:func:`classify_link`): a link that would not work in an email is refused with
the reason. :func:`scan_body` finds, for the preflight, what an author left wrong in a body (lost
links, raw HTML, leftovers) with its line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markupsafe import escape

from gll_mail.campaigns.sources import SLUG_RE, Variant
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
        return LinkInfo(
            href,
            "invalid",
            problem=f"malformed link {href!r}: relative links do not work in email; "
            "use https://…, resource:SLUG, pod:SLUG, manage: or archive:",
        )
    if scheme_l in ("javascript", "vbscript", "data", "file"):
        return LinkInfo(href, "invalid", problem=f"{scheme_l}: links are not allowed in email")
    if scheme_l in ("resource", "pod"):
        if not SLUG_RE.match(rest or ""):
            return LinkInfo(
                href,
                "invalid",
                problem=f"malformed link {href!r}: {scheme_l}: needs a slug, e.g. {scheme_l}:compassion",
            )
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
    return LinkInfo(
        href,
        "invalid",
        problem=f"unknown link scheme {scheme!r} in {href!r} "
        "(use https:, mailto:, resource:, pod:, manage: or archive:)",
    )


def did_you_mean(word: str, known: Collection[str], prefix: str = "") -> str:
    """``"; did you mean PREFIX+X?"`` for the known word nearest ``word``, or ``""`` if none is near."""
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


def unknown_target(kind: str, slug: str | None, resources: Collection[str], pods: Collection[str]) -> str | None:
    """Why a ``resource:``/``pod:`` link names nothing (with the nearest slug that exists), else None."""
    if kind == "resource" and slug not in resources:
        return (
            f"resource:{slug} names no resource{did_you_mean(slug or '', resources, 'resource:')} "
            "(see `gll-mail resources list`)"
        )
    if kind == "pod" and slug not in pods:
        return f"pod:{slug} names no learning pod{did_you_mean(slug or '', pods, 'pod:')} (see `gll-mail pods list`)"
    return None


# --- Markdown --------------------------------------------------------------------------------


def markdown_parser(*, html: bool = False) -> MarkdownIt:
    """The campaign body's Markdown: raw HTML is text (``html=True`` only finds it, for the preflight)."""
    md = MarkdownIt("commonmark", {"html": html, "linkify": False, "typographer": False})
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
        return (
            f'<img src="{jinja_literal(str(escape(info.href)))}" alt="{escape(alt)}" '
            'style="max-width:100%;height:auto;">'
        )

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


# --- what an author left wrong in a body ------------------------------------------------------

_MARKERS = [
    (re.compile(r"\]\("), "an unresolved link marker `](`: a link that Markdown could not read"),
    (re.compile(r"\["), "a stray `[`: a link whose target was lost"),
    (re.compile(r"\]"), "a stray `]`: a link whose target was lost"),
    (re.compile(r"\{\{|\}\}|\{%|%\}"), "a leftover `{{`/`{%`: personalization that will not render"),
    (re.compile(r"\b(TODO|FIXME|TBD)\b"), "a `TODO`/`FIXME` left in the text"),
]
_PROMISE = re.compile(r"\b(click )?here\s*:?\s*$", re.I)
_HTML_TAG = re.compile(r"<!--|<[A-Za-z][A-Za-z0-9-]*(?:\s[^>]*)?/?>?")


@dataclass
class BodyLink:
    """A link in a body: what it means, its text and its line in the file."""

    info: LinkInfo
    text: str
    line: int


def _find_line(lines: list[str], first: int, last: int, needle: str, body_line: int) -> int:
    """The file line, within the block's lines, that contains ``needle`` (else the block's first line)."""
    if needle:
        for index in range(first, min(last, len(lines))):
            if needle in lines[index]:
                return body_line + index
    return body_line + first


def scan_body(variant: Variant):
    """Links (with text and line), problems (line, message, text), alt-less images and texts that
    promise a link they lack ("… report here:") in one body."""
    protected, jinja_parts = protect_jinja(variant.body)
    raw_lines = variant.body.split("\n")
    md = markdown_parser(html=True)  # the renderer shows raw HTML as text: find it to refuse it
    links: list[BodyLink] = []
    problems: list[tuple[int, str, str]] = []
    images: list[tuple[int, str]] = []
    hints: list[tuple[int, str]] = []
    for token in md.parse(protected):
        if token.type == "html_block" and token.map:
            for offset, text in enumerate(token.content.split("\n")):
                tag = _HTML_TAG.search(text)
                if tag:
                    problems.append((variant.body_line + token.map[0] + offset, _raw_html(tag.group(0)), ""))
            continue
        if token.type != "inline" or not token.map:
            continue
        first, last = token.map
        open_links: list[tuple[str, list[str]]] = []
        children = token.children or []
        for index, child in enumerate(children):
            if child.type == "link_open":
                open_links.append((child.attrGet("href") or "", []))
            elif child.type == "link_close" and open_links:
                href, parts = open_links.pop()
                text = restore_jinja("".join(parts), jinja_parts).strip()
                line = _find_line(raw_lines, first, last, f"({href}" if href else text, variant.body_line)
                links.append(BodyLink(classify_link(href), text, line))
                if open_links:
                    open_links[-1][1].append(text)
            elif child.type == "text":
                content = child.content
                if open_links:
                    open_links[-1][1].append(content)
                following = children[index + 1].type if index + 1 < len(children) else ""
                if not open_links and following != "link_open" and _PROMISE.search(content):
                    line = _find_line(raw_lines, first, last, content.strip()[-20:], variant.body_line)
                    sentence = re.split(r"(?<=[.!?])\s+", content.strip())[-1]
                    hints.append((line, sentence if len(sentence) <= 80 else "…" + sentence[-79:]))
                for pattern, message in _MARKERS:
                    match = pattern.search(content)
                    if match:
                        context = restore_jinja(content, jinja_parts).strip()
                        line = _find_line(raw_lines, first, last, match.group(0), variant.body_line)
                        problems.append((line, f"the text contains {message}", excerpt(context, match.group(0))))
                        break
            elif child.type == "code_inline" and open_links:
                open_links[-1][1].append(child.content)
            elif child.type == "html_inline" and not child.content.startswith("</"):
                line = _find_line(raw_lines, first, last, child.content, variant.body_line)
                problems.append((line, _raw_html(child.content), ""))
            elif child.type == "image":
                alt = "".join(c.content for c in child.children or [])
                src = child.attrGet("src") or ""
                line = _find_line(raw_lines, first, last, src, variant.body_line)
                info = classify_link(src)
                if info.kind != "external":
                    problems.append((line, f"image source {src!r} must be an https:// URL", alt))
                if not alt.strip():
                    images.append((line, src))
    return links, problems, images, hints


def _raw_html(tag: str) -> str:
    shown = tag if len(tag) <= 60 else tag[:59] + "…"
    what = "an HTML comment" if tag.startswith("<!--") else f"raw HTML `{shown}`"
    return (
        f"the text contains {what}: members would see it as text; write Markdown instead "
        "([text](https://…) for a link, **bold**, - lists)"
    )


def excerpt(text: str, marker: str, width: int = 30) -> str:
    at = text.find(marker)
    if at < 0:
        return text[: width * 2]
    start = max(0, at - width)
    snippet = text[start : at + len(marker) + width].replace("\n", " ")
    return ("…" if start else "") + snippet + ("…" if at + len(marker) + width < len(text) else "")
