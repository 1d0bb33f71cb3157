"""Money is Decimal from parsing to storage: exact round trips on both backends, no floats."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from engine_support import login
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import StatementError

from wbo_tui.engine import D, Currency, Engine, ListCurrencies, Money, ValidationFailed
from wbo_tui.engine.db import create_engine
from wbo_tui.engine.types import Amount

ROUND_TRIPS_PER_PRECISION = 10_000
SEED = 20261120  # a failing case replays from this seed

# A table that exists only in the test database: one Amount column and the precision the
# value was generated for.
_test_metadata = MetaData()
amount_probe = Table(
    "test_amount_probe",
    _test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("precision", Integer, nullable=False),
    Column("value", Amount, nullable=True),
    Column("label", String(20), nullable=False),
)


def _amounts(precision: int, count: int, rng: random.Random) -> list[Decimal]:
    """``count`` amounts with exactly ``precision`` decimal places: edge cases first, then
    random sizes from one minor unit to 10^18 major units, both signs."""
    scale = 10**precision
    edge_units = [
        0, 1, -1, 5, -5, 10, scale - 1, scale, scale + 1, -(scale + 1),
        10**15 * scale, -(10**15) * scale, 10**15 * scale + 1, -(10**15 * scale + 1),
        10**18 * scale - 1, -(10**18 * scale - 1), 999_999_999_999 * scale + scale // 2,
    ]
    units = list(edge_units)
    max_digits = 18 + precision
    while len(units) < count:
        digits = rng.randint(1, max_digits)
        n = rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)
        units.append(-n if rng.random() < 0.3 else n)
    return [Decimal(n).scaleb(-precision) for n in units[:count]]


async def _configured_precisions(engine: Engine) -> list[int]:
    viewer = await login(engine, "viewer")
    currencies = await engine.query(viewer, ListCurrencies())
    return sorted({c.amount_precision for c in currencies})


async def test_every_configured_precision_round_trips_exactly(engine: Engine, db_url: str) -> None:
    precisions = await _configured_precisions(engine)
    assert {0, 2, 6, 8} <= set(precisions), precisions
    rng = random.Random(SEED)
    expected: dict[int, tuple[int, Decimal]] = {}
    rows = []
    for precision in precisions:
        for value in _amounts(precision, ROUND_TRIPS_PER_PRECISION, rng):
            row_id = len(rows) + 1
            expected[row_id] = (precision, value)
            rows.append({"id": row_id, "precision": precision, "value": value, "label": "generated"})

    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
            await conn.execute(insert(amount_probe), rows)
        async with db.connect() as conn:
            stored = (await conn.execute(select(amount_probe.c.id, amount_probe.c.value))).all()
            if db.dialect.name == "sqlite":
                # SQLite holds plain decimal text, exactly what was written.
                raw = dict((await conn.execute(text("SELECT id, value FROM test_amount_probe"))).all())
            else:
                raw = None
    finally:
        await db.dispose()

    assert len(stored) == len(expected) == len(precisions) * ROUND_TRIPS_PER_PRECISION
    mismatches = []
    for row_id, got in stored:
        precision, want = expected[row_id]
        same = isinstance(got, Decimal) and got == want and f"{got:.{precision}f}" == f"{want:.{precision}f}"
        if raw is not None:
            same = same and raw[row_id] == format(want, "f")
        if not same:
            mismatches.append((row_id, precision, want, got))
    assert not mismatches, f"{len(mismatches)} amounts changed in storage, e.g. {mismatches[:5]}"


@pytest.mark.parametrize(
    "stored",
    ["10000", "-20000", "1000000000000000", "120000", "10000.00", "0.00000000", "1000", "7"],
)
async def test_amounts_keep_their_exponent(
    engine: Engine, db_url: str, is_pg: bool, stored: str, request: pytest.FixtureRequest
) -> None:
    """``Decimal('10000')`` (¥10,000) must come back as ``10000``, not ``1E+4``: its
    ``str()`` is what pydantic puts in JSON and what an f-string shows."""
    value = Decimal(stored)
    integral_with_zero_group = value.as_tuple().exponent == 0 and value != 0 and value % 10_000 == 0
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
            await conn.execute(insert(amount_probe).values(id=1, precision=0, value=value, label="exp"))
            got = (await conn.execute(select(amount_probe.c.value))).scalar_one()
    finally:
        await db.dispose()
    assert got == value
    assert str(got) == str(value)
    assert got.as_tuple() == value.as_tuple()


async def test_amount_null_round_trips(engine: Engine, db_url: str) -> None:
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
            await conn.execute(insert(amount_probe).values(id=1, precision=2, value=None, label="null"))
            assert (await conn.execute(select(amount_probe.c.value))).scalar_one() is None
    finally:
        await db.dispose()


@pytest.mark.parametrize("bad", [1.5, 0.1, 3, True, "1.50"], ids=["float", "float-0.1", "int", "bool", "str"])
async def test_amount_column_refuses_anything_but_decimal(engine: Engine, db_url: str, bad: object) -> None:
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
        with pytest.raises(StatementError) as caught:
            async with db.begin() as conn:
                await conn.execute(insert(amount_probe).values(id=1, precision=2, value=bad, label="bad"))
        assert isinstance(caught.value.orig, TypeError)
        assert "Amount columns take Decimal" in str(caught.value.orig)
        async with db.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM test_amount_probe"))).scalar() == 0
    finally:
        await db.dispose()


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
async def test_amount_column_refuses_non_finite(engine: Engine, db_url: str, bad: str) -> None:
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
        with pytest.raises(StatementError) as caught:
            async with db.begin() as conn:
                await conn.execute(insert(amount_probe).values(id=1, precision=2, value=Decimal(bad), label="bad"))
        assert isinstance(caught.value.orig, ValueError)
    finally:
        await db.dispose()


async def test_negative_zero_reads_back_the_same_on_both_backends(
    engine: Engine, db_url: str, is_pg: bool, request: pytest.FixtureRequest
) -> None:
    """``Decimal('-0.00')`` arises from ordinary arithmetic (``D('0.00') * -1``).  PostgreSQL
    NUMERIC has no negative zero and returns ``0.00``; SQLite text keeps ``-0.00``.  The
    same console must not show ``-0.00`` on one backend and ``0.00`` on the other."""
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_test_metadata.create_all)
            await conn.execute(insert(amount_probe).values(id=1, precision=2, value=D("0.00") * -1, label="-0"))
            got = (await conn.execute(select(amount_probe.c.value))).scalar_one()
    finally:
        await db.dispose()
    assert got == 0
    assert str(got) == "0.00"


# --- parsing operator input ---------------------------------------------------------------

HKD = Currency("HKD", "Hong Kong Dollar", "fiat", 2, "ROUND_HALF_UP")
JPY = Currency("JPY", "Japanese Yen", "fiat", 0, "ROUND_HALF_UP")
USDT = Currency("USDT", "Tether USD", "crypto", 6, "ROUND_DOWN")
BTC = Currency("BTC", "Bitcoin", "crypto", 8, "ROUND_DOWN")
CURRENCIES = [JPY, HKD, USDT, BTC]


@pytest.mark.parametrize(
    ("currency", "typed", "expected"),
    [
        (HKD, "1,234.50", "1234.50"),
        (HKD, " 7 ", "7"),
        (HKD, "0.01", "0.01"),
        (JPY, "1000000", "1000000"),
        (BTC, "0.00000001", "0.00000001"),
        (BTC, "21,000,000", "21000000"),
        (USDT, "999,999,999.999999", "999999999.999999"),  # the maximum of a crypto currency
    ],
)
def test_parse_amount_accepts_exact_input(currency: Currency, typed: str, expected: str) -> None:
    got = currency.parse_amount(typed, field="Amount")
    assert isinstance(got, Decimal)
    assert got == Decimal(expected)


@pytest.mark.parametrize(
    ("currency", "typed", "rule"),
    [
        (HKD, "0.001", "allows at most 2 decimal places for HKD"),
        (JPY, "1.5", "allows at most 0 decimal places for JPY"),
        (BTC, "0.000000001", "allows at most 8 decimal places for BTC"),
        (USDT, "1.0000001", "allows at most 6 decimal places for USDT"),
        (HKD, "-1", "must not be negative"),
        (BTC, "-0.00000001", "must not be negative"),
        (HKD, "abc", "must be a plain number such as 1,234.56, not 'abc'"),
        (HKD, "1.2.3", "must be a plain number"),
        (HKD, "", "is required"),
        (HKD, "   ", "is required"),
        (HKD, "NaN", "must be a plain number"),
        (HKD, "Infinity", "must be a plain number"),
        (HKD, "1e3", "must be a plain number"),
        (HKD, "1,0,0", "must be a plain number"),
        (BTC, "21_000_000", "must be a plain number"),
        (HKD, "-0.00", "must not be negative zero"),
        (USDT, "1,000,000,000", "must not exceed 999,999,999.999999 USDT"),
    ],
)
def test_parse_amount_refuses_and_names_the_field(currency: Currency, typed: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        currency.parse_amount(typed, field="Transfer amount")
    assert caught.value.field == "Transfer amount"
    assert str(caught.value).startswith("Transfer amount ")
    assert rule in str(caught.value)


def test_parse_amount_allows_negative_only_when_asked() -> None:
    assert HKD.parse_amount("-12.30", field="Adjustment", allow_negative=True) == Decimal("-12.30")


@settings(max_examples=300, deadline=None)
@given(
    currency=st.sampled_from(CURRENCIES),
    units=st.integers(min_value=0, max_value=10**24),
)
def test_format_then_parse_is_the_identity(currency: Currency, units: int) -> None:
    units %= int(currency.maximum.scaleb(currency.amount_precision)) + 1  # up to the currency's maximum
    amount = Decimal(units).scaleb(-currency.amount_precision)
    shown = currency.format(amount)
    assert currency.parse_amount(shown, field="Amount") == amount
    assert currency.format(amount, grouping=False) == format(amount, "f")


@settings(max_examples=300, deadline=None)
@given(currency=st.sampled_from(CURRENCIES), units=st.integers(min_value=0, max_value=10**20))
def test_one_digit_too_many_is_refused(currency: Currency, units: int) -> None:
    over = Decimal(units).scaleb(-currency.amount_precision) + Decimal(1).scaleb(-currency.amount_precision - 1)
    with pytest.raises(ValidationFailed, match="decimal place"):
        currency.parse_amount(format(over, "f"), field="Amount")


def test_quantize_names_its_rounding_mode() -> None:
    assert HKD.quantize(Decimal("1.005")) == Decimal("1.01")  # ROUND_HALF_UP, not banker's
    assert BTC.quantize(Decimal("0.123456789")) == Decimal("0.12345678")  # ROUND_DOWN
    assert JPY.quantize(Decimal("2.5")) == Decimal("3")


# --- D() and Money ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.1, 1.0, float("nan"), True])
def test_d_refuses_floats_and_bools(bad: object) -> None:
    with pytest.raises(TypeError, match="refusing to build money"):
        D(bad)  # type: ignore[arg-type]


def test_d_accepts_text_int_and_decimal() -> None:
    assert D("0.10") == Decimal("0.10") and str(D("0.10")) == "0.10"
    assert D(7) == Decimal(7)
    same = Decimal("1.5")
    assert D(same) is same


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(D("1.50"), "USD") + 1.5  # type: ignore[operator]


@pytest.mark.parametrize("op", ["add", "sub", "lt", "le", "gt"])
def test_money_refuses_cross_currency_arithmetic(op: str) -> None:
    usd, hkd = Money(D("1.00"), "USD"), Money(D("1.00"), "HKD")
    with pytest.raises(ValueError, match="cannot combine (USD with HKD|HKD with USD)"):
        {
            "add": lambda: usd + hkd,
            "sub": lambda: usd - hkd,
            "lt": lambda: usd < hkd,
            "le": lambda: usd <= hkd,
            "gt": lambda: usd > hkd,
        }[op]()


def test_money_same_currency_arithmetic_is_exact() -> None:
    a, b = Money(D("0.10"), "USD"), Money(D("0.20"), "USD")
    assert a + b == Money(D("0.30"), "USD")
    assert b - a == Money(D("0.10"), "USD")
    assert -a == Money(D("-0.10"), "USD")
    assert a < b and a <= a
