"""The application messages between the broker and the venue, FIX 4.4 tag by tag: what
``fix_client`` sends and reads, and what ``fix_acceptor`` reads and answers.

* NewOrderSingle (35=D): ClOrdID 11, Account 1, Symbol 55 ("700.HK"), SecurityExchange
  207=XHKG, Side 54 (1 buy, 2 sell), TransactTime 60, OrderQty 38, OrdType 40=2 (limit),
  Price 44, TimeInForce 59=0 (day), Text 58 = the margin call ("MC-42").
* OrderCancelRequest (35=F): OrigClOrdID 41, a new ClOrdID 11, TransactTime 60; Side and
  Symbol when the client knows the order (the acceptor looks orders up by 41 alone).
* OrderStatusRequest (35=H): ClOrdID 11, OrdStatusReqID 790 (echoed by the answer, which
  is how the client knows the answer is complete); Side and Symbol when known.
* ExecutionReport (35=8): OrderID 37, ClOrdID 11 (OrigClOrdID 41 on a cancel), ExecID 17,
  ExecType 150 (0 new, 4 cancelled, 8 rejected, F trade, I order status), OrdStatus 39,
  OrderQty 38, LeavesQty 151, CumQty 14, AvgPx 6, and on a trade LastQty 32 / LastPx 31
  with the venue's ExecID; OrdRejReason 103 (5 unknown order, 6 duplicate ClOrdID).
* OrderCancelReject (35=9): CxlRejReason 102 (0 too late, 1 unknown order), Text 58.
* BusinessMessageReject (35=j): 380=4 when the venue behind the acceptor is unavailable.

Prices travel as decimal text and are read back as ``Decimal`` (a number in exponent
notation or with a sign is refused); quantities as whole numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import simplefix

from .fix_session import field, parse_utc_timestamp, utc_timestamp
from .gateway import FINAL_STATES, Fill, OrderState, VenueOrder, VenueOrderStatus, VenueProtocolError

ORD_STATUS: dict[str, str] = {"NEW": "0", "PARTIALLY_FILLED": "1", "FILLED": "2", "CANCELLED": "4", "REJECTED": "8"}
STATE_OF: dict[str, OrderState] = {code: state for state, code in ORD_STATUS.items()}  # type: ignore[misc]
SIDE_CODE = {"BUY": "1", "SELL": "2"}
SIDE_OF = {code: side for side, code in SIDE_CODE.items()}
EXCHANGE = "XHKG"

EXEC_NEW, EXEC_CANCELLED, EXEC_REJECTED, EXEC_TRADE, EXEC_STATUS = "0", "4", "8", "F", "I"
REJ_UNKNOWN_ORDER, REJ_DUPLICATE = "5", "6"  # OrdRejReason 103
CXL_TOO_LATE, CXL_UNKNOWN, CXL_OTHER = "0", "1", "2"  # CxlRejReason 102 (2: broker / exchange option)
BIZ_OTHER, BIZ_UNSUPPORTED, BIZ_UNAVAILABLE = "0", "3", "4"  # BusinessRejectReason 380
NONE_ID = "NONE"  # OrderID of an order the venue does not know (37 is required)

_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,12})?")
_WHOLE = re.compile(r"[0-9]{1,15}")


class FixWireError(ValueError):
    """A message lacks a field or holds a value that cannot be: ``tag`` names the field."""

    def __init__(self, tag: int, text: str) -> None:
        super().__init__(f"tag {tag}: {text}")
        self.tag = tag


def text_value(text: str) -> str:
    """A Text (58) value: one line, no SOH, no more than FIX engines commonly take."""
    return " ".join(text.replace("\x01", " ").split())[:300]


def required(msg: simplefix.FixMessage, tag: int) -> str:
    value = field(msg, tag)
    if value is None or value == "":
        raise FixWireError(tag, "required field missing")
    return value


def decimal_of(msg: simplefix.FixMessage, tag: int) -> Decimal:
    value = required(msg, tag)
    if not _DECIMAL.fullmatch(value):
        raise FixWireError(tag, f"not a plain decimal: {value!r}")
    return Decimal(value)


def whole_of(msg: simplefix.FixMessage, tag: int, *, optional: bool = False) -> int | None:
    value = field(msg, tag)
    if value is None and optional:
        return None
    if value is None or not _WHOLE.fullmatch(value):
        raise FixWireError(tag, f"not a whole number: {value!r}")
    return int(value)


# --- orders ---------------------------------------------------------------------------------


def new_order_single(order: VenueOrder, transact_time: datetime) -> list[tuple[int, object]]:
    return [
        (11, order.cl_ord_id), (1, order.account), (55, order.code), (207, EXCHANGE),
        (54, SIDE_CODE[order.side]), (60, utc_timestamp(transact_time)), (38, order.quantity),
        (40, "2"), (44, format(order.limit_price, "f")), (59, "0"), (58, order.call_ref),
    ]


def order_of(msg: simplefix.FixMessage) -> VenueOrder:
    """The order a NewOrderSingle carries (``FixWireError`` naming the first bad field)."""
    if required(msg, 40) != "2":
        raise FixWireError(40, "only limit orders (OrdType 2) are taken")
    if required(msg, 59) != "0":
        raise FixWireError(59, "only day orders (TimeInForce 0) are taken")
    if field(msg, 207) not in (None, EXCHANGE):
        raise FixWireError(207, f"only {EXCHANGE} is served")
    side = SIDE_OF.get(required(msg, 54))
    if side is None:
        raise FixWireError(54, "Side must be 1 (buy) or 2 (sell)")
    values = {
        "cl_ord_id": (11, required(msg, 11)), "account": (1, required(msg, 1)), "code": (55, required(msg, 55)),
        "quantity": (38, whole_of(msg, 38)), "limit_price": (44, decimal_of(msg, 44)),
        "call_ref": (58, required(msg, 58)),
    }
    try:
        return VenueOrder(side=side, **{name: value for name, (_, value) in values.items()})  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        tag = next((t for name, (t, _) in values.items() if name in str(exc)), 11)
        raise FixWireError(tag, str(exc)) from exc


# --- execution reports ---------------------------------------------------------------------


def average_price(fills: Sequence[Fill]) -> Decimal:
    """AvgPx (6): informative only (the client rebuilds everything from the fills)."""
    shares = sum(f.quantity for f in fills)
    if not shares:
        return Decimal(0)
    return (sum(f.quantity * f.price for f in fills) / shares).quantize(Decimal("0.000001"))


def execution_report(
    *,
    cl_ord_id: str,
    venue_order_id: str,
    exec_id: str,
    exec_type: str,
    state: str,
    order: VenueOrder | None,
    order_qty: int,
    cum_qty: int,
    leaves_qty: int,
    avg_px: Decimal,
    transact_time: datetime,
    fill: Fill | None = None,
    text: str = "",
    orig_cl_ord_id: str | None = None,
    req_id: str | None = None,
    rej_reason: str | None = None,
) -> list[tuple[int, object]]:
    """The fields of one ExecutionReport; Account, Symbol and Side when the order is known."""
    pairs: list[tuple[int, object]] = [(37, venue_order_id), (11, cl_ord_id)]
    if orig_cl_ord_id is not None:
        pairs.append((41, orig_cl_ord_id))
    if req_id is not None:
        pairs.append((790, req_id))
    pairs += [(17, exec_id), (150, exec_type), (39, ORD_STATUS[state])]
    if rej_reason is not None:
        pairs.append((103, rej_reason))
    if order is not None:
        pairs += [(1, order.account), (55, order.code), (207, EXCHANGE), (54, SIDE_CODE[order.side])]
    pairs.append((38, order_qty))
    if fill is not None:
        pairs += [(32, fill.quantity), (31, format(fill.price, "f"))]
    pairs += [(151, leaves_qty), (14, cum_qty), (6, format(avg_px, "f")), (60, utc_timestamp(transact_time))]
    if text:
        pairs.append((58, text_value(text)))
    return pairs


@dataclass(frozen=True, slots=True)
class ExecReport:
    """An ExecutionReport as the client reads it."""

    cl_ord_id: str
    orig_cl_ord_id: str | None
    venue_order_id: str
    exec_id: str
    exec_type: str
    state: OrderState
    order_qty: int | None
    cum_qty: int
    leaves_qty: int
    fill: Fill | None
    text: str
    req_id: str | None
    rej_reason: str | None
    poss_resend: bool

    @property
    def order_id(self) -> str:
        """The id of the order reported on (a cancel's report names it in 41)."""
        return self.orig_cl_ord_id or self.cl_ord_id


def parse_execution_report(msg: simplefix.FixMessage) -> ExecReport:
    exec_type = required(msg, 150)
    state = STATE_OF.get(required(msg, 39))
    if state is None:
        raise FixWireError(39, f"OrdStatus {field(msg, 39)!r} is not one this venue reports")
    fill = None
    if exec_type == EXEC_TRADE:
        try:
            fill = Fill(
                required(msg, 17), whole_of(msg, 32) or 0, decimal_of(msg, 31), parse_utc_timestamp(required(msg, 60))
            )
        except (TypeError, ValueError) as exc:
            raise FixWireError(17, f"a trade report's fill cannot be: {exc}") from exc
    return ExecReport(
        cl_ord_id=required(msg, 11),
        orig_cl_ord_id=field(msg, 41),
        venue_order_id=required(msg, 37),
        exec_id=required(msg, 17),
        exec_type=exec_type,
        state=state,
        order_qty=whole_of(msg, 38, optional=True),
        cum_qty=whole_of(msg, 14) or 0,
        leaves_qty=whole_of(msg, 151) or 0,
        fill=fill,
        text=field(msg, 58) or "",
        req_id=field(msg, 790),
        rej_reason=field(msg, 103),
        poss_resend=field(msg, 97) == "Y",
    )


def cancel_reject(
    *, cancel_id: str, orig_cl_ord_id: str, venue_order_id: str, state: str, reason_code: str, text: str
) -> list[tuple[int, object]]:
    return [
        (37, venue_order_id), (11, cancel_id), (41, orig_cl_ord_id), (39, ORD_STATUS[state]),
        (434, "1"), (102, reason_code), (58, text_value(text)),
    ]


def business_reject(
    *, ref_seq: int, ref_msg_type: str, ref_id: str, reason: str, text: str
) -> list[tuple[int, object]]:
    return [(45, ref_seq), (372, ref_msg_type), (379, ref_id), (380, reason), (58, text_value(text))]


# --- what the client makes of the reports ------------------------------------------------------


class ReportedOrder:
    """What the reports so far say of one order (the client keeps one per ClOrdID): its
    fills by ExecID, in venue order, and the last state the venue stated."""

    def __init__(self, order: VenueOrder | None = None) -> None:
        self.order = order
        self.quantity = order.quantity if order else None
        self.venue_order_id: str | None = None
        self.state: OrderState | None = None
        self.fills: dict[str, Fill] = {}
        self.reason = ""

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def apply(self, report: ExecReport) -> None:
        if report.venue_order_id != NONE_ID:
            self.venue_order_id = report.venue_order_id
        if self.quantity is None and report.order_qty:
            self.quantity = report.order_qty
        if report.fill is not None:
            self.fills.setdefault(report.fill.exec_id, report.fill)
        if report.exec_type in (EXEC_STATUS, EXEC_CANCELLED, EXEC_REJECTED):
            if not self.is_final:  # a final state is final: a late report cannot reopen it
                self.state = report.state
                self.reason = report.text
        elif self.state is None:
            self.state = "NEW"

    def reorder(self, exec_ids: list[str]) -> None:
        """Put the fills in the order a status answer listed them (a pushed fill may have
        overtaken one lost in a gap)."""
        ordered = {e: self.fills[e] for e in exec_ids if e in self.fills}
        ordered.update(self.fills)
        self.fills = ordered

    def snapshot(self, cl_ord_id: str) -> VenueOrderStatus:
        fills = tuple(self.fills.values())
        filled = sum(f.quantity for f in fills)
        state: OrderState = self.state or "NEW"
        leaves = 0
        if state not in FINAL_STATES:  # live: what the fills say, against the quantity
            quantity = self.quantity or filled
            state = "FILLED" if filled >= quantity else "PARTIALLY_FILLED" if filled else "NEW"
            leaves = max(quantity - filled, 0)
        try:
            return VenueOrderStatus(cl_ord_id, self.venue_order_id or NONE_ID, state, filled, leaves, fills,
                                    self.reason)
        except (TypeError, ValueError) as exc:
            raise VenueProtocolError(f"The venue's reports on order {cl_ord_id} do not add up: {exc}") from exc
