"""Typed refusals of the QR room; each becomes problem+json in Vietnamese and English."""

from __future__ import annotations

from civicpay.errors import Conflict, DomainError, NotFound, Text


class OfficeNotFound(NotFound):
    code = "office_not_found"
    title = Text("Không tìm thấy bộ phận một cửa", "Office not found")


class CounterNotFound(NotFound):
    code = "counter_not_found"
    title = Text("Không tìm thấy quầy", "Counter not found")


class CollectionNotFound(NotFound):
    code = "collection_not_found"
    title = Text("Không tìm thấy khoản thu", "Fee collection not found")


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    title = Text("Không tìm thấy điểm chấp nhận thanh toán", "Merchant not found")


class NotYourOffice(DomainError):
    code = "not_your_office"
    status = 403
    title = Text("Cán bộ không làm việc tại bộ phận này", "The clerk does not work at this office")


class CollectionClosed(Conflict):
    """The collection is no longer open: paid, expired, cancelled or refunded; ``collection_status`` says which."""

    code = "collection_not_open"
    title = Text("Khoản thu không còn mở để thanh toán", "The fee collection is no longer open for payment")


class CollectionAlreadyPaid(CollectionClosed):
    code = "collection_already_paid"
    title = Text("Khoản thu này đã được thanh toán", "This fee collection has already been paid")


class CollectionNotRefundable(Conflict):
    code = "collection_not_refundable"
    title = Text("Khoản thu này không thể hoàn tiền", "This fee collection cannot be refunded")


class QrNotPayable(DomainError):
    """A well-formed VietQR (or other scheme's) code that is not one of ours."""

    code = "qr_not_payable"
    status = 422
    title = Text(
        "Mã QR này chưa thanh toán được từ ví; hãy dùng ứng dụng ngân hàng",
        "This QR code is not payable from the wallet yet; use a bank app",
    )


class QrInvalid(DomainError):
    """The payload is not a VietQR code; ``reason`` and ``position`` say where the reader stopped."""

    code = "qr_invalid"
    status = 422
    title = Text("Mã QR không hợp lệ", "The QR code is not valid")


class AmountMismatch(DomainError):
    code = "amount_mismatch"
    status = 422
    title = Text("Số tiền không khớp với mã QR", "The amount does not match the QR code")
