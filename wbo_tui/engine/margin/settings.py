"""The margin desk's configuration (the WBO backend's part of margin-call.txt): the batch
liquidation toggle, the liquidation rules, the warning-value switches, the deadline and
when a price is stale; and, per client, the terms of the margin-to-be-collected formula
and the exemption from margin calls.

All of it sits under the vendor's ``lb_hk_margin_call.margin_call_auto_batch_forccconfig``
(its spelling).  The desk's settings are one versioned row; until someone saves them the
defaults below apply, batch liquidation off: a new installation liquidates nothing in
bulk until the desk says so.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import insert, select, update

from ..commands import Command, Query, RequiredText, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..fx.tables import clients
from ..money import DecimalAmount
from ..uow import UnitOfWork
from ..whole_numbers import Id, WholeNumber
from .formulas import WarningRule
from .plan import ORDER_RULES, PlanRule
from .tables import margin_settings, margin_terms

CONFIG = "lb_hk_margin_call.margin_call_auto_batch_forccconfig"
READ = "RiskWarningReadOnly"
ORDER_RULE_LABELS = {"LARGEST_LOSS": "Largest unrealised loss first", "LARGEST_VALUE": "Largest market value first",
                     "HIGHEST_MARGIN": "Highest margin requirement first"}
MAX_BUFFER = Decimal("100")
MAX_TERM = Decimal("1000000000000")  # HKD 1 trillion: far above any one client's figures
DEFAULT_PRICE_SOURCE: dict[str, Any] = {"kind": "simulator", "seed": 7, "step_s": 5}


class MarginSettingsDTO(DTO):
    liquidation_enabled: bool
    order_rule: str
    offset_steps: int
    buffer_pct: Decimal
    cal_margin_owed: bool
    cal_interest: bool
    cal_trading_limit: bool
    cal_over_finance: bool
    expire_trading_limit: bool
    deadline_days: int
    stale_price_s: int
    suspended_days: int
    price_source: dict[str, Any]
    venue: dict[str, Any]
    version: int
    """0 until the desk first saves its settings (the defaults apply)."""

    @property
    def warning_rule(self) -> WarningRule:
        return WarningRule(margin_owed=self.cal_margin_owed, interest=self.cal_interest,
                           trading_limit=self.cal_trading_limit, over_financing=self.cal_over_finance)

    @property
    def plan_rule(self) -> PlanRule:
        return PlanRule(order=self.order_rule, offset_steps=self.offset_steps, buffer_pct=self.buffer_pct)


DEFAULTS = MarginSettingsDTO(
    liquidation_enabled=False, order_rule="LARGEST_LOSS", offset_steps=1, buffer_pct=Decimal("5"),
    cal_margin_owed=True, cal_interest=True, cal_trading_limit=True, cal_over_finance=True,
    expire_trading_limit=True, deadline_days=3, stale_price_s=60, suspended_days=5,
    price_source=DEFAULT_PRICE_SOURCE, venue={"kind": "simulator"}, version=0)


class GetMarginSettings(Query):
    permission = READ
    action = "view margin call settings"


class UpdateMarginSettings(Command):
    """Save the desk's settings, only if nobody saved them since ``expected_version``."""

    permission = CONFIG
    action = "configure margin call"
    liquidation_enabled: bool
    order_rule: str
    offset_steps: Annotated[int, WholeNumber(0, 20)]
    buffer_pct: DecimalAmount
    cal_margin_owed: bool = True
    cal_interest: bool = True
    cal_trading_limit: bool = True
    cal_over_finance: bool = True
    expire_trading_limit: bool = True
    deadline_days: Annotated[int, WholeNumber(1, 30)] = 3
    stale_price_s: Annotated[int, WholeNumber(5, 86400)] = 60
    suspended_days: Annotated[int, WholeNumber(0, 365)] = 5
    expected_version: Annotated[int, WholeNumber(0)]


class ClientTermsDTO(DTO):
    client_id: int
    account_no: str
    name: str
    accrued_interest: Decimal
    outstanding_deposit: Decimal
    trading_limit: Decimal
    trading_limit_expired: bool
    financing_limit: Decimal | None
    additional_margin: Decimal
    exempt: bool
    exempt_reason: str
    version: int


class GetClientTerms(Query):
    permission = READ
    action = "view a client's margin terms"
    client_id: Id


class SetClientTerms(Command):
    """A client's additional margin, exemption and formula terms (HKD)."""

    permission = CONFIG
    action = "set a client's margin terms"
    client_id: Id
    accrued_interest: DecimalAmount = Decimal(0)
    outstanding_deposit: DecimalAmount = Decimal(0)
    trading_limit: DecimalAmount = Decimal(0)
    financing_limit: DecimalAmount | None = None
    additional_margin: DecimalAmount = Decimal(0)
    exempt: bool = False
    exempt_reason: Annotated[str, Field(max_length=200)] = ""
    expected_version: Annotated[int, WholeNumber(0)]


class RenewTradingLimit(Command):
    """Give a client whose trading limit expired with a margin call a limit again."""

    permission = CONFIG
    action = "renew a client's trading limit"
    client_id: Id
    trading_limit: DecimalAmount
    reason: Annotated[str, RequiredText(" when renewing a trading limit"), Field(max_length=200)]


class ConfigureMarginFeeds(Command):
    """The price gateway and the liquidation venue the margin engine uses."""

    permission = CONFIG
    action = "configure the price feed and the liquidation venue"
    price_source: dict[str, Any]
    venue: dict[str, Any]


def _check_feeds(cmd: ConfigureMarginFeeds) -> None:
    from .prices import PriceGatewayConfigError, check_price_gateway_config
    from .venue import check_venue_config

    source = cmd.price_source
    if source.get("kind") == "simulator" and "anchors" not in source:
        # The simulated market opens at each instrument's reference price (the margin engine
        # adds them when it builds the feed): only the feed's own settings are checked here.
        source = {**source, "anchors": {"700.HK": "1.00"}}
    try:
        check_price_gateway_config(source)
    except (PriceGatewayConfigError, ValueError) as error:
        raise ValidationFailed("Price source", str(error)) from None
    try:
        check_venue_config(cmd.venue)
    except ValueError as error:
        raise ValidationFailed("Venue", str(error)) from None


def _settings_dto(row: Any) -> MarginSettingsDTO:  # noqa: ANN401
    return MarginSettingsDTO(
        liquidation_enabled=row.liquidation_enabled, order_rule=row.order_rule, offset_steps=row.offset_steps,
        buffer_pct=row.buffer_pct, cal_margin_owed=row.cal_margin_owed, cal_interest=row.cal_interest,
        cal_trading_limit=row.cal_trading_limit, cal_over_finance=row.cal_over_finance,
        expire_trading_limit=row.expire_trading_limit, deadline_days=row.deadline_days,
        stale_price_s=row.stale_price_s, suspended_days=row.suspended_days,
        price_source=json.loads(row.price_source), venue=json.loads(row.venue), version=row.version)


async def load_settings(uow: UnitOfWork) -> MarginSettingsDTO:
    row = (await uow.conn.execute(select(margin_settings).where(margin_settings.c.id == 1))).first()
    return DEFAULTS if row is None else _settings_dto(row)


@handles(GetMarginSettings)
async def get_margin_settings(uow: UnitOfWork, q: GetMarginSettings) -> MarginSettingsDTO:
    return await load_settings(uow)


@handles(ConfigureMarginFeeds)
async def configure_margin_feeds(uow: UnitOfWork, cmd: ConfigureMarginFeeds) -> MarginSettingsDTO:
    _check_feeds(cmd)
    before = await load_settings(uow)
    if before.version == 0:
        values = before.model_dump(exclude={"version", "price_source", "venue"})
        await uow.conn.execute(insert(margin_settings).values(
            id=1, **values, price_source=json.dumps(cmd.price_source), venue=json.dumps(cmd.venue), version=1,
            updated_at=uow.now))
    else:
        await uow.conn.execute(update(margin_settings).where(margin_settings.c.id == 1).values(
            price_source=json.dumps(cmd.price_source), venue=json.dumps(cmd.venue),
            version=margin_settings.c.version + 1, updated_at=uow.now))
    uow.record("margin.feeds.configure", "margin_settings", 1,
               {"price_source": before.price_source, "venue": before.venue},
               {"price_source": cmd.price_source, "venue": cmd.venue})
    return await load_settings(uow)


def _check_money(value: Decimal | None, field: str) -> None:
    if value is None:
        return
    if value < 0:
        raise ValidationFailed(field, "must be 0 or more")
    if value > MAX_TERM:
        raise ValidationFailed(field, f"must be at most {MAX_TERM:,}")
    if value != value.quantize(Decimal("0.01")):
        raise ValidationFailed(field, "allows at most 2 decimal places (HKD)")


@handles(UpdateMarginSettings)
async def update_margin_settings(uow: UnitOfWork, cmd: UpdateMarginSettings) -> MarginSettingsDTO:
    if cmd.order_rule not in ORDER_RULES:
        raise ValidationFailed("Order rule", f"must be one of {', '.join(ORDER_RULES)}")
    if not Decimal(0) <= cmd.buffer_pct <= MAX_BUFFER or cmd.buffer_pct != cmd.buffer_pct.quantize(Decimal("0.01")):
        raise ValidationFailed("Buffer", "must be a percentage from 0 to 100 with at most 2 decimal places")
    before = await load_settings(uow)
    if before.version != cmd.expected_version:
        raise Conflict("The margin call settings were saved by someone else since you opened them. "
                       "Reload them and edit again.")
    values = cmd.model_dump(exclude={"expected_version"})
    if before.version == 0:
        await uow.conn.execute(insert(margin_settings).values(
            id=1, **values, price_source=json.dumps(before.price_source), venue=json.dumps(before.venue),
            version=1, updated_at=uow.now))
    else:
        await uow.conn.execute(update(margin_settings).where(margin_settings.c.id == 1).values(
            **values, version=margin_settings.c.version + 1, updated_at=uow.now))
    changed = {k: v for k, v in values.items() if getattr(before, k) != v}
    uow.record("margin.settings.update", "margin_settings", 1,
               {k: getattr(before, k) for k in changed}, changed)
    return await load_settings(uow)


def _terms_dto(client: Any, row: Any | None) -> ClientTermsDTO:  # noqa: ANN401
    zero = Decimal(0)
    if row is None:
        return ClientTermsDTO(client_id=client.id, account_no=client.account_no, name=client.name,
                              accrued_interest=zero, outstanding_deposit=zero, trading_limit=zero,
                              trading_limit_expired=False, financing_limit=None, additional_margin=zero,
                              exempt=False, exempt_reason="", version=0)
    return ClientTermsDTO(
        client_id=client.id, account_no=client.account_no, name=client.name, accrued_interest=row.accrued_interest,
        outstanding_deposit=row.outstanding_deposit, trading_limit=row.trading_limit,
        trading_limit_expired=row.trading_limit_expired_at is not None, financing_limit=row.financing_limit,
        additional_margin=row.additional_margin, exempt=row.exempt, exempt_reason=row.exempt_reason,
        version=row.version)


async def load_terms(uow: UnitOfWork, client_id: int) -> ClientTermsDTO:
    client = (await uow.conn.execute(select(clients).where(clients.c.id == client_id))).first()
    if client is None:
        raise NotFound(f"There is no client {client_id}.")
    row = (await uow.conn.execute(select(margin_terms).where(margin_terms.c.client_id == client_id))).first()
    return _terms_dto(client, row)


@handles(GetClientTerms)
async def get_client_terms(uow: UnitOfWork, q: GetClientTerms) -> ClientTermsDTO:
    return await load_terms(uow, q.client_id)


@handles(SetClientTerms)
async def set_client_terms(uow: UnitOfWork, cmd: SetClientTerms) -> ClientTermsDTO:
    for field, label in (("accrued_interest", "Accrued interest"), ("outstanding_deposit", "Outstanding deposit"),
                         ("trading_limit", "Trading limit"), ("financing_limit", "Financing limit"),
                         ("additional_margin", "Additional margin")):
        _check_money(getattr(cmd, field), label)
    if cmd.exempt and not cmd.exempt_reason.strip():
        raise ValidationFailed("Exemption reason", "is required when exempting a client from margin calls")
    before = await load_terms(uow, cmd.client_id)
    if before.version != cmd.expected_version:
        raise Conflict(f"Client {before.account_no}'s margin terms were changed by someone else since you "
                       "opened them. Reload them and edit again.")
    values = cmd.model_dump(exclude={"expected_version", "client_id"})
    if before.version == 0:
        await uow.conn.execute(insert(margin_terms).values(client_id=cmd.client_id, **values, version=1,
                                                           updated_at=uow.now))
    else:
        await uow.conn.execute(update(margin_terms).where(margin_terms.c.client_id == cmd.client_id).values(
            **values, version=margin_terms.c.version + 1, updated_at=uow.now))
    uow.record("margin.terms.set", "client", cmd.client_id,
               before.model_dump(exclude={"client_id", "account_no", "name", "version"}), values)
    return await load_terms(uow, cmd.client_id)


@handles(RenewTradingLimit)
async def renew_trading_limit(uow: UnitOfWork, cmd: RenewTradingLimit) -> ClientTermsDTO:
    _check_money(cmd.trading_limit, "Trading limit")
    before = await load_terms(uow, cmd.client_id)
    if before.version == 0:
        raise NotFound(f"Client {before.account_no} has no margin terms to renew: set them first.")
    await uow.conn.execute(update(margin_terms).where(margin_terms.c.client_id == cmd.client_id).values(
        trading_limit=cmd.trading_limit, trading_limit_expired_at=None, version=margin_terms.c.version + 1,
        updated_at=uow.now))
    uow.record("margin.terms.renew_trading_limit", "client", cmd.client_id,
               {"trading_limit": before.trading_limit, "expired": before.trading_limit_expired},
               {"trading_limit": cmd.trading_limit, "reason": cmd.reason})
    return await load_terms(uow, cmd.client_id)
