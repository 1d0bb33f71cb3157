"""The permission matrix's margin-call rows (``test_engine_permissions.EXAMPLES``): one valid
instance of every margin command and query, on the demo's own set-up (``data/demo_fx.json``
for currencies, rates and clients, then ``data/demo_margin.json``), made through the setup
tool before the probe acts.  The simulated venue's store goes to the test's folder (the
matrix runs there).  Also the margin commands' amount fields for ``test_bad_input``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine_support import REPO, login

from wbo_tui.engine import margin
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.margin.revaluation import price_pass
from wbo_tui.engine.margin.seed_data import seed_margin

Example = Callable[[Any], Awaitable[Any]]
TOOL = "test-setup"
READ, FULL = "RiskWarningReadOnly", "RiskWarningFull"
CONFIG = "lb_hk_margin_call.margin_call_auto_batch_forccconfig"


async def seeded(world: Any) -> None:  # noqa: ANN401 - the matrix's World
    await seed_fx(world.engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), TOOL)
    await seed_margin(world.engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), TOOL, Path.cwd())
    await price_pass(world.engine, TOOL)  # quotes: a plan prices its orders at the best bid


async def _setup(world: Any, query: Any) -> Any:  # noqa: ANN401
    return await world.engine.setup_query(tool=TOOL, query=query)


async def _call(world: Any, account_no: str = "M-300101") -> margin.MarginCallDTO:  # noqa: ANN401
    page = await _setup(world, margin.ListMarginCalls())
    return next(c for c in page.rows if c.account_no == account_no)


def after_seed(build: Callable[[Any], Awaitable[Any]]) -> Example:
    async def example(world: Any) -> Any:  # noqa: ANN401
        await seeded(world)
        return await build(world)

    return example


def const_after_seed(message: Any) -> Example:  # noqa: ANN401
    async def build(_: Any) -> Any:  # noqa: ANN401
        return message

    return after_seed(build)


async def _client_id(world: Any, account_no: str = "M-300104") -> int:  # noqa: ANN401
    from wbo_tui.engine.fx import ListClients

    return (await _setup(world, ListClients(search=account_no)))[0].id


async def _order(world: Any) -> int:  # noqa: ANN401
    """An order the demo's trader sent for M-300101's call (the plan's first line)."""
    trader = await login(world.engine, "trader")
    call = await _call(world)
    plan = await world.engine.query(trader, margin.PlanLiquidation(call_id=call.id))
    line = plan.lines[0]
    await world.engine.execute(trader, margin.Liquidate(
        call_id=call.id, lines=(margin.LineInput(code=line.code, quantity=line.quantity),)))
    await world.engine.after_commit_idle()
    orders = await _setup(world, margin.ListLiquidationOrders(open_only=True))
    if orders:
        return orders[0].id
    return (await _setup(world, margin.ListLiquidationOrders()))[0].id


async def _cancel(world: Any) -> Any:  # noqa: ANN401
    # A fresh order that nobody sent yet: the venue's answers are not the matrix's concern.
    from wbo_tui.engine.margin.tables import liquidation_orders
    from sqlalchemy import update

    order_id = await _order(world)
    async with world.engine.db.begin() as conn:
        await conn.execute(update(liquidation_orders).where(liquidation_orders.c.id == order_id).values(
            state="PENDING", filled_quantity=0))
    return margin.CancelLiquidationOrder(order_id=order_id)


async def _edit(world: Any) -> Any:  # noqa: ANN401
    call = await _call(world)
    return margin.EditMarginCall(call_id=call.id, status="EXCEPTION", remarks="matrix",
                                 expected_version=call.version)


async def _get_call(world: Any) -> Any:  # noqa: ANN401
    return margin.GetMarginCall(call_id=(await _call(world)).id)


async def _details(world: Any) -> Any:  # noqa: ANN401
    return margin.GetCallDetails(call_id=(await _call(world)).id)


async def _follow_ups(world: Any) -> Any:  # noqa: ANN401
    return margin.ListFollowUps(call_id=(await _call(world)).id)


async def _add_follow_up(world: Any) -> Any:  # noqa: ANN401
    return margin.AddFollowUp(call_id=(await _call(world)).id, content="Called the client: deposit tomorrow")


async def _message(world: Any) -> Any:  # noqa: ANN401
    return margin.SendMarginMessage(call_ids=((await _call(world)).id,))


async def _auto(world: Any) -> Any:  # noqa: ANN401
    return margin.SetAutoLiquidation(call_ids=((await _call(world)).id,))


async def _plan(world: Any) -> Any:  # noqa: ANN401
    return margin.PlanLiquidation(call_id=(await _call(world)).id)


async def _liquidate(world: Any) -> Any:  # noqa: ANN401
    call = await _call(world)
    plan = await _setup(world, margin.PlanLiquidation(call_id=call.id))
    return margin.Liquidate(call_id=call.id, lines=tuple(margin.LineInput(code=line.code, quantity=line.quantity)
                                                        for line in plan.lines))


async def _batch(world: Any) -> Any:  # noqa: ANN401
    return margin.BatchLiquidate(call_ids=((await _call(world)).id,))


async def _terms(world: Any) -> Any:  # noqa: ANN401
    return margin.GetClientTerms(client_id=await _client_id(world))


async def _set_terms(world: Any) -> Any:  # noqa: ANN401
    client_id = await _client_id(world)
    terms = await _setup(world, margin.GetClientTerms(client_id=client_id))
    return margin.SetClientTerms(client_id=client_id, additional_margin="60000.00", expected_version=terms.version)


async def _renew(world: Any) -> Any:  # noqa: ANN401
    # M-300101's trading limit expired as its call opened.
    return margin.RenewTradingLimit(client_id=await _client_id(world, "M-300101"), trading_limit="15000.00",
                                    reason="reviewed by credit")


async def _settings(world: Any) -> Any:  # noqa: ANN401
    s = await _setup(world, margin.GetMarginSettings())
    return margin.UpdateMarginSettings(liquidation_enabled=False, order_rule=s.order_rule, offset_steps=2,
                                       buffer_pct="7.5", expected_version=s.version)


async def _instrument(world: Any) -> Any:  # noqa: ANN401
    i = next(i for i in await _setup(world, margin.ListInstruments()) if i.code == "1299.HK")
    return margin.UpdateInstrument(code=i.code, status="SUSPENDED", im_factor=str(i.im_factor),
                                   mm_factor=str(i.mm_factor), fm_factor=str(i.fm_factor),
                                   mcm_factor=str(i.mcm_factor), expected_version=i.version)


BOOK = "account_no,kind,code,quantity,price\nM-300106,POSITION,1299.HK,2000,70.00\n"
ADD = margin.AddInstrument(code="1810.HK", name="Xiaomi", lot_size=200, reference_price="38.50", im_factor="50",
                           mcm_factor="45", mm_factor="40", fm_factor="35")
FEEDS = margin.ConfigureMarginFeeds(price_source={"kind": "simulator", "seed": 9, "step_s": 5},
                                    venue={"kind": "simulator", "path": "matrix-venue.sqlite"})

# Commands after whose commit the margin engine acts as itself (sends the orders).
FOLLOW_UPS = frozenset({margin.Liquidate, margin.BatchLiquidate, margin.CancelLiquidationOrder})
SYSTEM_ACTORS = frozenset({"margin-liquidation"})

# (class, permission, example, audit action or None, result type)
ROWS: list[tuple[type, str, Example, str | None, Any]] = [
    (margin.ListMarginCalls, READ, const_after_seed(margin.ListMarginCalls()), None, margin.MarginCallPage),
    (margin.GetMarginCall, READ, after_seed(_get_call), None, margin.MarginCallDTO),
    (margin.GetCallDetails, READ, after_seed(_details), None, margin.CallDetailsDTO),
    (margin.ListFollowUps, READ, after_seed(_follow_ups), None, tuple),
    (margin.ListLiquidationOrders, READ, const_after_seed(margin.ListLiquidationOrders()), None, tuple),
    (margin.PlanLiquidation, READ, after_seed(_plan), None, margin.LiquidationPlanDTO),
    (margin.GetMarginSettings, READ, const_after_seed(margin.GetMarginSettings()), None, margin.MarginSettingsDTO),
    (margin.GetClientTerms, READ, after_seed(_terms), None, margin.ClientTermsDTO),
    (margin.ListInstruments, READ, const_after_seed(margin.ListInstruments()), None, tuple),
    (margin.EditMarginCall, FULL, after_seed(_edit), "margin.call.edit", margin.MarginCallDTO),
    (margin.AddFollowUp, FULL, after_seed(_add_follow_up), "margin.follow_up.add", margin.FollowUpDTO),
    (margin.SendMarginMessage, FULL, after_seed(_message), "margin.call.message", margin.MessageResult),
    (margin.SetAutoLiquidation, FULL, after_seed(_auto), "margin.call.auto_liquidation", tuple),
    (margin.Liquidate, FULL, after_seed(_liquidate), "margin.liquidate", margin.LiquidationPlanDTO),
    (margin.BatchLiquidate, FULL, after_seed(_batch), "margin.liquidate", margin.BatchResultDTO),
    (margin.CancelLiquidationOrder, FULL, after_seed(_cancel), "margin.order.cancel", margin.OrderCancelDTO),
    (margin.UpdateMarginSettings, CONFIG, after_seed(_settings), "margin.settings.update", margin.MarginSettingsDTO),
    (margin.ConfigureMarginFeeds, CONFIG, const_after_seed(FEEDS), "margin.feeds.configure", margin.MarginSettingsDTO),
    (margin.SetClientTerms, CONFIG, after_seed(_set_terms), "margin.terms.set", margin.ClientTermsDTO),
    (margin.RenewTradingLimit, CONFIG, after_seed(_renew), "margin.terms.renew_trading_limit", margin.ClientTermsDTO),
    (margin.UpdateInstrument, CONFIG, after_seed(_instrument), "margin.instrument.update", margin.InstrumentDTO),
    (margin.AddInstrument, CONFIG, const_after_seed(ADD), "margin.instrument.add", margin.InstrumentDTO),
    (margin.ImportMarginBook, CONFIG, const_after_seed(margin.ImportMarginBook(csv_text=BOOK)), "margin.book.import",
     margin.BookImportResult),
]

_FACTORS = {"im_factor": "50", "mm_factor": "40", "fm_factor": "35", "mcm_factor": "45"}
AMOUNT_BASES: dict[type, dict[str, object]] = {
    margin.UpdateMarginSettings: {"liquidation_enabled": True, "order_rule": "LARGEST_LOSS", "offset_steps": 1,
                                  "buffer_pct": "5", "expected_version": 0},
    margin.SetClientTerms: {"client_id": 1, "expected_version": 0},
    margin.RenewTradingLimit: {"client_id": 1, "trading_limit": "1", "reason": "r"},
    margin.UpdateInstrument: {"code": "700.HK", "status": "NORMAL", **_FACTORS, "expected_version": 1},
    margin.AddInstrument: {"code": "700.HK", "name": "n", "lot_size": 100, "reference_price": "1", **_FACTORS},
}
