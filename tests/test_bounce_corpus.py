"""The classifier against 173 bounces, warnings, auto-replies and challenges from many mail servers
(tests/data/bounces/corpus: expected.tsv says each message's class and why). Precision and recall
per class are asserted, printed, and listed in docs/bounces-and-reports.md."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gll_mail.bounces import classify
from gll_mail.bounces.intake import receive
from gll_mail.db import session_scope
from gll_mail.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from gll_mail.tokens import make_verp_token

CORPUS = Path(__file__).parent / "data" / "bounces" / "corpus"
CLASSES = ("hard", "soft", "ignored")
THRESHOLD = 0.95


def manifest() -> list[dict[str, str]]:
    with (CORPUS / "expected.tsv").open(newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return list(csv.DictReader(lines, fieldnames=["file", "mta", "expected", "recipient", "why"], delimiter="\t"))


def as_class(kind: str) -> str:
    return kind if kind in ("hard", "soft") else "ignored"


def classify_all(settings) -> list[tuple[dict[str, str], classify.BounceResult]]:
    """Each message as our bounce mailbox gets it: to our VERP address for delivery 7."""
    envelope_to = f"bounces+{make_verp_token(settings, 7)}@{settings.bounce_domain}"
    return [(row, classify.classify(settings, (CORPUS / row["file"]).read_bytes(), envelope_to)) for row in manifest()]


def scores(pairs: list[tuple[str, str]]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for c in CLASSES:
        tp = sum(1 for exp, got in pairs if exp == got == c)
        predicted = sum(1 for _, got in pairs if got == c)
        actual = sum(1 for exp, _ in pairs if exp == c)
        out[c] = (tp / predicted if predicted else 1.0, tp / actual if actual else 1.0, actual)
    return out


def test_manifest_lists_every_message_once_and_is_broad():
    rows = manifest()
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.eml")}
    assert sorted(r["file"] for r in rows) == sorted(files)
    assert len(rows) >= 150 and {r["expected"] for r in rows} == set(CLASSES)
    assert all(r["why"].strip() and r["mta"].strip() for r in rows)
    mtas = " ".join(r["mta"] for r in rows).lower()
    for name in (
        "postfix",
        "exim",
        "sendmail",
        "qmail",
        "exchange 5.5",
        "exchange 2010",
        "exchange 2016",
        "gmail",
        "yahoo",
        "office365",
        "outlook.com",
        "domino",
        "groupwise",
        "aol",
        "smtpsvc",
        "courier",
        "mdaemon",
        "postini",
        "zimbra",
        "yandex",
        "mail.ru",
        "qq",
        "amavis",
        "boxbe",
    ):
        assert name in mtas, name


def test_precision_and_recall_per_class(settings, capsys):
    results = classify_all(settings)
    pairs = [(row["expected"], as_class(result.kind)) for row, result in results]
    figures = scores(pairs)
    with capsys.disabled():
        print(f"\nbounce corpus, {len(pairs)} messages:")
        for c, (precision, recall, n) in figures.items():
            print(f"  {c:8} n={n:3}  precision {precision:.3f}  recall {recall:.3f}")
    misses = [
        f"{row['file']} ({row['mta']}): expected {row['expected']}, got {result.kind} by {result.rule} "
        f"[{result.status}] — {row['why']}"
        for row, result in results
        if row["expected"] != as_class(result.kind)
    ]
    low = {c: f for c, f in figures.items() if min(f[:2]) < THRESHOLD}
    assert not low, f"below {THRESHOLD}: {low}; misses:\n" + "\n".join(misses)


def test_recipients_and_verp_are_found(settings):
    wrong = []
    for row, result in classify_all(settings):
        if result.delivery_id != 7 or result.verp != "valid":
            wrong.append(f"{row['file']}: VERP {result.verp} {result.delivery_id}")
        if row["expected"] != "ignored" and row["recipient"] != "-" and row["recipient"] not in result.recipients:
            wrong.append(f"{row['file']}: {row['recipient']} not in {result.recipients}")
    assert not wrong, "\n".join(wrong)


def _text_bounce(reason: str) -> bytes:
    """An Exim text bounce with no status code anywhere: only flufl.bounce's detectors read it."""
    return (
        f"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: bounces@x.example\n"
        f"Subject: Mail delivery failed: returning message to sender\nX-Failed-Recipients: member@example.org\n\n"
        f"This message was created automatically by mail delivery software.\n\n"
        f"A message that you sent could not be delivered to one or more of its\n"
        f"recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  member@example.org\n    {reason}\n"
    ).encode()


def test_flufl_permanent_without_a_code_is_hard_and_temporary_is_soft(settings):
    """flufl.bounce.all_failures returns (temporary, permanent): read the other way round, every
    permanent failure without a status code in its text was counted soft, and warnings hard."""
    from flufl.bounce import all_failures

    msg = classify.parse(_text_bounce("the recipient has gone away"))
    assert all_failures(msg) == (frozenset(), frozenset({b"member@example.org"}))
    permanent = classify.classify(settings, _text_bounce("the recipient has gone away"))
    assert (permanent.kind, permanent.rule, permanent.status) == ("hard", "flufl.bounce", "")

    warning = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: bounces@x.example\n"
        b"Subject: Warning: message 1tAx1-000abc-2F delayed 24 hours\n\n"
        b"This message was created automatically by mail delivery software.\n"
        b"A message that you sent has not yet been delivered to one or more of its\n"
        b"recipients after more than 24 hours on the queue on mx.example.org.\n\n"
        b"The message identifier is:     1tAx1-000abc-2F\n\n"
        b"The address to which the message has not yet been delivered is:\n\n"
        b"  member@example.org\n\n"
        b"No action is required on your part. Delivery attempts will continue for\n"
        b"some time, and this warning may be repeated at intervals if the message\n"
        b"remains undelivered. Eventually the mail delivery software will give up,\n"
        b"and when that happens, the message will be returned to you.\n"
    )
    assert all_failures(classify.parse(warning)) == (frozenset({b"member@example.org"}), frozenset())
    temporary = classify.classify(settings, warning)
    assert (temporary.kind, temporary.rule) == ("soft", "flufl.bounce")


@pytest.mark.parametrize(
    "text, code",
    [
        ("550 5.1.1 <a@b>: User unknown", "5.1.1"),
        ("host x said: 550-5.7.1 blocked", "5.7.1"),
        ("Remote host said: 550: 5.1.1 <a@b>", "5.1.1"),
        ("Status: 4.2.2\n", "4.2.2"),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
        ("5.2.1 The email account that you tried to reach is disabled", "5.2.1"),  # one SMTP reply's text
        ("host 10.5.1.20[10.5.1.20] said: 452 mailbox full", ""),  # an IP is not a status
        ('boundary="=_2.0.13_gll"', ""),  # nor a MIME boundary
        ("Mailman 2.0.13 released", ""),  # nor a version
    ],
)
def test_a_status_code_is_read_only_where_one_belongs(text, code):
    assert classify.enhanced_code(text) == code


def test_generic_enhanced_code_beside_user_unknown_is_a_bad_address():
    assert classify.classify_status("5.0.0", "failed", "smtp; 550 User unknown") == "hard"
    assert classify.classify_status("5.0.0", "failed", "smtp; 550 Rejected for policy reasons") == "soft"
    assert classify.bad_address("550 5.0.0 <x@example.org>... User unknown")
    assert not classify.bad_address("550 5.0.0 Mailbox is full")


def test_the_whole_corpus_through_intake_on_both_databases(any_engine, settings):
    """Every message of the corpus taken in as the bounce server would take it (stored raw, then
    processed), each for its own delivery: a hard bounce suppresses its member at once, a soft one
    is counted and suppresses nobody yet, and an auto-reply or challenge changes nothing."""
    rows = manifest()
    with session_scope(any_engine) as session:
        campaign = Campaign(slug="corpus", subject="Corpus", status=CampaignStatus.SENT)
        session.add(campaign)
        session.flush()
        deliveries = []
        for n, _ in enumerate(rows):
            member = Subscriber(email=f"member{n}@example.org")
            session.add(member)
            session.flush()
            delivery = Delivery(campaign_id=campaign.id, subscriber_id=member.id, status=DeliveryStatus.SENT)
            session.add(delivery)
            session.flush()
            deliveries.append((delivery.id, member.id))
    wrong = []
    for row, (delivery_id, member_id) in zip(rows, deliveries, strict=True):
        envelope_to = f"bounces+{make_verp_token(settings, delivery_id)}@{settings.bounce_domain}"
        receive(any_engine, settings, (CORPUS / row["file"]).read_bytes(), source="test", envelope_to=envelope_to)
        with session_scope(any_engine) as session:
            status = session.get(Subscriber, member_id).status
        want = SubscriberStatus.BOUNCED if row["expected"] == "hard" else SubscriberStatus.ACTIVE
        if status != want:
            wrong.append(f"{row['file']} ({row['expected']}): member is {status}")
    assert not wrong, "\n".join(wrong)
