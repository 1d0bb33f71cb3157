"""Build a price gateway from its small configuration (``margin_settings.price_source``)::

    {"kind": "simulator", "seed": 7, "anchors": {"700.HK": "368.20", "5.HK": "62.50"}, "step_s": 5}
    {"kind": "http", "base_url": "http://127.0.0.1:8767", "timeout_s": 2}

* ``simulator``: ``seed`` (a whole number) and ``anchors`` (each code's opening price, a
  decimal string on the HKEX grid) are required; ``step_s`` (seconds a price holds,
  1 to 86,400, default 5), ``fault`` (``down``, ``timeout``, ``stale`` or
  ``halt:<code>[,<code>…]``, for tests and demos) and ``stale_by_s`` (how old a ``stale``
  fault's quotes are, default 60) are optional.  The simulator is the default for the demo
  and the tests; it keeps nothing, so it needs no store.
* ``http``: ``base_url`` is required, ``timeout_s`` (seconds per request phase, default
  5) optional.

``check_price_gateway_config`` refuses what ``build_price_gateway`` would refuse, without
building anything (no HTTP client loaded), so a command can check a configuration inside
its transaction.  Its refusal is a ``ValidationFailed`` naming the setting and the rule
(``anchors[700.HK] must be a price on the HKEX grid …``), which the engine shows as it
shows any refused input; it is a ``ValueError`` too, as the other integrations'
configuration errors are.  The field checks are the integrations' own
(``integration.config``) and the simulator's, with the setting's name put first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ...clock import Clock
from ...errors import ValidationFailed
from ...integration.config import DEFAULT_TIMEOUT_S, Fields, check_base_url, check_timeout_s
from .gateway import INSTRUMENT_CODE, PriceGateway
from .simulator import (
    DEFAULT_STALE_BY_S,
    DEFAULT_STEP_S,
    SimulatedPriceFeed,
    check_anchor,
    check_seconds,
    check_seed,
    check_step_s,
    parse_fault,
)

FIELDS: Fields = {
    "simulator": (frozenset({"seed", "anchors"}), frozenset({"step_s", "fault", "stale_by_s"})),
    "http": (frozenset({"base_url"}), frozenset({"timeout_s"})),
}
MAX_ANCHORS = 20_000  # far above the instruments a desk margins; bounds a runaway configuration
# A price as configured: plain decimal notation, ASCII digits only (used with ``fullmatch``).
_PRICE_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


class PriceGatewayConfigError(ValidationFailed, ValueError):
    """A price gateway's configuration is incomplete or wrong: ``field`` names the setting
    (``timeout_s``, ``anchors[700.HK]``), ``rule`` what it breaks."""


def check_price_gateway_config(config: Any) -> dict[str, Any]:  # noqa: ANN401
    """``config`` checked whole, as a new dict with the optional settings' defaults filled
    in (``step_s``, ``timeout_s``) and the anchors as decimal strings: what to store and
    what ``build_price_gateway`` builds from.  Refuses with ``PriceGatewayConfigError``."""
    kind = _kind(config)
    if kind == "http":
        with _setting("base_url"):
            base_url = check_base_url(config["base_url"], ValueError)
        with _setting("timeout_s"):
            timeout_s = check_timeout_s(config.get("timeout_s", DEFAULT_TIMEOUT_S), ValueError)
        return {"kind": "http", "base_url": base_url.rstrip("/"), "timeout_s": timeout_s}
    with _setting("seed"):
        seed = check_seed(config["seed"])
    anchors = _anchors(config["anchors"])
    with _setting("step_s"):
        step_s = check_step_s(config.get("step_s", DEFAULT_STEP_S))
    checked: dict[str, Any] = {
        "kind": "simulator",
        "seed": seed,
        "anchors": {code: format(price, "f") for code, price in anchors.items()},
        "step_s": step_s,
    }
    if config.get("fault") is not None:
        with _setting("fault"):
            parse_fault(config["fault"])
        checked["fault"] = config["fault"]
    if "stale_by_s" in config:
        with _setting("stale_by_s"):
            checked["stale_by_s"] = check_seconds(config["stale_by_s"], "stale_by_s")
    return checked


def build_price_gateway(config: Any, *, clock: Clock | None = None) -> PriceGateway:  # noqa: ANN401
    """The price gateway ``config`` describes.  ``clock`` is the simulator's market time
    (``SystemClock`` unless given); an HTTP gateway has no use for it."""
    checked = check_price_gateway_config(config)
    if checked["kind"] == "simulator":
        return SimulatedPriceFeed(
            checked["seed"],
            {code: Decimal(text) for code, text in checked["anchors"].items()},
            step_s=checked["step_s"],
            clock=clock,
            fault=checked.get("fault"),
            stale_by_s=checked.get("stale_by_s", DEFAULT_STALE_BY_S),
        )
    from .http_gateway import HttpPriceGateway  # loads httpx only for a feed that uses HTTP

    return HttpPriceGateway(checked["base_url"], timeout_s=checked["timeout_s"])


# --- the checks -------------------------------------------------------------------------


def _kind(config: Any) -> str:  # noqa: ANN401
    """The configuration's kind, once it is a mapping of a known kind with the settings
    that kind takes and no other (each refusal names the setting)."""
    if not isinstance(config, Mapping):
        raise PriceGatewayConfigError(
            "price gateway", f"must be a JSON object of settings, got {type(config).__name__}"
        )
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in FIELDS:  # a list is no kind (nor hashable)
        raise PriceGatewayConfigError("kind", f"must be one of {', '.join(sorted(FIELDS))}, got {kind!r}")
    required, optional = FIELDS[kind]
    missing = sorted(required - set(config))
    if missing:
        raise PriceGatewayConfigError(missing[0], f"is required for a {kind} price gateway")
    extra = sorted(map(str, set(config) - required - optional - {"kind"}))
    if extra:
        raise PriceGatewayConfigError(extra[0], f"is not a setting of a {kind} price gateway")
    return kind


@contextmanager
def _setting(field: str) -> Iterator[None]:
    """A check's refusal (a ``ValueError`` or ``TypeError`` whose message starts with the
    setting's name, as every check used here words it) as a ``PriceGatewayConfigError``."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise PriceGatewayConfigError(field, str(exc).removeprefix(f"{field} ")) from None


def _anchors(anchors: Any) -> dict[str, Decimal]:  # noqa: ANN401
    if not isinstance(anchors, Mapping) or not anchors:
        raise PriceGatewayConfigError("anchors", "must map one or more instrument codes to their opening prices")
    if len(anchors) > MAX_ANCHORS:
        raise PriceGatewayConfigError("anchors", f"has {len(anchors)} codes, more than {MAX_ANCHORS}")
    prices: dict[str, Decimal] = {}
    for code, text in anchors.items():
        if not isinstance(code, str) or not INSTRUMENT_CODE.fullmatch(code):
            raise PriceGatewayConfigError("anchors", f"must be keyed by instrument codes such as 700.HK, got {code!r}")
        field = f"anchors[{code}]"
        with _setting(field):
            prices[code] = check_anchor(code, _price(text, field), field)
    return prices


def _price(value: Any, field: str) -> Decimal:  # noqa: ANN401
    """A configured price: a decimal string (or a Decimal, from Python), never a number,
    whose binary approximation would be configured instead of the price."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{field} must be a decimal string such as \"368.20\", got the number {value!r}")
    if not isinstance(value, str) or not _PRICE_TEXT.fullmatch(value):
        raise ValueError(f"{field} must be a decimal string such as \"368.20\", got {value!r}")
    return Decimal(value)
