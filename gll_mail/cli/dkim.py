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

    Campaign mail is signed when GLL_MAIL_DKIM_KEY_FILE, GLL_MAIL_DKIM_SELECTOR and
    GLL_MAIL_DKIM_DOMAIN are set. Run `gll-mail dkim check` after publishing the record and
    before the first signed campaign.
    """


def _configured(app: AppContext) -> DkimSigner:
    signer = DkimSigner.from_settings(app.settings)
    if signer is None:
        raise click.ClickException("GLL_MAIL_DKIM_KEY_FILE is not set: DKIM signing is off "
                                   "(make a key with `gll-mail dkim keygen`)")
    return signer


def _show_record(signer: DkimSigner) -> None:
    click.echo(f"Publish this TXT record at {dns_name(signer)}:\n")
    click.echo(f"  {signer.public_dns_record()}\n")
    click.echo("As a zone-file line (long values are split into 255-character strings):\n")
    click.echo(f"  {zone_entry(signer)}")


@dkim.command("keygen")
@click.argument("keyfile", type=click.Path(dir_okay=False))
@click.option("--selector", required=True, help="The s= tag, e.g. gll2026 (a new one for each new key).")
@click.option("--domain", required=True, help="The d= tag: the From domain, e.g. who.int.")
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="rsa", show_default=True,
              help="RSA-2048 is verified by every receiver; Ed25519 is smaller and faster, but some "
                   "receivers still ignore it.")
def keygen(keyfile: str, selector: str, domain: str, algorithm: str) -> None:
    """Make a new DKIM private key in KEYFILE (never overwrites) and print its DNS record."""
    signer = generate_key(keyfile, selector, domain, algorithm)
    click.echo(f"Wrote a new {algorithm.upper() if algorithm == 'rsa' else 'Ed25519'} key to {keyfile} "
               "(readable by you only).\n")
    _show_record(signer)
    click.echo("\nThen set:\n")
    click.echo(f"  GLL_MAIL_DKIM_KEY_FILE={click.format_filename(keyfile)}")
    click.echo(f"  GLL_MAIL_DKIM_SELECTOR={selector}")
    click.echo(f"  GLL_MAIL_DKIM_DOMAIN={domain}\n")
    click.echo("and run `gll-mail dkim check` once DNS serves the record.")


@dkim.command("record")
@click.pass_obj
def record(app: AppContext) -> None:
    """Print the DNS record for the configured key (GLL_MAIL_DKIM_*)."""
    _show_record(_configured(app))


@dkim.command("check")
@click.option("--nameserver", metavar="IP[:PORT]", help="Ask this DNS server (default: the system's resolvers).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for DNS.")
@click.pass_obj
def check(app: AppContext, nameserver: str | None, timeout: float) -> None:
    """Check that DNS publishes the configured key and that a signed message verifies against it.

    Exits with status 1 when receivers would fail our signatures.
    """
    signer = _configured(app)
    result = check_published(signer, nameserver, timeout)
    if result.record is not None:
        click.echo(f"{result.name} serves: {result.record}")
    problem = misalignment(signer, app.settings.from_address)  # GLL_MAIL_FROM
    for text in result.warnings + ([problem] if problem else []):
        click.echo(f"warning: {text}", err=True)
    for text in result.errors:
        click.echo(f"error: {text}", err=True)
    if not result.ok:
        raise click.ClickException(f"DKIM check failed for {result.name}: {len(result.errors)} error(s)")
    click.echo(f"OK: {result.name} publishes our {signer.algorithm.decode()} key, and a signed message verifies.")


def register(main: click.Group) -> None:
    main.add_command(dkim)
