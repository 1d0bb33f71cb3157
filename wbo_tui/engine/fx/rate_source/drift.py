"""Deterministic drift of simulated rates: the same seed and hour give the same rates in
any process, on any machine, so two consoles (or a console and a test) that read one
simulated source agree to the last digit.

Python's ``hash`` is salted per process and ``random.Random`` is not promised to be stable
across versions, so the pseudo-random number of basis points comes from SHA-256 of the
seed, the channel, the rate type, the currency and the hour.
"""

from __future__ import annotations

import decimal
import hashlib
from datetime import UTC, datetime
from decimal import Decimal

RATE_PLACES = Decimal("0.0001")
"""Drifted rates are published to 4 decimal places, as the channels quote them."""

MAX_STEP_BP = 9_999
"""A move of 10,000 bp or more could take a rate to zero or below."""

# Products of a rate and a factor are exact at this precision for any realistic rate;
# the ambient context (28 digits, whatever rounding someone set) is never relied on.
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_BP = Decimal("0.0001")


def hour_bucket(moment: datetime) -> int:
    """Whole hours since the Unix epoch (UTC).  Hong Kong is a whole number of hours from
    UTC with no daylight saving, so these are Hong Kong clock hours too."""
    if moment.tzinfo is None:
        raise ValueError("hour_bucket needs a timezone-aware time")
    return int(moment.astimezone(UTC).timestamp() // 3600)


def hour_start(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * 3600, UTC)


def drift_bp(seed: int, channel_name: str, rate_type: str, currency: str, bucket: int, step_bp: int) -> int:
    """A whole number of basis points in ``[-step_bp, step_bp]`` for this currency in this
    hour.  Each currency moves on its own, as real quotes do."""
    check_step(step_bp)
    if step_bp == 0:
        return 0
    key = f"{seed}|{channel_name}|{rate_type}|{currency}|{bucket}".encode()
    draw = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    # The modulo bias of a 64-bit draw over at most 19,999 values is below 1e-15.
    return draw % (2 * step_bp + 1) - step_bp


def check_step(step_bp: int) -> None:
    if isinstance(step_bp, bool) or not isinstance(step_bp, int) or not 0 <= step_bp <= MAX_STEP_BP:
        raise ValueError(f"step_bp must be a whole number from 0 to {MAX_STEP_BP}, got {step_bp!r}")


def move(rate: Decimal, bp: int) -> Decimal:
    """``rate`` moved by ``bp`` basis points, to 4 places rounded half-up.

    bid, offer and average are all multiplied by the same positive factor and rounded the
    same way; both steps are monotone, so ``bid <= average <= offer`` survives the move.
    A rate that would round to zero is kept at the smallest quotable rate (also monotone)
    rather than published as a non-positive rate the contract refuses."""
    factor = _EXACT.add(Decimal(1), _EXACT.multiply(Decimal(bp), _BP))
    moved = _EXACT.multiply(rate, factor).quantize(RATE_PLACES, rounding=decimal.ROUND_HALF_UP, context=_EXACT)
    return max(moved, RATE_PLACES)
