"""Margin call (margin-call.txt): instruments and client positions, market prices, the
margin engine (equity, liquid net assets, net asset ratio, margin to be collected), margin
calls with their deadlines, liquidation plans and the orders sent to the venue."""

from __future__ import annotations

from . import (  # noqa: F401  (registers handlers)
    book_import,
    call_actions,
    call_queries,
    details,
    instruments,
    liquidation,
    settings,
    tables,
)
from .book_import import BookImportResult, ImportMarginBook
from .call_actions import (
    AddFollowUp,
    EditMarginCall,
    FollowUpDTO,
    ListFollowUps,
    MessageResult,
    SendMarginMessage,
    SetAutoLiquidation,
)
from .call_queries import GetMarginCall, ListMarginCalls, MarginCallDTO, MarginCallPage
from .details import (
    CallDetailsDTO,
    CashLineDTO,
    GetCallDetails,
    LiquidationOrderDTO,
    ListLiquidationOrders,
    PositionDTO,
    SnapshotDTO,
)
from .instruments import AddInstrument, InstrumentDTO, ListInstruments, UpdateInstrument
from .liquidation import (
    BatchLiquidate,
    BatchOutcomeDTO,
    BatchResultDTO,
    CancelLiquidationOrder,
    FiguresDTO,
    LineInput,
    Liquidate,
    LiquidationPlanDTO,
    OrderCancelDTO,
    PlanLineDTO,
    PlanLiquidation,
)
from .settings import (
    ClientTermsDTO,
    ConfigureMarginFeeds,
    GetClientTerms,
    GetMarginSettings,
    MarginSettingsDTO,
    RenewTradingLimit,
    SetClientTerms,
    UpdateMarginSettings,
)
