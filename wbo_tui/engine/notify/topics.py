"""The topics the console raises, a fixed catalogue.

A subscription can only name a topic listed here, so a typo cannot create a subscription
that never fires.  New topics (allocation failed, approvals waiting…) are added here by the
service that raises them, in the same change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    module: str
    description: str


TOPICS: tuple[Topic, ...] = (
    Topic("position.alert", "Positions", "Available balance fell below the alert threshold"),
    Topic("position.blocking", "Positions", "Available balance fell below the blocking threshold"),
    Topic("position.recovered", "Positions", "Available balance recovered above the alert threshold"),
    Topic("position.channel_failed", "Positions",
          "A settlement channel could not be polled (once per outage), and when it answers again"),
    Topic("approval.pending", "Approvals", "An item was submitted for approval (four eyes): it awaits a checker"),
    Topic("fx.pool_alert", "FX", "An exchange-pool quota fell below its alert amount (once per crossing)"),
    Topic("fx.rate_refresh_failed", "FX", "A scheduled reference-rate refresh failed (the source's answer and "
          "the rates in use are named)"),
    Topic("fx.rate_import_failed", "FX", "A reference-rate import was refused and imported nothing (the row "
          "and field are named)"),
    Topic("fx.exchange_review", "FX", "A client exchange awaits review (large amount or above the approval "
          "starting point)"),
    Topic("margin.call_opened", "Risk", "A client fell into margin call (net assets below the margin-call "
          "requirement), or a call turned into a force call"),
    Topic("margin.client_message", "Risk", "A trader sent a margin-call message to a client (the figures and "
          "the deadline are in it): subscribe the channel that reaches clients"),
    Topic("margin.order_problem", "Risk", "A liquidation order was rejected by the venue, or its fate is unknown "
          "until a status request settles it"),
)

BY_CODE: dict[str, Topic] = {t.code: t for t in TOPICS}


def is_known(code: str) -> bool:
    return code in BY_CODE
