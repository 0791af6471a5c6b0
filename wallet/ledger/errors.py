"""What the ledger refuses, in words a client can show."""

from __future__ import annotations

from civicpay.errors import Conflict, DomainError, NotFound, Text


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 422
    title = Text("Số dư khả dụng không đủ", "Insufficient available balance")


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = Text("Không tìm thấy tài khoản sổ cái", "Ledger account not found")


class InvalidTransfer(DomainError):
    code = "invalid_transfer"
    status = 422
    title = Text("Giao dịch không hợp lệ", "Invalid transfer")


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = Text("Không tìm thấy khoản tạm giữ", "Hold not found")


class HoldAlreadyFinal(Conflict):
    """A post, void or expiry reached a hold that had already ended; nothing was changed."""

    code = "hold_already_final"
    title = Text("Khoản tạm giữ đã được xử lý", "The hold has already been resolved")


class HoldExpired(Conflict):
    """The hold's time passed before it was posted; the expiry sweep gives the money back."""

    code = "hold_expired"
    title = Text("Khoản tạm giữ đã hết hạn", "The hold has expired")


class AccountsNotLocked(Exception):
    """A caller's bug, never a client's: an entry touches accounts its caller did not lock with the rest.

    Not a DomainError, so it is a logged 500 rather than a refusal a client could act on.
    """
