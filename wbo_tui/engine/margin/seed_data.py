"""Loading the demo's margin-call set-up (``data/demo_margin.json``) through the engine's
own commands, then a first valuation, so the demo opens with its clients in margin call.

One thing no command does: a call dated months back.  A desk moving to this console
brings its open calls with their trigger dates; the demo's long-term call is loaded that
way, as a dated history record written by the setup tool and audited as such.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ..fx.clients import ImportClients
from ..fx.tables import clients
from ..uow import Actor, write_unit
from .book_import import ImportMarginBook
from .calls import deadline_after
from .instruments import AddInstrument
from .revaluation import revalue_everyone
from .settings import ConfigureMarginFeeds, SetClientTerms, UpdateMarginSettings
from .tables import margin_call_snapshots, margin_calls


async def seed_margin(engine: Any, data: dict[str, Any], tool: str,  # noqa: ANN401 - api.Engine
                      data_dir: Path | None = None) -> None:
    """``data_dir``: where the simulated venue's store goes (``{data_dir}`` in its path);
    None leaves the feeds at their defaults (the venue unconfigured)."""

    async def run(command: Any) -> Any:  # noqa: ANN401
        return await engine.setup_execute(tool=tool, command=command)

    for instrument in data.get("margin_instruments", []):
        fields = dict(instrument)
        days = fields.pop("suspended_days_ago", None)
        if days is not None:
            fields["status_since"] = engine.clock.now() - timedelta(days=days)
        await run(AddInstrument(**fields))
    if data.get("margin_clients_csv"):
        await run(ImportClients(csv_text=data["margin_clients_csv"]))
    if data.get("margin_book_csv"):
        await run(ImportMarginBook(csv_text=data["margin_book_csv"]))
    if data.get("margin_settings"):
        await run(UpdateMarginSettings(**data["margin_settings"], expected_version=0))
    feeds = data.get("margin_feeds")
    if feeds and data_dir is not None:
        feeds = json.loads(json.dumps(feeds).replace("{data_dir}", str(data_dir.resolve())))
        await run(ConfigureMarginFeeds(**feeds))
    ids = await _client_ids(engine)
    for terms in data.get("margin_terms", []):
        fields = dict(terms)
        await run(SetClientTerms(client_id=ids[fields.pop("account_no")], **fields, expected_version=0))
    await revalue_everyone(engine)
    for history in data.get("margin_history", []):
        await _backdate(engine, ids[history["account_no"]], history["days_ago"], history.get("remarks", ""), tool)


async def _client_ids(engine: Any) -> dict[str, int]:  # noqa: ANN401
    from ..uow import read_unit

    async with read_unit(engine.db, Actor.system("setup"), engine.services) as uow:
        return {r.account_no: r.id for r in await uow.conn.execute(select(clients.c.account_no, clients.c.id))}


async def _backdate(engine: Any, client_id: int, days_ago: int, remarks: str, tool: str) -> None:  # noqa: ANN401
    """The client's open call as the previous system had it: triggered ``days_ago`` days
    back, deadline three trading days after that (long past: a force call)."""
    async with write_unit(engine.db, Actor.system(tool), engine.services) as uow:
        call = (await uow.conn.execute(select(margin_calls).where(
            margin_calls.c.client_id == client_id, margin_calls.c.status != "ENDED"))).first()
        if call is None:
            return
        triggered = uow.now - timedelta(days=days_ago)
        await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == call.id).values(
            triggered_at=triggered, deadline=deadline_after(triggered, 3), alert_type="FORCE_CALL",
            force_at=deadline_after(triggered, 3), remarks=remarks, version=margin_calls.c.version + 1))
        await uow.conn.execute(update(margin_call_snapshots).where(
            margin_call_snapshots.c.call_id == call.id, margin_call_snapshots.c.reason == "TRIGGERED").values(
            created_at=triggered))
        uow.record("margin.call.history", "margin_call", call.id, {"triggered_at": call.triggered_at},
                   {"triggered_at": triggered, "remarks": remarks})
