"""Bad input at the engine's boundary (issue 9, point 7): every command and query, built
from generated input, either is built with bounded values or raises the engine's own
``InvalidInput`` naming one of its fields; never pydantic's ``ValidationError``,
``OverflowError``, ``InvalidOperation`` or anything else.  Focused cases follow: 10^30 in
each amount field, other scripts' digits, ids beyond the database's INTEGER.

The database side (each currency's maximum, accepted and stored exactly, one quantum more
refused) is in ``test_amount_limits.py``.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError
from pydantic.fields import FieldInfo

import wbo_tui.engine  # noqa: F401  (registers every handler)
from wbo_tui.engine import fx
from wbo_tui.engine import build
from wbo_tui.engine.allocations import CreateAllocationRule, CreateManualAllocation, EditAllocationRule, PreviewSchedule
from wbo_tui.engine.allocations.manual import BalancePreview
from wbo_tui.engine.allocations.records import ListAllocations
from wbo_tui.engine.allocations.rules import RuleFields
from wbo_tui.engine.approvals import ApproveItem
from margin_matrix import AMOUNT_BASES as MARGIN_AMOUNT_BASES

from wbo_tui.engine.commands import COMMAND_HANDLERS, QUERY_HANDLERS, Command, Query
from wbo_tui.engine.errors import InvalidInput, ValidationFailed
from wbo_tui.engine.money import AMOUNT_CEILING, _command_amount
from wbo_tui.engine.notify.topics import TOPICS
from wbo_tui.engine.permissions import BY_CODE
from wbo_tui.engine.positions import ListPositions, RecordDeposit, SetThresholds, SubmitWithdrawal
from wbo_tui.engine.positions.tables import SCENARIOS
from wbo_tui.engine.types import _utc_moment
from wbo_tui.engine.whole_numbers import INT32_MAX, WholeNumber


def _all_models() -> list[type[BaseModel]]:
    """The registered commands and queries, and every other command or query class of the
    engine (approval payloads such as ``WithdrawalToApprove`` are built from stored JSON)."""
    found: set[type[BaseModel]] = {*COMMAND_HANDLERS, *QUERY_HANDLERS}
    stack: list[type[BaseModel]] = [Command, Query]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("wbo_tui."):
                found.add(sub)
    return sorted(found, key=lambda m: (m.__module__, m.__name__))


MODELS = _all_models()


# --- what a field is ------------------------------------------------------------------------


def _is_amount(marker: object) -> bool:
    return isinstance(marker, BeforeValidator) and marker.func is _command_amount


def _is_moment(marker: object) -> bool:
    return isinstance(marker, AfterValidator) and marker.func is _utc_moment


def numeric_marker(field: FieldInfo) -> WholeNumber | Literal["amount"] | None:
    """The bounded numeric type of a field (also inside ``| None`` and ``list[...]``)."""
    stack: list[Any] = [field.annotation, *field.metadata]
    while stack:
        item = stack.pop()
        if isinstance(item, WholeNumber):
            return item
        if _is_amount(item):
            return "amount"
        stack.extend(typing.get_args(item) if typing.get_origin(item) is not Literal else ())
        stack.extend(getattr(item, "__metadata__", ()))
    return None


def unbounded_numbers(tp: Any, metadata: tuple[Any, ...] = ()) -> list[str]:  # noqa: ANN401
    """Bare ``int``/``Decimal``/``float`` in an annotation: pydantic would take any size;
    bare ``datetime``: any time zone or none, any year."""
    if any(isinstance(m, WholeNumber) or _is_amount(m) or _is_moment(m) for m in metadata):
        return []
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        return unbounded_numbers(base, tuple(meta))
    if tp in (int, float, Decimal, datetime):
        return [tp.__name__]
    if typing.get_origin(tp) is Literal or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return []  # nested commands and queries are checked as models of their own
    return [name for arg in typing.get_args(tp) for name in unbounded_numbers(arg)]


def literal_choices(field: FieldInfo) -> list[Any]:
    stack, out = [field.annotation], []
    while stack:
        item = stack.pop()
        if typing.get_origin(item) is Literal:
            out.extend(typing.get_args(item))
        else:
            stack.extend(typing.get_args(item))
    return out


# --- generated input ------------------------------------------------------------------------

MISSING = object()  # a field left out
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
NASTY = [
    2**31, 2**31 - 1, 0, -1, 10**30, -(10**30), 2**63, True, False, None, 1.5, 1e30, float("nan"), float("inf"),
    Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-0"), Decimal("1E+30"), Decimal("1E-30"),
    Decimal("123456789012345678901234567890.123"), "1e30", "1E3", "NaN", "Infinity", "-inf", "-0", "-0.00", "+5",
    "1_000", "0x10", "1,2,3", "12,34", "1 000", "1\u00a0000", "12\n", " 12 ", "", "   ", "١٢٣", "１２３", "۱۲۳",
    "१२३", "12٣", "²", "9" * 50, "1" + "0" * 30, "9" * 100_000, "x" * 10_000, b"12", [1], {"a": 1}, (), object(),
]
BAD = st.sampled_from(NASTY) | st.text(max_size=12) | st.integers() | st.decimals() | st.floats() | st.none()


def digits_of(value: int | Decimal) -> st.SearchStrategy[object]:
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return st.sampled_from([value, text, f"{value:,}", text.translate(ARABIC_INDIC), text.translate(FULL_WIDTH)])


# Valid text for the text fields that have rules of their own, so that a generated command
# is often valid but for the one field under attack.
EXAMPLES: dict[str, list[object]] = {
    "currency": ["HKD", "usdt"], "scenario": list(SCENARIOS), "topic": [t.code for t in TOPICS],
    "channel": ["inbox", "settlement_hashkey_hk"], "code": ["settlement_x_hk"], "account_no": ["HK-1"],
    "username": ["maker"], "permission_code": sorted(BY_CODE)[:2], "schedule_time": ["09:30", None],
    "gateway": [{"kind": "simulated"}], "permissions": [[]], "roles": [[]], "password": ["Long-password-1"],
    "new_password": ["Long-password-1"], "operator": ["maker", None], "role": [None], "address": [None],
}


def plausible(name: str, field: FieldInfo) -> st.SearchStrategy[object]:
    """Values of the field's kind: valid ones, and numbers just out of range or in other
    scripts' digits."""
    marker, choices = numeric_marker(field), literal_choices(field)
    if isinstance(marker, WholeNumber):
        one = st.integers(marker.low - 1, marker.high + 1).flatmap(digits_of)
        return st.lists(one, min_size=1, max_size=3) if typing.get_origin(field.annotation) is list else one
    if marker == "amount":
        return st.decimals(min_value=-1, max_value=AMOUNT_CEILING * 10, places=3).flatmap(digits_of)
    if choices:
        return st.sampled_from(choices)
    if field.annotation is bool:
        return st.booleans()
    if "datetime" in str(field.annotation):
        offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        return st.datetimes(timezones=st.none() | st.just(UTC) | offsets.map(timezone))
    if unbounded_numbers(field.annotation, tuple(field.metadata)):  # caught by the test above; here too
        return st.integers().flatmap(digits_of) | st.decimals()
    return st.sampled_from(EXAMPLES.get(name, ["text"])) | st.text(max_size=20)


def field_values(name: str, field: FieldInfo, *, attacked: bool) -> st.SearchStrategy[object]:
    """The attacked field takes anything; the others mostly a plausible value."""
    if attacked:
        return st.just(MISSING) | plausible(name, field) | BAD
    if not field.is_required():
        return st.just(MISSING) | plausible(name, field)
    return plausible(name, field)


def assert_bounded(model: type[BaseModel], built: BaseModel, given_fields: dict[str, object]) -> None:
    """A model that was built holds only bounded numbers, read from ASCII digits."""
    for name, field in model.model_fields.items():
        marker, value = numeric_marker(field), getattr(built, name)
        typed = given_fields.get(name)
        if marker is not None and isinstance(typed, str):
            assert typed.strip().isascii(), f"{model.__name__}.{name} took {typed!r}"
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None or isinstance(v, bool):
                continue
            if isinstance(v, datetime):
                assert v.tzinfo is UTC and 1900 <= v.year <= 9999, (name, v)
            elif marker is None:  # a number pydantic took on its own: whatever it is, it must fit
                assert not isinstance(v, int | float | Decimal) or abs(v) <= INT32_MAX, (name, v)
            elif marker == "amount":
                assert isinstance(v, Decimal) and v.is_finite() and v.copy_abs() < AMOUNT_CEILING, (name, v)
                assert not (v.is_zero() and v.is_signed()), (name, v)
            else:
                assert type(v) is int and marker.low <= v <= marker.high, (name, v)


def construct(model: type[BaseModel], fields: dict[str, object], how: str) -> BaseModel:
    if how == "direct":
        return model(**fields)
    if how == "build":
        return build(model, **fields)
    if how == "validate":
        return model.model_validate(fields)
    return model.model_validate_json(json.dumps(fields, default=str))  # a stored approval payload


# --- every command and query ----------------------------------------------------------------


def test_the_generated_tests_cover_the_commands_of_the_issue() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"SubmitWithdrawal", "RecordDeposit", "SetThresholds", "CreateManualAllocation", "CreateAllocationRule",
            "WithdrawalToApprove", "GrantPermission", "ListPositions", "QueryAuditLog"} <= names
    assert set(COMMAND_HANDLERS) | set(QUERY_HANDLERS) <= set(MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_numeric_field_is_a_bounded_type(model: type[BaseModel]) -> None:
    """``int`` or ``Decimal`` straight from pydantic takes 10^30, "1_000", True and 1.0: every
    number a command carries is a ``WholeNumber`` (ids, counts) or a ``DecimalAmount``, and
    every moment a ``UtcMoment`` (a naive one used to fail at the database column)."""
    bare = {name: found for name, f in model.model_fields.items()
            if (found := unbounded_numbers(f.annotation, tuple(f.metadata)))}
    assert bare == {}, f"{model.__name__}: use whole_numbers.Id/WholeNumber, money.DecimalAmount, types.UtcMoment"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_input_builds_a_bounded_command_or_names_a_field(model: type[BaseModel], data: st.DataObject) -> None:
    attacked = data.draw(st.sampled_from([*model.model_fields, None]), label="attacked")
    drawn = {name: data.draw(field_values(name, field, attacked=name == attacked), label=name)
             for name, field in model.model_fields.items()}
    fields = {name: value for name, value in drawn.items() if value is not MISSING}
    how = data.draw(st.sampled_from(["direct", "build", "validate", "json"]), label="how")
    try:
        built = construct(model, fields, how)
    except InvalidInput as error:
        assert isinstance(error, ValidationFailed) and not isinstance(error, ValidationError)
        assert error.field_name in model.model_fields, f"{error!r} names no field of {model.__name__}"
        assert error.field and error.rule and str(error).startswith(error.field)
        return
    if how in ("direct", "build", "validate"):
        assert_bounded(model, built, fields)


# --- focused: amounts -----------------------------------------------------------------------

AMOUNT_BASES: dict[type[BaseModel], dict[str, object]] = {
    SubmitWithdrawal: {"client_id": "C-1", "channel": "ch", "currency": "HKD", "principal": "1", "fee": "0"},
    RecordDeposit: {"client_id": "C-1", "channel_account_id": 1, "amount": "1"},
    SetThresholds: {"channel_account_id": 1},
    CreateManualAllocation: {"from_account_id": 1, "to_account_id": 2, "currency": "HKD", "amount": "1",
                             "remarks": "r"},
    CreateAllocationRule: {"name": "r", "from_account_id": 1, "to_account_id": 2, "currency": "HKD",
                           "scenario": "trading", "trigger_kind": "event", "event_kind": "deposit.successful",
                           "amount_rule": "fixed", "amount": "1"},
    BalancePreview: {"from_account_id": 1, "to_account_id": 2},
}
_SETUP = {"currency": "USD", "support_exchange": True, "exchange_rate_precision": 4, "amount_precision": 2,
          "amount_round_mode": "round", "min_exchange_amount": "3", "standard_money": False, "expected_version": 0}
_STRATEGY = {"service_strategy": "BATCH", "change_type": 2, "support_currency": ["USD/HKD"],
             "service_time": [{"time_zones": "hk_trade_day", "time_rule": "09:00-16:00"}],
             "approval_start_amount": "1"}
AMOUNT_BASES.update({
    fx.UpdateCurrencySetup: _SETUP,
    fx.strategies._StrategyFields: _STRATEGY,
    fx.CreateExchangeStrategy: _STRATEGY,
    fx.UpdateExchangeStrategy: {**_STRATEGY, "strategy_id": 1, "expected_version": 1},
    fx.AddPoolQuota: {"currency": "HKD", "remaining_amount": "1", "alarm_amount": "1"},
    fx.AdjustPoolQuota: {"currency": "HKD", "amount": "1", "alarm_amount": "1", "remark": "r", "expected_version": 1},
    fx.SetAmountConfig: {"currency": "USD", "amount": "1", "expected_version": 0},
    fx.EditReferenceRate: {"rate_id": 1, "bid_rate": "1", "offer_rate": "1", "average_rate": "1",
                           "expected_version": 1},
    fx.WhichStrategy: {"from_currency": "USD", "to_currency": "HKD", "from_amount": "1", "to_amount": "1"},
    fx.AddReferenceMarkup: {"channel_name": "HKEX", "from_currency": "USD", "to_currency": "HKD",
                            "spread_mode": "RATE", "bp": "1"},
    fx.UpdateReferenceMarkup: {"markup_id": 1, "spread_mode": "RATE", "bp": "1", "expected_version": 1},
    fx.ApplyExceptionHandling: {"order_no": "CO-1", "apply_type": "SUCCESS_APPLY", "apply_channel_rate": "7.8",
                                "apply_remark": "r"},
    fx.SubmitClientExchange: {"client_id": 1, "from_currency": "USD", "to_currency": "HKD", "amount": "1",
                              "custom_rate": "7.8"},
    fx.QuoteClientExchange: {"from_currency": "USD", "to_currency": "HKD", "amount": "1", "custom_rate": "7.8"},
})
AMOUNT_BASES.update(MARGIN_AMOUNT_BASES)
AMOUNT_BASES[RuleFields] = AMOUNT_BASES[CreateAllocationRule]  # the fields both rule commands share
AMOUNT_BASES[EditAllocationRule] = {**AMOUNT_BASES[CreateAllocationRule], "rule_id": 1, "expected_version": 1}
AMOUNT_FIELDS = [(m, name) for m in MODELS for name, f in m.model_fields.items() if numeric_marker(f) == "amount"]


def test_the_amount_fields_are_the_ones_listed() -> None:
    """A new amount field must join the focused tests below (add its command to AMOUNT_BASES)."""
    assert {m for m, _ in AMOUNT_FIELDS} == set(AMOUNT_BASES)
    assert {(m.__name__, f) for m, f in AMOUNT_FIELDS} >= {
        ("SubmitWithdrawal", "principal"), ("SubmitWithdrawal", "fee"), ("RecordDeposit", "amount"),
        ("SetThresholds", "threshold_alert"), ("SetThresholds", "threshold_blocking"),
        ("CreateManualAllocation", "amount"), ("CreateAllocationRule", "amount"), ("EditAllocationRule", "amount")}


def refused(model: type[BaseModel], **fields: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        model(**fields)
    assert not isinstance(caught.value, ValidationError)
    return caught.value


@pytest.mark.parametrize(("model", "field"), AMOUNT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("huge", [10**30, "1" + "0" * 30, f"{10**30:,}", Decimal("1E+30"), "1e30",
                                  "1000000000000000"], ids=repr)
def test_ten_to_the_thirty_is_refused_in_every_amount_field(model: type[BaseModel], field: str, huge: object) -> None:
    error = refused(model, **{**AMOUNT_BASES[model], field: huge})
    assert error.field_name == field
    assert error.field == field.replace("_", " ").capitalize()


@pytest.mark.parametrize(("model", "field"), AMOUNT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("typed", ["١٢٣", "１２３", "۱۲۳", "१२३", "12٣.٥٠", "１,０００"])
def test_other_scripts_digits_are_refused_in_every_amount_field(model: type[BaseModel], field: str,
                                                                typed: str) -> None:
    error = refused(model, **{**AMOUNT_BASES[model], field: typed})
    assert (error.field_name, error.rule) == (field, f"must be written with the digits 0-9, not {typed!r}")


@pytest.mark.parametrize(("typed", "rule"), [
    ("NaN", "must be a plain number such as 1,234.56, not 'NaN'"),
    (Decimal("NaN"), "must be a finite number, not NaN"),
    (Decimal("-Infinity"), "must be a finite number, not -Infinity"),
    ("-0.00", "must not be negative zero"),
    (Decimal("-0"), "must not be negative zero"),
    ("1e3", "must be a plain number such as 1,234.56, not '1e3'"),
    ("1 000", "must not contain blanks, not '1 000'"),
    ("+5", "must be a plain number such as 1,234.56, not '+5'"),
    ("1,00", "must be a plain number such as 1,234.56, not '1,00'"),
    ("", "is required"),
    ("0." + "0" * 18 + "1", "allows at most 18 decimal places"),
    ("9" * 41, "is too long for an amount: at most 40 characters"),
    (1.5, "must be given as text or Decimal, not float"),
    (True, "must be given as text or Decimal, not bool"),
])
def test_each_malformed_amount_is_refused_with_its_rule(typed: object, rule: str) -> None:
    error = refused(SubmitWithdrawal, **{**AMOUNT_BASES[SubmitWithdrawal], "principal": typed})
    assert str(error) == f"Principal {rule}."


def test_grouped_thousands_are_read_as_the_forms_always_showed_them() -> None:
    assert SubmitWithdrawal(**{**AMOUNT_BASES[SubmitWithdrawal], "principal": " 1,234,567.50 "}).principal == \
        Decimal("1234567.50")


# --- focused: ids and other whole numbers ---------------------------------------------------


@pytest.mark.parametrize(("model", "fields", "field"), [
    (SetThresholds, {}, "channel_account_id"),
    (RecordDeposit, {"client_id": "C-1", "amount": "1"}, "channel_account_id"),
    (CreateManualAllocation, {"to_account_id": 2, "currency": "HKD", "amount": "1", "remarks": "r"},
     "from_account_id"),
    (ApproveItem, {}, "approval_id"),
    (ListAllocations, {}, "account_id"),
])
@pytest.mark.parametrize("bad", [10**30, str(10**30), 2**31, 0, -1, "١٢٣", "１２３", "+7", "7.0", 7.0, True, "1_0"],
                         ids=repr)
def test_an_id_beyond_the_databases_integer_or_not_in_ascii_digits_is_refused(
        model: type[BaseModel], fields: dict[str, object], field: str, bad: object) -> None:
    error = refused(model, **fields, **{field: bad})
    assert error.field_name == field
    assert "must be a whole number from 1 to 2,147,483,647" in error.rule


def test_the_largest_id_and_ascii_digit_text_are_accepted() -> None:
    assert SetThresholds(channel_account_id=INT32_MAX).channel_account_id == INT32_MAX
    assert SetThresholds(channel_account_id=f" {INT32_MAX} ").channel_account_id == INT32_MAX


@pytest.mark.parametrize(("model", "fields", "field"), [
    (ListPositions, {"limit": "１０"}, "limit"),
    (ListPositions, {"offset": 2**31}, "offset"),
    (CreateAllocationRule, {**AMOUNT_BASES[CreateAllocationRule], "priority": "١٠"}, "priority"),
    (PreviewSchedule, {"schedule_kind": "daily", "schedule_time": "٠٩:٣٠"}, "schedule_time"),
    (PreviewSchedule, {"schedule_kind": "daily", "schedule_time": "09:30", "runs": 10**30}, "runs"),
])
def test_other_whole_numbers_take_ascii_digits_within_bounds(model: type[BaseModel], fields: dict[str, object],
                                                             field: str) -> None:
    assert refused(model, **fields).field_name == field


def test_a_stored_payload_with_a_bad_field_is_the_engines_error_too() -> None:
    with pytest.raises(InvalidInput) as caught:
        ApproveItem.model_validate_json('{"approval_id": 1e30}')
    error = caught.value
    assert (error.field_name, error.model) == ("approval_id", "ApproveItem")
    assert isinstance(error, ValueError)  # as pydantic's error was, for code that caught that


def test_a_missing_or_unknown_field_names_it() -> None:
    assert str(refused(ApproveItem)) == "Approval id is required."
    assert str(refused(ApproveItem, approval_id=1, extra=2)) == "Extra is not a field of ApproveItem."


@pytest.mark.parametrize("moment", ["2026-11-20T09:30:00", datetime(2026, 11, 20),  # noqa: DTZ001
                                    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), "١٩٧٠-01-01T00:00Z"])
def test_a_moment_without_a_time_zone_or_beyond_the_columns_years_is_refused(moment: object) -> None:
    assert refused(ListPositions, updated_since=moment).field_name == "updated_since"
    hk = datetime(2026, 11, 20, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    assert ListPositions(updated_since=hk).updated_since == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
