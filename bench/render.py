"""Benchmark: personalized messages rendered per second on one core, for a typical campaign.

The campaign is the real report release (campaigns/2019-06-compassion-reports.md: six languages,
seven signed links per message, HTML and text parts). Recipients are generated, spread over the six
languages, each with their own public id, so every message has its own tokens.

Baseline in the same run: the naive pipeline that fills the MJML per recipient and compiles it with
mjml-python for every message (same links, same Jinja, same text part).
Last line: JSON with recipients, per_recipient_us, messages_per_s, messages_per_cpu_s, baseline figures,
speedup, and whether the 10,000 messages/s/core target is met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

import jinja2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gll_mail.campaigns.records import sync_campaign  # noqa: E402
from gll_mail.campaigns.render import (  # noqa: E402
    _GLOBALS,
    CampaignRenderer,
    Recipient,
    _SubscriberView,
    compile_mjml,
)
from gll_mail.campaigns.sources import load_source  # noqa: E402
from gll_mail.db import make_engine, migrate, session_scope  # noqa: E402
from gll_mail.demo.data import seed_catalog  # noqa: E402
from gll_mail.settings import Settings  # noqa: E402

LANGS = ["en", "fr", "es", "ar", "ru", "zh"]
TARGET = 10_000


def recipients(count: int) -> list[Recipient]:
    names = ["Amina Haddad", "Wei Zhang", "Olga Petrova", "Carlos García", "", "Jean Dubois", "Priya Sharma"]
    return [
        Recipient(secrets.token_urlsafe(16), f"member{i}@example.org", names[i % len(names)], LANGS[i % 6])
        for i in range(count)
    ]


def timed(fn, items) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for item in items:
        fn(item)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--baseline", type=int, default=600, help="recipients for the per-recipient MJML baseline")
    parser.add_argument("--campaign", default=str(REPO / "campaigns" / "2019-06-compassion-reports.md"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = Settings(
            env="test",
            database_url=f"sqlite:///{tmp / 'bench.db'}",
            base_url="https://gll.example.org",
            secret_keys=("bench-" + "k" * 40,),
            campaigns_dir=REPO / "campaigns",
            templates_dir=REPO / "templates" / "emails",
            resources_dir=tmp / "resources",
        )
        engine = make_engine(settings.database_url)
        migrate(engine)
        with session_scope(engine) as session:
            seed_catalog(session, settings.resources_dir)
            source = load_source(Path(args.campaign))
            campaign = sync_campaign(session, source)
            start = time.perf_counter()
            renderer = CampaignRenderer(settings, session, source, campaign)
            compile_s = time.perf_counter() - start
        engine.dispose()

        people = recipients(args.recipients)
        renderer.render(people[0])  # warm up
        wall, cpu = timed(renderer.render, people)
        sample = renderer.render(people[0])

        mjml_templates = {
            code: jinja2.Environment(autoescape=True).from_string(v.mjml) for code, v in renderer.variants.items()
        }
        text_templates = {
            code: jinja2.Environment(autoescape=False).from_string(v.text_source)
            for code, v in renderer.variants.items()
        }

        def naive(recipient: Recipient) -> tuple[str, str]:
            variant = renderer.variant_for(recipient.language)
            strings = variant.strings
            context = dict(
                _GLOBALS,
                links=renderer.minter.urls(variant.link_keys, recipient.public_id),
                subscriber=_SubscriberView(
                    recipient.name or strings["colleague"],
                    recipient.email,
                    variant.language,
                    recipient.public_id,
                    (),
                    bool(recipient.name),
                ),
                language=variant.language,
                pods=(),
                subject=variant.subject_text,
                salutation=strings["salutation_named"].format(name=recipient.name)
                if recipient.name
                else strings["salutation"],
            )
            html = compile_mjml(mjml_templates[variant.language].render(context))
            return html, text_templates[variant.language].render(context)

        naive_html, _ = naive(people[0])
        base_people = people[: args.baseline]
        base_wall, base_cpu = timed(naive, base_people)

    result = {
        "campaign": source.slug,
        "languages": len(renderer.variants),
        "links_per_message": len(renderer.variant_for("en").link_keys),
        "html_bytes": len(sample.html.encode()),
        "compile_s": round(compile_s, 4),
        "recipients": len(people),
        "seconds": round(wall, 3),
        "per_recipient_us": round(wall / len(people) * 1e6, 1),
        "messages_per_s": round(len(people) / wall),
        "messages_per_cpu_s": round(len(people) / cpu) if cpu else None,
        "baseline_recipients": len(base_people),
        "baseline_per_recipient_us": round(base_wall / len(base_people) * 1e6, 1),
        "baseline_messages_per_s": round(len(base_people) / base_wall),
        "baseline_messages_per_cpu_s": round(len(base_people) / base_cpu) if base_cpu else None,
        "speedup": round((len(people) / wall) / (len(base_people) / base_wall), 1),
        "target_messages_per_s": TARGET,
        "meets_target": len(people) / cpu >= TARGET if cpu else None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(f"{source.slug}: {result['languages']} languages compiled in {compile_s * 1000:.0f} ms")
    print(
        f"compiled once:   {result['messages_per_s']:>7,} messages/s ({result['per_recipient_us']} µs each, "
        f"{result['messages_per_cpu_s']:,} per CPU second)"
    )
    print(
        f"MJML per message:{result['baseline_messages_per_s']:>7,} messages/s "
        f"({result['baseline_per_recipient_us']} µs each) — baseline"
    )
    print(f"speed-up ×{result['speedup']}; target {TARGET:,}/s/core: {'met' if result['meets_target'] else 'NOT met'}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
