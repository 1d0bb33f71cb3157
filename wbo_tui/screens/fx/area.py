"""The FX area (currency-exchange.txt): client exchanges with their review, reference rates
with their age, exchange-pool quotas and their ledger, clients and their cash."""

from __future__ import annotations

from wbo_tui.widgets.area import NEXT_TAB, Tab, TabbedArea
from wbo_tui.screens.fx.clients import ClientsPane
from wbo_tui.screens.fx.currencies import CurrenciesPane
from wbo_tui.screens.fx.exceptions import ExceptionsPane
from wbo_tui.screens.fx.exchanges import ExchangesPane
from wbo_tui.screens.fx.large_amounts import LargeAmountsPane
from wbo_tui.screens.fx.markups import MarkupsPane
from wbo_tui.screens.fx.pairs import PairsPane
from wbo_tui.screens.fx.pool import PoolPane
from wbo_tui.screens.fx.profit_loss import ProfitLossPane
from wbo_tui.screens.fx.rates import RatesPane
from wbo_tui.screens.fx.strategies import StrategiesPane


class FxArea(TabbedArea):
    TITLE = "FX"
    HELP = (
        "Currency exchange. Exchanges lists client exchanges, newest first (needs "
        "fx.customer_exchange_inquiry; a and x review one awaiting review and need "
        "fx.customer_exchange_approval, c cancels one not yet executed and needs "
        "fx.customer_exchange_operation). Exceptions lists channel orders that failed, came back unknown or "
        "stalled: s, m and e apply a handling (fx.exchange_exception_operation), a and x review it "
        "(fx.customer_exchange_approval). Rates shows each channel's current reference rates "
        "with their age (fx.reference_rate_inquiry); a rate older than 26 hours is not used for "
        "quoting. Pool shows the exchange-pool quotas, their alert amounts and every movement "
        "(lb_hk_conversion.exchange_pool_query). Clients shows the clients and, for the "
        "selected one, cash, held and withdrawable per currency (fx.client_inquiry). Ctrl+T "
        "switches tabs."
    )
    TABS = (
        Tab("Exchanges", "tab-fx-exchanges", ExchangesPane),
        Tab("Exceptions", "tab-fx-exceptions", ExceptionsPane),
        Tab("P&L", "tab-fx-pnl", ProfitLossPane),
        Tab("Rates", "tab-fx-rates", RatesPane),
        Tab("Pool", "tab-fx-pool", PoolPane),
        Tab("Clients", "tab-fx-clients", ClientsPane),
        Tab("Currencies", "tab-fx-currencies", CurrenciesPane),
        Tab("Pairs", "tab-fx-pairs", PairsPane),
        Tab("Strategies", "tab-fx-strategies", StrategiesPane),
        Tab("Markups", "tab-fx-markups", MarkupsPane),
        Tab("Large amounts", "tab-fx-large", LargeAmountsPane),
    )
    BINDINGS = [NEXT_TAB]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="fx-area")
