"""Parsing and classification of bounces, auto-replies, complaints and mailto unsubscribes.

Order of evidence: (1) the VERP token of the envelope recipient (signed, so forged bounces cannot
suppress anyone), (2) RFC 3464 delivery status notifications, (3) flufl.bounce heuristics for
non-standard bounces. Each result says which rule matched, so every decision has its evidence.

A message to ``unsubscribe@<bounce domain>`` is the RFC 2369 ``mailto:`` of ``List-Unsubscribe``:
its subject carries the signed ``unsubscribe`` token of the message it answers, and only a valid
token unsubscribes anyone (never the ``From`` address, which anyone can forge).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from gll_mail.settings import Settings
from gll_mail.smtp.replies import (
    NO_SUCH_USER,
    address_is_bad,
    bad_address,
    enhanced_code,
    generic_code,
)
from gll_mail.tokens import TokenError, read_token, read_verp

HARD, SOFT, COMPLAINT, AUTO_REPLY, CHALLENGE, UNKNOWN, UNSUBSCRIBE = (
    "hard",
    "soft",
    "complaint",
    "auto-reply",
    "challenge",
    "unknown",
    "unsubscribe",
)

_STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_OOO_SUBJECT = re.compile(
    r"(out of (the )?office|auto(matic)?[- ]?(reply|response|antwort)|abwesenheit|absence|"
    r"vacation|on leave|r[ée]ponse automatique|respuesta autom[aá]tica)",
    re.IGNORECASE,
)
_CHALLENGE_RE = re.compile(
    r"(please (confirm|verify) (that )?you|challenge|sender verification|verify your (email|address)|"
    r"boxbe|spamarrest|mailinblack|whitelist request)",
    re.IGNORECASE,
)
_SOFT_TEXT = re.compile(
    r"(quota|(mailbox|mailfolder|inbox|mail ?box) (is )?full|full mailbox|storage|exceed|too (large|big)|"
    r"message size|loop|too many hops|relay|spam|unsolicited|blocked|blacklist|policy|virus|temporar|"
    r"timed? ?out|connection|try again|not yet (been )?delivered|delayed|postponed|not accepting|"
    r"not reachable|unreachable|attempts|processing|being processed|gateway|command died|internal error|"
    r"retry time|is full)",
    re.IGNORECASE,
)
_ORIGINAL_FOLLOWS = re.compile(
    r"^[ \t>]*(-{2,}.*(copy of|original|returned|undelivered|message follows|headers? follow)|"
    r"(-+ ?)?below this line is a copy|-+ ?original message ?-+|"
    r"(Received|Return-Path|DKIM-Signature|Message-I[dD]):[ \t])",
    re.IGNORECASE | re.MULTILINE,
)
_UNSUBSCRIBE_SUBJECT = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.-]{20,})")


@dataclass
class BounceResult:
    kind: str  # hard, soft, complaint, auto-reply, challenge, unknown
    rule: str  # which rule decided
    recipients: list[str] = field(default_factory=list)
    delivery_id: int | None = None  # from a valid VERP token
    subscriber_id: int | None = None  # from a valid VERP token of transactional mail (a confirmation)
    test_send: bool = False  # a valid VERP token of a test send to the team
    message_ids: list[str] = field(default_factory=list)  # original Message-IDs found
    status: str = ""  # enhanced status code, e.g. 5.1.1
    diagnostic: str = ""
    verp: str = ""  # "valid", "forged", "" (none)
    public_id: str = ""  # unsubscribe: the member its valid token names
    campaign_id: int | None = None  # unsubscribe: the campaign whose message it answers


def parse(raw: bytes | str) -> Message:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def verp_token_of(settings: Settings, envelope_to: str) -> str | None:
    """``bounces+TOKEN@bounce_domain`` → TOKEN (unverified)."""
    for addr in re.split(r"[,\s]+", envelope_to or ""):
        addr = addr.strip("<>").lower()
        local, _, domain = addr.rpartition("@")
        if domain == settings.bounce_domain.lower() and local.startswith("bounces+"):
            return local[len("bounces+") :]
    return None


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        p = part.get_payload()
        return p if isinstance(p, str) else ""
    return payload.decode(part.get_content_charset() or "utf-8", "replace")


def _addr(value: str | None) -> str:
    if not value:
        return ""
    value = value.strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").lower()


def _dsn_fields(msg: Message) -> list[dict[str, str]]:
    """Per-recipient field groups of the message/delivery-status part."""
    groups: list[dict[str, str]] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks: list[Message] = payload if isinstance(payload, list) else []
        if not blocks:
            text = _text(part)
            blocks = [email.message_from_string(b) for b in re.split(r"\n\s*\n", text) if b.strip()]
        for block in blocks:
            fields = {k.lower(): " ".join(str(v).split()) for k, v in block.items()}
            if "final-recipient" in fields or "original-recipient" in fields or "action" in fields:
                groups.append(fields)
    return groups


def _original_message_ids(msg: Message) -> list[str]:
    ids: list[str] = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                mid = payload[0].get("Message-ID")
            else:
                headers = email.message_from_string(_text(part) if not isinstance(payload, list) else "")
                mid = headers.get("Message-ID")
            if mid:
                ids.append(str(mid).strip())
    for header in ("In-Reply-To", "References"):
        if msg.get(header):
            ids.extend(re.findall(r"<[^>]+>", str(msg.get(header))))
    return ids


def _auto_reply(msg: Message) -> str | None:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return "X-Autoreply header"
    if (msg.get("Precedence") or "").lower() == "auto_reply":
        return "Precedence: auto_reply"
    if _OOO_SUBJECT.search(str(msg.get("Subject") or "")):
        return "out-of-office subject"
    return None


def _complaint(msg: Message) -> BounceResult | None:
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type", "").lower() != "feedback-report":
        return None
    recipients: list[str] = []
    feedback = ""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            block = payload[0] if isinstance(payload, list) and payload else email.message_from_string(_text(part))
            feedback = str(block.get("Feedback-Type", "abuse")).strip()
            for rcpt in block.get_all("Original-Rcpt-To") or []:
                recipients.append(_addr(rcpt))
    ids = _original_message_ids(msg)
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not recipients:
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else email.message_from_string(_text(part))
            if inner.get("To"):
                recipients.append(_addr(email.utils.parseaddr(str(inner["To"]))[1]))
    return BounceResult(
        kind=COMPLAINT,
        rule="arf",
        recipients=[r for r in recipients if r],
        message_ids=ids,
        diagnostic=f"Feedback-Type: {feedback or 'abuse'}",
    )


def classify_status(status: str, action: str = "", diagnostic: str = "") -> str:
    """hard (the address is bad), soft (4.x.x, delayed, or a permanent failure that says nothing
    about the address: counted toward the soft threshold) or unknown."""
    action = action.lower()
    if action in ("delayed", "relayed", "delivered", "expanded"):
        return SOFT if action == "delayed" else UNKNOWN
    m = _STATUS_RE.search(status or "")
    if m:
        if m.group(1) == "5":
            code = m.group(0)
            if generic_code(code):  # Status: 5.0.0 beside "550 5.1.1 …" in the diagnostic: the latter is better
                code = enhanced_code(diagnostic.split(";", 1)[-1]) or code
            return HARD if address_is_bad(code, diagnostic) else SOFT
        return SOFT if m.group(1) == "4" else UNKNOWN
    m = re.search(r"\b([45])\d\d\b", f"{status} {diagnostic}")
    if m:
        return HARD if m.group(1) == "5" and bad_address(diagnostic) else SOFT
    return HARD if action == "failed" else UNKNOWN


def _recipients(msg: Message, envelope_to: str) -> str:
    """Where the message was delivered: the envelope recipient, else every address a delivering MTA
    recorded (after an alias, Delivered-To holds the rewritten address and X-Original-To the one
    with the token), else To."""
    return envelope_to or " ".join(
        str(v) for h in ("X-Original-To", "Delivered-To", "Envelope-To", "To") for v in msg.get_all(h) or []
    )


def _addressed_to_unsubscribe(settings: Settings, recipients: str) -> bool:
    wanted = f"unsubscribe@{settings.bounce_domain}".lower()
    return any(addr.strip("<>\"'").lower() == wanted for addr in re.split(r"[,\s]+", recipients))


def _unsubscribe_request(settings: Settings, msg: Message) -> BounceResult:
    subject = str(email.header.make_header(email.header.decode_header(str(msg.get("Subject") or ""))))
    found = _UNSUBSCRIBE_SUBJECT.search(subject)
    if found is None:
        return BounceResult(kind=UNSUBSCRIBE, rule="mailto", diagnostic="no unsubscribe token in the subject")
    try:
        data = read_token(settings, "unsubscribe", found.group(1))
    except TokenError as exc:
        return BounceResult(kind=UNSUBSCRIBE, rule="mailto", diagnostic=f"token refused: {exc}")
    campaign_id = data.extra.get("c")
    return BounceResult(
        kind=UNSUBSCRIBE,
        rule="mailto",
        public_id=data.subject,
        campaign_id=campaign_id if isinstance(campaign_id, int) else None,
    )


def classify(settings: Settings, raw: bytes | str, envelope_to: str = "", *, use_flufl: bool = True) -> BounceResult:
    msg = parse(raw)
    recipients = _recipients(msg, envelope_to)
    if _addressed_to_unsubscribe(settings, recipients):
        return _unsubscribe_request(settings, msg)
    result = _classify(msg, use_flufl)
    token = verp_token_of(settings, recipients)
    if token is not None:
        try:
            verp = read_verp(settings, token)
            result.verp = "valid"
            if verp.kind == "delivery":
                result.delivery_id = verp.id
            elif verp.kind == "member":
                result.subscriber_id = verp.id
            else:
                result.test_send = True
        except TokenError:
            result.verp = "forged"
    return result


def _classify(msg: Message, use_flufl: bool) -> BounceResult:
    complaint = _complaint(msg)
    if complaint is not None:
        return complaint
    ids = _original_message_ids(msg)
    groups = _dsn_fields(msg)
    if groups:
        own = " ".join(_own_text(msg).split())
        recipients, kinds, statuses, diags = [], [], [], []
        for g in groups:
            recipients.append(_addr(g.get("original-recipient") or g.get("final-recipient")))
            statuses.append(g.get("status", ""))
            diags.append(g.get("diagnostic-code", ""))
            kinds.append(classify_status(g.get("status", ""), g.get("action", ""), g.get("diagnostic-code") or own))
        kind = HARD if HARD in kinds else SOFT if SOFT in kinds else UNKNOWN
        i = kinds.index(kind) if kind in kinds else 0
        return BounceResult(
            kind=kind,
            rule="rfc3464",
            recipients=[r for r in recipients if r],
            message_ids=ids,
            status=statuses[i],
            diagnostic=diags[i][:500],
        )
    subject = str(msg.get("Subject") or "")
    reason = None if _looks_like_bounce(msg, subject) else _auto_reply(msg)
    if reason is not None:
        return BounceResult(kind=AUTO_REPLY, rule=reason, message_ids=ids)
    body = _own_text(msg)
    if _CHALLENGE_RE.search(subject) or (_CHALLENGE_RE.search(body) and not _looks_like_bounce(msg, subject)):
        return BounceResult(kind=CHALLENGE, rule="challenge-response", message_ids=ids)
    if use_flufl:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(msg)  # (temporary, permanent): in this order
        if permanent or temporary:
            code = enhanced_code(body)
            return BounceResult(
                kind=_flufl_kind(bool(permanent), code, " ".join(body.split())),
                rule="flufl.bounce",
                message_ids=ids,
                recipients=sorted(
                    a.decode("utf-8", "replace").lower() if isinstance(a, bytes) else str(a).lower()
                    for a in permanent | temporary
                ),
                status=code,
                diagnostic=_first_line_with_code(body),
            )
    if _looks_like_bounce(msg, subject):
        # a bounce no detector could read an address from (the VERP token still names the delivery)
        words = " ".join(body.split())
        kind = HARD if NO_SUCH_USER.search(words) else SOFT if _SOFT_TEXT.search(words) else UNKNOWN
        if kind != UNKNOWN:
            return BounceResult(
                kind=kind,
                rule="text",
                message_ids=ids,
                status=enhanced_code(body),
                diagnostic=_first_line_with_code(body),
            )
    return BounceResult(kind=UNKNOWN, rule="none", message_ids=ids)


def _flufl_kind(permanent: bool, code: str, text: str) -> str:
    """Hard or soft for a bounce that only flufl.bounce's detectors recognised. A warning (only
    temporary failures) is soft; a status code in the bounce's own text decides as in a DSN; without
    one (or with a generic one) the text: a bad address is hard, a full mailbox, a size or policy
    refusal, a loop or a connection failure is soft, and anything else is what flufl says, hard."""
    if not permanent:
        return SOFT
    if code.startswith("4"):
        return SOFT
    if code.startswith("5") and not generic_code(code):
        return HARD if address_is_bad(code, text) else SOFT
    if address_is_bad(code, text):
        return HARD
    return SOFT if _SOFT_TEXT.search(text) else HARD


def _own_parts(part: Message):
    """The leaves of a message that its sender wrote: not a returned original or its headers."""
    if part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
        return
    if part.get_content_type() == "message/delivery-status" or not part.is_multipart():
        yield part
        return
    for sub in part.get_payload():
        yield from _own_parts(sub)


def _own_text(msg: Message) -> str:
    """What the bounce itself says: its text and delivery-status parts, each cut where a copy of
    the returned message begins (a text bounce quotes it inline), so that our own newsletter's
    words ("does not exist", "full") and dotted numbers never count as the bounce's evidence."""
    texts = []
    for part in _own_parts(msg):
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            text = "\n\n".join(b.as_string() for b in payload) if isinstance(payload, list) else _text(part)
        elif part.get_content_maintype() == "text":
            text = _text(part)
            if part.get_content_subtype() == "html":
                text = re.sub(r"<[^>]*>|&nbsp;", " ", text)
            cut = _ORIGINAL_FOLLOWS.search(text)
            text = text[: cut.start()] if cut else text
        else:
            continue
        texts.append(text)
    return "\n".join(texts)[:20000]


def _looks_like_bounce(msg: Message, subject: str) -> bool:
    sender = str(msg.get("From") or "").lower()
    if (
        "mailer-daemon" in sender
        or "postmaster" in sender
        or "mail delivery" in sender
        or msg.get("X-Failed-Recipients")
    ):
        return True
    return bool(
        re.search(
            r"(undeliver|delivery (status|failure|failed|notification)|returned mail|failure notice|"
            r"mail delivery failed|(could )?not (be )?delivered|non-delivery|rejected mail)",
            subject,
            re.IGNORECASE,
        )
    )


def _first_line_with_code(body: str) -> str:
    for line in body.splitlines():
        if re.search(r"\b[45]\d\d\b|\b[45]\.\d+\.\d+\b", line):
            return line.strip()[:500]
    return ""
