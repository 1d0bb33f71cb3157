"""Currency exchange (currency-exchange.txt): clients and their cash, currency setup,
currency pairs, and (as they arrive) strategies, pool quotas, markups, reference rates,
client exchanges, exceptions, profit and loss."""

from __future__ import annotations

from . import clients, currency_setup, large_amount, pairs, pool, rate_import, rates, routing, strategies  # noqa: F401
from .clients import ClientCash, ClientCashDTO, ClientDetailDTO, ClientDTO, ImportClients, ImportResult, ListClients
from .currency_setup import CurrencySetupDTO, ListCurrencySetup, UpdateCurrencySetup
from .pairs import (
    AddCurrencyPairs,
    CurrencyPairCardDTO,
    DeleteCurrencyPair,
    ListCurrencyPairs,
    PairTargetDTO,
    SetDefaultPair,
)
from .large_amount import AmountConfigDTO, DeleteAmountConfig, ListAmountConfigs, SetAmountConfig
from .pool import AddPoolQuota, AdjustPoolQuota, ListPoolQuotas, PoolLedger, PoolMovementDTO, PoolQuotaDTO
from .rate_import import ImportReferenceRates, RateImportResult, template_csv
from .rate_math import reference_rate, rounded
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
    "EditReferenceRate", "ImportReferenceRates", "ListReferenceRates", "PairRateDTO", "RateImportResult",
    "ReferenceRateDTO", "ReferenceRateHistory", "RouteDTO", "WhichStrategy", "template_csv",
    "AddPoolQuota", "AdjustPoolQuota", "AmountConfigDTO", "CreateExchangeStrategy", "DeleteAmountConfig",
    "ListAmountConfigs", "ListExchangeStrategies", "ListPoolQuotas", "PeriodInput", "PoolLedger", "PoolMovementDTO",
    "PoolQuotaDTO", "SetAmountConfig", "SetStrategyEnabled", "StrategyDTO", "UpdateExchangeStrategy",
    "AddCurrencyPairs", "ClientCash", "ClientCashDTO", "ClientDTO", "ClientDetailDTO", "CurrencyPairCardDTO",
    "CurrencySetupDTO", "DeleteCurrencyPair", "ImportClients", "ImportResult", "ListClients", "ListCurrencyPairs",
    "ListCurrencySetup", "PairTargetDTO", "SetDefaultPair", "UpdateCurrencySetup", "reference_rate", "rounded",
]
