"""Who may know an operator's password, for maker-checker.

Whoever sets an operator's password (creates the account or resets its password) can log
in as that operator, and may even have made the forced first change themselves.  For four
eyes, an operator and whoever last set their password therefore count as one person:
neither decides the other's submissions, and nobody decides a grant of power to an
operator whose password they set.  Without this an administrator could create an account,
log in as it, file a permission request, and approve it themselves.

The audit log says who set each password (``operator.create``, ``operator.reset_password``
under the actor's id; setup tools act with no id).  It is append-only and hash-chained, so
it is the record this rule trusts, and it needs no column of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .errors import MakerCheckerViolation
from .schema import audit_log

SETS_A_PASSWORD = ("operator.create", "operator.reset_password")


async def password_setter(conn: Any, username: str) -> int | None:
    """The operator who last set ``username``'s password; None for a setup tool (or none)."""
    stmt = (
        select(audit_log.c.operator_id)
        .where(audit_log.c.action.in_(SETS_A_PASSWORD), audit_log.c.target_type == "operator",
               audit_log.c.target_id == username)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).scalar()


async def refuse_one_person(conn: Any, *, ref: str, maker_id: int | None, maker: str, checker_id: int,
                            checker: str) -> None:
    """Refuse ``checker`` deciding ``maker``'s item ``ref`` when one set the other's password."""
    if maker_id is None:
        return  # The system's own submissions: there is no maker's password to know.
    if await password_setter(conn, maker) == checker_id:
        raise MakerCheckerViolation(
            f"You set {maker}'s password, so you could act as {maker}: another operator must approve {ref}."
        )
    if await password_setter(conn, checker) == maker_id:
        raise MakerCheckerViolation(
            f"{maker} set your password, so {maker} could act as you: another operator must approve {ref}."
        )
