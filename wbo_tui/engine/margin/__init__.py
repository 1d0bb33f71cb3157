"""Margin call (margin-call.txt): instruments and client positions, market prices, the
margin engine (equity, liquid net assets, net asset ratio, margin to be collected), margin
calls with their deadlines, liquidation plans and the orders sent to the venue."""

from __future__ import annotations

from . import tables  # noqa: F401  (the tables join the engine's metadata)
