"""Position management: settlement channel accounts, positions and thresholds,
withdrawal applications and deposit records (position-management.txt)."""

from __future__ import annotations

from . import channel_accounts, deposits, polling, queries, withdrawals  # noqa: F401  (registers handlers)
from .channel_accounts import (
    ChannelAccountDTO,
    ChannelAccountUsage,
    ChannelAccountUsageDTO,
    ChannelDTO,
    CreateChannelAccount,
    ListChannelAccounts,
    ListSettlementChannels,
    RegisterSettlementChannel,
    UpdateChannelAccount,
)
from .deposits import DepositDTO, ListDeposits, MarkDepositSuccessful, RecordDeposit
from .polling import PollReport, RefreshPositions
from .queries import ListPositions, PositionDTO, PositionPage, SetThresholds
from .withdrawals import (
    BOTH_SHORT,
    FEE_SHORT,
    PRINCIPAL_SHORT,
    InsufficientChannelBalance,
    ListWithdrawals,
    MarkWithdrawalFailed,
    MarkWithdrawalSuccessful,
    SubmitWithdrawal,
    WithdrawalDTO,
)
from .reservations import InsufficientOutgoingBalance

__all__ = [name for name in dir() if not name.startswith("_")]
