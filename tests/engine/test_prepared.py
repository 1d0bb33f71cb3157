"""``Prepared`` on the SQLite driver reads and writes what ``conn.execute`` does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from wbo_tui.engine import Engine
from wbo_tui.engine.prepared import Prepared
from wbo_tui.engine.schema import currencies, operators
from wbo_tui.engine.uow import Actor, write_unit

OPERATOR = Prepared(select(operators).where(operators.c.username == bindparam("username")))
ADD_CURRENCY = Prepared(insert(currencies).returning(currencies.c.code, currencies.c.exchange_enabled),
                        keys=("code", "name", "kind", "amount_precision", "rounding", "exchange_enabled"))
LOCK = Prepared(update(operators).where(operators.c.username == bindparam("who"))
                .values(locked_until=bindparam("until")))
WHEN = datetime(2026, 11, 20, 9, 30, 0, 250_000, tzinfo=UTC)


async def test_prepared_matches_execute(engine: Engine, is_pg: bool) -> None:
    async with write_unit(engine.db, Actor.system(), engine.services) as uow:
        assert (uow.sqlite is None) == is_pg  # the driver path is SQLite's write units only
        fast = await OPERATOR.rows(uow.conn, {"username": "admin"}, sqlite=uow.sqlite)
        slow = await OPERATOR.rows(uow.conn, {"username": "admin"})
        assert [tuple(r) for r in fast] == [tuple(r) for r in slow] and len(fast) == 1
        assert fast[0].enabled is True and fast[0].created_at.tzinfo is not None  # typed as SQLAlchemy types them

        await LOCK.rows(uow.conn, {"who": "admin", "until": WHEN}, sqlite=uow.sqlite)
        stored = (await uow.conn.execute(select(operators.c.locked_until).where(operators.c.username == "admin")))
        assert stored.scalar_one() == WHEN
        if not is_pg:  # the same text a normal UPDATE writes
            raw = await uow.conn.execute(text("SELECT locked_until FROM operators WHERE username = 'admin'"))
            assert raw.scalar_one() == "2026-11-20 09:30:00.250000"

        row = await ADD_CURRENCY.one(uow.conn, {"code": "XAU", "name": "Gold", "kind": "fiat",
                                                "amount_precision": 4, "rounding": "ROUND_HALF_EVEN",
                                                "exchange_enabled": False}, sqlite=uow.sqlite)
        assert (row.code, row.exchange_enabled) == ("XAU", False)
        uow.record("test.prepared", "currency", "XAU", None, {"amount": Decimal("1.50")})
    with pytest.raises(IntegrityError):  # driver errors arrive as SQLAlchemy's, as from execute
        async with write_unit(engine.db, Actor.system(), engine.services) as uow:
            await ADD_CURRENCY.rows(uow.conn, {"code": "XAU", "name": "Gold again", "kind": "fiat",
                                               "amount_precision": 4, "rounding": "ROUND_HALF_EVEN",
                                               "exchange_enabled": False}, sqlite=uow.sqlite)
