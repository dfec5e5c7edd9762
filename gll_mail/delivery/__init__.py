"""Delivery: the scheduler and `control` launch (the status through campaigns.lifecycle), the outbox queues,
the worker drains through the render pool and rate limits, the ledger records."""
