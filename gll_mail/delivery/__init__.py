"""Delivery: the scheduler launches, the outbox queues, the worker drains through the render pool and rate limits."""
