"""django-q2 entry points for webhook deliveries (thin: they call webhooks.delivery)."""

from __future__ import annotations


def dispatch() -> None:
    """Hand the sender to the cluster (called on commit after deliveries were written)."""
    from django_q.tasks import async_task

    async_task("webhooks.tasks.deliver_due", group="webhooks")


def deliver_due() -> int:
    """Send the deliveries that are due; after a full run, queue the next one.

    Also run every minute by the "Webhook deliveries" schedule, for retries.
    """
    from webhooks.delivery import CLAIM_LIMIT, deliveries_send_due

    claimed = deliveries_send_due()
    if claimed >= CLAIM_LIMIT:
        dispatch()
    return claimed
