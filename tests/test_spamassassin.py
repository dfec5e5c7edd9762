"""SpamAssassin (Debian's, local rules only: `spamassassin -L -t`) scores one message of every kind
in every language: at most 1.0 each, without counting MAILING_LIST_MULTI's −1.0 list bonus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from conftest import need
from mail_kinds import KINDS, build_all, signed_settings

from gll_mail.languages import LANGUAGES

LIMIT = 1.0
BONUS = "MAILING_LIST_MULTI"
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", re.M)


def mbox(messages: list[tuple[str, bytes]]) -> bytes:
    """The messages as one mbox (LF line ends, as a local mailbox keeps them), envelope sender first."""
    out = []
    for sender, data in messages:
        body = data.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
        out.append(
            b"From "
            + sender.encode()
            + b" Thu Jan  1 00:00:00 2026\nReturn-Path: <"
            + sender.encode()
            + b">\n"
            + body
            + b"\n"
        )
    return b"".join(out)


def scores(report: str) -> dict[str, dict[str, float]]:
    """Message-ID → the points of each rule hit, from each message's "Content analysis details" table."""
    found = {}
    for message in re.split(r"(?m)^From ", report)[1:]:
        mid = re.search(r"(?mi)^Message-ID:\s*(<[^>]+>)", message).group(1)
        table = message.split("Content analysis details:", 1)[1].split("---- ----------------------", 1)[1]
        table = re.split(r"\n\s*\n", table, maxsplit=1)[0]
        found[mid] = {name: float(points) for points, name in _RULE.findall(table)}
    return found


def message_id(data: bytes) -> str:
    return re.search(rb"(?mi)^Message-ID:\s*(<[^>]+>)", data).group(1).decode()


def test_every_kind_in_every_language_scores_at_most_one(settings, session, tmp_path):
    spamassassin = shutil.which("spamassassin")
    if spamassassin is None:
        need("Debian's spamassassin is not installed (make browser, or apt-get install spamassassin)")
    settings = signed_settings(settings, tmp_path)
    built = build_all(settings, session)
    keys = [(kind, language) for kind in KINDS for language in LANGUAGES]
    home = tmp_path / "sa-home"
    home.mkdir()
    run = subprocess.run(
        [
            spamassassin,
            "-L",
            "-t",
            "--mbox",
            "--cf=use_bayes 0",
            "--cf=bayes_auto_learn 0",
            "-p",
            str(home / "user_prefs"),
        ],
        input=mbox([built[key] for key in keys]),
        capture_output=True,
        timeout=600,
        env={**os.environ, "HOME": str(home)},
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    results = scores(run.stdout.decode("utf-8", "replace"))
    assert len(results) == len(keys)
    table = {}
    for key in keys:
        hits = results[message_id(built[key][1])]
        table[key] = round(sum(p for name, p in hits.items() if name != BONUS), 3), sorted(hits)
    print("\n".join(f"{k} {lang}: {total} {rules}" for (k, lang), (total, rules) in table.items()))
    too_high = {key: value for key, value in table.items() if value[0] > LIMIT}
    assert not too_high, too_high
    # the list headers are what earns the bonus: every list message has it, the confirmation does not
    for (kind, language), (_, rules) in table.items():
        assert (BONUS in rules) == (kind != "confirmation"), (kind, language, rules)
