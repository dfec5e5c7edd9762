"""Writes corpus/written/*.eml: bounces, warnings, auto-replies and challenges shaped after what
each named server sends (its DSN layout, its wording and codes as published in its documentation
or seen in the wild), for servers the flufl.bounce corpus lacks. Run from this folder; idempotent."""

from pathlib import Path

OUT = Path(__file__).parent / "written"
ORIGINAL = """Return-Path: <bounces+GLLTOKEN@bounces.gll.example>
Received: from mta1.gll.example (mta1.gll.example [192.0.2.25])
	by {mx} with ESMTPS id 4Xk2r10qPz; Tue, 12 Nov 2024 09:14:03 +0000
From: WHO Global Learning Laboratory <news@gll.example>
To: {rcpt}
Subject: GLL newsletter: quality of care, November
Message-ID: <20241112091402.d{n}.gll-test@gll.who.int>
Date: Tue, 12 Nov 2024 09:14:02 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_2.0.13_gll"
List-Unsubscribe: <mailto:unsubscribe@bounces.gll.example?subject=unsubscribe%20x>
"""


def dsn(name, *, mx, rcpt, human, action, status, diag, reporting, subject="Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@{mx} (Mail Delivery System)", boundary="8F1A2B3C4D.1731402843/{mx}", extra=""):
    n = abs(hash(name)) % 1000
    b = boundary.format(mx=mx)
    text = f"""Return-Path: <>
Date: Tue, 12 Nov 2024 09:14:05 +0000 (UTC)
From: {sender.format(mx=mx)}
Subject: {subject}
To: bounces+GLLTOKEN@bounces.gll.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="{b}"
Message-Id: <20241112091405.{n}@{mx}>
{extra}
This is a MIME-encapsulated message.

--{b}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

{human}

--{b}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporting}
Arrival-Date: Tue, 12 Nov 2024 09:14:03 +0000 (UTC)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
{"Diagnostic-Code: " + diag if diag else ""}

--{b}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{ORIGINAL.format(mx=mx, rcpt=rcpt, n=n)}
--{b}--
"""
    (OUT / f"{name}.eml").write_text(text.replace("\n\n\n", "\n\n"))


def plain(name, *, headers, body, rcpt="", mx="mx.example.net"):
    n = abs(hash(name)) % 1000
    original = ORIGINAL.format(mx=mx, rcpt=rcpt or "member@example.org", n=n)
    (OUT / f"{name}.eml").write_text(headers.strip() + "\n\n" + body.strip().format(original=original) + "\n")


PF = ("This is the mail system at host {mx}.\n\nI'm sorry to have to inform you that your message could not\n"
      "be delivered to one or more recipients. It's attached below.\n\nFor further assistance, please send mail "
      "to postmaster.\n\n                   The mail system\n\n{line}")


def postfix(name, rcpt, status, diag_line, reply, action="failed", mx="mx1.example.org", subject=None):
    dsn(name, mx=mx, rcpt=rcpt, human=PF.format(mx=mx, line=f"<{rcpt}>: {diag_line}"), action=action, status=status,
        diag=reply, reporting=mx, subject=subject or "Undelivered Mail Returned to Sender")


def exchange(name, rcpt, status, remote, mx, version="2016", human_extra=""):
    human = (f"Delivery has failed to these recipients or groups:\n\n{rcpt}\n{human_extra}\n\n"
             f"Diagnostic information for administrators:\n\nGenerating server: {mx}\n\n{rcpt}\n"
             f"Remote Server returned '{remote}'\n\nOriginal message headers:")
    dsn(name, mx=mx, rcpt=rcpt, human=human, action="failed", status=status, diag=f"smtp;{remote}", reporting=mx,
        subject="Undeliverable: GLL newsletter: quality of care, November",
        sender="Microsoft Outlook <postmaster@{mx}>", boundary=f"_000_ex{version}_", extra=f"X-MS-Exchange-Version: {version}")


def gmail(name, rcpt, status, reply, action="failed", delay=False):
    first = ("Delivery to the following recipient has been delayed:" if delay else
             "Address not found" if status == "5.1.1" else "Message not delivered")
    human = (f"** {first} **\n\n{rcpt}\n\nThe response from the remote server was:\n{reply}")
    dsn(name, mx="mx.google.com", rcpt=rcpt, human=human, action=action, status=status, diag=f"smtp; {reply}",
        reporting="googlemail.com", sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        subject="Delivery Status Notification (Delay)" if delay else "Delivery Status Notification (Failure)",
        boundary="000000000000a1b2c3d4e5f6")


def exim(name, rcpt, reply, mx="mail.example.ac.uk", retry=False):
    head = "retry time not reached for any host after a long failure period" if retry else f"host {mx} [10.5.1.20]\n    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n    {reply}"
    plain(name, rcpt=rcpt, mx=mx, headers=f"""
Return-Path: <>
From: Mail Delivery System <Mailer-Daemon@smtp.example.ac.uk>
To: bounces+GLLTOKEN@bounces.gll.example
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied
X-Failed-Recipients: {rcpt}
Date: Tue, 12 Nov 2024 09:14:05 +0000
Message-Id: <E1tAx1-000abc-2F@smtp.example.ac.uk>
""", body=f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    {head}

------ This is a copy of the message, including all the headers. ------

{{original}}
--=_2.0.13_gll
Content-Type: text/plain

Our colleague at 10.5.1.20 said the mailbox full of ideas does not exist yet.
""")


OUT.mkdir(exist_ok=True)
# Postfix
postfix("postfix-generic-5.0.0-user-unknown", "nadia.h@example.org", "5.0.0",
        "host mx.example.org[203.0.113.7] said: 550 User unknown (in reply to RCPT TO command)",
        "smtp; 550 User unknown")
postfix("postfix-mailbox-full-ip-trap", "kwame@example.net", "5.2.2",
        "host 10.5.1.20[10.5.1.20] said: 552 5.2.2 <kwame@example.net>: Mailbox full (in reply to RCPT TO command)",
        "smtp; 552 5.2.2 <kwame@example.net>: Mailbox full")
postfix("postfix-relay-denied", "aiko@example.jp", "5.7.1",
        "host mx.example.jp[198.51.100.3] said: 554 5.7.1 <aiko@example.jp>: Relay access denied (in reply to RCPT TO command)",
        "smtp; 554 5.7.1 <aiko@example.jp>: Relay access denied")
postfix("postfix-greylisted-delay", "pedro@example.es", "4.2.0",
        "host mx.example.es[198.51.100.9] said: 450 4.2.0 <pedro@example.es>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/ (in reply to RCPT TO command)",
        "smtp; 450 4.2.0 <pedro@example.es>: Recipient address rejected: Greylisted", action="delayed",
        subject="Delayed Mail (still being retried)")
postfix("postfix-host-not-found", "ines@no-such-domain.example", "5.4.4",
        "Host or domain name not found. Name service error for name=no-such-domain.example type=A: Host not found",
        "X-Postfix; Host or domain name not found. Name service error for name=no-such-domain.example type=A: Host not found")
postfix("postfix-message-too-large", "omar@example.com", "5.3.4",
        "host mx.example.com[203.0.113.40] said: 552 5.3.4 Message size exceeds fixed limit (in reply to end of DATA command)",
        "smtp; 552 5.3.4 Message size exceeds fixed limit")
postfix("zimbra-over-quota", "lucia@zimbra.example.it", "5.2.2",
        "host zimbra.example.it[203.0.113.61] said: 552 5.2.2 Over quota (in reply to end of DATA command)",
        "smtp; 552 5.2.2 Over quota", mx="mta.zimbra.example.it")
postfix("zimbra-no-such-user", "marco@zimbra.example.it", "5.1.1",
        "host zimbra.example.it[203.0.113.61] said: 550 5.1.1 <marco@zimbra.example.it>: Recipient address rejected: User unknown in virtual mailbox table",
        "smtp; 550 5.1.1 <marco@zimbra.example.it>: Recipient address rejected: User unknown in virtual mailbox table",
        mx="mta.zimbra.example.it")
postfix("amavis-virus-rejected", "sara@example.se", "5.7.0",
        "host mail.example.se[203.0.113.88] said: 554 5.7.0 Reject, id=12345-07 - INFECTED: Eicar-Signature (in reply to end of DATA command)",
        "smtp; 554 5.7.0 Reject, id=12345-07 - INFECTED: Eicar-Signature")
postfix("spamhaus-blocked", "yusuf@example.com.tr", "5.7.1",
        "host mx.example.com.tr[203.0.113.90] said: 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org (in reply to RCPT TO command)",
        "smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org")
postfix("yandex-no-such-user-5.7.1", "ivan@yandex.example", "5.7.1",
        "host mx.yandex.example[77.88.21.249] said: 550 5.7.1 No such user! (in reply to end of DATA command)",
        "smtp; 550 5.7.1 No such user!", mx="relay.example.net")
postfix("yandex-mailbox-full", "anna@yandex.example", "5.2.2",
        "host mx.yandex.example[77.88.21.249] said: 552 5.2.2 Mailbox size limit exceeded (in reply to end of DATA command)",
        "smtp; 552 5.2.2 Mailbox size limit exceeded", mx="relay.example.net")
postfix("mailru-account-disabled", "oleg@mail.example.ru", "5.0.0",
        "host mxs.mail.example.ru[94.100.180.31] said: 550 Message was not accepted -- invalid mailbox. Local mailbox oleg@mail.example.ru is unavailable: account is disabled (in reply to end of DATA command)",
        "smtp; 550 Message was not accepted -- invalid mailbox. Local mailbox oleg@mail.example.ru is unavailable: account is disabled")
postfix("mailru-over-quota", "dina@mail.example.ru", "4.0.0",
        "host mxs.mail.example.ru[94.100.180.31] said: 452 Mailbox oleg@mail.example.ru is full, try again later (in reply to end of DATA command)",
        "smtp; 452 Mailbox is full, try again later", action="delayed", subject="Delayed Mail (still being retried)")
postfix("qq-mailbox-not-found", "123456789@qq.example", "5.0.0",
        "host mx3.qq.example[183.3.225.42] said: 550 Mailbox not found. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000728 (in reply to RCPT TO command)",
        "smtp; 550 Mailbox not found. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000728")
postfix("qq-content-denied", "987654321@qq.example", "5.0.0",
        "host mx3.qq.example[183.3.225.42] said: 550 Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726 (in reply to end of DATA command)",
        "smtp; 550 Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726")
postfix("postini-content-rejected", "grace@example.com", "5.7.1",
        "host example.com.s8a1.psmtp.com[64.18.7.10] said: 550 5.7.1 Message content rejected, UBE, id=12345-02-3 (in reply to end of DATA command)",
        "smtp; 550 5.7.1 Message content rejected, UBE")
postfix("aol-will-not-accept", "member@aol.example", "5.2.1",
        "host mailin-01.mx.aol.example[64.12.88.131] said: 521 5.2.1 :  AOL will not accept delivery to this address. (in reply to end of DATA command)",
        "smtp; 521 5.2.1 :  AOL will not accept delivery to this address.")
postfix("courier-user-unknown", "tariq@example.pk", "5.0.0",
        "host mail.example.pk[203.0.113.120] said: 550 User <tariq@example.pk> unknown (in reply to RCPT TO command)",
        "smtp; 550 User <tariq@example.pk> unknown")
postfix("mdaemon-mailbox-full", "hana@example.cz", "4.2.2",
        "host mail.example.cz[203.0.113.130] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)",
        "smtp; 452 4.2.2 Mailbox full", action="delayed", subject="Delayed Mail (still being retried)")
postfix("domino-not-listed", "jan@example.nl", "5.0.0",
        "host domino.example.nl[203.0.113.140] said: 550 5.0.0 User jan@example.nl not listed in Domino Directory (in reply to RCPT TO command)",
        "smtp; 550 5.0.0 User jan@example.nl not listed in Domino Directory")
postfix("groupwise-invalid-recipient", "beth@example.edu", "5.0.0",
        "host gwia.example.edu[203.0.113.150] said: 550 5.1.1 <beth@example.edu>... User unknown (in reply to RCPT TO command)",
        "smtp; 550 5.1.1 <beth@example.edu>... User unknown")
# Exchange and Microsoft 365
exchange("exchange2010-recipnotfound", "fatou@example.sn", "5.1.1",
         "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "EXCH01.example.sn", "2010")
exchange("exchange2016-recipientnotfound", "li.na@example.cn", "5.1.10",
         "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "EX16.example.cn")
exchange("office365-mailbox-full", "raj@example.in", "5.2.2",
         "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
         "AM0PR01MB1234.eurprd01.prod.outlook.com", "365")
exchange("office365-spam-blocked", "noor@example.ae", "5.7.1",
         "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.25 AS(1450)",
         "DB5EUR01FT012.mail.protection.outlook.com", "365")
exchange("office365-dmarc-reject", "tom@example.co.uk", "5.7.509",
         "550 5.7.509 Access denied, sending domain gll.example does not pass DMARC verification and has a DMARC policy of reject.",
         "LO2GBR01FT003.mail.protection.outlook.com", "365")
exchange("exchange2013-disabled-mailbox", "ana@example.pt", "5.2.1",
         "550 5.2.1 mailbox unavailable; STOREDRV.Deliver.Exception:MailboxDisabled", "EX13.example.pt", "2013")
exchange("outlookcom-mailbox-unavailable", "kim@outlook.example", "5.5.0",
         "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]",
         "BY5PR01MB0001.namprd01.prod.outlook.com", "365")
exchange("outlookcom-blocked-s3150", "lee@hotmail.example", "5.7.1",
         "550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
         "MW2NAM10FT001.eop-nam10.prod.protection.outlook.com", "365")
dsn("smtpsvc-unable-to-relay", mx="mail.example.gov", rcpt="paul@example.gov",
    human="This is an automatically generated Delivery Status Notification.\n\nDelivery to the following recipients failed.\n\n       paul@example.gov",
    action="failed", status="5.7.1", diag="smtp;550 5.7.1 Unable to relay for paul@example.gov",
    reporting="mail.example.gov", sender="postmaster@mail.example.gov", subject="Delivery Status Notification (Failure)",
    boundary="9B095B5ADSN=_01D8A1B2C3D4E5F6mail.example.gov")
dsn("exchange-delay-warning", mx="EX19.example.de", rcpt="jonas@example.de",
    human="Delivery is delayed to these recipients or groups:\n\njonas@example.de\n\nThis message hasn't been delivered yet. Delivery will continue to be attempted.",
    action="delayed", status="4.4.7", diag="smtp;400 4.4.7 Message delayed", reporting="EX19.example.de",
    sender="Microsoft Outlook <postmaster@example.de>", subject="Delivery delayed:GLL newsletter: quality of care, November",
    boundary="_000_delay_")
# Gmail
gmail("gmail-nosuchuser", "amara@gmail.example", "5.1.1",
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp")
gmail("gmail-over-quota", "bruno@gmail.example", "5.2.2",
      "552-5.2.2 The recipient's inbox is out of storage space. Please direct the\n552 5.2.2 recipient to https://support.google.com/mail/?p=OverQuotaPerm b2si456 - gsmtp")
gmail("gmail-disabled", "chen@gmail.example", "5.2.1",
      "550 5.2.1 The email account that you tried to reach is disabled. https://support.google.com/mail/?p=DisabledUser c3si789 - gsmtp")
gmail("gmail-unauthenticated", "dana@gmail.example", "5.7.26",
      "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all\n550 5.7.26 senders to authenticate with either SPF or DKIM. d4si012 - gsmtp")
gmail("gmail-rate-limited-delay", "eli@gmail.example", "4.2.1",
      "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n450 4.2.1 prevents additional messages from being delivered. e5si345 - gsmtp", action="delayed", delay=True)
# Yahoo
dsn("yahoo-user-unknown-dsn", mx="mta1002.mail.gq1.yahoo.example", rcpt="femi@yahoo.example",
    human="Sorry, we were unable to deliver your message to the following address.\n\n<femi@yahoo.example>:\n554: delivery error: dd This user doesn't have a yahoo.com account (femi@yahoo.example) [0] - mta1002.mail.gq1.yahoo.com",
    action="failed", status="5.0.0", diag="smtp; 554 delivery error: dd This user doesn't have a yahoo.com account (femi@yahoo.example) [0]",
    reporting="mta1002.mail.gq1.yahoo.example", sender="MAILER-DAEMON@yahoo.example", subject="Failure Notice", boundary="=_yahoo_01")
dsn("yahoo-policy-5.7.9", mx="mta6.am0.yahoodns.example", rcpt="gina@yahoo.example",
    human="Sorry, we were unable to deliver your message to the following address.\n\n<gina@yahoo.example>:\n554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
    action="failed", status="5.7.9", diag="smtp; 554 5.7.9 Message not accepted for policy reasons.",
    reporting="mta6.am0.yahoodns.example", sender="MAILER-DAEMON@yahoo.example", subject="Failure Notice", boundary="=_yahoo_02")
# Sendmail
dsn("sendmail-user-unknown", mx="mail.example.ke", rcpt="wanjiru@example.ke",
    human="The original message was received at Tue, 12 Nov 2024 09:14:03 GMT\nfrom mta1.gll.example [192.0.2.25]\n\n   ----- The following addresses had permanent fatal errors -----\n<wanjiru@example.ke>\n    (reason: 550 5.1.1 <wanjiru@example.ke>... User unknown)\n\n   ----- Transcript of session follows -----\n... while talking to mx.example.ke.:\n>>> RCPT To:<wanjiru@example.ke>\n<<< 550 5.1.1 <wanjiru@example.ke>... User unknown",
    action="failed", status="5.1.1", diag="SMTP; 550 5.1.1 <wanjiru@example.ke>... User unknown", reporting="mail.example.ke",
    sender="Mail Delivery Subsystem <MAILER-DAEMON@mail.example.ke>", subject="Returned mail: see transcript for details",
    boundary="2AC9E0q1234567.1731402845/mail.example.ke")
dsn("sendmail-deferred-warning", mx="mail.example.ke", rcpt="otieno@example.ke",
    human="**********************************************\n**      THIS IS A WARNING MESSAGE ONLY      **\n**  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n**********************************************\n\nThe original message was received at Tue, 12 Nov 2024 09:14:03 GMT\n\n   ----- Transcript of session follows -----\n<otieno@example.ke>... Deferred: Connection timed out with mx.example.ke.\nWarning: message still undelivered after 4 hours\nWill keep trying until message is 5 days old",
    action="delayed", status="4.4.1", diag="", reporting="mail.example.ke",
    sender="Mail Delivery Subsystem <MAILER-DAEMON@mail.example.ke>", subject="Warning: could not send message for past 4 hours",
    boundary="2AC9E0q7654321.1731417245/mail.example.ke")
# Exim (text bounces; the quoted original carries an IP and a boundary that look like status codes)
exim("exim-unknown-user", "aditi@example.ac.uk", "550 5.1.1 <aditi@example.ac.uk>: Recipient address rejected: User unknown in local recipient table")
exim("exim-quota-exceeded", "bilal@example.ac.uk", "552 Mailbox quota exceeded for this user")
exim("exim-retry-timeout", "chloe@example.ac.uk", "", retry=True)
exim("exim-relay-not-permitted", "dmitri@example.ac.uk", "550 relay not permitted")
# qmail
plain("qmail-mailbox-full-boundary-trap", rcpt="efe@example.ng", headers="""
Return-Path: <>
From: MAILER-DAEMON@mail.example.ng
To: bounces+GLLTOKEN@bounces.gll.example
Subject: failure notice
Date: 12 Nov 2024 09:14:07 -0000
Message-ID: <20241112091407.12345.qmail@mail.example.ng>
""", body="""Hi. This is the qmail-send program at mail.example.ng.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<efe@example.ng>:
10.5.1.20 failed after I sent the message.
Remote host said: 552 sorry, mailbox efe is full

--- Below this line is a copy of the message.

{original}
--=_2.0.13_gll
Content-Type: text/plain

The 5.1.1 release of our toolkit: user unknown to many, see 10.5.1.20.
""")
# auto-replies
for name, headers in [
    ("autoreply-exchange-automatic-reply", "From: Fatima Rahman <fatima@example.org>\nSubject: Automatic reply: GLL newsletter: quality of care, November\nAuto-Submitted: auto-generated\nX-MS-Exchange-Inbox-Rules-Loop: fatima@example.org"),
    ("autoreply-gmail-vacation", "From: Priya Nair <priya@gmail.example>\nSubject: Out of office until 2 December\nAuto-Submitted: auto-replied"),
    ("autoreply-german-abwesenheit", "From: Klaus Weber <k.weber@example.de>\nSubject: Abwesenheitsnotiz: GLL newsletter\nX-Autoreply: yes"),
    ("autoreply-french-reponse-automatique", "From: Claire Martin <claire@example.fr>\nSubject: =?utf-8?q?R=C3=A9ponse_automatique=3A_GLL_newsletter?=\nAuto-Submitted: auto-replied"),
    ("autoreply-zimbra-ooo", "From: Lucia Rossi <lucia@zimbra.example.it>\nSubject: Re: GLL newsletter: quality of care, November\nAuto-Submitted: auto-replied (zimbra; vacation)"),
    ("autoreply-spanish-respuesta", "From: Diego Ruiz <diego@example.mx>\nSubject: Respuesta automática: GLL newsletter\nX-Autorespond: Respuesta automática"),
    ("autoreply-precedence-only", "From: Help Desk <helpdesk@example.org>\nSubject: [Ticket #48213] Re: GLL newsletter\nPrecedence: auto_reply"),
]:
    plain(name, headers=f"Return-Path: <>\nTo: bounces+GLLTOKEN@bounces.gll.example\nDate: Tue, 12 Nov 2024 09:15:00 +0000\nMessage-ID: <ar.{name}@example.org>\nIn-Reply-To: <20241112091402.d1.gll-test@gll.who.int>\nContent-Type: text/plain; charset=utf-8\n{headers}",
          body="Thank you for your message. I am away from the office with limited access to email and will\nreply when I return. For urgent matters please contact my colleague.")
# challenge-response
for name, subject, body in [
    ("challenge-boxbe", "Request to join my Guest List", "Hello,\n\nYour message to kofi@example.gh is waiting for delivery. I use Boxbe to manage my inbox.\nPlease click the link below to confirm that you are a person and your message will be delivered:\nhttps://www.boxbe.com/anno?tc=12345_67890"),
    ("challenge-spamarrest", "Please verify your email address", "I apologize for this automatic reply to your email.\n\nTo control spam, I now allow incoming messages only from senders I have approved beforehand.\nPlease verify your email address by clicking the link below. SpamArrest\nhttp://www.spamarrest.com/a2/verify?x=abc"),
    ("challenge-mailinblack", "Validation de votre message", "Bonjour,\n\nVotre message n'a pas encore été distribué. Mailinblack protège cette boîte: please confirm you are\nnot a robot by clicking on the link: https://mailinblack.example/c/123"),
]:
    plain(name, headers=f"Return-Path: <verify@challenge.example>\nFrom: Kofi Boateng <kofi@example.gh>\nTo: bounces+GLLTOKEN@bounces.gll.example\nSubject: {subject}\nDate: Tue, 12 Nov 2024 09:16:00 +0000\nMessage-ID: <cr.{name}@challenge.example>\nContent-Type: text/plain; charset=utf-8", body=body)
