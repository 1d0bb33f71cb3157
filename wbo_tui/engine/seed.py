"""Loading demo data from a JSON file (``data/demo.json``): roles and operators, a
settlement channel on the simulated upstream with its accounts, thresholds and balances,
alert subscriptions, fund allocation rules, and the currency-exchange set-up."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from .admin import CreateOperator, CreateRole
from .api import Engine
SEED_TOOL = "seed"


async def seed(engine: Engine, data: dict[str, Any], *, data_dir: Path | None = None) -> None:
    """Create what ``data`` describes through the engine's own commands, so the seed itself
    is validated and audited.  ``data_dir`` replaces ``{data_dir}`` in gateway settings."""
    for role in data.get("roles", []):
        await engine.setup_execute(tool=SEED_TOOL, command=CreateRole(**role))
    for op in data.get("operators", []):
        await engine.setup_execute(tool=SEED_TOOL, command=CreateOperator(**op))
    if data.get("settlement_channels"):
        await _seed_positions(engine, data, data_dir or Path.cwd())
    if data.get("subscriptions"):
        from .notify import CreateSubscription

        for sub in data["subscriptions"]:
            await engine.setup_execute(tool=SEED_TOOL, command=CreateSubscription(**sub))
    if data.get("allocation_rules"):
        await _seed_allocation_rules(engine, data)
    if data.get("fx_currency_setup"):
        from .fx.seed_data import seed_fx

        await seed_fx(engine, data, SEED_TOOL, data_dir or Path.cwd())
    if data.get("margin_instruments"):
        from .margin.seed_data import seed_margin

        await seed_margin(engine, data, SEED_TOOL, data_dir or Path.cwd())


async def _seed_allocation_rules(engine: Engine, data: dict[str, Any]) -> None:
    """Rules name their accounts by currency and main account number on ``channel``."""
    from .allocations import CreateAllocationRule
    from .positions import ListChannelAccounts

    accounts = {(a.currency, a.account_no): a.id
                for a in await engine.setup_query(tool=SEED_TOOL, query=ListChannelAccounts(channel=data["channel"]))}
    for rule in data["allocation_rules"]:
        fields = {k: v for k, v in rule.items() if k not in ("from", "to")}
        await engine.setup_execute(tool=SEED_TOOL, command=CreateAllocationRule(
            **fields, from_account_id=accounts[(rule["from"]["currency"], rule["from"]["account_no"])],
            to_account_id=accounts[(rule["to"]["currency"], rule["to"]["account_no"])],
        ))


async def _seed_positions(engine: Engine, data: dict[str, Any], data_dir: Path) -> None:
    from .positions import CreateChannelAccount, RegisterSettlementChannel, SetThresholds
    from .upstream.simulator import SimulatedUpstream

    stores: dict[str, Path] = {}
    for channel in data["settlement_channels"]:
        gateway = json.loads(json.dumps(channel["gateway"]).replace("{data_dir}", str(data_dir.resolve())))
        await engine.setup_execute(tool=SEED_TOOL, command=RegisterSettlementChannel(
            code=channel["code"], name=channel["name"], gateway=gateway))
        if gateway.get("kind") == "simulated":
            stores[channel["code"]] = Path(gateway["store"])
    balances: dict[str, list[tuple[str, str, Decimal]]] = {}
    for acct in data.get("channel_accounts", []):
        fields = {k: acct[k] for k in ("channel", "currency_type", "currency", "account_no", "scenario")}
        dto = await engine.setup_execute(tool=SEED_TOOL, command=CreateChannelAccount(**fields, remarks=acct.get("remarks", "")))
        if "threshold_alert" in acct or "threshold_blocking" in acct:
            await engine.setup_execute(tool=SEED_TOOL, command=SetThresholds(
                channel_account_id=dto.id, threshold_alert=acct.get("threshold_alert"),
                threshold_blocking=acct.get("threshold_blocking")))
        if "upstream_available" in acct and acct["channel"] in stores:
            balances.setdefault(acct["channel"], []).append(
                (acct["account_no"], acct["currency"], Decimal(acct["upstream_available"])))
    for code, rows in balances.items():
        bank = SimulatedUpstream(stores[code], clock=engine.clock)
        try:
            await bank.set_balances(rows)
        finally:
            bank.close()


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
