"""A settlement channel going down and coming back, told to the subscribers of
``position.channel_failed``.

Once per outage, not once per poll: the poll that fails a channel whose previous poll
answered (no failures counted) starts an outage and sends the alert; the polls that fail
after it only count (``settlement_channels.poll_failures``, the back-off); the first poll
that the channel answers again ends the outage with a recovery message.  Both are decided
from the failure count read at the start of the poll's write transaction, and published in
that transaction, so two consoles never announce the same outage twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..notify.publish import Message, publish_many
from ..uow import UnitOfWork

TOPIC = "position.channel_failed"


def channel_down(channel: str, error: str, retry_at: datetime) -> Message:
    return Message(
        TOPIC, f"Settlement channel down: {channel}",
        f"The poll of {channel} failed: {error.rstrip('.')}. Its accounts show FAILED with this reason on "
        f"Positions and keep their last polled balance; the next scheduled poll asks it after "
        f"{retry_at:%Y-%m-%d %H:%M} UTC (r Refresh asks at once). A message follows when it answers again.",
        "settlement_channel", channel,
    )


def channel_recovered(channel: str, failures: int, now: datetime) -> Message:
    polls = "poll" if failures == 1 else "polls"
    return Message(
        TOPIC, f"Settlement channel answering again: {channel}",
        f"{channel} answered the poll at {now:%Y-%m-%d %H:%M:%S} UTC after {failures} failed {polls}; "
        "its balances are current again.",
        "settlement_channel", channel,
    )


async def announce(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """Publish the outage and recovery messages of one poll, in its transaction."""
    if messages:
        await publish_many(uow, messages)
