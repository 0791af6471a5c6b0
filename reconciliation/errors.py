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


# --- the exception queue and day close (reconciliation.exceptions, reconciliation.closing) ---


class DayClosed(Conflict):
    code = "reconciliation_day_closed"
    title = Text("Ngày này đã khóa sổ; không thay đổi được", "This day is closed; it cannot be changed")


class ExceptionNotFound(NotFound):
    code = "reconciliation_exception_not_found"
    title = Text("Không tìm thấy chênh lệch đối soát", "Reconciliation exception not found")


class ExceptionNotOpen(Conflict):
    """Lock, re-check, transition: an exception already matched, carried or adjusted is not acted on again."""

    code = "reconciliation_exception_not_open"
    title = Text("Chênh lệch này đã được xử lý", "This exception has already been dealt with")


class ExceptionSuperseded(Conflict):
    code = "reconciliation_exception_superseded"
    title = Text(
        "Ngày này đã được đối soát lại; hãy xử lý trên lần đối soát mới nhất",
        "The day was reconciled again; act on its newest run",
    )


class ManualMatchInvalid(DomainError):
    code = "manual_match_invalid"
    status = 422
    title = Text(
        "Ghép tay cần một dòng sao kê chưa khớp và một hoặc nhiều khoản của ta chưa khớp, cùng chiều, cùng ngày",
        "A match by hand takes one unmatched statement line and one or more of our unmatched items, same direction,"
        " same day",
    )


class ManualMatchDoesNotAddUp(DomainError):
    code = "manual_match_does_not_add_up"
    status = 422
    title = Text(
        "Tổng các khoản của ta không bằng số tiền trên dòng sao kê; hãy điều chỉnh qua tài khoản chờ xử lý",
        "Our items do not add up to the statement line; adjust through suspense instead",
    )


class NothingToAdjust(DomainError):
    code = "nothing_to_adjust"
    status = 422
    title = Text("Chênh lệch này không làm lệch số dư; không có gì để điều chỉnh", "This exception moves no balance")


class AdjustmentNotFound(NotFound):
    code = "reconciliation_adjustment_not_found"
    title = Text("Không tìm thấy đề nghị điều chỉnh", "Adjustment not found")


class AdjustmentNotProposed(Conflict):
    code = "reconciliation_adjustment_not_proposed"
    title = Text("Đề nghị điều chỉnh này đã được duyệt", "This adjustment has already been approved")


class DayNotRun(Conflict):
    code = "reconciliation_day_not_run"
    title = Text("Ngày này chưa được đối soát", "This day has not been reconciled yet")


class DayWithoutStatement(Conflict):
    code = "reconciliation_day_without_statement"
    title = Text(
        "Không khóa sổ được: chưa có sao kê cho ngày có giao dịch này",
        "Cannot close: the day has ledger items and no statement",
    )


class DayHasOpenExceptions(Conflict):
    code = "reconciliation_day_has_open_exceptions"
    title = Text("Không khóa sổ được: còn chênh lệch chưa xử lý", "Cannot close: exceptions are still open")


class DayDriftUnexplained(Conflict):
    code = "reconciliation_day_drift_unexplained"
    title = Text("Không khóa sổ được: còn chênh lệch số dư chưa giải thích", "Cannot close: the drift is not explained")
