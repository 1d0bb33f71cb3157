"""Data transfer objects: what the engine hands out.  Frozen, plain data, no ORM."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DTO(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class SessionInfo(DTO):
    """A logged-in operator.  Permissions here are a snapshot for the console's display;
    the engine re-reads them inside every command, from the server-side session that
    ``token`` names (see ``engine.sessions``): the other fields are never believed."""

    operator_id: int
    username: str
    display_name: str
    permissions: frozenset[str]
    login_at: datetime
    token: str = Field(repr=False)
    """The session's secret; the database keeps only its SHA-256."""
    expires_at: datetime
    must_change_password: bool = False
    """The password was set by an administrator: the console asks for a new one first."""

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class CurrencyDTO(DTO):
    code: str
    name: str
    kind: str
    amount_precision: int
    rounding: str
    exchange_enabled: bool


class OperatorDTO(DTO):
    id: int
    username: str
    display_name: str
    enabled: bool
    locked_until: datetime | None
    failed_logins: int
    roles: tuple[str, ...]
    direct_permissions: tuple[str, ...]
    last_login_at: datetime | None
    is_administrator: bool
    must_change_password: bool = False
    """The password was set by an administrator and not yet changed by the operator."""
    pending_approval: str | None = None
    """The ref of a change to the operator's roles that waits for another administrator."""
    pending_roles: tuple[str, ...] | None = None
    """The roles that change would give (replacing ``roles``)."""


class RoleDTO(DTO):
    id: int
    name: str
    description: str
    permissions: tuple[str, ...]
    member_count: int
    pending_approval: str | None = None
    """The ref of a change to the role's permissions that waits for another administrator."""
    pending_permissions: tuple[str, ...] | None = None
    """The permissions that change would give the role (replacing ``permissions``)."""


class ApprovalDTO(DTO):
    id: int
    ref: str
    kind: str
    summary: str
    payload: dict
    status: str
    maker_id: int | None  # None: submitted by the system itself
    maker: str
    submitted_at: datetime
    checker: str | None
    decided_at: datetime | None
    reason: str | None
    outcome: str | None


class AuditRecordDTO(DTO):
    seq: int
    at: datetime
    operator: str
    action: str
    target_type: str
    target_id: str
    before: str | None
    after: str | None


class AuditPage(DTO):
    records: tuple[AuditRecordDTO, ...]
    # Keyset cursors: pass ``older_than`` to page back, ``newer_than`` to page forward.
    has_older: bool
    has_newer: bool


class AuditVerifyDTO(DTO):
    ok: bool
    records_checked: int
    first_broken_seq: int | None
    sentence: str
