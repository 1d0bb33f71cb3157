"""A console process for ``test_audit_anchor``: it writes audit records (logins) and
anchors them, as every console does, into an anchor file other processes share."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


def anchor_while_working(db_url: str, key: bytes, anchor_file: str, rounds: int, results: Any) -> None:
    try:
        written = asyncio.run(_anchor_while_working(db_url, key, Path(anchor_file), rounds))
        results.put(("ok", written))
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        results.put(("error", repr(error)))


async def _anchor_while_working(db_url: str, key: bytes, anchor_file: Path, rounds: int) -> int:
    from engine_support import login

    from wbo_tui.engine import Engine
    from wbo_tui.engine.audit_anchor import AnchorKeeper
    from wbo_tui.engine.passwords import fast_hasher

    engine = await Engine.open(db_url, hasher=fast_hasher(), audit_key=key)
    try:
        keeper = AnchorKeeper(engine, anchor_file, interval_s=3600)
        written = 0
        for _ in range(rounds):
            await login(engine, "viewer")
            if await keeper.write_now("periodic") is not None:
                written += 1
        return written
    finally:
        await engine.close()
