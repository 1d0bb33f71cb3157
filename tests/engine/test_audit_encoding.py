"""The hand-written JSON of the hot paths is exactly what ``json.dumps`` writes.

The audit hash, a decision's explanation and an automatic allocation's audit record are
composed piece by piece for speed (``bench allocate``); a difference of one byte would
break the audit chain of every existing database or store a different explanation than
the one shown.  Each is compared here with the general encoder on arbitrary text.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from wbo_tui.engine.allocations.batch import created_json
from wbo_tui.engine.allocations.decide import Decision, Trigger
from wbo_tui.engine.audit import PendingRecord, record_hash, to_json

TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", '"', "\\", "\n\t\x00\x1f\x7f", "Withdrawal submitted — fee", "交收 ✓ 🐋", "\u2028\u2029"])
AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=Decimal("-1e12"),
                      max_value=Decimal("1e12")) | st.sampled_from([Decimal("0.10"), Decimal("1E+3"), Decimal("-0.00")])
IDS = st.integers(min_value=1, max_value=2**40)


def reference_hash(seq: int, rec: PendingRecord, prev: str) -> str:
    """The audit hash as first written: ``json.dumps`` of the array."""
    body = json.dumps([seq, rec.at.isoformat(timespec="microseconds"), rec.operator_id, rec.operator, rec.action,
                       rec.target_type, rec.target_id, rec.before, rec.after, prev],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


@settings(max_examples=400, deadline=None)
@given(seq=IDS, operator_id=st.none() | IDS, operator=TEXT, action=TEXT, target=TEXT, before=st.none() | TEXT,
       after=st.none() | TEXT, micro=st.integers(0, 999_999))
def test_record_hash_is_the_json_dumps_hash(seq, operator_id, operator, action, target, before, after, micro) -> None:
    rec = PendingRecord(datetime(2026, 11, 20, 9, 30, 5, micro, tzinfo=UTC), operator_id, operator, action,
                        "allocation", target, before, after)
    prev = hashlib.sha256(target.encode()).hexdigest()
    assert record_hash(seq, rec, prev) == reference_hash(seq, rec, prev)
    as_row = {"at": rec.at, "operator_id": operator_id, "operator": operator, "action": action,
              "target_type": "allocation", "target_id": target, "before": before, "after": after}
    assert record_hash(seq, as_row, prev) == reference_hash(seq, rec, prev)  # what verify reads back


def _trigger(label: str) -> Trigger:
    return Trigger(key="event:1", label=label, kind="event", account_id=1, account_scenario="deposit",
                   currency="HKD")


@settings(max_examples=300, deadline=None)
@given(label=TEXT, reason=TEXT, amount=st.none() | AMOUNTS, chosen=st.none() | IDS,
       considered=st.lists(st.fixed_dictionaries({"rule": IDS, "name": TEXT, "priority": st.integers(1, 999),
                                                  "verdict": TEXT, "reason": TEXT}), max_size=3))
def test_explanation_json_is_to_json(label, reason, amount, chosen, considered) -> None:
    decision = Decision(_trigger(label), considered, SimpleNamespace(id=chosen) if chosen else None, amount, reason)
    assert decision.explanation_json(to_json(considered)) == to_json(decision.explanation())


@settings(max_examples=300, deadline=None)
@given(amount=AMOUNTS, remarks=TEXT, trigger=TEXT, status=st.sampled_from(["processing", "pending_approval"]),
       rule_id=IDS, from_id=IDS, to_id=IDS, currency=st.sampled_from(["HKD", "USDT", "BTC", "J\"PY"]))
def test_created_json_is_to_json(amount, remarks, trigger, status, rule_id, from_id, to_id, currency) -> None:
    rule = SimpleNamespace(id=rule_id, from_account_id=from_id, to_account_id=to_id, currency=currency)
    expected = to_json({"origin": "automatic", "rule": rule_id, "trigger": trigger, "from_account": from_id,
                        "to_account": to_id, "currency": currency, "amount": amount, "status": status,
                        "remarks": remarks})
    assert created_json(rule, amount, remarks, trigger, status) == expected
