"""Errors do not hide (issue 10, point 5): a channel going down is told to the subscribers
of ``position.channel_failed`` once per outage, and again when it answers; each account
keeps its last poll attempt, its outcome and its reason, also one that never had a
balance; the page says when the last poll ran and how it went, not the last success."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from notify_support import subscribe
from positions_support import CHANNEL, open_desk

from wbo_tui.engine import FixedClock
from wbo_tui.engine.notify import ListInbox
from wbo_tui.engine.notify.topics import is_known
from wbo_tui.engine.positions import CreateChannelAccount, ListPositions, SetThresholds

TOPIC = "position.channel_failed"


@pytest.fixture
async def desk(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    d = await open_desk(engine, tmp_path / "bank.sqlite")
    yield d
    d.bank.close()


async def poll(desk, n: int):  # noqa: ANN001, ANN201
    return await desk.engine.poll_positions(slot=f"test:{n}", holder="tests")


async def channel_messages(desk) -> list[tuple[str, str]]:  # noqa: ANN001
    inbox = await desk.engine.query(desk.checker, ListInbox())
    return [(m.subject, m.body) for m in reversed(inbox) if m.topic == TOPIC]


async def test_a_channel_outage_is_announced_once_and_its_end_too(desk, clock: FixedClock) -> None:  # noqa: ANN001
    assert is_known(TOPIC)
    await subscribe(desk.engine, desk.admin, topic=TOPIC, channel="inbox", role="checker")
    await poll(desk, 0)
    assert await channel_messages(desk) == []  # answering: nothing to say

    await desk.bank.set_channel_down()
    for n in (1, 2, 3):  # three failed polls: one outage
        clock.advance(minutes=5)
        report = await poll(desk, n)
        assert report.failed_channels == (CHANNEL,)
    messages = await channel_messages(desk)
    assert [subject for subject, _ in messages] == [f"Settlement channel down: {CHANNEL}"]
    body = messages[0][1]
    assert body.startswith(f"The poll of {CHANNEL} failed: {CHANNEL}: ")
    assert ".." not in body and "A message follows when it answers again." in body

    await desk.bank.set_channel_down(False)
    clock.advance(minutes=5)
    await poll(desk, 4)
    clock.advance(minutes=5)
    await poll(desk, 5)  # still answering: no second recovery
    messages = await channel_messages(desk)
    assert [subject for subject, _ in messages] == [
        f"Settlement channel down: {CHANNEL}", f"Settlement channel answering again: {CHANNEL}"]
    assert "after 3 failed polls" in messages[1][1]

    await desk.bank.set_channel_down()  # a second outage is a new episode
    clock.advance(minutes=5)
    await poll(desk, 6)
    assert len(await channel_messages(desk)) == 3


async def test_the_last_attempt_its_outcome_and_reason_are_kept(desk, clock: FixedClock) -> None:  # noqa: ANN001
    """A new account the channel has no balance for: FAILED with the reason, at the poll's
    time, although it never had a balance; a threshold set afterwards does not move it."""
    new = await desk.engine.execute(desk.maker, CreateChannelAccount(
        channel=CHANNEL, currency_type="fiat", currency="HKD", account_no="HK-NEW-001", scenario="trading"))
    clock.advance(minutes=5)
    polled_at = clock.now()
    await poll(desk, 1)
    clock.advance(minutes=1)
    await desk.engine.execute(desk.maker, SetThresholds(channel_account_id=new.id, threshold_alert="10"))
    page = await desk.engine.query(desk.maker, ListPositions())
    row = next(p for p in page.rows if p.channel_account_id == new.id)
    assert (row.poll_status, row.polled_at, row.available) == ("FAILED", None, None)
    assert row.attempted_at == polled_at
    assert row.poll_error == f"{CHANNEL} reported no HKD balance for this account"
    ok = next(p for p in page.rows if p.channel_account_id == desk.accounts["hkd_principal"])
    assert (ok.poll_status, ok.attempted_at, ok.polled_at) == ("OK", polled_at, polled_at)
    assert (page.last_attempt_at, page.last_attempt_ok, page.last_attempt_failed) == (polled_at, 5, 1)


async def test_the_page_says_the_last_poll_failed_after_a_success(desk, clock: FixedClock) -> None:  # noqa: ANN001
    await poll(desk, 0)
    answered = clock.now()
    await desk.bank.set_channel_down()
    clock.advance(minutes=5)
    await poll(desk, 1)
    page = await desk.engine.query(desk.maker, ListPositions())
    assert page.last_poll_at == answered  # the last success, kept as such
    assert (page.last_attempt_at, page.last_attempt_ok, page.last_attempt_failed) == (clock.now(), 0, 5)
    reasons = {p.poll_error for p in page.rows}
    assert len(reasons) == 1
    [reason] = reasons
    assert ".." not in reason and "Next scheduled poll of" in reason
    assert all(p.available == Decimal("100000") or p.available == Decimal("5000") for p in page.rows)
