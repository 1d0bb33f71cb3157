"""The liquidation venue: the boundary the margin-call engine sends liquidation orders
through (``gateway``), the built-in simulated venue (``simulator``), and FIX 4.4: the client
(``fix_client``), the acceptor that serves a venue over loopback (``fix_acceptor``) and the
session layer both use (``fix_session``, on ``simplefix``).

The FIX modules (and simplefix) are loaded only when asked for: a console on the simulator
never imports them.
"""

from __future__ import annotations

from .gateway import (
    CancelRejected,
    Fill,
    LiquidationVenue,
    OrderState,
    Side,
    UnknownVenueOrder,
    VenueError,
    VenueIdempotencyConflict,
    VenueOrder,
    VenueOrderStatus,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)
from .registry import build_venue, check_venue_config
from .sim_store import VenueRequest, VenueSettings
from .simulator import PriceSource, Quote, SimulatedVenue

__all__ = [
    "CancelRejected",
    "Fill",
    "FixAcceptor",
    "FixVenue",
    "LiquidationVenue",
    "OrderState",
    "PriceSource",
    "Quote",
    "Side",
    "SimulatedVenue",
    "UnknownVenueOrder",
    "VenueError",
    "VenueIdempotencyConflict",
    "VenueOrder",
    "VenueOrderStatus",
    "VenueProtocolError",
    "VenueRequest",
    "VenueSettings",
    "VenueTimeout",
    "VenueUnavailable",
    "build_venue",
    "check_venue_config",
]


def __getattr__(name: str) -> object:
    if name == "FixVenue":
        from .fix_client import FixVenue

        return FixVenue
    if name == "FixAcceptor":
        from .fix_acceptor import FixAcceptor

        return FixAcceptor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
