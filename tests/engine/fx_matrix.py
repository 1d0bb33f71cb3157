"""The permission matrix's currency-exchange rows (``test_engine_permissions.EXAMPLES``):
one valid instance of every FX command and query, with the data it needs set up by the
demo's own FX seed (``data/demo_fx.json``, through the setup tool, before the probe acts)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from engine_support import REPO, execute_raw, scalar

from wbo_tui.engine import fx
from wbo_tui.engine.fx.seed_data import seed_fx

Example = Callable[[Any], Awaitable[Any]]
TOOL = "test-setup"


async def seeded(world: Any) -> None:  # noqa: ANN401 - the matrix's World
    await seed_fx(world.engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), TOOL)


def after_seed(build: Callable[[Any], Awaitable[Any]]) -> Example:
    async def example(world: Any) -> Any:  # noqa: ANN401
        await seeded(world)
        return await build(world)

    return example


def const_after_seed(message: Any) -> Example:  # noqa: ANN401
    async def build(_: Any) -> Any:  # noqa: ANN401
        return message

    return after_seed(build)


def const(message: Any) -> Example:  # noqa: ANN401
    async def build(_: Any) -> Any:  # noqa: ANN401
        return message

    return build


async def _setup(world: Any, query: Any) -> Any:  # noqa: ANN401
    return await world.engine.setup_query(tool=TOOL, query=query)


async def _usd_pair_id(world: Any, target: str) -> int:  # noqa: ANN401
    cards = await _setup(world, fx.ListCurrencyPairs())
    usd = next(c for c in cards if c.from_currency == "USD")
    return next(t.id for t in usd.targets if t.to_currency == target)


async def _set_default(world: Any) -> Any:  # noqa: ANN401
    return fx.SetDefaultPair(pair_id=await _usd_pair_id(world, "CNH"))


async def _delete_pair(world: Any) -> Any:  # noqa: ANN401
    # USD/EUR: in no strategy's own list (the bank strategies cover ALL/ALL, named by no pair).
    return fx.DeleteCurrencyPair(pair_id=await _usd_pair_id(world, "EUR"))


async def _strategy(world: Any) -> Any:  # noqa: ANN401
    return next(s for s in await _setup(world, fx.ListExchangeStrategies()) if s.service_strategy == "BATCH")


async def _update_strategy(world: Any) -> Any:  # noqa: ANN401
    s = await _strategy(world)
    return fx.UpdateExchangeStrategy(
        strategy_id=s.id, expected_version=s.version, service_strategy=s.service_strategy,
        change_type=s.change_type, support_currency=s.support_currency, service_time=s.service_time,
        approval_start_amount="100000.00", remarks="raised")


async def _disable_strategy(world: Any) -> Any:  # noqa: ANN401
    s = await _strategy(world)
    return fx.SetStrategyEnabled(strategy_id=s.id, enable_flag=False, expected_version=s.version)


async def _client_cash(world: Any) -> Any:  # noqa: ANN401
    client = (await _setup(world, fx.ListClients(search="C-100001")))[0]
    return fx.ClientCash(client_id=client.id)


async def _edit_rate(world: Any) -> Any:  # noqa: ANN401
    rate = next(r for r in await _setup(world, fx.ListReferenceRates(currency="USD", channel_name="IB")))
    return fx.EditReferenceRate(rate_id=rate.id, bid_rate="7.8150", offer_rate="7.8190", average_rate="7.8170",
                                expected_version=rate.version)


async def _import_rates(world: Any) -> Any:  # noqa: ANN401
    today = world.engine.clock.now().astimezone(fx.rate_import.HONG_KONG).strftime("%Y%m%d")
    return fx.ImportReferenceRates(csv_text=fx.template_csv().replace("20261127", today))


async def _client(world: Any, account_no: str) -> int:  # noqa: ANN401
    return (await _setup(world, fx.ListClients(search=account_no)))[0].id


async def _submit(world: Any) -> Any:  # noqa: ANN401
    # Friday 17:30 HKT (the matrix's clock): the Hang Seng strategy serves small amounts.
    return fx.SubmitClientExchange(client_id=await _client(world, "C-100001"), from_currency="USD",
                                   to_currency="HKD", amount="100")


async def _pending(world: Any) -> int:  # noqa: ANN401
    """A request the matrix's maker submitted that awaits review (above the Hang Seng
    strategy's approval starting point of 200,000 HKD)."""
    made = await world.engine.execute(world.maker, fx.SubmitClientExchange(
        client_id=await _client(world, "M-200001"), from_currency="USD", to_currency="HKD", amount="70000"))
    assert made.audit_status == "PENDING"
    return made.id


async def _review(world: Any) -> Any:  # noqa: ANN401
    return fx.ReviewClientExchange(exchange_id=await _pending(world), approve=False, audit_remark="matrix")


async def _cancel(world: Any) -> Any:  # noqa: ANN401
    return fx.CancelClientExchange(exchange_id=await _pending(world), reason="matrix")


async def _get_exchange(world: Any) -> Any:  # noqa: ANN401
    return fx.GetClientExchange(exchange_id=await _pending(world))


async def _markup(world: Any, listing: Any) -> Any:  # noqa: ANN401
    return (await _setup(world, listing))[0]


async def _update_reference_markup(world: Any) -> Any:  # noqa: ANN401
    m = await _markup(world, fx.ListReferenceMarkups())
    return fx.UpdateReferenceMarkup(markup_id=m.id, spread_mode="VALUE", bp="0.0010", expected_version=m.version)


async def _update_executed_markup(world: Any) -> Any:  # noqa: ANN401
    m = await _markup(world, fx.ListExecutedMarkups())
    return fx.UpdateExecutedMarkup(markup_id=m.id, spread_mode="RATE", expected_version=m.version,
                                   tiers=(fx.TierInput(start_value="0", markup="0.2"),))


async def _delete_markup(world: Any) -> Any:  # noqa: ANN401
    m = await _markup(world, fx.ListReferenceMarkups())
    return fx.DeleteMarkup(kind="REFERENCE", markup_id=m.id, expected_version=m.version)


async def _failed_order(world: Any) -> str:  # noqa: ANN401
    """A bank exchange whose channel order failed: an exception record."""
    made = await world.engine.execute(world.maker, fx.SubmitClientExchange(
        client_id=await _client(world, "C-100001"), from_currency="USD", to_currency="HKD", amount="100"))
    await execute_raw(world.engine, "UPDATE fx_channel_orders SET channel_status = 'FAILED', abnormal = :t "
                                    "WHERE forex_id = :f", t=True, f=made.forex_id)
    return await scalar(world.engine, "SELECT order_no FROM fx_channel_orders WHERE forex_id = :f", f=made.forex_id)


async def _apply(world: Any) -> Any:  # noqa: ANN401
    return fx.ApplyExceptionHandling(order_no=await _failed_order(world), apply_type="FAILURE_APPLY",
                                     apply_remark="matrix")


async def _review_exception(world: Any) -> Any:  # noqa: ANN401
    order_no = await _failed_order(world)
    await world.engine.execute(world.maker, fx.ApplyExceptionHandling(order_no=order_no, apply_type="FAILURE_APPLY",
                                                                      apply_remark="matrix"))
    return fx.ReviewExceptionHandling(order_nos=(order_no,), review_type="REVIEW_REJECTED", review_remark="matrix")


SETUP_ONLY = fx.UpdateCurrencySetup(currency="USD", support_exchange=True, exchange_rate_precision=4,
                                    amount_precision=2, amount_round_mode="round", min_exchange_amount="3.00",
                                    standard_money=False, expected_version=0)
CLIENTS = "account_no,name,account_type,currency,opening_balance\nC-900001,Matrix Client,cash,HKD,100.00\n"

# Commands after whose commit the FX engine acts as itself: a bank exchange's channel
# order is sent (and, the matrix's bank being unconfigured, its failure recorded).
FOLLOW_UPS = frozenset({fx.SubmitClientExchange})

# (class, permission, example, audit action or None, result type)
ROWS: list[tuple[type, str, Example, str | None, Any]] = [
    (fx.ListCurrencySetup, "fx.currency_setup_inquiry", const(fx.ListCurrencySetup()), None, tuple),
    (fx.UpdateCurrencySetup, "atm.update_current_config", const(SETUP_ONLY), "fx.currency_setup.update",
     fx.CurrencySetupDTO),
    (fx.ListCurrencyPairs, "fx.currency_pair_inquiry", const_after_seed(fx.ListCurrencyPairs()), None, tuple),
    (fx.AddCurrencyPairs, "lb_hk_conversion.support_currency_update",
     const(fx.AddCurrencyPairs(from_currency="SGD", to_currencies=("HKD",))), "fx.currency_pair.add",
     fx.CurrencyPairCardDTO),
    (fx.SetDefaultPair, "lb_hk_conversion.support_currency_update", after_seed(_set_default),
     "fx.currency_pair.set_default", fx.CurrencyPairCardDTO),
    (fx.DeleteCurrencyPair, "lb_hk_conversion.support_currency_update", after_seed(_delete_pair),
     "fx.currency_pair.delete", (fx.CurrencyPairCardDTO, type(None))),
    (fx.ListExchangeStrategies, "lb_hk_conversion.exchangeserve_query", const_after_seed(fx.ListExchangeStrategies()),
     None, tuple),
    (fx.CreateExchangeStrategy, "lb_hk_conversion.exchangeserve_update", const_after_seed(fx.CreateExchangeStrategy(
        service_strategy="SINGLE", change_type=0, channel_name="CIBC", support_currency=("EUR/USD",),
        service_time=(fx.PeriodInput(time_zones="week", time_rule="20:00-22:00", week_interval="6,7"),))),
     "fx.strategy.create", fx.StrategyDTO),
    (fx.UpdateExchangeStrategy, "lb_hk_conversion.exchangeserve_update", after_seed(_update_strategy),
     "fx.strategy.update", fx.StrategyDTO),
    (fx.SetStrategyEnabled, "lb_hk_conversion.exchangeserve_update", after_seed(_disable_strategy),
     "fx.strategy.disable", fx.StrategyDTO),
    (fx.ListPoolQuotas, "lb_hk_conversion.exchange_pool_query", const_after_seed(fx.ListPoolQuotas()), None, tuple),
    (fx.PoolLedger, "lb_hk_conversion.exchange_pool_query", const_after_seed(fx.PoolLedger()), None, tuple),
    (fx.AddPoolQuota, "lb_hk_conversion.exchange_pool_config_update",
     const(fx.AddPoolQuota(currency="EUR", remaining_amount="1000.00", alarm_amount="100.00")), "fx.pool.add",
     fx.PoolQuotaDTO),
    (fx.AdjustPoolQuota, "lb_hk_conversion.exchange_pool_config_update", const_after_seed(fx.AdjustPoolQuota(
        currency="HKD", amount="-1000.00", remark="matrix", expected_version=1)), "fx.pool.adjust", fx.PoolQuotaDTO),
    (fx.ListAmountConfigs, "lb_hk_conversion.amount_config_query", const_after_seed(fx.ListAmountConfigs()), None,
     tuple),
    (fx.SetAmountConfig, "lb_hk_conversion.amount_config_update",
     const(fx.SetAmountConfig(currency="SGD", amount="50000", expected_version=0)), "fx.amount_config.set",
     fx.AmountConfigDTO),
    (fx.DeleteAmountConfig, "lb_hk_conversion.amount_config_update",
     const_after_seed(fx.DeleteAmountConfig(currency="EUR", expected_version=1)), "fx.amount_config.delete",
     type(None)),
    (fx.ListClients, "fx.client_inquiry", const_after_seed(fx.ListClients()), None, tuple),
    (fx.ClientCash, "fx.client_inquiry", after_seed(_client_cash), None, fx.ClientDetailDTO),
    (fx.ImportClients, "fx.client_operation", const(fx.ImportClients(csv_text=CLIENTS)), "fx.client.import",
     fx.ImportResult),
    (fx.ListReferenceRates, "fx.reference_rate_inquiry", const_after_seed(fx.ListReferenceRates()), None, tuple),
    (fx.ReferenceRateHistory, "fx.reference_rate_inquiry",
     const_after_seed(fx.ReferenceRateHistory(other_currency="USD")), None, tuple),
    (fx.EditReferenceRate, "fx.reference_rate_operation", after_seed(_edit_rate), "fx.reference_rate.edit",
     fx.ReferenceRateDTO),
    (fx.ImportReferenceRates, "fx.reference_rate_operation", after_seed(_import_rates), "fx.reference_rate.import",
     fx.RateImportResult),
    (fx.SubmitClientExchange, "fx.customer_exchange_operation", after_seed(_submit), "fx.exchange.submit",
     fx.ExchangeDTO),
    (fx.ReviewClientExchange, "fx.customer_exchange_approval", after_seed(_review), "fx.exchange.reject",
     fx.ExchangeDTO),
    (fx.CancelClientExchange, "fx.customer_exchange_operation", after_seed(_cancel), "fx.exchange.cancel",
     fx.ExchangeDTO),
    (fx.ListClientExchanges, "fx.customer_exchange_inquiry", const_after_seed(fx.ListClientExchanges()), None,
     tuple),
    (fx.GetClientExchange, "fx.customer_exchange_inquiry", after_seed(_get_exchange), None, fx.ExchangeDTO),
    (fx.ListReferenceMarkups, "lb_hk_conversion.fee_query", const_after_seed(fx.ListReferenceMarkups()), None,
     tuple),
    (fx.ListExecutedMarkups, "lb_hk_conversion.forex_ib_rates", const_after_seed(fx.ListExecutedMarkups()), None,
     tuple),
    (fx.AddReferenceMarkup, "lb_hk_conversion.rate_reference_update", const_after_seed(fx.AddReferenceMarkup(
        channel_name="IB", from_currency="USD", to_currency="HKD", spread_mode="RATE", bp="0.05")),
     "fx.markup.add", fx.MarkupDTO),
    (fx.UpdateReferenceMarkup, "lb_hk_conversion.rate_reference_update", after_seed(_update_reference_markup),
     "fx.markup.update", fx.MarkupDTO),
    (fx.AddExecutedMarkup, "lb_hk_conversion.rate_reference_update", const_after_seed(fx.AddExecutedMarkup(
        service_strategy="BATCH", from_currency="USD", to_currency="HKD", spread_mode="VALUE",
        tiers=(fx.TierInput(start_value="0", markup="0.001"),))), "fx.markup.add", fx.MarkupDTO),
    (fx.UpdateExecutedMarkup, "lb_hk_conversion.fee_update", after_seed(_update_executed_markup),
     "fx.markup.update", fx.MarkupDTO),
    (fx.DeleteMarkup, "lb_hk_conversion.rate_reference_update", after_seed(_delete_markup), "fx.markup.delete",
     type(None)),
    (fx.ConfigureBankChannel, "lb_hk_conversion.exchangeserve_update", const(fx.ConfigureBankChannel(
        channel_name="CIBC", gateway={"kind": "http", "base_url": "http://127.0.0.1:9", "timeout_s": 2})),
     "fx.bank_channel.configure", fx.BankChannelDTO),
    (fx.ListExceptionRecords, "fx.customer_exchange_inquiry", const_after_seed(fx.ListExceptionRecords()), None,
     tuple),
    (fx.ApplyExceptionHandling, "fx.exchange_exception_operation", after_seed(_apply), "fx.exception.apply",
     fx.ExceptionRecordDTO),
    (fx.ReviewExceptionHandling, "fx.customer_exchange_approval", after_seed(_review_exception),
     "fx.exception.reject", fx.ExceptionReviewResult),
    (fx.ConfigureRateSource, "fx.reference_rate_operation", const(fx.ConfigureRateSource(
        channel_name="IB", rate_type="SPOT", gateway={"kind": "http", "base_url": "http://127.0.0.1:9"},
        hourly=True)), "fx.rate_source.configure", fx.RateSourceDTO),
    (fx.WhichStrategy, "fx.customer_exchange_inquiry", const_after_seed(fx.WhichStrategy(
        from_currency="USD", to_currency="HKD", from_amount="1000", to_amount="7814.70")), None, fx.RouteDTO),
    (fx.ListProfitLoss, "fx.exchange_pnl_inquiry", const_after_seed(fx.ListProfitLoss()), None, tuple),
    (fx.ProfitLossTotals, "fx.exchange_pnl_inquiry", const_after_seed(fx.ProfitLossTotals()), None,
     fx.ProfitLossTotalsDTO),
    (fx.ExportProfitLoss, "fx.exchange_pnl_inquiry", const_after_seed(fx.ExportProfitLoss(file_format="xlsx")), None,
     bytes),
    (fx.QuoteClientExchange, "fx.customer_exchange_operation", const_after_seed(fx.QuoteClientExchange(
        from_currency="USD", to_currency="HKD", amount="100")), None, fx.ExchangeQuoteDTO),
    (fx.ExchangePairs, "fx.customer_exchange_operation", const_after_seed(fx.ExchangePairs()), None, tuple),
]
