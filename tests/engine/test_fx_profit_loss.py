"""Exchange profit and loss on the demo's FX set-up: a row per executed exchange, pool and
bank; totals per currency and Hong Kong day; the standard currency at the HKEX spot mid of
the day; filters; CSV and XLSX exports that read back as the list; the permission.  And
the exchange form's quote, which must agree with the submission it previews."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import REPO, execute_raw, login, new_operator

from wbo_tui.engine import Engine, FixedClock, PermissionDenied
from wbo_tui.engine.errors import ValidationFailed
from wbo_tui.engine.fx import (
    AddReferenceMarkup,
    ExchangePairs,
    ExportProfitLoss,
    ListClients,
    ListProfitLoss,
    ProfitLossTotals,
    QuoteClientExchange,
    SubmitClientExchange,
)
from wbo_tui.engine.fx.profit_loss import EXPORT_COLUMNS
from wbo_tui.engine.fx.seed_data import seed_fx

MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # the pool serves
MONDAY_1730_HKT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # the Hang Seng bank serves
TUESDAY_10_HKT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
DESK = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry",
        "fx.exchange_pnl_inquiry")


async def desk(engine: Engine, clock: FixedClock, tmp_path: Path):  # noqa: ANN201
    clock.set(MONDAY_10_HKT)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    # A 0.5 % markup on HKD → CNH, so that a pool exchange into CNH earns something.
    await engine.setup_execute(AddReferenceMarkup(channel_name="HKEX", from_currency="HKD", to_currency="CNH",
                                                  spread_mode="RATE", bp="0.5"), tool="test-setup")
    admin = await login(engine, "admin")
    return await new_operator(engine, admin, "fxpnl", DESK)


async def exchange(engine: Engine, who, account_no: str, source: str, target: str, amount: str):  # noqa: ANN001, ANN201
    client = (await engine.query(who, ListClients(search=account_no)))[0].id
    return await engine.execute(who, SubmitClientExchange(client_id=client, from_currency=source,
                                                          to_currency=target, amount=amount))


async def trade(engine: Engine, clock: FixedClock, who):  # noqa: ANN001, ANN201
    """Four exchanges on Monday (three on the pool, one at the bank) and one on Tuesday (a
    new day's session); their order numbers, and the Tuesday session."""
    made = {
        "cnh_hkd": await exchange(engine, who, "C-100002", "CNH", "HKD", "1234.56"),
        "usd_hkd": await exchange(engine, who, "C-100001", "USD", "HKD", "1000.01"),
        "hkd_cnh": await exchange(engine, who, "C-100002", "HKD", "CNH", "10000"),
    }
    clock.set(MONDAY_1730_HKT)
    made["bank"] = await exchange(engine, who, "C-100001", "USD", "HKD", "10000")
    await engine.after_commit_idle()
    clock.set(TUESDAY_10_HKT)
    who = await login(engine, "fxpnl")
    made["tuesday"] = await exchange(engine, who, "M-200002", "USD", "HKD", "100")
    return {k: e.forex_id for k, e in made.items()}, who


async def test_a_row_per_exchange_pool_and_bank_with_hkd(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    ids, who = await trade(engine, clock, who)
    rows = {r.forex_id: r for r in await engine.query(who, ListProfitLoss())}
    assert list(rows) == [ids[k] for k in ("tuesday", "bank", "hkd_cnh", "usd_hkd", "cnh_hkd")]  # newest first
    # Pool, CNH → HKD: reference 1.0890 less the 0.0020 markup = 1.0870; the client's 1,341.97
    # (1,341.96672 rounded half up) against 1,344.43584 at the reference rate.
    r = rows[ids["cnh_hkd"]]
    assert (r.served_by, r.channel_rate, r.user_rate) == ("Pool", Decimal("1.0890"), Decimal("1.0870"))
    assert (r.channel_amount, r.user_amount) == (Decimal("1344.43584"), Decimal("1341.97"))
    assert (r.profit_loss, r.order_offset) == (Decimal("2.46584"), Decimal("-0.00328"))
    assert r.rate_profit_loss == Decimal("2.46912")  # the markup alone: 1,234.56 × 0.0020
    assert (r.standard_rate, r.standard_profit_loss, r.day) == (Decimal(1), Decimal("2.47"), MONDAY)
    # Pool, USD → HKD without a markup: the rounding difference is all there is.
    r = rows[ids["usd_hkd"]]
    assert (r.profit_loss, r.order_offset, r.rate_profit_loss) == (Decimal("-0.001853"), Decimal("-0.001853"), 0)
    # Pool, HKD → CNH: 0.9132 × (1 − 0.5 %) = 0.9086; 46 CNH at the CNH mid 1.0920 = 50.23 HKD.
    r = rows[ids["hkd_cnh"]]
    assert (r.currency, r.user_amount, r.profit_loss) == ("CNH", Decimal("9086.00"), Decimal("46.0000"))
    assert (r.standard_rate, r.standard_profit_loss) == (Decimal("1.0920"), Decimal("50.23"))
    # Bank: the bank paid 78,120.00 at 7.8120, the client got 7.8120 less 0.05 % = 7.8080.
    r = rows[ids["bank"]]
    assert (r.served_by, r.client_ordid is not None, r.profit_loss, r.standard_profit_loss) == (
        "HSB", True, Decimal("40.00"), Decimal("40.00"))
    assert rows[ids["tuesday"]].day == TUESDAY


async def test_totals_per_currency_and_day(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    _, who = await trade(engine, clock, who)
    totals = await engine.query(who, ProfitLossTotals())
    by_day = {(t.day, t.currency): (t.count, t.profit_loss, t.order_offset, t.standard_profit_loss)
              for t in totals.days}
    assert by_day == {
        (MONDAY, "HKD"): (3, Decimal("2.46584") - Decimal("0.001853") + Decimal("40.00"),
                          Decimal("-0.00328") - Decimal("0.001853"), Decimal("2.47") + Decimal("40.00")),
        (MONDAY, "CNH"): (1, Decimal("46.0000"), Decimal("0.0000"), Decimal("50.23")),
        (TUESDAY, "HKD"): (1, Decimal("0.000000"), Decimal("0.000000"), Decimal("0.00")),
    }
    assert [(t.day, t.currency) for t in totals.days] == [(TUESDAY, "HKD"), (MONDAY, "CNH"), (MONDAY, "HKD")]
    assert {t.currency: t.count for t in totals.currencies} == {"CNH": 1, "HKD": 4}
    assert totals.standard_profit_loss == Decimal("92.70")
    assert (totals.standard_currency, totals.count) == ("HKD", 5)


async def test_filters_and_the_hong_kong_day(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    ids, who = await trade(engine, clock, who)

    async def listed(**filters: object) -> set[str]:
        return {r.forex_id for r in await engine.query(who, ListProfitLoss(**filters))}

    assert await listed(currency="cnh") == {ids["hkd_cnh"]}
    assert await listed(from_currency="USD", currency="HKD") == {ids["usd_hkd"], ids["bank"], ids["tuesday"]}
    assert await listed(account_no="c-100002") == {ids["cnh_hkd"], ids["hkd_cnh"]}
    assert await listed(channel="HSB") == {ids["bank"]}
    assert await listed(channel="POOL") == {ids["cnh_hkd"], ids["usd_hkd"], ids["hkd_cnh"], ids["tuesday"]}
    assert await listed(from_day=TUESDAY) == {ids["tuesday"]}
    assert len(await listed(to_day=MONDAY)) == 4
    # 16:30 UTC on Monday is 00:30 on Tuesday in Hong Kong: a Tuesday row.
    await execute_raw(engine, "UPDATE fx_profit_loss SET created_at = :t WHERE forex_id = :f",
                      t=datetime(2026, 11, 23, 16, 30), f=ids["bank"])
    assert await listed(from_day=TUESDAY, to_day=TUESDAY) == {ids["tuesday"], ids["bank"]}
    first = await engine.query(who, ListProfitLoss(limit=2))
    older = await engine.query(who, ListProfitLoss(limit=2, before_id=first[-1].id))
    assert len({r.forex_id for r in (*first, *older)}) == 4
    with pytest.raises(ValidationFailed, match="To day"):
        await engine.query(who, ListProfitLoss(from_day=TUESDAY, to_day=MONDAY))


async def test_exports_read_back_as_the_list(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    who = await desk(engine, clock, tmp_path)
    _, who = await trade(engine, clock, who)
    filters = ListProfitLoss(currency="HKD")
    rows = await engine.query(who, filters)
    text = await engine.query(who, ExportProfitLoss(filters=filters))
    read = list(csv.DictReader(io.StringIO(text)))
    assert [r["forex_id"] for r in read] == [r.forex_id for r in rows]
    for shown, written in zip(rows, read, strict=True):
        for name in ("channel_amount", "user_amount", "profit_loss", "order_offset", "standard_profit_loss"):
            assert Decimal(written[name]) == getattr(shown, name), name
        assert written["hk_day"] == shown.day.isoformat()
        assert written["channel_name"] == (shown.channel_name or "POOL")
    book = load_workbook(io.BytesIO(await engine.query(who, ExportProfitLoss(filters=filters, file_format="xlsx"))))
    sheet = book["Profit and loss"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == EXPORT_COLUMNS
    for shown, written in zip(rows, values[1:], strict=True):
        cells = dict(zip(EXPORT_COLUMNS, written, strict=True))
        assert cells["forex_id"] == shown.forex_id
        for name in ("from_amount", "channel_amount", "user_amount", "profit_loss", "standard_profit_loss"):
            assert Decimal(str(cells[name])) == getattr(shown, name), name
    assert len(values) == len(rows) + 1
    assert sheet.cell(2, EXPORT_COLUMNS.index("user_amount") + 1).number_format == "#,##0.00"
    totals = list(book["Totals per day"].iter_rows(values_only=True))
    assert [(r[1], r[2]) for r in totals[1:]] == [("HKD", 1), ("HKD", 3)]


async def test_needs_its_permission(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    await desk(engine, clock, tmp_path)
    admin = await login(engine, "admin")
    other = await new_operator(engine, admin, "nopnl", ("fx.customer_exchange_inquiry",))
    for query in (ListProfitLoss(), ProfitLossTotals(), ExportProfitLoss(file_format="xlsx")):
        with pytest.raises(PermissionDenied, match="fx.exchange_pnl_inquiry"):
            await engine.query(other, query)


async def test_the_quote_is_what_the_submission_gets(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    usd = next(card for card in await engine.query(who, ExchangePairs()) if card.from_currency == "USD")
    assert usd.default_target == "HKD" and {t.to_currency for t in usd.targets} == {"HKD", "CNH", "EUR"}
    clock.set(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # an hour after the rates were set
    quote = await engine.query(who, QuoteClientExchange(from_currency="USD", to_currency="CNH"))
    assert (quote.rate, quote.reference_rate, quote.age_s) == (Decimal("7.1295"), Decimal("7.1367"), 3600)
    assert "7.8147 ÷ 1.0950 = 7.1367" in quote.rate_steps and quote.from_side.amount is None
    quote = await engine.query(who, QuoteClientExchange(from_currency="HKD", to_currency="USD", amount="1000",
                                                        fixed_side="TO"))
    made = await exchange_to(engine, who, "C-100001", "HKD", "USD", "1000")
    assert (quote.from_side.amount, quote.to_side.amount, quote.rate) == (made.from_amount, made.to_amount, made.rate)
    assert quote.served_by.startswith("Exchange Pool") and not quote.refused
    with pytest.raises(ValidationFailed, match="at most 8 decimal places; for more, reject the request"):
        await engine.query(who, QuoteClientExchange(from_currency="USD", to_currency="HKD", amount="10",
                                                    custom_rate="7.123456789"))
    with pytest.raises(ValidationFailed, match="allows at most 2 decimal places"):
        await engine.query(who, QuoteClientExchange(from_currency="USD", to_currency="HKD", amount="10.001"))
    large = await engine.query(who, QuoteClientExchange(from_currency="USD", to_currency="HKD", amount="100000"))
    assert "waits for review" in large.served_by


async def exchange_to(engine: Engine, who, account_no: str, source: str, target: str,  # noqa: ANN001, ANN201
                      amount: str):
    client = (await engine.query(who, ListClients(search=account_no)))[0].id
    return await engine.execute(who, SubmitClientExchange(client_id=client, from_currency=source,
                                                          to_currency=target, amount=amount, fixed_side="TO"))
