"""The WBO engine: commands in, DTOs and events out.  Knows nothing of Textual.

Importing this package registers every command and query handler.
"""

from __future__ import annotations

from . import (  # noqa: F401  (registers handlers)
    admin,
    allocations,
    approvals,
    audit_queries,
    currencies,
    fx,
    margin,
    positions,
)
from .admin import (
    CreateOperator,
    CreateRole,
    ListOperators,
    ListRoles,
    PermissionCatalog,
    RequestPermission,
    ResetOperatorPassword,
    RevokeDirectPermission,
    SetOperatorEnabled,
    SetOperatorRoles,
    SetRolePermissions,
    UnlockOperator,
)
from .api import SCHEMA_REVISION, Engine
from .approvals import ApproveItem, ListApprovals, MySubmissions, RejectItem
from .audit_queries import QueryAuditLog, VerifyAuditLog
from .clock import FixedClock, SequentialIds, SystemClock, UuidIds
from .commands import COMMAND_HANDLERS, QUERY_HANDLERS, Command, Query, build
from .currencies import ListCurrencies
from .dto import (
    ApprovalDTO,
    AuditPage,
    AuditRecordDTO,
    AuditVerifyDTO,
    CurrencyDTO,
    OperatorDTO,
    RoleDTO,
    SessionInfo,
)
from .errors import (
    AccountLocked,
    AlreadyDecided,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    MakerCheckerViolation,
    NotAuthenticated,
    NotFound,
    PasswordChangeRequired,
    PermissionDenied,
    SchemaOutOfDate,
    SessionLocked,
    ValidationFailed,
    WboError,
)
from .money import D, Currency, Money
from .notify import (  # noqa: F401  (registers the notification handlers)
    CreateSubscription, DeleteSubscription, DeliveryDTO, DeliveryReport, InboxMessageDTO, ListDeliveries, ListInbox,
    ListNotifications, ListSubscriptions, MarkInboxRead, NotificationDTO, RetryDelivery, SetSubscriptionEnabled,
    SubscriptionDTO, UnreadCount,
)
from .policy import SecurityPolicy

__all__ = [name for name in dir() if not name.startswith("_")]
