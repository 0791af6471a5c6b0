"""Typed refusals of the disbursement room; each becomes problem+json in Vietnamese and English."""

from __future__ import annotations

from civicpay.auth.approval import MakerCannotApprove
from civicpay.errors import Conflict, DomainError, NotFound, Text

# Re-exported: the rule and its refusal live in civicpay.auth.approval, shared with reconciliation.
__all__ = ["MakerCannotApprove"]


class ProgrammeNotFound(NotFound):
    code = "programme_not_found"
    title = Text("Không tìm thấy chương trình chi trả", "Programme not found")


class ProgrammeNameTaken(Conflict):
    code = "programme_name_taken"
    title = Text("Đã có chương trình chi trả mang tên này", "A programme with this name already exists")


class FundingNotFound(NotFound):
    code = "funding_not_found"
    title = Text("Không tìm thấy khoản cấp vốn", "Funding not found")


class FundingNotPending(Conflict):
    code = "funding_not_pending"
    title = Text("Khoản cấp vốn này đã được duyệt", "This funding has already been approved")


class BatchNotFound(NotFound):
    code = "batch_not_found"
    title = Text("Không tìm thấy đợt chi trả", "Batch not found")


class BatchNotValidated(Conflict):
    code = "batch_not_awaiting_approval"
    title = Text("Đợt chi trả này không còn chờ duyệt", "This batch is no longer awaiting approval")


class NothingToPay(Conflict):
    code = "batch_has_no_valid_rows"
    title = Text("Đợt chi trả không có dòng hợp lệ nào để duyệt", "The batch has no valid row to approve")


class InsufficientFunding(Conflict):
    """The batch's valid total is more than the programme's funding has available (what is not yet held)."""

    code = "insufficient_funding"
    title = Text(
        "Nguồn vốn của chương trình không đủ cho đợt chi trả này",
        "The programme's funding is not enough for this batch",
    )


class UnreadableBatchFile(DomainError):
    """The upload cannot be read as the batch layout at all (not CSV or XLSX, empty, a header unknown or
    missing): nothing is stored; ``detail`` names the problem."""

    code = "batch_file_unreadable"
    status = 422
    title = Text("Không đọc được tệp danh sách chi trả", "The batch file cannot be read")


class PayoutFileNotFound(NotFound):
    code = "payout_file_not_found"
    title = Text("Không tìm thấy tệp chi trả qua ngân hàng", "Bank payout file not found")


class UnreadableStatusReport(DomainError):
    """A bank's pain.002 that cannot be taken whole (not the format, an item not in the file it answers):
    nothing in it is applied; ``detail`` names the element and the problem."""

    code = "status_report_unreadable"
    status = 422
    title = Text(
        "Không đọc được báo cáo trạng thái (pain.002) của ngân hàng", "The bank's status report cannot be read"
    )


class StatusContradiction(Conflict):
    """The report says the opposite of what an earlier one said for an item (paid what it had rejected)."""

    code = "status_report_contradiction"
    title = Text(
        "Ngân hàng báo trạng thái trái với trạng thái đã báo trước đó",
        "The bank reports the opposite of what it reported before",
    )
