"""Loading the demo's currency-exchange set-up (``data/demo_fx.json``) through the
engine's own commands, so the demo data is validated and audited as an operator's is."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..hk_calendar import HONG_KONG
from .bank import SimulatedBankChannel
from .bank_channels import ConfigureBankChannel
from .clients import ImportClients
from .currency_setup import UpdateCurrencySetup
from .large_amount import SetAmountConfig
from .markups import AddExecutedMarkup, AddReferenceMarkup
from .pairs import AddCurrencyPairs
from .pool import AddPoolQuota
from .rate_import import ImportReferenceRates
from .strategies import CreateExchangeStrategy


async def seed_fx(engine: Any, data: dict[str, Any], tool: str,  # noqa: ANN401 - api.Engine
                  data_dir: Path | None = None) -> None:
    """``data_dir``: where the simulated bank's store goes (``{data_dir}`` in its path);
    None leaves the bank exchange channels unconfigured (a test that does not use them)."""

    async def run(command: Any) -> None:  # noqa: ANN401
        await engine.setup_execute(tool=tool, command=command)

    if data_dir is not None:
        await _bank_channels(engine, data, data_dir, run)

    for setup in data.get("fx_currency_setup", []):
        await run(UpdateCurrencySetup(**setup, expected_version=0))
    for pair in data.get("fx_currency_pairs", []):
        await run(AddCurrencyPairs(**pair))
    for strategy in data.get("fx_strategies", []):
        await run(CreateExchangeStrategy(**strategy))
    for quota in data.get("fx_pool_quotas", []):
        await run(AddPoolQuota(**quota))
    for config in data.get("fx_amount_configs", []):
        await run(SetAmountConfig(**config, expected_version=0))
    for markup in data.get("fx_reference_markups", []):
        await run(AddReferenceMarkup(**markup))
    for markup in data.get("fx_executed_markups", []):
        await run(AddExecutedMarkup(**markup))
    if data.get("clients_csv"):
        await run(ImportClients(csv_text=data["clients_csv"]))
    if data.get("rates_csv"):
        today = engine.clock.now().astimezone(HONG_KONG).strftime("%Y%m%d")
        await run(ImportReferenceRates(csv_text=data["rates_csv"].replace("{record_date}", today)))


async def _bank_channels(engine: Any, data: dict[str, Any], data_dir: Path, run: Any) -> None:  # noqa: ANN401
    stores: set[str] = set()
    for channel in data.get("fx_bank_channels", []):
        gateway = json.loads(json.dumps(channel["gateway"]).replace("{data_dir}", str(data_dir.resolve())))
        await run(ConfigureBankChannel(channel_name=channel["channel_name"], gateway=gateway))
        if gateway.get("kind") == "simulated":
            stores.add(gateway["store"])
    for store in stores:
        bank = SimulatedBankChannel(store, clock=engine.clock)
        try:
            for rate in data.get("fx_bank_rates", []):
                await bank.set_rate(rate["channel_name"], rate["from_currency"], rate["to_currency"],
                                    Decimal(rate["rate"]))
        finally:
            await bank.close()
