"""Typed refusals of the reconciliation room; each becomes problem+json (or one CLI line) in Vietnamese and English."""

from __future__ import annotations

from datetime import datetime

from civicpay.errors import Conflict, DomainError, NotFound, Text
from reconciliation.model import StatementError


class StatementUnreadable(DomainError):
    """A file the parsers refused whole: truncated, malformed, another currency... ``reason`` is their code."""

    code = "statement_unreadable"
    status = 422
    title = Text("Không đọc được tệp sao kê; không nhập gì", "The statement file cannot be read; nothing was imported")

    @classmethod
    def of(cls, error: StatementError) -> StatementUnreadable:
        # The pure parsers carry their own bilingual message (they cannot import civicpay.errors): same two texts.
        where = f" ({error.where})" if error.where else ""
        detail = Text(error.message.vi + where, error.message.en + where)
        return cls(detail, reason=error.code, where=error.where)


class StatementAlreadyImported(Conflict):
    code = "statement_already_imported"
    title = Text("Tệp sao kê này đã được nhập trước đó", "This statement file was imported before")

    @classmethod
    def at(cls, first: datetime, file_id: int) -> StatementAlreadyImported:
        when = first.isoformat(timespec="seconds")
        return cls(
            Text(
                f"Tệp này đã được nhập lúc {when} (lần nhập {file_id})",
                f"This file was first imported at {when} (import {file_id})",
            ),
            first_imported_at=when,
            file_id=file_id,
        )


class BankAccountNotHeld(DomainError):
    code = "bank_account_not_held"
    status = 422
    title = Text("Tài khoản ngân hàng này không phải của chúng ta", "We do not hold this bank account")


class StatementAccountUnknown(DomainError):
    """The file names no account we can tell (or names another than the one given)."""

    code = "statement_account_unknown"
    status = 422
    title = Text(
        "Không xác định được tài khoản của sao kê; hãy chỉ rõ account=BIN:SỐ",
        "The statement's account cannot be told; give account=BIN:NUMBER",
    )


class RunNotFound(NotFound):
    code = "reconciliation_run_not_found"
    title = Text("Không tìm thấy lần đối soát", "Reconciliation run not found")
