"""Webhooks: the events other systems asked for, signed (Standard Webhooks) and sent from the outbox
that the domain functions fill in their own transactions (:func:`gll_mail.events.emit_webhook`)."""
