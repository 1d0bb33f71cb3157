"""Currency exchange (currency-exchange.txt): clients and their cash, currency setup,
currency pairs, and (as they arrive) strategies, pool quotas, markups, reference rates,
client exchanges, exceptions, profit and loss."""

from __future__ import annotations

from . import (  # noqa: F401  (registers handlers)
    bank_channels,
    clients,
    currency_setup,
    exceptions,
    exchanges,
    execution,
    large_amount,
    markups,
    pairs,
    pool,
    profit_loss,
    quote,
    rate_import,
    rate_refresh,
    rates,
    review,
    routing,
    strategies,
)
from .bank_channels import BankChannelDTO, ConfigureBankChannel
from .clients import ClientCash, ClientCashDTO, ClientDetailDTO, ClientDTO, ImportClients, ImportResult, ListClients
from .currency_setup import CurrencySetupDTO, ListCurrencySetup, UpdateCurrencySetup
from .markups import (
    AddExecutedMarkup,
    AddReferenceMarkup,
    AppliedMarkup,
    DeleteMarkup,
    ListExecutedMarkups,
    ListReferenceMarkups,
    MarkupDTO,
    TierInput,
    UpdateExecutedMarkup,
    UpdateReferenceMarkup,
)
from .pairs import (
    AddCurrencyPairs,
    CurrencyPairCardDTO,
    DeleteCurrencyPair,
    ListCurrencyPairs,
    PairTargetDTO,
    SetDefaultPair,
)
from .exceptions import (
    ApplyExceptionHandling,
    ExceptionRecordDTO,
    ExceptionReviewResult,
    ListExceptionRecords,
    ReviewExceptionHandling,
)
from .exchanges import ExchangeDTO, GetClientExchange, ListClientExchanges, SubmitClientExchange
from .large_amount import AmountConfigDTO, DeleteAmountConfig, ListAmountConfigs, SetAmountConfig
from .pool import AddPoolQuota, AdjustPoolQuota, ListPoolQuotas, PoolLedger, PoolMovementDTO, PoolQuotaDTO
from .profit_loss import (
    DayTotalDTO,
    ExportProfitLoss,
    ListProfitLoss,
    ProfitLossDTO,
    ProfitLossTotals,
    ProfitLossTotalsDTO,
)
from .quote import ExchangePairs, ExchangeQuoteDTO, QuoteClientExchange, QuoteSideDTO
from .rate_import import ImportReferenceRates, RateImportResult, template_csv, template_xlsx
from .rate_math import reference_rate, rounded
from .rate_refresh import ConfigureRateSource, RateSourceDTO
from .review import CancelClientExchange, ReviewClientExchange
from .routing import RouteDTO, WhichStrategy
from .rates import EditReferenceRate, ListReferenceRates, PairRateDTO, ReferenceRateDTO, ReferenceRateHistory
from .strategies import (
    CreateExchangeStrategy,
    ListExchangeStrategies,
    PeriodInput,
    SetStrategyEnabled,
    StrategyDTO,
    UpdateExchangeStrategy,
)

__all__ = [
    "DayTotalDTO", "ExportProfitLoss", "ListProfitLoss", "ProfitLossDTO", "ProfitLossTotals", "ProfitLossTotalsDTO",
    "ExchangePairs", "ExchangeQuoteDTO", "QuoteClientExchange", "QuoteSideDTO",
    "ConfigureRateSource", "RateSourceDTO",
    "ApplyExceptionHandling", "ExceptionRecordDTO", "ExceptionReviewResult", "ListExceptionRecords",
    "ReviewExceptionHandling",
    "BankChannelDTO", "ConfigureBankChannel",
    "AddExecutedMarkup", "AddReferenceMarkup", "AppliedMarkup", "DeleteMarkup", "ListExecutedMarkups",
    "ListReferenceMarkups", "MarkupDTO", "TierInput", "UpdateExecutedMarkup", "UpdateReferenceMarkup",
    "CancelClientExchange", "ExchangeDTO", "GetClientExchange", "ListClientExchanges", "ReviewClientExchange",
    "SubmitClientExchange",
    "EditReferenceRate", "ImportReferenceRates", "ListReferenceRates", "PairRateDTO", "RateImportResult",
    "ReferenceRateDTO", "ReferenceRateHistory", "RouteDTO", "WhichStrategy", "template_csv", "template_xlsx",
    "AddPoolQuota", "AdjustPoolQuota", "AmountConfigDTO", "CreateExchangeStrategy", "DeleteAmountConfig",
    "ListAmountConfigs", "ListExchangeStrategies", "ListPoolQuotas", "PeriodInput", "PoolLedger", "PoolMovementDTO",
    "PoolQuotaDTO", "SetAmountConfig", "SetStrategyEnabled", "StrategyDTO", "UpdateExchangeStrategy",
    "AddCurrencyPairs", "ClientCash", "ClientCashDTO", "ClientDTO", "ClientDetailDTO", "CurrencyPairCardDTO",
    "CurrencySetupDTO", "DeleteCurrencyPair", "ImportClients", "ImportResult", "ListClients", "ListCurrencyPairs",
    "ListCurrencySetup", "PairTargetDTO", "SetDefaultPair", "UpdateCurrencySetup", "reference_rate", "rounded",
]
