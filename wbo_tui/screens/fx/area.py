"""The FX area (currency-exchange.txt): client exchanges with their review and exceptions,
profit and loss, reference rates, exchange-pool quotas, clients and their cash, and the
service parameters (currencies, pairs, strategies, markups, large amounts)."""

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
        "Currency exchange, one tab per screen of the manual; Ctrl+T switches tabs and each tab's ? help "
        "names its keys and permissions. Exchanges: client exchanges, newest first; n submits one for a "
        "client (fx.customer_exchange_operation), a and x review it (fx.customer_exchange_approval), c "
        "cancels one not yet executed. Exceptions: channel orders that failed, came back unknown or stalled; "
        "s, m and e apply a handling (fx.exchange_exception_operation), a and x review it. P&L: exchange "
        "profit and loss per request, totals per day and currency, CSV and XLSX export "
        "(fx.exchange_pnl_inquiry). Rates: reference rates with their age (a rate older than 26 hours is not "
        "used for quoting), template, import, edit and history. Pool: exchange-pool quotas, alert amounts and "
        "every movement. Clients: cash, held and withdrawable per currency. Currencies, Pairs, Strategies, "
        "Markups and Large amounts: the service parameters, under the vendor's permissions "
        "(atm.update_current_config, lb_hk_conversion.*)."
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
