"""Currency exchange, the foundation: currency setup, currency pairs, clients and their
cash as a ledger with holds, and the vendor's permission identifiers."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from engine_support import audit_actions, execute_raw, login, new_operator, scalar

from wbo_tui.engine import Engine
from wbo_tui.engine.errors import Conflict, PermissionDenied, ValidationFailed
from wbo_tui.engine.fx import (
    AddCurrencyPairs,
    ClientCash,
    DeleteCurrencyPair,
    ImportClients,
    ListClients,
    ListCurrencyPairs,
    ListCurrencySetup,
    SetDefaultPair,
    UpdateCurrencySetup,
    reference_rate,
    rounded,
)
from wbo_tui.engine.fx import ledger
from wbo_tui.engine.fx import pairs as pairs_module
from wbo_tui.engine.permissions import BY_CODE
from wbo_tui.engine.uow import Actor, write_unit

SETUP = ("fx.currency_setup_inquiry", "atm.update_current_config")
PAIRS = ("fx.currency_pair_inquiry", "lb_hk_conversion.support_currency_update")
CLIENTS = ("fx.client_inquiry", "fx.client_operation")


def test_the_manuals_reference_rate_example() -> None:
    # USD → CNH: the buy price of USD over the sell price of CNH, to 4 places.
    assert reference_rate(Decimal("7.8147"), Decimal("1.095"), 4, "round") == Decimal("7.1367")
    assert reference_rate(Decimal("7.8147"), Decimal("1.095"), 4, "truncate") == Decimal("7.1367")
    # 7.13671232...: the fifth place decides between the two modes at 5 places.
    assert reference_rate(Decimal("7.8147"), Decimal("1.095"), 6, "round") == Decimal("7.136712")
    assert rounded(Decimal("1.005"), 2, "round") == Decimal("1.01")
    assert rounded(Decimal("1.009"), 2, "truncate") == Decimal("1.00")
    with pytest.raises(ValueError, match="greater than 0"):
        reference_rate(Decimal("7.8"), Decimal("0"), 4, "round")


def test_the_vendors_identifiers_are_in_the_catalog_and_the_renamed_ones_are_gone() -> None:
    migration = importlib.import_module("wbo_tui.engine.migrations.versions.0012_fx_foundation")
    for old, new in migration.RENAMED.items():
        assert new in BY_CODE and old not in BY_CODE
    for kept, added in migration.ADDED.items():
        assert all(code in BY_CODE for code in added)
        assert kept in BY_CODE or kept in migration.RENAMED


async def _setup(engine: Engine, who, code: str, **changes) -> object:  # noqa: ANN001
    current = {s.currency: s for s in await engine.query(who, ListCurrencySetup())}[code]
    fields = dict(currency=code, support_exchange=current.support_exchange,
                  exchange_rate_precision=current.exchange_rate_precision, amount_precision=current.amount_precision,
                  amount_round_mode=current.amount_round_mode, min_exchange_amount=str(current.min_exchange_amount),
                  standard_money=current.standard_money, remarks=current.remarks, expected_version=current.version)
    fields.update(changes)
    return await engine.execute(who, UpdateCurrencySetup(**fields))


async def test_currency_setup_is_saved_checked_and_audited(engine: Engine) -> None:
    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxsetup", SETUP)
    saved = await _setup(engine, fx, "USD", support_exchange=True, exchange_rate_precision=4,
                         min_exchange_amount="3.00", standard_money=False)
    assert (saved.support_exchange, saved.configured, saved.version, saved.min_exchange_amount) == (
        True, True, 1, Decimal("3.00"))
    hkd = await _setup(engine, fx, "HKD", support_exchange=True, standard_money=True)
    assert hkd.standard_money
    with pytest.raises(ValidationFailed, match="Standard currency HKD is the standard currency"):
        await _setup(engine, fx, "USD", standard_money=True)
    with pytest.raises(ValidationFailed, match="Minimum exchange amount has more than 0 decimal places"):
        await _setup(engine, fx, "USD", amount_precision=0, min_exchange_amount="3.50")
    with pytest.raises(ValidationFailed, match="Amount precision must be a whole number from 0 to 2"):
        await _setup(engine, fx, "USD", amount_precision=3)
    with pytest.raises(ValidationFailed, match="Amount round mode"):
        await _setup(engine, fx, "USD", amount_round_mode="banker")
    # An edit made on a stale version is refused, never overwritten.
    await _setup(engine, fx, "USD", remarks="first")
    with pytest.raises(Conflict, match="changed by someone else"):
        await _setup(engine, fx, "USD", remarks="second", expected_version=1)
    assert "fx.currency_setup.update" in await audit_actions(engine)
    # Viewing needs the inquiry permission only; editing the vendor's identifier.
    viewer = await new_operator(engine, admin, "fxview", ("fx.currency_setup_inquiry",))
    assert await engine.query(viewer, ListCurrencySetup())
    with pytest.raises(PermissionDenied):
        await _setup(engine, viewer, "USD", remarks="mine")


async def test_currency_pairs_as_cards_with_one_default_target(engine: Engine) -> None:
    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxpairs", PAIRS)
    card = await engine.execute(fx, AddCurrencyPairs(from_currency="usd", to_currencies=("HKD", "CNH", "HKD")))
    assert [t.to_currency for t in card.targets] == ["CNH", "HKD"] and card.default_target == "HKD"
    with pytest.raises(ValidationFailed, match="USD → HKD already exists"):
        await engine.execute(fx, AddCurrencyPairs(from_currency="USD", to_currencies=("HKD",)))
    with pytest.raises(ValidationFailed, match="can't be the source currency USD"):
        await engine.execute(fx, AddCurrencyPairs(from_currency="USD", to_currencies=("USD",)))
    with pytest.raises(ValidationFailed, match="'XYZ' is not a configured currency"):
        await engine.execute(fx, AddCurrencyPairs(from_currency="USD", to_currencies=("XYZ",)))
    cnh = next(t for t in card.targets if t.to_currency == "CNH")
    card = await engine.execute(fx, SetDefaultPair(pair_id=cnh.id))
    assert card.default_target == "CNH"
    assert await scalar(engine, "SELECT count(*) FROM fx_currency_pairs WHERE default_currency") == 1
    # Deleting the default target makes the remaining one the default.
    card = await engine.execute(fx, DeleteCurrencyPair(pair_id=cnh.id))
    assert card is not None and card.default_target == "HKD"
    cards = await engine.query(fx, ListCurrencyPairs())
    assert [(c.from_currency, [t.to_currency for t in c.targets]) for c in cards] == [("USD", ["HKD"])]


async def test_a_pair_in_use_is_not_deleted_and_its_users_are_named(engine: Engine) -> None:
    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxpairs2", PAIRS)
    card = await engine.execute(fx, AddCurrencyPairs(from_currency="USD", to_currencies=("HKD",)))

    async def strategy_uses(uow, source: str, target: str) -> list[str]:  # noqa: ANN001
        return ["exchange strategy 7 (Exchange Pool)"] if (source, target) == ("USD", "HKD") else []

    pairs_module.pair_users.append(strategy_uses)
    try:
        with pytest.raises(Conflict, match=r"USD → HKD is in use and can't be deleted: exchange strategy 7"):
            await engine.execute(fx, DeleteCurrencyPair(pair_id=card.targets[0].id))
    finally:
        pairs_module.pair_users.remove(strategy_uses)
    assert await scalar(engine, "SELECT count(*) FROM fx_currency_pairs") == 1


IMPORT = """account_no,name,account_type,currency,opening_balance
C-10001,Chan Tai Man,cash,HKD,"100,000.00"
C-10001,Chan Tai Man,cash,USD,2500.50
M-20001,Wong Siu Ming,margin,HKD,0
"""


async def test_clients_import_all_or_nothing_naming_row_and_field(engine: Engine) -> None:
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "fxdesk", CLIENTS)
    bad = IMPORT + "M-20002,Lee,margin,USD,12.345\n"
    with pytest.raises(ValidationFailed, match="Row 5, opening_balance .*nothing was imported"):
        await engine.execute(desk, ImportClients(csv_text=bad))
    assert await scalar(engine, "SELECT count(*) FROM clients") == 0
    for text, message in (
        ("account_no,name\nA,B\n", "Header row must be"),
        (IMPORT.replace("margin,HKD", "premium,HKD"), "Row 4, account_type must be cash or margin"),
        (IMPORT.replace("cash,USD", "cash,XXX"), "Row 3, currency 'XXX' is not a configured currency"),
        (IMPORT + "C-10001,Chan Tai Man,cash,HKD,5\n", "Row 5, currency HKD appears twice for C-10001"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(desk, ImportClients(csv_text=text))
    result = await engine.execute(desk, ImportClients(csv_text=IMPORT))
    assert (result.clients, result.balances) == (2, 2)
    with pytest.raises(ValidationFailed, match="Row 2, account_no C-10001 is already a client"):
        await engine.execute(desk, ImportClients(csv_text=IMPORT))
    found = await engine.query(desk, ListClients(search="chan"))
    assert [c.account_no for c in found] == ["C-10001"]
    detail = await engine.query(desk, ClientCash(client_id=found[0].id))
    assert {(c.currency, c.balance, c.withdrawable) for c in detail.cash} == {
        ("HKD", Decimal("100000.00"), Decimal("100000.00")), ("USD", Decimal("2500.50"), Decimal("2500.50"))}


async def test_holds_reduce_withdrawable_and_settle_exactly_once(engine: Engine) -> None:
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "fxdesk2", CLIENTS)
    await engine.execute(desk, ImportClients(csv_text=IMPORT))
    client_id = (await engine.query(desk, ListClients(search="C-10001")))[0].id
    system = Actor.system("test")
    async with write_unit(engine.db, system, engine.services) as uow:
        await ledger.hold(uow, client_id, "USD", Decimal("1000.00"), purpose="exchange", ref="FX-1")
        await ledger.hold(uow, client_id, "USD", Decimal("1500.50"), purpose="exchange", ref="FX-2")
        with pytest.raises(ValidationFailed, match="exceeds the client's withdrawable USD balance of 0.00"):
            await ledger.hold(uow, client_id, "USD", Decimal("0.01"), purpose="exchange", ref="FX-3")
    detail = await engine.query(desk, ClientCash(client_id=client_id))
    usd = next(c for c in detail.cash if c.currency == "USD")
    assert (usd.balance, usd.held, usd.withdrawable) == (Decimal("2500.50"), Decimal("2500.50"), Decimal("0.00"))
    async with write_unit(engine.db, system, engine.services) as uow:
        assert await ledger.void_hold(uow, "exchange", "FX-1") == Decimal("1000.00")
        assert await ledger.post_hold(uow, "exchange", "FX-2", kind="exchange_out") == Decimal("1500.50")
    for settle in (ledger.void_hold, ledger.post_hold):
        for ref in ("FX-1", "FX-2"):
            with pytest.raises(Conflict, match="already"):
                async with write_unit(engine.db, system, engine.services) as uow:
                    if settle is ledger.post_hold:
                        await settle(uow, "exchange", ref, kind="exchange_out")
                    else:
                        await settle(uow, "exchange", ref)
    detail = await engine.query(desk, ClientCash(client_id=client_id))
    usd = next(c for c in detail.cash if c.currency == "USD")
    assert (usd.balance, usd.held, usd.withdrawable) == (Decimal("1000.00"), Decimal("0"), Decimal("1000.00"))
    # The balance is the sum of the movements, and each carries the balance after it.
    movements = await scalar(engine, "SELECT count(*) FROM client_cash_movements WHERE client_id = :c "
                                     "AND currency = 'USD'", c=client_id)
    assert movements == 2


async def test_the_migration_moves_grants_to_the_vendors_identifiers(engine: Engine, db_url: str) -> None:
    """A database granted the old codes (as 0011 left it) holds the vendor's after 0012."""
    migration = importlib.import_module("wbo_tui.engine.migrations.versions.0012_fx_foundation")
    role_id = await scalar(engine, "SELECT id FROM roles WHERE name = 'viewer'")
    await execute_raw(engine, "INSERT INTO role_permissions (role_id, permission) "
                              "VALUES (:r, 'fx.exchange_strategy_operation')", r=role_id)
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    async with engine.db.begin() as conn:
        def move(sync_conn) -> None:  # noqa: ANN001
            with Operations.context(MigrationContext.configure(sync_conn)):
                migration._move_grants()

        await conn.run_sync(move)
    granted = {r for r in (await _role_permissions(engine, role_id))}
    assert {"lb_hk_conversion.exchangeserve_update", "lb_hk_conversion.amount_config_update"} <= granted
    assert "fx.exchange_strategy_operation" not in granted


async def _role_permissions(engine: Engine, role_id: int) -> list[str]:
    from sqlalchemy import text

    async with engine.db.connect() as conn:
        return [r[0] for r in await conn.execute(text("SELECT permission FROM role_permissions WHERE role_id = :r"),
                                                 {"r": role_id})]


# --- service time, strategies, pool quotas, large-amount criteria ---------------------


def test_service_periods_parse_label_and_refuse_overlaps() -> None:
    from wbo_tui.engine.fx import service_time as st

    trading = st.period("hk_trade_day", "09:00:00-16:00:00")
    evening = st.period("week", "16:00-24:00", "1-5")
    weekend = st.period("week", "09:00-12:00", "6,7")
    assert [p.label() for p in (trading, evening, weekend)] == [
        "HK trading days 09:00–16:00", "Mon–Fri 16:00–24:00", "Sat,Sun 09:00–12:00"]
    assert evening.as_json() == {"time_zones": "week", "time_rule": "16:00:00-24:00:00", "week_interval": "1-5"}
    st.check_no_overlap((trading, evening, weekend))  # touching at 16:00 is not overlapping
    with pytest.raises(st.PeriodError, match="periods overlap: HK trading days 09:00–16:00 and Every day 15:00–17:00"):
        st.check_no_overlap((trading, st.period("calendar_day", "15:00-17:00")))
    for args, message in ((("week", "09:00-10:00", "0-5"), "must be numbers 1–7"),
                          (("hk_trade_day", "16:00-09:00"), "must end after it starts"),
                          (("hk_trade_day", "9am-5pm"), "is not a time of day"),
                          (("monthly", "09:00-10:00"), "must be one of")):
        with pytest.raises(st.PeriodError, match=message):
            st.period(*args)


def test_service_time_knows_when_it_serves_and_when_it_opens_next() -> None:
    from datetime import UTC, datetime

    from wbo_tui.engine.fx import service_time as st

    periods = (st.period("hk_trade_day", "09:00-16:00"),)
    # Friday 2026-11-27 15:59 HKT is in service; 16:00 is not; the next window is Monday.
    assert st.in_service(periods, datetime(2026, 11, 27, 7, 59, tzinfo=UTC))
    assert not st.in_service(periods, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    assert st.closed_reason(periods, datetime(2026, 11, 27, 8, 0, tzinfo=UTC)) == (
        "outside service hours; next window Monday 2026-11-30 09:00 HKT")
    # Christmas Day 2026 is a Friday and an HKEX holiday: the window after Thursday's is Monday's.
    assert st.next_opening(periods, datetime(2026, 12, 24, 9, 0, tzinfo=UTC)) == datetime(2026, 12, 28, 1, 0,
                                                                                           tzinfo=UTC)


STRATEGIES = ("lb_hk_conversion.exchangeserve_query", "lb_hk_conversion.exchangeserve_update", *PAIRS)


async def test_strategies_are_validated_and_never_clash(engine: Engine) -> None:
    from wbo_tui.engine.fx import CreateExchangeStrategy, PeriodInput, SetStrategyEnabled

    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxstrat", STRATEGIES)
    await engine.execute(fx, AddCurrencyPairs(from_currency="USD", to_currencies=("HKD", "CNH")))
    day = (PeriodInput(time_zones="hk_trade_day", time_rule="09:00-16:00"),)
    pool = await engine.execute(fx, CreateExchangeStrategy(
        service_strategy="BATCH", change_type=2, support_currency=("usd/hkd",), service_time=day,
        approval_start_amount="0.01"))
    assert (pool.enable_flag, pool.periods, pool.support_currency) == (True, ("HK trading days 09:00–16:00",),
                                                                       ("USD/HKD",))
    refusals = (
        (dict(service_strategy="BATCH", change_type=1), "Exchange type for Exchange Pool must be one of"),
        (dict(service_strategy="BATCH", change_type=0, channel_name="HSB"), "Channel applies to Bank Exchange only"),
        (dict(service_strategy="SINGLE", change_type=1), "Channel is required for Bank Exchange"),
        (dict(service_strategy="SINGLE", change_type=1, channel_name="HSB", support_currency=("USD/JPY",)),
         "USD/JPY is not in Currency Pairs"),
        (dict(service_strategy="SINGLE", change_type=1, channel_name="HSB", approval_start_amount="0.001"),
         "Approval starting point must be an amount of at least 0.01"),
    )
    for fields, message in refusals:
        command = dict(support_currency=("USD/HKD",), service_time=day) | fields
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(fx, CreateExchangeStrategy(**command))
    with pytest.raises(ValidationFailed, match="Service time periods overlap"):
        await engine.execute(fx, CreateExchangeStrategy(
            service_strategy="SINGLE", change_type=1, channel_name="HSB", support_currency=("USD/HKD",),
            service_time=(*day, PeriodInput(time_zones="week", time_rule="15:00-18:00", week_interval="1-5"))))
    # Another pool strategy for USD/HKD, small amounts, on weekdays at noon: it would clash.
    with pytest.raises(Conflict, match=r"Strategy \d+ \(Exchange Pool, Small Amount Exchange \(within exchange "
                                       r"pool\)\) already serves USD/HKD at HK trading days 09:00–16:00"):
        await engine.execute(fx, CreateExchangeStrategy(
            service_strategy="BATCH", change_type=2, support_currency=("ALL/ALL",),
            service_time=(PeriodInput(time_zones="calendar_day", time_rule="12:00-13:00"),)))
    # Disabled, the first no longer clashes; enabling it again is refused while the second serves.
    disabled = await engine.execute(fx, SetStrategyEnabled(strategy_id=pool.id, enable_flag=False,
                                                           expected_version=pool.version))
    second = await engine.execute(fx, CreateExchangeStrategy(
        service_strategy="BATCH", change_type=2, support_currency=("ALL/ALL",),
        service_time=(PeriodInput(time_zones="calendar_day", time_rule="12:00-13:00"),)))
    with pytest.raises(Conflict, match=f"Strategy {second.id} "):
        await engine.execute(fx, SetStrategyEnabled(strategy_id=pool.id, enable_flag=True,
                                                    expected_version=disabled.version))
    # A pair a strategy covers is not deleted.
    cards = await engine.query(fx, ListCurrencyPairs())
    usd_hkd = next(t for t in cards[0].targets if t.to_currency == "HKD")
    with pytest.raises(Conflict, match=f"exchange strategy {pool.id} \\(Exchange Pool\\)"):
        await engine.execute(fx, DeleteCurrencyPair(pair_id=usd_hkd.id))
    assert {"fx.strategy.create", "fx.strategy.disable"} <= set(await audit_actions(engine))


POOL = ("lb_hk_conversion.exchange_pool_query", "lb_hk_conversion.exchange_pool_config_update")


async def test_pool_quota_moves_are_ledgered_and_alert_once_per_crossing(engine: Engine) -> None:
    from wbo_tui.engine.fx import AddPoolQuota, AdjustPoolQuota, ListPoolQuotas, PoolLedger
    from wbo_tui.engine.fx import pool as pool_module

    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxpool", POOL)
    quota = await engine.execute(fx, AddPoolQuota(currency="hkd", remaining_amount="1000000.00",
                                                  alarm_amount="200000.00"))
    assert (quota.remaining_amount, quota.below_alarm) == (Decimal("1000000.00"), False)
    with pytest.raises(ValidationFailed, match="Remark is required for a quota adjustment"):
        await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="-1", remark=" ", expected_version=1))
    with pytest.raises(ValidationFailed, match="would take the remaining quota below 0"):
        await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="-1000000.01", remark="x",
                                                 expected_version=1))
    lowered = await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="-850000.00", remark="month end",
                                                       expected_version=1))
    assert (lowered.remaining_amount, lowered.below_alarm) == (Decimal("150000.00"), True)
    with pytest.raises(Conflict, match="moved since you opened it"):
        await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="1", remark="stale", expected_version=1))
    # Executed exchanges (automatic moves) below the alert amount do not alert again.
    system = Actor.system("test")
    async with write_unit(engine.db, system, engine.services) as uow:
        await pool_module.move(uow, "HKD", Decimal("-50000.00"), change_type="EXCHANGE_OUT", order_no="FX-9",
                               automatic=True)
        with pytest.raises(ValidationFailed, match="HKD quota is insufficient: 100000.00 remaining"):
            await pool_module.move(uow, "HKD", Decimal("-100000.01"), change_type="EXCHANGE_OUT",
                                   order_no="FX-10", automatic=True)
    alerts = await scalar(engine, "SELECT count(*) FROM notifications WHERE topic = 'fx.pool_alert'")
    assert alerts == 1
    raised = await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="500000.00", remark="top up",
                                                      expected_version=3))
    assert not raised.below_alarm
    await engine.execute(fx, AdjustPoolQuota(currency="HKD", amount="-500000.00", remark="again",
                                             expected_version=raised.version))
    assert await scalar(engine, "SELECT count(*) FROM notifications WHERE topic = 'fx.pool_alert'") == 2
    ledger_rows = await engine.query(fx, PoolLedger(currency="HKD"))
    assert [(m.change_type, m.before_occurred, m.occurred_amount, m.after_occurred, m.occurred_from)
            for m in reversed(ledger_rows)] == [
        ("INITIAL", 0, Decimal("1000000.00"), Decimal("1000000.00"), "MANUAL"),
        ("ADJUST_DOWN", Decimal("1000000.00"), Decimal("-850000.00"), Decimal("150000.00"), "MANUAL"),
        ("EXCHANGE_OUT", Decimal("150000.00"), Decimal("-50000.00"), Decimal("100000.00"), "AUTO"),
        ("ADJUST_UP", Decimal("100000.00"), Decimal("500000.00"), Decimal("600000.00"), "MANUAL"),
        ("ADJUST_DOWN", Decimal("600000.00"), Decimal("-500000.00"), Decimal("100000.00"), "MANUAL"),
    ]
    assert (await engine.query(fx, ListPoolQuotas()))[0].remaining_amount == Decimal("100000.00")


async def test_large_amount_criteria(engine: Engine) -> None:
    from wbo_tui.engine.fx import DeleteAmountConfig, ListAmountConfigs, SetAmountConfig

    admin = await login(engine, "admin")
    fx = await new_operator(engine, admin, "fxlarge", ("lb_hk_conversion.amount_config_query",
                                                       "lb_hk_conversion.amount_config_update"))
    saved = await engine.execute(fx, SetAmountConfig(currency="usd", amount="10000", expected_version=0))
    assert (saved.currency, saved.amount, saved.version) == ("USD", Decimal("10000.00"), 1)
    with pytest.raises(ValidationFailed, match="must be greater than 0"):
        await engine.execute(fx, SetAmountConfig(currency="USD", amount="0", expected_version=1))
    with pytest.raises(Conflict):
        await engine.execute(fx, SetAmountConfig(currency="USD", amount="20000", expected_version=0))
    changed = await engine.execute(fx, SetAmountConfig(currency="USD", amount="20000", expected_version=1))
    assert changed.amount == Decimal("20000.00")
    await engine.execute(fx, DeleteAmountConfig(currency="USD", expected_version=2))
    assert await engine.query(fx, ListAmountConfigs()) == ()
