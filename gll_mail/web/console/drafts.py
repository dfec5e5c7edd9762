"""The editor's form and the campaign files, both ways: front matter as fields, the body as text.

A file is ``---``, YAML front matter, ``---``, a blank line and the Markdown body (the format of
``campaigns/``). Reading keeps every key the form does not show, so a hand-written file keeps its
other keys when saved from the console. Line numbers map between the file and the body's text area
(the preflight names file lines; the editor shows them beside the body's lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES

# Named IANA zones (the tzdata package supplies them where the system has none). The file keeps the
# time with the offset it has in that zone on that day and the zone's name (RFC 9557), e.g.
# 2026-12-01T09:00:00+01:00[Europe/Zurich], which campaigns/sources.py reads back.
TIMEZONES = {
    "UTC": "UTC",
    "Europe/Zurich": "Geneva — WHO headquarters (Europe/Zurich)",
    "Africa/Brazzaville": "Brazzaville — WHO Africa (Africa/Brazzaville)",
    "America/New_York": "Washington, D.C. — WHO Americas (America/New_York)",
    "Africa/Cairo": "Cairo — WHO Eastern Mediterranean (Africa/Cairo)",
    "Europe/Copenhagen": "Copenhagen — WHO Europe (Europe/Copenhagen)",
    "Asia/Kolkata": "New Delhi — WHO South-East Asia (Asia/Kolkata)",
    "Asia/Manila": "Manila — WHO Western Pacific (Asia/Manila)",
    "Africa/Nairobi": "Nairobi (Africa/Nairobi)",
    "Asia/Bangkok": "Bangkok, Jakarta (Asia/Bangkok)",
    "Asia/Shanghai": "Beijing (Asia/Shanghai)",
    "America/Sao_Paulo": "Brasília (America/Sao_Paulo)",
    "America/Mexico_City": "Mexico City (America/Mexico_City)",
}
OFFSET_RE = re.compile(r"^[+-]\d{2}:\d{2}$")
ZONED_RE = re.compile(r"^(?P<when>[^\[\]]+)\[(?P<zone>[A-Za-z0-9_+\-/]+)\]$")


@dataclass
class Draft:
    """One language's file as the editor shows it."""

    language: str
    meta: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_line: int = 1  # the file line of the body's first line
    unreadable: str = ""  # the front matter could not be read: the file is edited as it is

    @property
    def subject(self) -> str:
        return str(self.meta.get("subject") or "")

    @property
    def preheader(self) -> str:
        return str(self.meta.get("preheader") or "")


def parse(language: str, text: str) -> Draft:
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return Draft(language, body=text, unreadable="the file does not start with front matter")
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return Draft(language, body=text, unreadable="the front matter is not closed by ---")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict):
        return Draft(language, body=text, unreadable="the front matter is not valid YAML")
    start = end + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    body = "\n".join(lines[start:]).rstrip("\n")
    return Draft(language, meta=meta, body=body, body_line=start + 1)


def compose(meta: dict[str, Any], body: str) -> str:
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000) if meta else ""
    return f"---\n{front}---\n\n{body.strip()}\n"


def _zone(name: str) -> tzinfo:
    """A named zone of the list, a UTC offset such as ``+01:00`` (older forms), else UTC."""
    if OFFSET_RE.match(name):
        sign = -1 if name.startswith("-") else 1
        hours, minutes = name[1:].split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    if "/" in name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise GllMailError(f"unknown time zone {name!r}") from None
    return UTC


def send_at_value(local: str, zone: str) -> str | None:
    """``2026-12-01T09:00`` in ``Europe/Zurich`` → ``2026-12-01T09:00:00+01:00[Europe/Zurich]``; with
    an offset ``+01:00`` → ``2026-12-01T09:00:00+01:00``; None when empty."""
    if not local.strip():
        return None
    try:
        when = datetime.fromisoformat(local.strip())
    except ValueError:
        raise GllMailError(f"the send time must look like 2026-12-01 09:00, not {local.strip()!r}") from None
    if when.tzinfo is not None:
        when = when.replace(tzinfo=None)
    value = when.replace(tzinfo=_zone(zone)).isoformat()
    return f"{value}[{zone}]" if "/" in zone else value


def parse_send_at(value: Any) -> datetime:
    """A ``send_at`` value (a datetime, ISO 8601 with an offset, or with a ``[Zone/Name]`` suffix) as
    an aware datetime in its own zone."""
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    match = ZONED_RE.match(text)
    if not match:
        return datetime.fromisoformat(text)
    try:
        zone = ZoneInfo(match["zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise GllMailError(f"unknown time zone {match['zone']!r} in send_at") from None
    when = datetime.fromisoformat(match["when"])
    return when.astimezone(zone) if when.tzinfo else when.replace(tzinfo=zone)


def send_at_fields(value: Any) -> tuple[str, str]:
    """The (local time, zone) fields for a ``send_at`` value: its named zone, else its UTC offset."""
    if not value:
        return "", "UTC"
    try:
        when = parse_send_at(value)
    except (GllMailError, ValueError):
        return "", "UTC"
    if isinstance(when.tzinfo, ZoneInfo):
        return when.strftime("%Y-%m-%d %H:%M"), when.tzinfo.key
    offset = when.utcoffset() if when.tzinfo else None
    if not offset:
        return when.strftime("%Y-%m-%d %H:%M"), "UTC"
    minutes = int(offset.total_seconds() // 60)
    name = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return when.strftime("%Y-%m-%d %H:%M"), name


def zone_choices(zone: str) -> dict[str, str]:
    """The zone list, plus the file's own zone or offset when it is not in it (kept as written)."""
    if zone in TIMEZONES:
        return TIMEZONES
    label = f"UTC{zone.replace('-', '−')}" if OFFSET_RE.match(zone) else zone
    return {**TIMEZONES, zone: label}


def base_meta(form, existing: dict[str, Any]) -> dict[str, Any]:
    """The English file's front matter from the form's fields, keeping keys the form does not show."""
    meta = dict(existing)
    for key, name in (("subject", "subject"), ("preheader", "preheader"), ("kind", "kind"), ("from", "from")):
        value = (form.get(f"{DEFAULT_LANGUAGE}-{name}") if name in ("subject", "preheader") else form.get(name)) or ""
        if value.strip():
            meta[key] = value.strip()
        else:
            meta.pop(key, None)
    layout = (form.get("layout") or "").strip()
    if layout and layout != meta.get("kind"):
        meta["template"] = layout
    else:
        meta.pop("template", None)
    corrects = (form.get("corrects") or "").strip()
    if corrects:
        meta["corrects"] = corrects
    else:
        meta.pop("corrects", None)
    audience: dict[str, Any] = {}
    for key in ("topics", "pods"):
        chosen = [s for s in form.getlist(key) if s]
        if chosen:
            audience[key] = chosen
    who = form.get("registered", "")
    if who in ("true", "false"):
        audience["registered"] = who == "true"
    if form.get("all") == "true" and not audience:
        audience["all"] = True
    keep = {k: v for k, v in (existing.get("audience") or {}).items() if k == "recipients_of"}
    audience = {**keep, **audience}
    if audience:
        meta["audience"] = audience
    else:
        meta.pop("audience", None)
    send_at = send_at_value(form.get("send_at", ""), form.get("timezone", "UTC"))
    if send_at:
        meta["send_at"] = send_at
    else:
        meta.pop("send_at", None)
    return meta


def variant_meta(form, language: str, existing: dict[str, Any]) -> dict[str, Any]:
    """The translation's front matter from the form, its other keys (``translation_of``) kept in place."""
    meta = dict(existing)
    for key in ("subject", "preheader"):
        value = (form.get(f"{language}-{key}") or "").strip()
        if value:
            meta[key] = value
        else:
            meta.pop(key, None)
    return meta


def files_from_form(form, loaded: dict[str, str]) -> dict[str, str | None]:
    """language → the file text to save (None: remove the translation), from the editor's form."""
    drafts = {code: parse(code, text) for code, text in loaded.items()}
    wanted = [code for code in form.getlist("languages") if code]
    if DEFAULT_LANGUAGE not in wanted:
        wanted.insert(0, DEFAULT_LANGUAGE)
    added = form.get("add") if form.get("save") == "add" else None
    if added in LANGUAGES and added not in wanted:
        wanted.append(added)
    files: dict[str, str | None] = {}
    for code in wanted:
        body = form.get(f"{code}-body", "")
        old = drafts.get(code)
        if code == added and old is None:  # a new translation starts from the English text
            files[code] = compose(
                {
                    k: form.get(f"{DEFAULT_LANGUAGE}-{k}", "").strip()
                    for k in ("subject", "preheader")
                    if form.get(f"{DEFAULT_LANGUAGE}-{k}", "").strip()
                },
                form.get(f"{DEFAULT_LANGUAGE}-body", ""),
            )
            continue
        if old is not None and old.unreadable:
            files[code] = body  # edited as raw text until its front matter reads again
            continue
        meta = old.meta if old else {}
        meta = base_meta(form, meta) if code == DEFAULT_LANGUAGE else variant_meta(form, code, meta)
        files[code] = compose(meta, body)
    for code in loaded:
        if code not in wanted:
            files[code] = None
    return files
