"""A simulated market: the default price feed for the demo and the tests.

Nothing is stored and nothing is canned for a test.  The price of a code at a moment is a
pure function of the seed, the code, its anchor (the day's opening price), the step length
and the moment, so two simulators built alike agree to the last digit in any process on
any machine: several consoles, a test and an HTTP server in front of one see one market.

* Time is cut into steps of ``step_s`` seconds from the Unix epoch; a quote is dated at the
  start of its step and holds until the next.
* Each UTC day the walk starts again at the anchor (00:00 UTC is 08:00 in Hong Kong,
  before the market opens), then every step moves the last price 0 to 3 HKEX grid steps up
  or down (``ticks``: the step grows with the price).  The moves come from SHAKE-128 of
  the seed, the code, the day and a block of ``BLOCK`` steps; Python's ``hash`` is salted
  per process and ``random`` is not promised stable across versions.
* The walk is folded back (reflected) at ±``max_drift`` of the anchor, 30 % unless told:
  bounded, and still at most 3 grid steps a move.
* The bid is the last price or one grid step under it, the ask one grid step above the
  bid: the last trade was at the bid or at the ask, and the spread is one step.

A call is O(1) amortised: each code keeps the block its last quote was in and the walk's
offset at that block's start, so a later step only hashes the blocks in between; a step
in an earlier block (the "stale" fault) walks its day again from the start, at most
``86400 / step_s / BLOCK`` hashes.

Faults for tests (``set_fault``, or ``fault=`` when built): ``down`` (every request is
``PriceFeedUnavailable``), ``timeout`` (every request hangs ``hang_s`` seconds, then is
``PriceFeedTimeout``), ``stale`` (quotes as of ``stale_by_s`` seconds ago, dated then)
and ``halt:700.HK,5.HK`` (those codes keep the quote of the step the halt began in, and
age with it).  A fault lasts until ``clear_faults``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ...clock import Clock, Seconds, SystemClock
from ..ticks import HIGHEST, SPREAD_TABLE, on_grid, step_at, to_grid
from .gateway import PriceFeedTimeout, PriceFeedUnavailable, Quote, check_code, check_codes

__all__ = [
    "BLOCK", "DEFAULT_STALE_BY_S", "DEFAULT_STEP_S", "FAULT_KINDS", "MAX_DRIFT", "SimulatedPriceFeed",
    "check_anchor", "check_seconds", "check_seed", "check_step_s", "grid_index", "grid_price", "parse_fault",
]

DEFAULT_STEP_S: Seconds = 5.0
MIN_STEP_S: Seconds = 1.0  # a quote a second is as often as any price pass looks
MAX_STEP_S: Seconds = 86_400.0  # one step a day: the anchor itself
DEFAULT_STALE_BY_S: Seconds = 60.0
MAX_DRIFT = Decimal("0.30")
MAX_MOVE = 3  # grid steps a step may move, either way
BLOCK = 1024  # steps drawn per hash: 85 minutes at 5 s
FAULT_KINDS = ("down", "timeout", "stale", "halt")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY_US = 86_400 * 1_000_000
# A byte of the stream as a move plus 3 (0..6 for -3..+3): bytes 252..255 would bias the
# modulo toward the low values, which over a day's 17,280 steps is a visible drift down;
# they are no move instead, which keeps the walk symmetric.
_MOVES = bytes((b % 7) if b < 252 else MAX_MOVE for b in range(256))
# Adler-32's low half is 1 + the sum of the bytes modulo 65,521: exact for a block's moves
# (at most 6 each), and done in C, where ``sum`` of 1,024 bytes is the walk's main cost.
assert 2 * MAX_MOVE * BLOCK < 65_521


def _byte_sum(moves: bytes) -> int:
    return (zlib.adler32(moves) & 0xFFFF) - 1


# --- the HKEX grid as whole numbers -----------------------------------------------------


def _bands() -> tuple[tuple[tuple[int, Decimal, Decimal], ...], int]:
    """(index of the band's lower price, lower price, step) per band, and the top index."""
    bands = []
    index = 0
    for number, (lower, step) in enumerate(SPREAD_TABLE):
        bands.append((index, lower, step))
        upper = SPREAD_TABLE[number + 1][0] if number + 1 < len(SPREAD_TABLE) else HIGHEST + step
        index += int((upper - lower) / step)
    return tuple(bands), index - 1


_BANDS, TOP_INDEX = _bands()
_BAND_STARTS = [first for first, _, _ in _BANDS]


def grid_index(price: Decimal) -> int:
    """The number of grid steps from the lowest price (0.01) up to ``price``, which must be
    on the grid.  One step up or down in index is ``ticks.move(price, ±1)``."""
    if not on_grid(price):
        raise ValueError(f"{price} is not a price on the HKEX grid")
    for first, lower, step in reversed(_BANDS):
        if price >= lower:
            return first + int((price - lower) / step)
    raise AssertionError("unreachable: on_grid checked the lowest price")


def grid_price(index: int) -> Decimal:
    """The price ``index`` grid steps above the lowest, to its step's places ("368.20")."""
    if not 0 <= index <= TOP_INDEX:
        raise ValueError(f"grid index must be from 0 to {TOP_INDEX}, got {index}")
    first, lower, step = _BANDS[bisect_right(_BAND_STARTS, index) - 1]
    return (lower + (index - first) * step).quantize(step)


def _fold(position: int, low: int, high: int) -> int:
    """``position`` reflected into ``[low, high]``: a walk folded this way moves no more
    per step than it did unfolded, and never leaves the band."""
    span = high - low
    if span == 0:
        return low
    offset = (position - low) % (2 * span)
    return low + (offset if offset <= span else 2 * span - offset)


# --- checks (shared with the registry, which names the field) ---------------------------


def check_seed(seed: object, field: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{field} must be a whole number, got {seed!r}")
    return seed


def check_seconds(value: object, field: str, *, low: Seconds = 0.0, high: Seconds | None = None) -> Seconds:
    """A duration in seconds within ``[low, high]`` (a bool is not one).  Not money: a
    float is right for it."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not low <= value
            or (high is not None and not value <= high)):
        upper = f" and at most {high:g}" if high is not None else ""
        raise ValueError(f"{field} must be a number of seconds of at least {low:g}{upper}, got {value!r}")
    return float(value)  # seconds, not money


def check_step_s(step_s: object, field: str = "step_s") -> Seconds:
    return check_seconds(step_s, field, low=MIN_STEP_S, high=MAX_STEP_S)


def check_anchor(code: str, price: object, field: str) -> Decimal:
    """An opening price: a Decimal on the HKEX grid (a float is a ``TypeError``)."""
    check_code(code, field)
    if not isinstance(price, Decimal) or not price.is_finite():
        raise TypeError(f"{field} must be a finite Decimal, got {type(price).__name__} {price!r}")
    if not on_grid(price):
        raise ValueError(f"{field} must be a price on the HKEX grid (steps of {step_at(price)} there), got {price}")
    return price


def parse_fault(fault: object, field: str = "fault") -> tuple[str, frozenset[str]] | None:
    """``(kind, halted codes)`` of a fault's text, or None for no fault."""
    if fault is None:
        return None
    if isinstance(fault, str):
        kind, colon, rest = fault.partition(":")
        if kind in FAULT_KINDS and bool(colon) == (kind == "halt"):
            if kind != "halt":
                return kind, frozenset()
            codes = rest.split(",")
            if all(map(_is_code, codes)):
                return kind, frozenset(codes)
    raise ValueError(f"{field} must be down, timeout, stale or halt:<code>[,<code>…], got {fault!r}")


def _is_code(text: str) -> bool:
    try:
        check_code(text)
    except ValueError:
        return False
    return True


# --- the walk of one code ---------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    """One code's stream for ``BLOCK`` steps of a day, and the walk's offset (in grid
    steps from the anchor) at its first step."""

    day: int
    number: int
    start: int
    moves: bytes  # per step, the move plus 3
    # Per step, bit 0: the last trade was at the ask (the bid one step under it).  Its own
    # stream, drawn only for the block a quote is in, not for every block walked through.
    spread: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Instrument:
    anchor: int  # grid indices
    low: int
    high: int


class SimulatedPriceFeed:
    """The built-in price feed (implements ``PriceGateway``): quotes of the codes in
    ``anchors``, each walking from its anchor as the module docstring says.

    ``clock`` is the market's time (``SystemClock`` unless given); ``step_s``,
    ``stale_by_s`` and ``hang_s`` are seconds, not money.  Safe to share between tasks
    and threads of one process.
    """

    def __init__(
        self,
        seed: int,
        anchors: Mapping[str, Decimal],
        *,
        step_s: Seconds = DEFAULT_STEP_S,
        clock: Clock | None = None,
        max_drift: Decimal = MAX_DRIFT,
        fault: str | None = None,
        stale_by_s: Seconds = DEFAULT_STALE_BY_S,
        hang_s: Seconds = 0.0,
    ) -> None:
        self.seed = check_seed(seed)
        self.step_s = check_step_s(step_s)
        self._step_us = round(self.step_s * 1_000_000)
        if not isinstance(max_drift, Decimal) or not Decimal(0) <= max_drift < 1:
            raise ValueError(f"max_drift must be a Decimal from 0 up to (not including) 1, got {max_drift!r}")
        if not isinstance(anchors, Mapping):
            raise TypeError(f"anchors must be a mapping of code to opening price, got {type(anchors).__name__}")
        self.anchors = {code: check_anchor(code, price, f"anchors[{code}]") for code, price in anchors.items()}
        self._instruments = {
            code: _Instrument(
                grid_index(price),
                grid_index(to_grid(price * (1 - max_drift), up=True)),
                grid_index(to_grid(price * (1 + max_drift), up=False)),
            )
            for code, price in self.anchors.items()
        }
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._cache: dict[str, _Block] = {}
        self._closed = False
        self._fault: tuple[str, frozenset[str]] | None = None
        self._halted_step = 0
        self._stale_by_s = DEFAULT_STALE_BY_S
        self._hang_s = 0.0
        self.set_fault(fault, stale_by_s=stale_by_s, hang_s=hang_s)

    # --- the gateway ----------------------------------------------------------------------

    async def quotes(self, codes: Sequence[str]) -> dict[str, Quote]:
        wanted = check_codes(codes)
        if self._closed:
            raise RuntimeError("the price simulator is closed")
        fault = self._fault
        kind = fault[0] if fault else None
        if kind == "down":
            raise PriceFeedUnavailable("The price feed is unavailable.")
        if kind == "timeout":
            await asyncio.sleep(self._hang_s)
            raise PriceFeedTimeout("The price feed did not answer in time.")
        now = self._now()
        if kind == "stale":
            now -= timedelta(seconds=self._stale_by_s)
        step = self._step(now)
        halted = fault[1] if fault and kind == "halt" else frozenset()
        with self._lock:
            return {
                code: self._quote(code, self._halted_step if code in halted else step)
                for code in wanted
                if code in self._instruments
            }

    async def close(self) -> None:
        """Later requests fail; a second close is harmless."""
        self._closed = True

    async def __aenter__(self) -> SimulatedPriceFeed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the market, read directly ----------------------------------------------------------

    def quote_at(self, code: str, at: datetime) -> Quote | None:
        """The quote of ``code`` in the step ``at`` is in, whatever the faults; None for a
        code the simulator does not quote."""
        check_code(code)
        if code not in self._instruments:
            return None
        with self._lock:
            return self._quote(code, self._step(at))

    def step_start(self, at: datetime) -> datetime:
        """The start of the step ``at`` is in: the ``quoted_at`` of its quotes."""
        return _EPOCH + self._step(at) * self._step_us * _US

    # --- faults -----------------------------------------------------------------------------

    def set_fault(self, fault: str | None, *, stale_by_s: Seconds | None = None, hang_s: Seconds | None = None) -> None:
        """Replace the fault (see the module docstring); None is ``clear_faults``.  A halt
        freezes its codes at the clock's current step."""
        parsed = parse_fault(fault)
        if stale_by_s is not None:
            self._stale_by_s = check_seconds(stale_by_s, "stale_by_s")
        if hang_s is not None:
            self._hang_s = check_seconds(hang_s, "hang_s")
        if parsed is not None and parsed[0] == "halt":
            self._halted_step = self._step(self._now())
        self._fault = parsed

    def clear_faults(self) -> None:
        self._fault = None

    @property
    def fault(self) -> str | None:
        """The fault in force, as ``set_fault`` takes it."""
        if self._fault is None:
            return None
        kind, codes = self._fault
        return f"halt:{','.join(sorted(codes))}" if kind == "halt" else kind

    # --- the walk -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return now

    def _step(self, at: datetime) -> int:
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ValueError(f"a moment must be a timezone-aware datetime, got {at!r}")
        # Whole microseconds, so that every process cuts the same steps (no float).
        return ((at - _EPOCH) // _US) // self._step_us

    def _quote(self, code: str, step: int) -> Quote:
        """Call with the lock held (the cache is shared)."""
        start_us = step * self._step_us
        day = start_us // _DAY_US
        first_of_day = -(-day * _DAY_US // self._step_us)
        offset, at_ask = self._walk(code, day, step - first_of_day)
        instrument = self._instruments[code]
        last = _fold(instrument.anchor + offset, instrument.low, instrument.high)
        bid = min(max(last - at_ask, 0), TOP_INDEX - 1)
        return Quote(code, grid_price(bid), grid_price(bid + 1), grid_price(last), _EPOCH + start_us * _US)

    def _walk(self, code: str, day: int, k: int) -> tuple[int, int]:
        """The walk's offset from the anchor at step ``k`` of ``day`` (in grid steps,
        before folding), and whether that step's last trade was at the ask (0 or 1)."""
        number, within = divmod(k, BLOCK)
        block = self._cache.get(code)
        if block is None or block.day != day or block.number > number:
            block = self._block(code, day, 0, 0)
        while block.number < number:
            block = self._block(code, day, block.number + 1, block.start + _byte_sum(block.moves) - MAX_MOVE * BLOCK)
        if block.spread is None:
            block.spread = self._draw(code, day, block.number, "spread")
        self._cache[code] = block
        return block.start + _byte_sum(block.moves[:within]) - MAX_MOVE * within, block.spread[within] & 1

    def _block(self, code: str, day: int, number: int, start: int) -> _Block:
        return _Block(day, number, start, self._draw(code, day, number, "moves").translate(_MOVES))

    def _draw(self, code: str, day: int, number: int, stream: str) -> bytes:
        return hashlib.shake_128(f"{self.seed}:{code}:{day}:{number}:{stream}".encode()).digest(BLOCK)
