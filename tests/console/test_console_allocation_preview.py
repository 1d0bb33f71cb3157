"""The manual allocation form's before/after preview (issue 10, point 9): the balances
after are shown only for an amount the allocation could carry; a negative, zero or
over-precise amount, or accounts and a currency that disagree, show the balances before
and why the after is not shown, naming the field and its rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from allocation_helpers import (  # noqa: F401  (allocations is a fixture)
    HKD_POOL,
    HKD_PRINCIPAL,
    USD_PRINCIPAL,
    allocations,
    open_allocations,
)
from console_helpers import plain, settle, type_into, wait_for_screen, wait_until
from textual.pilot import Pilot
from textual.widgets import Select

from wbo_tui.engine import Engine
from wbo_tui.engine.positions.channel_accounts import ChannelAccountDTO
from wbo_tui.screens.allocations.forms import ManualAllocationScreen
from wbo_tui.screens.allocations.preview_amount import PreviewAmount, preview_amount

WIDE = (160, 40)


def account(account_no: str, currency: str) -> ChannelAccountDTO:
    return ChannelAccountDTO.model_construct(id=1, account_no=account_no, currency=currency)


HKD_A, HKD_B, USD_C = account("HK-POOL-001", "HKD"), account("HK-PRIN-001", "HKD"), account("US-PRIN-001", "USD")
PLACES = {"HKD": 2, "USD": 2, "JPY": 0}


@pytest.mark.parametrize(
    ("amount", "currency", "target", "expected"),
    [
        ("1,000.50", "HKD", HKD_B, PreviewAmount(Decimal("1000.50"), None)),
        ("1000", "", HKD_B, PreviewAmount(Decimal("1000"), None)),
        ("", "HKD", HKD_B, PreviewAmount(None, None)),
        ("-5", "HKD", HKD_B, PreviewAmount(None, "Amount: must be greater than zero")),
        ("0", "HKD", HKD_B, PreviewAmount(None, "Amount: must be greater than zero")),
        ("1.005", "HKD", HKD_B, PreviewAmount(None, "Amount: allows at most 2 decimal places for HKD")),
        ("12 3", "HKD", HKD_B, PreviewAmount(None, "Amount: must not contain blanks, not '12 3'")),
        ("100", "usd", HKD_B, PreviewAmount(None, "Currency: both accounts hold HKD, not USD")),
        ("100", "HKD", USD_C, PreviewAmount(
            None, "Receiving account: US-PRIN-001 holds USD, not HKD; an allocation moves one currency")),
    ],
)
def test_the_preview_takes_only_an_amount_the_allocation_could_carry(
        amount: str, currency: str, target: ChannelAccountDTO, expected: PreviewAmount) -> None:
    assert preview_amount(amount, currency, HKD_A, target, PLACES) == expected


def test_precision_is_judged_by_value_as_the_engine_does() -> None:
    jpy_a, jpy_b = account("JP-1", "JPY"), account("JP-2", "JPY")
    assert preview_amount("100.00", "JPY", jpy_a, jpy_b, PLACES) == PreviewAmount(Decimal("100.00"), None)
    assert preview_amount("100.5", "JPY", jpy_a, jpy_b, PLACES).reason == "Amount: allows at most 0 decimal places for JPY"


async def open_form(pilot: Pilot, target: int) -> ManualAllocationScreen:
    await open_allocations(pilot, "maker")
    await pilot.press("ctrl+t")  # the records tab
    await settle(pilot)
    await pilot.press("n")
    await wait_for_screen(pilot, ManualAllocationScreen)
    screen = pilot.app.screen
    await wait_until(pilot, lambda: len(screen.query_one("#alloc-from", Select)._options) > 1, "the accounts")  # noqa: SLF001
    screen.query_one("#alloc-from", Select).value = HKD_POOL
    screen.query_one("#alloc-to", Select).value = target
    await settle(pilot)
    return screen


def balances(screen: ManualAllocationScreen) -> str:
    return plain(screen.query_one("#alloc-balances"))


async def test_a_negative_amount_shows_no_balances_after(make_app, allocations: Engine) -> None:  # noqa: F811
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_form(pilot, HKD_PRINCIPAL)
        await type_into(pilot, "#alloc-amount", "1,000")
        await wait_until(pilot, lambda: "after —" not in balances(screen), "the balances after")
        assert "Balances after not shown" not in balances(screen)
        await type_into(pilot, "#alloc-amount", "-1,000")
        await wait_until(pilot, lambda: "Balances after not shown" in balances(screen), "the refusal")
        lines = balances(screen).split("\n")
        assert [line.endswith("→ after — HKD") for line in lines[:2]] == [True, True], lines
        assert lines[2] == "Balances after not shown: Amount: must be greater than zero"


async def test_accounts_of_two_currencies_show_no_balances_after(make_app, allocations: Engine) -> None:  # noqa: F811
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_form(pilot, USD_PRINCIPAL)
        await type_into(pilot, "#alloc-amount", "1,000")
        await wait_until(pilot, lambda: "Balances after not shown" in balances(screen), "the refusal")
        lines = balances(screen).split("\n")
        assert lines[0].endswith("→ after — HKD") and lines[1].endswith("→ after — USD"), lines
        assert lines[2].startswith("Balances after not shown: Receiving account: ") and "holds USD, not HKD" in lines[2]
