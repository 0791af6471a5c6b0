"""What the wallet refuses."""

from __future__ import annotations

from civicpay.auth.errors import ProofNeeded
from civicpay.errors import DomainError, NotFound, Text


class WalletNotFound(NotFound):
    code = "wallet_not_found"
    title = Text("Không tìm thấy ví", "Wallet not found")


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    title = Text("Không tìm thấy giao dịch", "Transfer not found")


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    title = Text("Số điện thoại này chưa có ví civicpay", "No civicpay wallet has this phone number")


class MonthlyLimitExceeded(DomainError):
    """Circular 40/2024/TT-NHNN: at most the monthly cap in transfers and payments per wallet."""

    code = "monthly_limit_exceeded"
    status = 422
    title = Text("Vượt hạn mức giao dịch tháng của ví", "Over the wallet's monthly transaction limit")


class StepUpRequired(ProofNeeded):
    """Decision 2345/QĐ-NHNN: large transfers need strong authentication (here, a TOTP code)."""

    code = "step_up_required"
    status = 403
    title = Text(
        "Giao dịch cần xác thực bằng mã OTP (gửi trong header X-OTP)",
        "This transfer needs an OTP code (send it in the X-OTP header)",
    )
