"""`gll-mail dkim keygen/record/check`: a signing key, the DNS record for it, and a check of DNS."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext
from gll_mail.smtp.dkim import DkimSigner
from gll_mail.smtp.dkim_setup import (
    ALGORITHMS,
    check_published,
    dns_name,
    generate_key,
    misalignment,
    zone_entry,
)


@click.group()
def dkim() -> None:
    """DKIM signing: make a key, print the DNS record to publish, check that DNS serves it.

    Every message (campaigns, test sends, confirmation emails) is signed when GLL_MAIL_DKIM_KEY_FILE,
    GLL_MAIL_DKIM_SELECTOR and GLL_MAIL_DKIM_DOMAIN are set; with GLL_MAIL_DKIM_ED25519_KEY_FILE and
    GLL_MAIL_DKIM_ED25519_SELECTOR as well, it carries an RSA and an Ed25519 signature (RFC 8463).
    Run `gll-mail dkim check` after publishing the records and before the first signed campaign.
    """


def _configured(app: AppContext) -> tuple[DkimSigner, ...]:
    """Every configured key's signer: the RSA one, then the Ed25519 one when dual signing."""
    signer = DkimSigner.from_settings(app.settings)
    if signer is None:
        raise click.ClickException(
            "GLL_MAIL_DKIM_KEY_FILE is not set: DKIM signing is off (make a key with `gll-mail dkim keygen`)"
        )
    return signer.signers


def _show_record(signer: DkimSigner) -> None:
    click.echo(f"Publish this TXT record at {dns_name(signer)}:\n")
    click.echo(f"  {signer.public_dns_record()}\n")
    click.echo("As a zone-file line (long values are split into 255-character strings):\n")
    click.echo(f"  {zone_entry(signer)}")


@dkim.command("keygen")
@click.argument("keyfile", type=click.Path(dir_okay=False))
@click.option("--selector", required=True, help="The s= tag, e.g. gll2026 (a new one for each new key).")
@click.option("--domain", required=True, help="The d= tag: the From domain, e.g. who.int.")
@click.option(
    "--algorithm",
    type=click.Choice(ALGORITHMS),
    default="rsa",
    show_default=True,
    help="RSA-2048 is verified by every receiver; Ed25519 is smaller and faster, but many "
    "receivers still ignore it, so it signs beside an RSA key (dual signing).",
)
def keygen(keyfile: str, selector: str, domain: str, algorithm: str) -> None:
    """Make a new DKIM private key in KEYFILE (never overwrites) and print its DNS record."""
    signer = generate_key(keyfile, selector, domain, algorithm)
    click.echo(
        f"Wrote a new {algorithm.upper() if algorithm == 'rsa' else 'Ed25519'} key to {keyfile} "
        "(readable by you only).\n"
    )
    _show_record(signer)
    click.echo("\nThen set:\n")
    if algorithm == "rsa":
        click.echo(f"  GLL_MAIL_DKIM_KEY_FILE={click.format_filename(keyfile)}")
        click.echo(f"  GLL_MAIL_DKIM_SELECTOR={selector}")
    else:
        click.echo(f"  GLL_MAIL_DKIM_ED25519_KEY_FILE={click.format_filename(keyfile)}")
        click.echo(f"  GLL_MAIL_DKIM_ED25519_SELECTOR={selector}")
    click.echo(f"  GLL_MAIL_DKIM_DOMAIN={domain}\n")
    if algorithm != "rsa":
        click.echo(
            "beside an RSA key in GLL_MAIL_DKIM_KEY_FILE (its own selector): every message then carries "
            "both signatures. Production refuses Ed25519 alone: most receivers do not verify it yet.\n"
        )
    click.echo("and run `gll-mail dkim check` once DNS serves the record.")


@dkim.command("record")
@click.pass_obj
def record(app: AppContext) -> None:
    """Print the DNS record of each configured key (GLL_MAIL_DKIM_*): one, or two when dual signing."""
    for i, signer in enumerate(_configured(app)):
        if i:
            click.echo("")
        _show_record(signer)


@dkim.command("check")
@click.option("--nameserver", metavar="IP[:PORT]", help="Ask this DNS server (default: the system's resolvers).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for DNS.")
@click.pass_obj
def check(app: AppContext, nameserver: str | None, timeout: float) -> None:
    """Check that DNS publishes each configured key and that a signed message verifies against it.

    Exits with status 1 when receivers would fail our signatures (either of them, when dual signing).
    """
    failed = []
    for signer in _configured(app):
        result = check_published(signer, nameserver, timeout)
        if result.record is not None:
            click.echo(f"{result.name} serves: {result.record}")
        problem = misalignment(signer, app.settings.from_address)  # GLL_MAIL_FROM
        for text in result.warnings + ([problem] if problem else []):
            click.echo(f"warning: {text}", err=True)
        for text in result.errors:
            click.echo(f"error: {text}", err=True)
        if not result.ok:
            failed.append(f"{result.name}: {len(result.errors)} error(s)")
            continue
        click.echo(f"OK: {result.name} publishes our {signer.algorithm.decode()} key, and a signed message verifies.")
    if failed:
        raise click.ClickException(f"DKIM check failed for {'; '.join(failed)}")


def register(main: click.Group) -> None:
    main.add_command(dkim)
