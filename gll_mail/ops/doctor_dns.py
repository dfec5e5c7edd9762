"""`gll-mail doctor`'s DNS checks: SPF covers the relay, DKIM publishes our key (the check of
`gll-mail dkim check`), DMARC exists and aligns with From, MX of the bounce domain points here, and
reverse DNS of the sending address.

Organisational domains are approximated by the last two labels (``news.who.int`` → ``who.int``),
which is right for the domains this project sends from; a public-suffix list would be exact.
"""

from __future__ import annotations

import ipaddress
import socket
from email.utils import parseaddr

from gll_mail.ops.findings import Finding, failed, passed, warned
from gll_mail.settings import Settings
from gll_mail.smtp.dkim import DkimError, DkimSigner
from gll_mail.smtp.dkim_setup import check_published, dns_name, misalignment

AREA = "dns"
SPF_LOOKUPS = 10  # RFC 7208's limit on DNS-querying terms


class DnsUnanswered(Exception):
    pass


class Dns:
    """A resolver on the system's name servers or on ``nameserver`` (HOST or HOST:PORT)."""

    def __init__(self, nameserver: str | None = None, timeout: float = 5.0) -> None:
        import dns.resolver

        if nameserver:
            host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "")
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host]
            if port:
                self.resolver.port = int(port)
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = timeout
        self.nameserver = nameserver

    def lookup(self, name: str, rdtype: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            answer = self.resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsUnanswered(f"DNS did not answer for {name} {rdtype}: {exc}") from None
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        if rdtype == "MX":
            return [
                f"{r.preference} {r.exchange.to_text().rstrip('.')}" for r in sorted(answer, key=lambda r: r.preference)
            ]
        return [r.to_text().rstrip(".") for r in answer]

    def addresses(self, name: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            return self.lookup(name, "A") + self.lookup(name, "AAAA")


def org_domain(domain: str) -> str:
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def from_domain(settings: Settings) -> str:
    return parseaddr(settings.from_address)[1].rpartition("@")[2].lower()


# --- SPF ---


def spf_record(dns: Dns, domain: str) -> str | None:
    records = [r for r in dns.lookup(domain, "TXT") if r.lower().startswith("v=spf1")]
    return records[0] if records else None


def spf_result(dns: Dns, domain: str, ip: str, budget: list[int] | None = None) -> str:
    """The SPF qualifier that applies to ``ip`` sending for ``domain``: + pass, - fail, ~ softfail,
    ? neutral (also: no record)."""
    budget = budget if budget is not None else [SPF_LOOKUPS]
    record = spf_record(dns, domain)
    if record is None:
        return "none"
    address = ipaddress.ip_address(ip)
    redirect = None
    for term in record.split()[1:]:
        qualifier = "+"
        if term[0] in "+-~?":
            qualifier, term = term[0], term[1:]
        name, _, value = term.partition(":") if ":" in term else term.partition("=")
        name = name.lower()
        if name == "redirect":
            redirect = value
            continue
        if name == "all":
            return qualifier
        if name in ("ip4", "ip6"):
            try:
                if address in ipaddress.ip_network(value, strict=False):
                    return qualifier
            except ValueError:
                continue
            continue
        if name in ("a", "mx", "include", "exists"):
            budget[0] -= 1
            if budget[0] < 0:
                return "permerror"
        target = (value or domain).split("/")[0]
        if name == "a" and ip in dns.addresses(target):
            return qualifier
        if name == "mx":
            for mx in dns.lookup(target, "MX"):
                if ip in dns.addresses(mx.split()[1]):
                    return qualifier
        if name == "include" and spf_result(dns, value, ip, budget) == "+":
            return qualifier
    if redirect:
        budget[0] -= 1
        return spf_result(dns, redirect, ip, budget)
    return "?"


def check_spf(dns: Dns, settings: Settings, sending_ips: list[str]) -> Finding:
    domain = settings.bounce_domain
    check = f"SPF {domain}"
    record = spf_record(dns, domain)
    if record is None:
        return failed(
            AREA,
            check,
            f"no SPF record at {domain} (the envelope sender of every message)",
            f'publish TXT "v=spf1 ip4:{sending_ips[0] if sending_ips else "RELAY-IP"} -all" at {domain}',
        )
    if not sending_ips:
        return warned(AREA, check, f"found {record!r}", "give --sending-ip so doctor can check it covers the relay")
    results = {ip: spf_result(dns, domain, ip) for ip in sending_ips}
    bad = [ip for ip, result in results.items() if result != "+"]
    if bad:
        return failed(
            AREA,
            check,
            f"{record!r} does not pass {', '.join(bad)} (result {results[bad[0]]})",
            f"add ip4:{bad[0]} (or an include: of your relay provider) before the all term",
        )
    return passed(AREA, check, f"{record!r} passes {', '.join(sending_ips)}")


# --- DKIM, DMARC ---


def check_dkim(dns: Dns, settings: Settings) -> list[Finding]:
    try:
        signer = DkimSigner.from_settings(settings)
    except DkimError as exc:
        return [failed(AREA, "DKIM", str(exc), "fix GLL_MAIL_DKIM_KEY_FILE, _SELECTOR and _DOMAIN")]
    if signer is None:
        return [
            failed(
                AREA,
                "DKIM",
                "GLL_MAIL_DKIM_KEY_FILE is not set: mail goes out unsigned (production refuses to send it)",
                "make a key with `gll-mail dkim keygen`, publish its record, set GLL_MAIL_DKIM_*",
            )
        ]
    findings = []
    for one in signer.signers:
        check = f"DKIM {dns_name(one)}"
        try:
            result = check_published(one, dns.nameserver, dns.resolver.lifetime)
        except DkimError as exc:
            findings.append(failed(AREA, check, str(exc), "check the name server and the network"))
            continue
        if not result.ok:
            findings.append(
                failed(AREA, check, "; ".join(result.errors), "publish the record `gll-mail dkim record` prints")
            )
        elif result.warnings:
            findings.append(warned(AREA, check, "; ".join(result.warnings), "remove t=y once signing works"))
        else:
            findings.append(passed(AREA, check, "DNS publishes our key; dkimpy verifies a signed message"))
    problem = misalignment(signer.signers[0], settings.from_address)
    if problem:
        findings.append(failed(AREA, "DKIM alignment", problem, "sign with d= the From domain (GLL_MAIL_DKIM_DOMAIN)"))
    return findings


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


def _aligned(domain: str, against: str, mode: str) -> bool:
    domain, against = domain.lower(), against.lower()
    return domain == against if mode == "s" else org_domain(domain) == org_domain(against)


def check_dmarc(dns: Dns, settings: Settings) -> Finding:
    domain = from_domain(settings)
    found_at = f"_dmarc.{domain}"
    records = [r for r in dns.lookup(found_at, "TXT") if r.lower().startswith("v=dmarc1")]
    if not records and org_domain(domain) != domain:
        found_at = f"_dmarc.{org_domain(domain)}"
        records = [r for r in dns.lookup(found_at, "TXT") if r.lower().startswith("v=dmarc1")]
    check = f"DMARC {domain}"
    if not records:
        return failed(
            AREA,
            check,
            f"no DMARC record at _dmarc.{domain}",
            f'publish TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{org_domain(domain)}" at _dmarc.{domain}',
        )
    tags = _tags(records[0])
    if tags.get("p") not in ("none", "quarantine", "reject"):
        return failed(AREA, check, f"{records[0]!r} at {found_at} has no valid p= tag", "add p=quarantine (or reject)")
    try:
        signer = DkimSigner.from_settings(settings)
    except DkimError:
        signer = None
    dkim_ok = signer is not None and _aligned(signer.signers[0].domain.decode(), domain, tags.get("adkim", "r"))
    spf_ok = _aligned(settings.bounce_domain, domain, tags.get("aspf", "r"))
    if not (dkim_ok or spf_ok):
        return failed(
            AREA,
            check,
            f"neither DKIM (d={signer.signers[0].domain.decode() if signer else 'none'}) nor SPF ({settings.bounce_domain}) "
            f"aligns with From {domain} under {records[0]!r}: receivers apply p={tags['p']}",
            "sign with d= the From domain, or use a bounce domain under it",
        )
    how = " and ".join(name for name, ok in (("DKIM", dkim_ok), ("SPF", spf_ok)) if ok)
    if tags["p"] == "none":
        return warned(
            AREA,
            check,
            f"{records[0]!r}: {how} aligned, but p=none only monitors",
            "move to p=quarantine once reports are clean",
        )
    return passed(AREA, check, f"{records[0]!r} at {found_at}: {how} aligned with From")


# --- MX, reverse DNS ---


def local_addresses() -> set[str]:
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(info[4][0])
    except OSError:
        pass
    return found


def check_mx(dns: Dns, settings: Settings, here: set[str]) -> tuple[Finding, str | None]:
    """The MX finding, and the host the bounce receiver should answer on."""
    domain = settings.bounce_domain
    check = f"MX {domain}"
    records = dns.lookup(domain, "MX")
    if not records:
        return failed(
            AREA,
            check,
            f"no MX record at {domain}: bounces cannot come back",
            f"publish {domain}. MX 10 <this server's name>. and run `gll-mail bounces receive` on port 25",
        ), None
    host = records[0].split()[1]
    addresses = dns.addresses(host)
    if not addresses:
        return failed(AREA, check, f"MX {host} has no address", f"publish an A record for {host}"), host
    if here and not here & set(addresses):
        return warned(
            AREA,
            check,
            f"MX {host} is {', '.join(addresses)}; this server is {', '.join(sorted(here))}",
            "point the MX at the server that runs `gll-mail bounces receive` (or give --here ADDRESS behind NAT)",
        ), host
    return passed(AREA, check, f"MX {host} ({', '.join(addresses)}) points here"), host


def check_reverse(dns: Dns, ip: str | None) -> Finding:
    if not ip:
        return warned(AREA, "reverse DNS", "not checked", "give --sending-ip ADDRESS (the relay's public address)")
    from dns.reversename import from_address

    check = f"reverse DNS {ip}"
    names = dns.lookup(from_address(ip).to_text(), "PTR")
    if not names:
        return failed(
            AREA,
            check,
            f"{ip} has no PTR record: many receivers refuse such mail",
            "ask the address's provider for a PTR record naming the relay",
        )
    if ip not in dns.addresses(names[0]):
        return failed(
            AREA,
            check,
            f"{ip} → {names[0]}, but {names[0]} does not resolve back to {ip}",
            f"publish A {ip} for {names[0]}",
        )
    return passed(AREA, check, f"{ip} → {names[0]} → {ip}")


def dns_findings(
    settings: Settings, *, nameserver: str | None, sending_ip: str | None, here: set[str], timeout: float = 5.0
) -> tuple[list[Finding], str | None]:
    """Every DNS finding, and the MX host (for the bounce receiver's transport check)."""
    dns = Dns(nameserver, timeout)
    try:
        relay = settings_relay_host(settings)
        sending = (
            [sending_ip] if sending_ip else [a for a in dns.addresses(relay) if not ipaddress.ip_address(a).is_loopback]
        )
        findings = [check_spf(dns, settings, sending)]
        findings += check_dkim(dns, settings)
        findings.append(check_dmarc(dns, settings))
        mx, mx_host = check_mx(dns, settings, here or local_addresses())
        findings.append(mx)
        findings.append(check_reverse(dns, sending_ip))
    except DnsUnanswered as exc:
        return [failed(AREA, "DNS", str(exc), "check the name server (--nameserver) and the network")], None
    return findings, mx_host


def settings_relay_host(settings: Settings) -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.smtp_url).hostname or "127.0.0.1"
