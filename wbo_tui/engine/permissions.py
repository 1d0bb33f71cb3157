"""The permission catalog.

Identifiers from the vendor manuals are used exactly as spelled there, including the
manual's ``position_anagement`` typo, because operators and auditors search for them
verbatim.  FX and administration identifiers follow the same ``module.function_kind``
style, where kind is ``inquiry`` (read), ``operation`` (change) or ``approval`` (decide
someone else's submission).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Permission:
    code: str
    module: str
    description: str


def _p(code: str, module: str, description: str) -> Permission:
    return Permission(code, module, description)


CATALOG: tuple[Permission, ...] = (
    # Position management (position-management.txt, verbatim).
    _p("assets.position_anagement_inquiry_query", "Positions", "Query positions per channel account and currency"),
    _p("assets.position_anagement_inquiry_operation", "Positions", "Refresh positions, set alert and blocking thresholds"),
    _p("atm.settle_chnl_bank_acct_inquiry", "Positions", "View settlement channel accounts"),
    _p("atm.settle_chnl_bank_acct_operation", "Positions", "Create and edit settlement channel accounts"),
    _p("atm.funds_alloc_config_inquiry", "Allocations", "View fund allocation rules"),
    _p("atm.funds_alloc_config_operation", "Allocations", "Create, edit and copy fund allocation rules"),
    _p("atm.company_fund_allocation_inquiry", "Allocations", "View company fund allocation records"),
    _p("atm.company_fund_allocation_operation", "Allocations", "Create manual allocations, retry failed allocations"),
    _p("atm.company_fund_allocation_approval", "Allocations", "Approve or reject allocation applications"),
    # Withdrawals and deposits (the events fund allocation hangs off; manuals' style).
    _p("assets.withdrawal_application_inquiry", "Positions", "View withdrawal applications"),
    _p("assets.withdrawal_application_operation", "Positions", "Submit withdrawal applications, mark withdrawals failed"),
    _p("assets.withdrawal_application_approval", "Positions", "Approve or reject withdrawal applications"),
    _p("assets.deposit_record_inquiry", "Positions", "View deposit records"),
    _p("assets.deposit_record_operation", "Positions", "Record deposits and mark them successful"),
    # Currency exchange: the vendor's identifiers where it publishes one (whale-api-facts.md
    # section C), the manuals' style where it does not (the ``fx.*`` ones).
    _p("fx.currency_setup_inquiry", "FX", "View currency setup"),
    _p("atm.update_current_config", "FX", "Edit currency setup: exchange switch, precision, rounding, base currency"),
    _p("fx.currency_pair_inquiry", "FX", "View currency pairs"),
    _p("lb_hk_conversion.support_currency_update", "FX", "Add, set default and delete currency pairs"),
    _p("lb_hk_conversion.exchangeserve_query", "FX", "View exchange strategies"),
    _p("lb_hk_conversion.exchangeserve_update", "FX", "Create, edit, enable and disable exchange strategies"),
    _p("lb_hk_conversion.exchange_pool_query", "FX", "View exchange-pool quotas and their ledger"),
    _p("lb_hk_conversion.exchange_pool_config_update", "FX", "Add exchange-pool quotas, adjust them and their alert"),
    _p("lb_hk_conversion.fee_query", "FX", "View markups on the reference rate"),
    _p("lb_hk_conversion.rate_reference_update", "FX",
       "Add, edit and delete markups on the reference rate; add and delete executed-rate markups"),
    _p("lb_hk_conversion.forex_ib_rates", "FX", "View markups on the executed rate"),
    _p("lb_hk_conversion.fee_update", "FX", "Edit markups on the executed rate"),
    _p("lb_hk_conversion.amount_config_query", "FX", "View large-amount criteria"),
    _p("lb_hk_conversion.amount_config_update", "FX", "Create, edit and delete large-amount criteria"),
    _p("fx.reference_rate_inquiry", "FX", "View reference rates and their history"),
    _p("fx.reference_rate_operation", "FX", "Import and edit reference rates"),
    _p("fx.client_inquiry", "FX", "View clients and their cash"),
    _p("fx.client_operation", "FX", "Import clients and their opening cash"),
    _p("fx.customer_exchange_inquiry", "FX", "View client exchanges"),
    _p("fx.customer_exchange_operation", "FX", "Create client exchanges"),
    _p("fx.customer_exchange_approval", "FX", "Review client exchanges and exception handling"),
    _p("fx.exchange_exception_operation", "FX", "Handle exception exchange records"),
    _p("fx.exchange_pnl_inquiry", "FX", "View and export exchange gains and losses"),
    # Margin call (margin-call.txt, verbatim).
    _p("RiskWarningFull", "Risk", "Manage margin calls and liquidation orders"),
    _p("RiskWarningReadOnly", "Risk", "View margin calls and liquidation orders"),
    # The backend's configuration, under the vendor's identifier (its spelling, "forcc").
    _p("lb_hk_margin_call.margin_call_auto_batch_forccconfig", "Risk",
       "Configure margin call: liquidation toggle and rules, warning-value switches, client terms, exemptions"),
    # Administration.
    _p("admin.operator_inquiry", "Admin", "View operators, roles and grants"),
    _p("admin.operator_operation", "Admin", "Create, enable and disable operators; unlock; reset passwords"),
    _p("admin.role_operation", "Admin", "Create roles, grant permissions to roles, assign roles"),
    _p("admin.permission_request_approval", "Admin", "Approve or reject permission requests"),
    _p("admin.message_subscription_inquiry", "Admin", "View message subscriptions and delivery status"),
    _p("admin.message_subscription_operation", "Admin", "Create and remove message subscriptions, retry deliveries"),
    _p("admin.audit_log_inquiry", "Audit", "View and verify the audit log"),
)

BY_CODE: dict[str, Permission] = {p.code: p for p in CATALOG}

# Holding this permission makes an operator an administrator: the one who can grant
# everything else.  The engine never lets the last enabled one go.
ADMINISTRATION = "admin.role_operation"

MODULES: tuple[str, ...] = ("Positions", "Allocations", "FX", "Risk", "Admin", "Audit")


# A permission that includes another: whoever may liquidate and cancel (RiskWarningFull)
# may see the pages they do it on, whether or not a role also grants the read-only one.
IMPLIES: dict[str, tuple[str, ...]] = {"RiskWarningFull": ("RiskWarningReadOnly",)}


def with_implied(codes: frozenset[str]) -> frozenset[str]:
    """``codes`` and every permission they include."""
    extra = {implied for code in codes for implied in IMPLIES.get(code, ())}
    return codes | extra if extra else codes


def is_known(code: str) -> bool:
    return code in BY_CODE
