"""Maker-checker (bốn mắt) with TOTP: one officer makes something, another approves it with a code.

Disbursement fundings and batches, and reconciliation's suspense adjustments, all approve this way; the rule
lives here once so that each room only names who made the thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.errors import OtpRequired
from civicpay.auth.service import verify_step_up
from civicpay.errors import DomainError, Text
from civicpay.settings import Settings

# The header every approval route takes its code from.
ApprovalOtp = Annotated[
    str | None,
    HeaderParameter(
        name="X-OTP",
        pattern=r"^[0-9]{6}$",
        min_length=6,
        max_length=6,
        description="The approving officer's TOTP code: every approval needs one, and a code is used once",
    ),
]


class MakerCannotApprove(DomainError):
    """Maker-checker (bốn mắt): whoever made or recorded something is not the one who approves it."""

    code = "maker_cannot_approve"
    status = 403
    title = Text(
        "Người lập không được tự duyệt; cần một cán bộ khác duyệt",
        "The officer who made this cannot approve it; another officer must",
    )


def refuse_maker(*, maker_id: int, checker_id: int) -> None:
    """The maker is refused first, before any code of theirs is looked at (and used up)."""
    if maker_id == checker_id:
        raise MakerCannotApprove()


async def checker_approves(
    session: AsyncSession, settings: Settings, *, maker_id: int, checker_id: int, otp: str | None, now: datetime
) -> None:
    """The checker is someone else, and proves it is them with a TOTP code used once (``X-OTP``)."""
    refuse_maker(maker_id=maker_id, checker_id=checker_id)
    if otp is None:
        raise OtpRequired(field="header.X-OTP")
    await verify_step_up(session, settings, checker_id, otp, now=now)
