"""The permission matrix: every registered command and query, refused without its
permission, allowed with exactly that permission, refused for a disabled operator.

``EXAMPLES`` holds one valid instance per command and query.  Its keys must equal the
handler registry, so a new command cannot be added without an entry here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    ADMINISTRATION,
    ALL_PERMISSIONS,
    APPROVAL_PERMISSION,
    FRESH_PASSWORD,
    audit_head_row,
    execute_raw,
    grant_directly,
    login,
    new_operator,
    snapshot,
)
from fx_matrix import FOLLOW_UPS as FX_FOLLOW_UPS
from fx_matrix import ROWS as FX_ROWS
from margin_matrix import FOLLOW_UPS as MARGIN_FOLLOW_UPS
from margin_matrix import ROWS as MARGIN_ROWS
from margin_matrix import SYSTEM_ACTORS as MARGIN_ACTORS
from notify_support import failed_delivery_id, inbox_message_id, subscribe
from sqlalchemy import select

from wbo_tui.engine.approvals import AwaitingMyReview, GetApproval
from wbo_tui.engine import (
    COMMAND_HANDLERS,
    QUERY_HANDLERS,
    ApprovalDTO,
    ApproveItem,
    AuditPage,
    AuditVerifyDTO,
    Command,
    CreateOperator,
    CreateRole,
    CreateSubscription,
    DeleteSubscription,
    DeliveryDTO,
    Engine,
    ListApprovals,
    ListCurrencies,
    ListDeliveries,
    ListInbox,
    ListNotifications,
    ListOperators,
    ListRoles,
    ListSubscriptions,
    MarkInboxRead,
    MySubmissions,
    NotAuthenticated,
    OperatorDTO,
    PermissionCatalog,
    PermissionDenied,
    Query,
    QueryAuditLog,
    RejectItem,
    RequestPermission,
    ResetOperatorPassword,
    RetryDelivery,
    RevokeDirectPermission,
    RoleDTO,
    SessionInfo,
    SetOperatorEnabled,
    SetOperatorRoles,
    SetRolePermissions,
    SetSubscriptionEnabled,
    SubscriptionDTO,
    UnlockOperator,
    UnreadCount,
    VerifyAuditLog,
)
from wbo_tui.engine.positions import (
    ChannelAccountDTO,
    ChannelAccountUsage,
    ChannelAccountUsageDTO,
    ChannelDTO,
    CreateChannelAccount,
    DepositDTO,
    ListChannelAccounts,
    ListDeposits,
    ListPositions,
    ListSettlementChannels,
    ListWithdrawals,
    MarkDepositSuccessful,
    MarkWithdrawalFailed,
    MarkWithdrawalSuccessful,
    PositionDTO,
    PositionPage,
    RecordDeposit,
    RefreshPositions,
    RegisterSettlementChannel,
    SetThresholds,
    SubmitWithdrawal,
    UpdateChannelAccount,
    WithdrawalDTO,
)
from wbo_tui.engine.allocations import (
    AllocationDTO,
    AllocationPage,
    BalancePreview,
    BalancePreviewDTO,
    CreateAllocationRule,
    CreateManualAllocation,
    EditAllocationRule,
    ExplainTriggers,
    ExportAllocations,
    GetAllocation,
    GetAllocationRule,
    ListAllocationRules,
    ListAllocations,
    PreviewRuleEdit,
    PreviewSchedule,
    RetryAllocation,
    RuleDTO,
    RuleEditPreviewDTO,
)
from wbo_tui.engine.permissions import IMPLIES, with_implied
from wbo_tui.engine.schema import audit_log


@dataclass
class World:
    engine: Engine
    admin: SessionInfo
    maker: SessionInfo
    viewer: SessionInfo


Message = Command | Query
Example = Callable[[World], Awaitable[Message]]


@dataclass(frozen=True)
class Case:
    permission: str | None
    """What the engine demands.  None: any active operator."""
    example: Example
    """Builds one valid instance, preparing the data it needs (as other operators)."""
    audit_action: str | None = None
    """The audit record a successful command writes (None for queries)."""
    result_type: type | tuple[type, ...] = object
    via_kind: bool = False
    """The permission is not on the class but named by the approval item's kind."""
    system_follow_up: bool = False
    """After its commit the command starts system work (a transfer or an exchange order at
    a channel), which the allocation or FX engine audits under its own name."""


def _const(message: Message) -> Example:
    async def build(world: World) -> Message:
        return message

    return build


async def _pending_request(world: World) -> int:
    # The request is for the approval permission itself: a checker may only grant what
    # they hold (or be an administrator), and the matrix's checker holds exactly that.
    item = await world.engine.execute(
        world.maker, RequestPermission(permission_code=APPROVAL_PERMISSION, reason="covering approvals")
    )
    return item.id


async def _approve_example(world: World) -> Message:
    return ApproveItem(approval_id=await _pending_request(world))


async def _get_approval_example(world: World) -> Message:
    return GetApproval(kind="permission_request", approval_id=await _pending_request(world))


async def _reject_example(world: World) -> Message:
    return RejectItem(approval_id=await _pending_request(world), reason="not needed for this role")


async def _revoke_example(world: World) -> Message:
    await grant_directly(world.engine, world.viewer, world.admin, "admin.operator_inquiry")
    return RevokeDirectPermission(username="viewer", permission_code="admin.operator_inquiry")


async def _reset_example(world: World) -> Message:
    # An operator manager may reset only passwords of operators who hold nothing beyond
    # the manager's own permissions; a new operator without roles holds nothing.
    await world.engine.execute(world.admin, CreateOperator(
        username="newbie", display_name="New Bie", password=FRESH_PASSWORD,
    ))
    return ResetOperatorPassword(username="newbie", new_password="Another-Pass-77")


async def _webhook_subscription(world: World) -> int:
    return await subscribe(world.engine, world.admin, channel="webhook", address="https://hooks.example.com/desk")


async def _delete_subscription_example(world: World) -> Message:
    return DeleteSubscription(subscription_id=await _webhook_subscription(world))


async def _disable_subscription_example(world: World) -> Message:
    return SetSubscriptionEnabled(subscription_id=await _webhook_subscription(world), enabled=False)


async def _retry_delivery_example(world: World) -> Message:
    return RetryDelivery(delivery_id=await failed_delivery_id(world.engine, world.admin))


async def _mark_read_example(world: World) -> Message:
    # The probe exists by the time examples are built; it marks its own message.
    return MarkInboxRead(message_ids=[await inbox_message_id(world.engine, world.admin, "probe")])


# --- position management examples: a channel and its accounts, prepared by the maker ---

MATRIX_CHANNEL = "settlement_matrix_hk"


async def _channel(world: World) -> None:
    await world.engine.execute(world.maker, RegisterSettlementChannel(
        code=MATRIX_CHANNEL, name="Matrix channel", gateway={"kind": "simulated", "store": "matrix-bank.sqlite"},
    ))


async def _account(world: World, scenario: str = "withdrawal_principal", account_no: str = "MX-001") -> int:
    dto = await world.engine.execute(world.maker, CreateChannelAccount(
        channel=MATRIX_CHANNEL, currency_type="fiat", currency="HKD", account_no=account_no, scenario=scenario,
    ))
    return dto.id


async def _create_account_example(world: World) -> Message:
    await _channel(world)
    return CreateChannelAccount(channel=MATRIX_CHANNEL, currency_type="fiat", currency="HKD", account_no="MX-009",
                                scenario="deposit")


async def _update_account_example(world: World) -> Message:
    await _channel(world)
    account_id = await _account(world)
    return UpdateChannelAccount(account_id=account_id, expected_version=1, channel=MATRIX_CHANNEL,
                                currency_type="fiat", currency="HKD", account_no="MX-001",
                                scenario="withdrawal_principal", remarks="renamed")


async def _usage_example(world: World) -> Message:
    await _channel(world)
    return ChannelAccountUsage(account_id=await _account(world))


async def _thresholds_example(world: World) -> Message:
    await _channel(world)
    return SetThresholds(channel_account_id=await _account(world), threshold_alert="100", threshold_blocking="50")


async def _withdrawal_accounts(world: World) -> None:
    await _channel(world)
    await _account(world)
    await _account(world, "withdrawal_fee", "MX-002")


async def _submit_withdrawal_example(world: World) -> Message:
    await _withdrawal_accounts(world)
    return SubmitWithdrawal(client_id="C-1", channel=MATRIX_CHANNEL, currency="HKD", principal="10.00", fee="1.00")


async def _fail_withdrawal_example(world: World) -> Message:
    await _withdrawal_accounts(world)
    wd = await world.engine.execute(world.maker, SubmitWithdrawal(
        client_id="C-1", channel=MATRIX_CHANNEL, currency="HKD", principal="10.00", fee="1.00"))
    # A balance as a poll would have recorded it, so the approval is not intercepted.
    await execute_raw(world.engine, "UPDATE positions SET available = '1000000.00', poll_status = 'OK'")
    await world.engine.execute(await login(world.engine, "checker"), ApproveItem(approval_id=wd.approval_id))
    return MarkWithdrawalFailed(withdrawal_ref=wd.ref, part="principal", reason="returned by the bank")


async def _succeed_withdrawal_example(world: World) -> Message:
    approved = await _fail_withdrawal_example(world)  # an approved withdrawal, which the channel then paid
    return MarkWithdrawalSuccessful(withdrawal_ref=approved.withdrawal_ref)


async def _record_deposit_example(world: World) -> Message:
    await _channel(world)
    return RecordDeposit(client_id="C-1", channel_account_id=await _account(world, "deposit"), amount="100.00")


async def _deposit_success_example(world: World) -> Message:
    await _channel(world)
    dp = await world.engine.execute(world.maker, RecordDeposit(
        client_id="C-1", channel_account_id=await _account(world, "deposit"), amount="100.00"))
    return MarkDepositSuccessful(deposit_ref=dp.ref)


# --- fund allocation examples: a pool and a principal account on the matrix channel ---


async def _pool_and_principal(world: World) -> tuple[int, int]:
    await _channel(world)
    return await _account(world, "fund_pool", "MX-POOL"), await _account(world)


async def _rule(world: World, **overrides: Any) -> dict[str, Any]:
    pool, principal = await _pool_and_principal(world)
    return {"name": "Top up", "from_account_id": pool, "to_account_id": principal, "currency": "HKD",
            "scenario": "withdrawal_principal", "trigger_kind": "event",
            "event_kind": "withdrawal.submitted.principal", "amount_rule": "event_amount", **overrides}


async def _create_rule_example(world: World) -> Message:
    return CreateAllocationRule(**await _rule(world))


async def _existing_rule(world: World) -> tuple[RuleDTO, dict[str, Any]]:
    fields = await _rule(world)
    return await world.engine.execute(world.maker, CreateAllocationRule(**fields)), fields


async def _edit_rule_example(world: World) -> Message:
    rule, fields = await _existing_rule(world)
    return EditAllocationRule(**{**fields, "priority": 7}, rule_id=rule.id, expected_version=rule.version)


async def _preview_edit_example(world: World) -> Message:
    return PreviewRuleEdit(edit=await _edit_rule_example(world))


async def _get_rule_example(world: World) -> Message:
    rule, _ = await _existing_rule(world)
    return GetAllocationRule(rule_id=rule.id)


async def _manual_example(world: World) -> Message:
    pool, principal = await _pool_and_principal(world)
    return CreateManualAllocation(from_account_id=pool, to_account_id=principal, currency="HKD", amount="10.00",
                                  remarks="pre-fund")


async def _failed_allocation(world: World) -> AllocationDTO:
    # The matrix channel's simulated bank knows no accounts: the approved transfer fails.
    created = await world.engine.execute(world.maker, await _manual_example(world))
    checker = await login(world.engine, "checker")
    await world.engine.execute(checker, ApproveItem(approval_id=created.approval_id))
    return await world.engine.query(checker, GetAllocation(order_no=created.order_no))


async def _retry_example(world: World) -> Message:
    failed = await _failed_allocation(world)
    assert failed.status == "failed", failed
    return RetryAllocation(order_no=failed.order_no)


async def _get_allocation_example(world: World) -> Message:
    return GetAllocation(order_no=(await _failed_allocation(world)).order_no)


async def _balance_preview_example(world: World) -> Message:
    pool, principal = await _pool_and_principal(world)
    return BalancePreview(from_account_id=pool, to_account_id=principal, amount="5.00")


RULE_OPERATION = "atm.funds_alloc_config_operation"
RULE_INQUIRY = "atm.funds_alloc_config_inquiry"
ALLOCATION_OPERATION = "atm.company_fund_allocation_operation"
ALLOCATION_INQUIRY = "atm.company_fund_allocation_inquiry"

SETTLE_OPERATION = "atm.settle_chnl_bank_acct_operation"
SETTLE_INQUIRY = "atm.settle_chnl_bank_acct_inquiry"
POSITION_QUERY = "assets.position_anagement_inquiry_query"
POSITION_OPERATION = "assets.position_anagement_inquiry_operation"
WITHDRAWAL_OPERATION = "assets.withdrawal_application_operation"
WITHDRAWAL_INQUIRY = "assets.withdrawal_application_inquiry"
DEPOSIT_OPERATION = "assets.deposit_record_operation"
DEPOSIT_INQUIRY = "assets.deposit_record_inquiry"

OPERATOR_OPERATION = "admin.operator_operation"
OPERATOR_INQUIRY = "admin.operator_inquiry"
AUDIT_INQUIRY = "admin.audit_log_inquiry"
SUBSCRIPTION_OPERATION = "admin.message_subscription_operation"
SUBSCRIPTION_INQUIRY = "admin.message_subscription_inquiry"

EXAMPLES: dict[type, Case] = {
    # Maker-checker: the permission comes from the item's kind ("permission_request").
    ApproveItem: Case(APPROVAL_PERMISSION, _approve_example, "approval.approve", ApprovalDTO, via_kind=True),
    RejectItem: Case(APPROVAL_PERMISSION, _reject_example, "approval.reject", ApprovalDTO, via_kind=True),
    ListApprovals: Case(APPROVAL_PERMISSION, _const(ListApprovals(kind="permission_request")), None, tuple,
                        via_kind=True),
    GetApproval: Case(APPROVAL_PERMISSION, _get_approval_example, None, ApprovalDTO, via_kind=True),
    # Operators.
    CreateOperator: Case(OPERATOR_OPERATION, _const(CreateOperator(
        username="newcomer", display_name="New Comer", password=FRESH_PASSWORD,
    )), "operator.create", OperatorDTO),
    SetOperatorEnabled: Case(OPERATOR_OPERATION, _const(SetOperatorEnabled(username="viewer", enabled=False)),
                             "operator.disable", OperatorDTO),
    UnlockOperator: Case(OPERATOR_OPERATION, _const(UnlockOperator(username="viewer")), "operator.unlock", OperatorDTO),
    ResetOperatorPassword: Case(OPERATOR_OPERATION, _reset_example, "operator.reset_password", OperatorDTO),
    # Administration.
    # A gain of power is submitted for a second administrator (test_engine_four_eyes.py).
    SetOperatorRoles: Case(ADMINISTRATION, _const(SetOperatorRoles(username="viewer", roles=["viewer", "trader"])),
                           "approval.submit", OperatorDTO),
    RevokeDirectPermission: Case(ADMINISTRATION, _revoke_example, "operator.revoke_permission", OperatorDTO),
    CreateRole: Case(ADMINISTRATION, _const(CreateRole(name="desk", permissions=["fx.currency_pair_inquiry"])),
                     "role.create", RoleDTO),
    SetRolePermissions: Case(ADMINISTRATION, _const(SetRolePermissions(
        role="viewer", permissions=["RiskWarningReadOnly"],
    )), "role.set_permissions", RoleDTO),
    # Any active operator.
    RequestPermission: Case(None, _const(RequestPermission(
        permission_code="fx.reference_rate_operation", reason="covering the rate desk",
    )), "approval.submit", ApprovalDTO),
    MySubmissions: Case(None, _const(MySubmissions()), None, tuple),
    PermissionCatalog: Case(None, _const(PermissionCatalog()), None, tuple),
    ListCurrencies: Case(None, _const(ListCurrencies()), None, tuple),
    # Queries with a permission of their own.
    ListOperators: Case(OPERATOR_INQUIRY, _const(ListOperators()), None, tuple),
    ListRoles: Case(OPERATOR_INQUIRY, _const(ListRoles()), None, tuple),
    QueryAuditLog: Case(AUDIT_INQUIRY, _const(QueryAuditLog(page_size=10)), None, AuditPage),
    VerifyAuditLog: Case(AUDIT_INQUIRY, _const(VerifyAuditLog()), None, AuditVerifyDTO),
    # Message subscriptions and deliveries.
    CreateSubscription: Case(SUBSCRIPTION_OPERATION, _const(CreateSubscription(
        topic="position.alert", channel="inbox", role="checker",
    )), "subscription.create", SubscriptionDTO),
    DeleteSubscription: Case(SUBSCRIPTION_OPERATION, _delete_subscription_example, "subscription.delete",
                             SubscriptionDTO),
    SetSubscriptionEnabled: Case(SUBSCRIPTION_OPERATION, _disable_subscription_example, "subscription.disable",
                                 SubscriptionDTO),
    RetryDelivery: Case(SUBSCRIPTION_OPERATION, _retry_delivery_example, "delivery.retry", DeliveryDTO),
    ListSubscriptions: Case(SUBSCRIPTION_INQUIRY, _const(ListSubscriptions()), None, tuple),
    ListDeliveries: Case(SUBSCRIPTION_INQUIRY, _const(ListDeliveries(status="FAILED")), None, tuple),
    ListNotifications: Case(SUBSCRIPTION_INQUIRY, _const(ListNotifications()), None, tuple),
    # The inbox: every operator their own.
    ListInbox: Case(None, _const(ListInbox()), None, tuple),
    UnreadCount: Case(None, _const(UnreadCount()), None, int),
    # The header's review count: every operator their own.
    AwaitingMyReview: Case(None, _const(AwaitingMyReview()), None, int),
    MarkInboxRead: Case(None, _mark_read_example, "inbox.mark_read", int),
    # Position management.
    RegisterSettlementChannel: Case(SETTLE_OPERATION, _const(RegisterSettlementChannel(
        code=MATRIX_CHANNEL, name="Matrix channel", gateway={"kind": "simulated", "store": "matrix-bank.sqlite"},
    )), "settlement_channel.register", ChannelDTO),
    CreateChannelAccount: Case(SETTLE_OPERATION, _create_account_example, "channel_account.create", ChannelAccountDTO),
    UpdateChannelAccount: Case(SETTLE_OPERATION, _update_account_example, "channel_account.update", ChannelAccountDTO),
    ListSettlementChannels: Case(SETTLE_INQUIRY, _const(ListSettlementChannels()), None, tuple),
    ListChannelAccounts: Case(SETTLE_INQUIRY, _const(ListChannelAccounts()), None, tuple),
    ChannelAccountUsage: Case(SETTLE_INQUIRY, _usage_example, None, ChannelAccountUsageDTO),
    ListPositions: Case(POSITION_QUERY, _const(ListPositions()), None, PositionPage),
    SetThresholds: Case(POSITION_OPERATION, _thresholds_example, "position.thresholds", PositionDTO),
    RefreshPositions: Case(POSITION_OPERATION, _const(RefreshPositions()), "position.refresh", str),
    SubmitWithdrawal: Case(WITHDRAWAL_OPERATION, _submit_withdrawal_example, "withdrawal.submit", WithdrawalDTO),
    MarkWithdrawalFailed: Case(WITHDRAWAL_OPERATION, _fail_withdrawal_example, "withdrawal.fail", WithdrawalDTO),
    MarkWithdrawalSuccessful: Case(WITHDRAWAL_OPERATION, _succeed_withdrawal_example, "withdrawal.succeed",
                                   WithdrawalDTO),
    ListWithdrawals: Case(WITHDRAWAL_INQUIRY, _const(ListWithdrawals()), None, tuple),
    RecordDeposit: Case(DEPOSIT_OPERATION, _record_deposit_example, "deposit.record", DepositDTO),
    MarkDepositSuccessful: Case(DEPOSIT_OPERATION, _deposit_success_example, "deposit.success", DepositDTO),
    ListDeposits: Case(DEPOSIT_INQUIRY, _const(ListDeposits()), None, tuple),
    # Fund allocation.
    CreateAllocationRule: Case(RULE_OPERATION, _create_rule_example, "allocation_rule.create", RuleDTO),
    EditAllocationRule: Case(RULE_OPERATION, _edit_rule_example, "allocation_rule.edit", RuleDTO),
    PreviewRuleEdit: Case(RULE_INQUIRY, _preview_edit_example, None, RuleEditPreviewDTO),
    ListAllocationRules: Case(RULE_INQUIRY, _const(ListAllocationRules()), None, tuple),
    GetAllocationRule: Case(RULE_INQUIRY, _get_rule_example, None, RuleDTO),
    PreviewSchedule: Case(RULE_INQUIRY, _const(PreviewSchedule(schedule_kind="daily", schedule_time="09:00")),
                          None, tuple),
    CreateManualAllocation: Case(ALLOCATION_OPERATION, _manual_example, "allocation.create", AllocationDTO),
    RetryAllocation: Case(ALLOCATION_OPERATION, _retry_example, "allocation.processing", AllocationDTO,
                          system_follow_up=True),
    BalancePreview: Case(ALLOCATION_INQUIRY, _balance_preview_example, None, BalancePreviewDTO),
    ListAllocations: Case(ALLOCATION_INQUIRY, _const(ListAllocations()), None, AllocationPage),
    ExportAllocations: Case(ALLOCATION_INQUIRY, _const(ExportAllocations()), None, str),
    GetAllocation: Case(ALLOCATION_INQUIRY, _get_allocation_example, None, AllocationDTO),
    ExplainTriggers: Case(ALLOCATION_INQUIRY, _const(ExplainTriggers()), None, tuple),
}

EXAMPLES.update({cls: Case(permission, example, audit, result, system_follow_up=cls in FX_FOLLOW_UPS)
                 for cls, permission, example, audit, result in FX_ROWS})
EXAMPLES.update({cls: Case(permission, example, audit, result, system_follow_up=cls in MARGIN_FOLLOW_UPS)
                 for cls, permission, example, audit, result in MARGIN_ROWS})

ALL_NAMES = sorted(cls.__name__ for cls in EXAMPLES)
GUARDED_NAMES = sorted(cls.__name__ for cls, case in EXAMPLES.items() if case.permission is not None)
BY_NAME = {cls.__name__: (cls, case) for cls, case in EXAMPLES.items()}


async def _run(engine: Engine, session: SessionInfo, message: Message) -> Any:
    if isinstance(message, Command):
        return await engine.execute(session, message)
    return await engine.query(session, message)


@pytest.fixture
async def world(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    # The matrix channel's simulated bank is a relative file: keep it out of the checkout.
    monkeypatch.chdir(tmp_path)
    return World(engine, await login(engine, "admin"), await login(engine, "maker"), await login(engine, "viewer"))


def test_matrix_covers_exactly_the_registry() -> None:
    registered = set(COMMAND_HANDLERS) | set(QUERY_HANDLERS)
    assert set(EXAMPLES) == registered, {
        "missing from the matrix": sorted(c.__name__ for c in registered - set(EXAMPLES)),
        "not registered": sorted(c.__name__ for c in set(EXAMPLES) - registered),
    }


def test_matrix_agrees_with_the_declared_permissions() -> None:
    for cls, case in EXAMPLES.items():
        if case.via_kind:
            assert cls.permission is None, cls
        else:
            assert cls.permission == case.permission, cls
        assert (case.audit_action is not None) == issubclass(cls, Command), cls
        if case.permission is not None:
            assert case.permission in ALL_PERMISSIONS, case.permission


@pytest.mark.parametrize("name", GUARDED_NAMES)
async def test_refused_without_its_permission(world: World, name: str) -> None:
    """An operator holding every permission but this one is refused, and nothing changes."""
    cls, case = BY_NAME[name]
    engine = world.engine
    assert case.permission is not None
    # Every permission but this one and those that include it (RiskWarningFull includes
    # RiskWarningReadOnly).
    held = [p for p in ALL_PERMISSIONS if p != case.permission and case.permission not in IMPLIES.get(p, ())]
    probe = await new_operator(engine, world.admin, "probe", held)
    message = await case.example(world)
    assert isinstance(message, cls)
    before = await snapshot(engine)
    with pytest.raises(PermissionDenied) as caught:
        await _run(engine, probe, message)
    assert caught.value.permission == case.permission
    assert case.permission in str(caught.value)
    assert await snapshot(engine) == before, "a refused command changed the database"


@pytest.mark.parametrize("name", ALL_NAMES)
async def test_allowed_with_exactly_its_permission(world: World, name: str) -> None:
    """An operator holding only this permission (none at all, where none is needed) is
    allowed; the command is audited under the probe's name, a query writes nothing."""
    cls, case = BY_NAME[name]
    engine = world.engine
    probe = await new_operator(engine, world.admin, "probe", [case.permission] if case.permission else [])
    assert probe.permissions == with_implied(frozenset([case.permission] if case.permission else []))
    message = await case.example(world)
    head_before, _ = await audit_head_row(engine)
    before = await snapshot(engine)

    result = await _run(engine, probe, message)

    assert isinstance(result, case.result_type), type(result)
    if case.audit_action is None:
        assert await snapshot(engine) == before, "a query changed the database"
        return
    async with engine.db.connect() as conn:
        written = (await conn.execute(
            select(audit_log.c.action, audit_log.c.operator).where(audit_log.c.seq > head_before)
        )).all()
    assert case.audit_action in [action for action, _ in written]
    allowed = {"probe", "allocation-engine", "fx-exchange-engine", *MARGIN_ACTORS} if case.system_follow_up \
        else {"probe"}
    assert {operator for _, operator in written} <= allowed and "probe" in {operator for _, operator in written}


@pytest.mark.parametrize("name", ALL_NAMES)
async def test_refused_for_a_disabled_operator(world: World, name: str) -> None:
    """Disabling an operator ends their session's authority at once, for every command and
    query, even with every permission held."""
    cls, case = BY_NAME[name]
    engine = world.engine
    probe = await new_operator(engine, world.admin, "probe", ALL_PERMISSIONS)
    message = await case.example(world)
    await engine.execute(world.admin, SetOperatorEnabled(username="probe", enabled=False))
    before = await snapshot(engine)
    with pytest.raises(NotAuthenticated, match="disabled"):
        await _run(engine, probe, message)
    assert await snapshot(engine) == before


# --- the engine trusts the database, not the session snapshot -------------------------------


async def test_a_revoked_permission_is_refused_even_on_an_old_session(world: World) -> None:
    engine = world.engine
    deputy = await new_operator(engine, world.admin, "deputy", roles=["administrator"])
    old_admin_session = world.admin
    await engine.execute(deputy, SetOperatorRoles(username="admin", roles=[]))  # a removal applies at once
    assert old_admin_session.can(OPERATOR_INQUIRY)  # the stale snapshot still says yes
    with pytest.raises(PermissionDenied):
        await engine.query(old_admin_session, ListOperators())


async def test_a_forged_session_gains_nothing(world: World) -> None:
    forged = world.viewer.model_copy(update={"permissions": frozenset(ALL_PERMISSIONS)})
    before = await snapshot(world.engine)
    with pytest.raises(PermissionDenied):
        await world.engine.execute(forged, CreateRole(name="mine", permissions=list(ALL_PERMISSIONS)))
    assert await snapshot(world.engine) == before


async def test_a_grant_works_before_the_session_is_refreshed(world: World) -> None:
    engine = world.engine
    item = await engine.execute(world.maker, RequestPermission(permission_code=OPERATOR_INQUIRY, reason="shift"))
    await engine.execute(world.admin, ApproveItem(approval_id=item.id))
    assert not world.maker.can(OPERATOR_INQUIRY)
    assert len(await engine.query(world.maker, ListOperators())) == 6
