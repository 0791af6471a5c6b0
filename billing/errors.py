"""Typed refusals of the billing room; each becomes problem+json in Vietnamese and English."""

from __future__ import annotations

from civicpay.errors import Conflict, DomainError, NotFound, Text


class BillerNotFound(NotFound):
    code = "biller_not_found"
    title = Text("Không tìm thấy đơn vị thu", "Biller not found")


class BillNotFound(NotFound):
    """Unknown, or not on the caller's links: the two answer alike."""

    code = "bill_not_found"
    title = Text("Không tìm thấy hóa đơn", "Bill not found")


class BillPaymentNotFound(NotFound):
    """Unknown, or another person's payment: the two answer alike, so ids cannot be probed."""

    code = "bill_payment_not_found"
    title = Text("Không tìm thấy giao dịch thanh toán hóa đơn", "Bill payment not found")


class LinkNotFound(NotFound):
    code = "bill_link_not_found"
    title = Text("Không tìm thấy mã khách hàng đã liên kết", "Customer link not found")


class CustomerCodeUnknown(DomainError):
    code = "customer_code_unknown"
    status = 422
    title = Text(
        "Đơn vị thu chưa có hóa đơn nào cho mã khách hàng này", "The biller has no bill for this customer code yet"
    )


class CustomerNameMismatch(DomainError):
    code = "customer_name_mismatch"
    status = 422
    title = Text(
        "Tên khách hàng tại đơn vị thu không khớp với họ tên của bạn",
        "The customer name at the biller does not match your full name",
    )


class AlreadyLinked(Conflict):
    code = "bill_link_exists"
    title = Text("Bạn đã liên kết mã khách hàng này", "You have already linked this customer code")


class BillNotOpen(Conflict):
    """The bill cannot be paid: cancelled, or paid already; ``bill_id`` and ``bill_status`` say which."""

    code = "bill_not_open"
    title = Text("Hóa đơn không còn mở để thanh toán", "The bill is no longer open for payment")


class PartialPaymentRefused(DomainError):
    """Less than a bill's due amount, to a biller whose policy is not ``allow_partial``; ``bill_id`` says which."""

    code = "partial_payment_refused"
    status = 422
    title = Text(
        "Đơn vị thu không nhận thanh toán một phần cho hóa đơn này",
        "The biller does not accept part payment of this bill",
    )


class AmountExceedsDue(DomainError):
    """More than a bill's due amount from the wallet; ``bill_id`` and ``due_vnd`` say which and how much."""

    code = "amount_exceeds_due"
    status = 422
    title = Text("Số tiền lớn hơn số còn phải trả của hóa đơn", "The amount is more than is still due on the bill")


class BillAlreadyPaid(BillNotOpen):
    code = "bill_already_paid"
    title = Text("Hóa đơn này đã được thanh toán", "This bill has already been paid")


class SettlementNotFound(NotFound):
    """Unknown, or another biller's: the two answer alike, so a biller learns nothing of others' settlements."""

    code = "settlement_not_found"
    title = Text("Không tìm thấy phiên quyết toán", "Settlement not found")


class WebhookDeliveryNotFound(NotFound):
    """Unknown, or another biller's: the two answer alike."""

    code = "webhook_delivery_not_found"
    title = Text("Không tìm thấy lần gửi thông báo", "Webhook delivery not found")
