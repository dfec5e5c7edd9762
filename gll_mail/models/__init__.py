"""The data model. Tables only; domain logic lives in the modules named for each step.

All times are timezone-aware UTC (``utcnow()``); SQLModel stores them as UTC on SQLite and
PostgreSQL alike and gives them back aware. The tables live in one module per part of the data flow;
everything is imported from here (``from gll_mail.models import Subscriber``), and importing this
package registers every table on ``SQLModel.metadata`` (Alembic's target).
"""

from gll_mail.models.base import new_public_id, utcnow
from gll_mail.models.campaigns import (
    Approval,
    Attempt,
    Campaign,
    CampaignRevision,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    SendRate,
    SendSlot,
)
from gll_mail.models.integrations import ApiToken, IdempotencyRecord, WebhookDelivery, WebhookEndpoint, WebhookStatus
from gll_mail.models.members import (
    POSTGRES_SEARCH_INDEXES,
    SEARCH_TEXT_SQL,
    ImportJob,
    ImportStatus,
    Pod,
    PodMembership,
    Resource,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)
from gll_mail.models.operations import AdminUser, AuditEntry, InboundMessage, InboundStatus, WorkerHeartbeat

__all__ = [
    "POSTGRES_SEARCH_INDEXES",
    "SEARCH_TEXT_SQL",
    "new_public_id",
    "utcnow",
    "SubscriberStatus",
    "Subscriber",
    "Topic",
    "Subscription",
    "Pod",
    "PodMembership",
    "Resource",
    "Suppression",
    "ImportStatus",
    "ImportJob",
    "CampaignStatus",
    "Campaign",
    "DeliveryStatus",
    "Delivery",
    "EventType",
    "Event",
    "CampaignRevision",
    "Approval",
    "SendRate",
    "Attempt",
    "SendSlot",
    "InboundStatus",
    "InboundMessage",
    "AdminUser",
    "AuditEntry",
    "WorkerHeartbeat",
    "WebhookEndpoint",
    "WebhookStatus",
    "WebhookDelivery",
    "ApiToken",
    "IdempotencyRecord",
]
