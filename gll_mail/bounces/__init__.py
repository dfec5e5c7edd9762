"""Bounces and reports: inbound intake and mailboxes → classification → suppressions and events → reports."""
