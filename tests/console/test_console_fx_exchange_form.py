"""FX › Exchanges › n: a client exchange submitted on a client's behalf, with the client's
withdrawable cash, the rate and a preview of both amounts; driven with keys as the desk
would, checked on screen and in the database."""

from __future__ import annotations

from decimal import Decimal

from console_helpers import plain, settle, type_into, wait_for_screen, wait_until
from fx_helpers import seed, open_fx_tab
from sqlalchemy import text
from textual.pilot import Pilot
from textual.widgets import Button, Select

from wbo_tui.engine import Engine
from wbo_tui.engine.fx import ClientCash, ListClientExchanges, ListClients
from wbo_tui.screens.fx.exchange_form import ClientExchangeScreen
from wbo_tui.screens.fx.exchanges import ExchangesPane
from wbo_tui.screens.shell import ShellScreen

LARGE = (160, 48)


async def open_exchanges(pilot: Pilot, username: str) -> ExchangesPane:
    await open_fx_tab(pilot, username, "tab-fx-exchanges")
    return pilot.app.screen.query_one(ExchangesPane)


def shown(pilot: Pilot, selector: str) -> str:
    return plain(pilot.app.screen.query_one(selector))


async def fill(pilot: Pilot, client_id: int, source: str, amount: str, custom_rate: str = "") -> ClientExchangeScreen:
    """Open the form with n and fill it: the client, the source (its default target comes
    preselected), the amount; the preview is worked out once typing stops."""
    await pilot.press("n")
    await wait_for_screen(pilot, ClientExchangeScreen)
    form = pilot.app.screen
    await wait_until(pilot, lambda: len(form.query_one("#fx-client", Select)._options) > 1, "the clients")
    form.query_one("#fx-client", Select).value = client_id
    form.query_one("#fx-from", Select).value = source
    await settle(pilot)
    await type_into(pilot, "#fx-amount", amount, keys=True)
    if custom_rate:
        await type_into(pilot, "#fx-custom-rate", custom_rate, keys=True)
    await pilot.pause(0.4)  # the preview waits until typing stops
    await settle(pilot)
    return form  # type: ignore[return-value]


async def test_the_maker_submits_with_a_preview(make_app, engine: Engine) -> None:
    await seed(engine)
    maker = await engine.login("maker", "Star-Ferry-22")
    client = (await engine.query(maker, ListClients(search="C-100001")))[0].id
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_exchanges(pilot, "maker")
        before = set(pane.items)
        form = await fill(pilot, client, "USD", "100")
        assert form.query_one("#fx-to", Select).value == "HKD"  # USD's default target
        # The seed's 1,000 USD exchange (failed at the bank, an exception) still holds 1,000 of 12,000.
        await wait_until(pilot, lambda: "USD 11,000.00" in shown(pilot, "#fx-cash"), "the withdrawable cash")
        assert "HKD 250,000.00" in shown(pilot, "#fx-cash")
        preview = shown(pilot, "#fx-quote")
        assert "Rate 7.8147 (Reference rate 7.8147 ÷ 1 = 7.8147" in preview and "HKEX/SPOT, 0 min old" in preview
        assert "Client pays 100.00 USD → receives 781.47 HKD" in preview
        assert "Served by Bank Exchange via HSB" in preview
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: len(set(pane.items) - before) == 1, "the new row")
        (new,) = set(pane.items) - before
        assert pane.selected_key == new
        assert any(f"{new} submitted" in str(n.title) for n in app._notifications)
    made = next(e for e in await engine.query(maker, ListClientExchanges()) if e.forex_id == new)
    assert (made.from_amount, made.to_amount, made.rate, made.client.id) == (
        Decimal("100.00"), Decimal("781.47"), Decimal("7.8147"), client)
    async with engine.db.connect() as conn:
        hold = (await conn.execute(text("SELECT currency, amount, status FROM client_cash_holds WHERE ref = :r"),
                                   {"r": new})).one()
    assert (hold.currency, Decimal(str(hold.amount)), hold.status) == ("USD", Decimal("100.00"), "HELD")
    cash = {c.currency: c.withdrawable for c in (await engine.query(maker, ClientCash(client_id=client))).cash}
    assert cash["USD"] == Decimal("10900.00")


async def test_a_custom_rate_with_nine_decimals_is_refused(make_app, engine: Engine) -> None:
    await seed(engine)
    maker = await engine.login("maker", "Star-Ferry-22")
    client = (await engine.query(maker, ListClients(search="C-100001")))[0].id
    count = len(await engine.query(maker, ListClientExchanges()))
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_exchanges(pilot, "maker")
        await fill(pilot, client, "USD", "100", custom_rate="7.812345678")
        advice = "at most 8 decimal places; for more, reject the request and use the adjustment function instead"
        assert "No preview: Custom rate" in shown(pilot, "#fx-quote") and advice in shown(pilot, "#fx-quote")
        await pilot.click("#submit")
        await wait_until(pilot, lambda: advice in shown(pilot, "#form-error"), "the refusal")
        assert isinstance(app.screen, ClientExchangeScreen)  # the form stays open to correct it
        assert not app.screen.query_one("#submit", Button).disabled
        await type_into(pilot, "#fx-amount", "abc")
        await pilot.pause(0.4)
        await settle(pilot)
        assert shown(pilot, "#fx-quote").startswith("No preview: Amount")
        await type_into(pilot, "#fx-custom-rate", "")
        await type_into(pilot, "#fx-amount", "20000")
        await pilot.pause(0.4)
        await settle(pilot)
        assert "More than the client's withdrawable 11,000.00 USD: submitting would be refused." in shown(
            pilot, "#fx-quote")
    assert len(await engine.query(maker, ListClientExchanges())) == count  # nothing half-saved


async def test_a_viewer_sees_n_greyed(make_app, engine: Engine) -> None:
    await seed(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_exchanges(pilot, "viewer")
        assert pane.check_action("new_exchange", ()) is None  # greyed in the footer
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        assert any("fx.customer_exchange_operation" in str(n.message) for n in app._notifications)
