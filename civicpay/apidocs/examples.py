"""Examples for request bodies and answers, built from the types the handlers take and return.

One story runs through them: Nguyễn Thị Hương (0912345678, wallet 1) sends 150.000 ₫ to Trần Văn Minh
(0987654321) and pays a 50.000 ₫ fee at counter 1 of Bộ phận Một cửa phường Phú Hội by scanning its
VietQR; Cà phê Thuận Hóa is a merchant. A value is chosen by the field's name (``VALUES``), or by
``Struct.field`` where one name means different things in different structs (``OVERRIDES``); enums
take their first member unless named, nested structs and lists are built the same way. A field with
no value here is an error (``MissingExample``): a unit test builds every route's examples, so a new
field gets a realistic value when it is added, and each example must decode into its type (its
constraints included).
"""

from __future__ import annotations

import enum
import inspect
from datetime import UTC, datetime
from typing import Any, get_args, get_origin, get_type_hints

import msgspec
import msgspec.inspect as mi
from litestar import Response
from litestar.handlers import HTTPRouteHandler

# The demo office's dynamic VietQR for collection 42 (reference TTHC0000016N), 50.000 ₫, as
# qr.collections.payment_code writes it (tests/unit/apidocs checks it against the codec).
VIETQR_COLLECTION = (
    "00020101021238570010A00000072701270006970436011301610012345670208QRIBFTTA5303704540550000"
    "5802VN5922Bo phan Mot cua phuong6003Hue62380512TTHC0000016N0702Q10812TTHC0000016N63044F29"
)
# Cà phê Thuận Hóa's static code to its MB account (the demo merchant's).
VIETQR_MERCHANT = (
    "00020101021138540010A00000072701240006970422011009051112220208QRIBFTTA5204581453037045802VN"
    "5916Ca phe Thuan Hoa6003Hue63040384"
)
_AT = "2026-11-23T03:00:00Z"  # 10:00 in Huế
_LATER = "2026-11-23T03:00:04Z"

VALUES: dict[str, Any] = {
    # people and sign-in
    "phone": "0912345678",
    "to_phone": "0987654321",
    "full_name": "Nguyễn Thị Hương",
    "owner_name": "Nguyễn Thị Hương",
    "holder_name": "NGUYEN THI HUONG",
    "payer_name": "Nguyễn Thị Hương",
    "citizen_id": "046190001234",
    "password": "mat-khau-manh",
    "otp": "492039",
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwicm9sZSI6ImNpdGl6ZW4ifQ.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 900,
    "totp_enabled": True,
    "provisioning_uri": "otpauth://totp/civicpay:%2B84912345678?secret=JBSWY3DPEHPK3PXP&issuer=civicpay",
    "qr_png_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "api_key": "cpk_live_5Jt9wQ2mXvR8nL4c",
    "role": "citizen",
    "kyc_tier": "basic",
    # money
    "amount_vnd": 150_000,
    "amount_display": "150.000 ₫",
    "balance_vnd": 4_850_000,
    "available_vnd": 4_850_000,
    "balance_display": "4.850.000 ₫",
    "refunded_vnd": 0,
    "unregistered_vnd": 0,
    "monthly_cap_vnd": 100_000_000,
    "month_used_vnd": 150_000,
    "month_remaining_vnd": 99_850_000,
    "day_total_vnd": 150_000,
    "stepup_single_vnd": 10_000_000,
    "stepup_daily_vnd": 20_000_000,
    "running_balance_vnd": 15_150_000,
    "memo": "Trả tiền cà phê",
    "category": "p2p",
    "direction": "out",
    "topup_code": "NAP000001Y",
    # banks
    "bank_bin": "970436",
    "bin": "970436",
    "account_number": "0011001234567",
    "bank_name": "Vietcombank",
    "short_name": "Vietcombank",
    "legal_name": "Ngân hàng TMCP Ngoại thương Việt Nam",
    "can_receive": True,
    "can_send": True,
    "bank": "970436",
    "bank_account_id": 1,
    "bank_reference": "FT26327001234",
    "reference_code": "FT26327009876",
    "content": "NGUYEN THI HUONG chuyen tien NAP000001Y",
    "transaction_at": _AT,
    "transfer_type": "in",
    "payout_id": "WD00000001",
    "reason_code": None,
    "reason": "Người chuyển ghi sai mã nạp tiền; đã xác minh qua điện thoại",
    "return_reference": None,
    "return_rejected_code": None,
    "purpose": "wallet_pool",
    "changed": True,
    "duplicate": False,
    # the one-stop office, its counter and its fees
    "city": "Huế",
    "agency_code": "UBND-PHUHOI",
    "agency_name": "Ủy ban nhân dân phường Phú Hội",
    "treasury_account": "3511.0.1054321",
    "office_id": 1,
    "office_name": "Bộ phận Một cửa phường Phú Hội",
    "counter_id": 1,
    "display_url": "/counter/1",
    "procedure_code": "1.001612",
    "procedure_name": "Chứng thực bản sao từ bản chính",
    "dossier_number": "H57.22-261123-0001",
    "kind": "fee",
    "reference": "TTHC0000016N",
    "receipt_number": "PHUHOI-2026-0000042",
    "vietqr": VIETQR_COLLECTION,
    "payload": VIETQR_COLLECTION,
    "payee": "Bộ phận Một cửa phường Phú Hội",
    "paid_by": "wallet",
    "collection_id": 42,
    "collections": 12,
    "hours_waiting": 26,
    "from_bank_bin": "970436",
    "from_account_number": "0161001234567",
    "suspense_reason": None,
    # bills
    "account_holder": "CONG TY DIEN LUC THUA THIEN HUE",
    "webhook_url": "https://billing.example.vn/civicpay/webhook",
    "webhook_secret": "whsec-2b7e151628aed2a6abf7158809cf4f3c",
    "lookup_url": "https://billing.example.vn/civicpay/customers/{customer_code}/bills",
    "reason_label": "Đơn vị thu chưa phản hồi kịp, hóa đơn có thể chưa cập nhật",
    "payment_policy": "refuse",
    "api_key_id": 1,
    "biller_id": 1,
    "biller_name": "Điện lực Thừa Thiên Huế",
    "biller_bill_id": "PC03-2611-000123",
    "bill_id": 1,
    "bill_ids": [1, 2],
    "bill_count": 2,
    "customer_code": "PC03AA0012345",
    "customer_name": "Nguyễn Thị Hương",
    "period": "2026-11",
    "due_date": "2026-12-15",
    "status_label": "Chưa thanh toán",
    "category_label": "Tiền điện",
    "total_vnd": 150_000,
    "total_display": "150.000 ₫",
    "overdue_vnd": 0,
    "version": 1,
    "payment_id": 1,
    # merchants
    "mcc": "5814",
    "merchant_id": 1,
    "withdrawal_id": 7,
    # ids, times, cursors
    "id": 1,
    "user_id": 1,
    "wallet_id": 1,
    "transfer_id": 1001,
    "notification_id": 17,
    "card_topup_id": 3,
    "at": _AT,
    "as_of": _AT,
    "created_at": _AT,
    "paid_at": _AT,
    "expires_at": "2026-11-23T03:30:00Z",
    "resolved_at": _LATER,
    "delivered_at": _LATER,
    "next_attempt_at": _AT,
    "next_cursor": "MTAwMQ",
    "attempts": 1,
    "last_error": None,
    "key": "card.confirm:3",
    "sound": True,
    "breaches": [],
    "handled": True,
    "event_id": "evt_1QxYzAbCdEfGh",
    "type": "payment_intent.succeeded",
    "payment_method": "pm_card_visa",
    "payment_intent_id": "pi_3QxYzAbCdEfGh",
    "failure_code": None,
    "data": {"object": {"id": "pi_3QxYzAbCdEfGh", "object": "payment_intent", "amount": 500000, "currency": "vnd"}},
    # the reconciliation room: the fee account's statement and run of 23 November
    "file_id": 3,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "account": "970436:1017468888",
    "imported_at": _AT,
    "statements": [],
    "position": 1,
    "statement_id": "STMT-970436-1017468888-20261123",
    "business_day": "2026-11-23",
    "date": "2026-11-23",
    "opening_vnd": 25_000_000,
    "closing_vnd": 25_300_000,
    "credits_vnd": 450_000,
    "debits_vnd": 150_000,
    "continuous": True,
    "follows_previous": True,
    "statement_lines": 3,
    "ledger_items": 3,
    "matched": 2,
    "unmatched_ours": 0,
    "unmatched_theirs": 0,
    "amount_mismatches": 1,
    "duplicates": 0,
    "reversals": 0,
    "ledger_balance_vnd": 25_301_000,
    "statement_closing_vnd": 25_300_000,
    "drift_vnd": -1_000,
    "exceptions": [],
    "statement_amount_vnd": 149_000,
    "our_reference": "NAP00001YA",
    "our_amount_vnd": 150_000,
    "line_id": 12,
    # --- the reconciliation room's exception queue and day close: the 1.000 ₫ short line adjusted, the day closed ---
    "closed": True,
    "closed_at": _AT,
    "closed_by": 7,
    "explained_vnd": -1_000,
    "unexplained_vnd": 0,
    "open_exceptions": 0,
    "pending_adjustments": [],
    "exception_id": 41,
    "line_exception_id": 41,
    "item_exception_ids": [42, 43],
    "debit_account_id": 9,
    "credit_account_id": 3,
    "effect_vnd": -1_000,
    "note": "Ngân hàng thu thiếu 1.000 ₫ phí chuyển khoản",
    "proposed_by": 7,
    "proposed_at": _AT,
    "approved_by": 8,
    "approved_at": _AT,
    "entry_id": 120,
    "carried_from_id": None,
    "carried_to": None,
    "resolution": {"rule": "suspense_adjustment", "adjustment_id": 5, "note": "thu thiếu phí"},
    "resolved_by_user_id": 7,
}

OVERRIDES: dict[str, Any] = {
    # disbursement: Huế's monthly welfare, funded by the budget, a batch of 1,200 beneficiaries half paid
    "ProgrammeCreate.name": "Trợ cấp xã hội hằng tháng",
    "ProgrammeCreate.kind": "welfare",
    "Programme.kind": "welfare",
    "ProgrammeCreate.max_amount_vnd": 5_000_000,
    "Programme.name": "Trợ cấp xã hội hằng tháng",
    "Programme.max_amount_vnd": 5_000_000,
    "Programme.funding_account_id": 42,
    "Programme.funded_vnd": 900_000_000,
    "Programme.available_vnd": 0,
    "Programme.unclaimed_vnd": 1_500_000,
    "FundingCreate.amount_vnd": 900_000_000,
    "Funding.programme_id": 1,
    "Funding.amount_vnd": 900_000_000,
    "Funding.reference": "NSCT00000000001Y",
    "Funding.status": "approved",
    "Funding.recorded_by": 3,
    "Funding.approved_by": 4,
    "Funding.approved_at": _LATER,
    "Batch.programme_id": 1,
    "Batch.file_name": "tro-cap-2026-12.xlsx",
    "Batch.status": "approved",
    "Batch.made_by": 5,
    "Batch.approved_by": 4,
    "Batch.rows": 1_200,
    "Batch.valid": 1_198,
    "Batch.invalid": 2,
    "Batch.total_vnd": 898_500_000,
    "Batch.by_destination": [
        {"destination": "wallet", "count": 1_000, "total_vnd": 750_000_000},
        {"destination": "bank", "count": 197, "total_vnd": 147_000_000},
        {"destination": "unclaimed", "count": 1, "total_vnd": 1_500_000},
    ],
    "Batch.progress": {
        "done": 600,
        "total": 1_198,
        "by_state": {
            "valid": 0,
            "queued": 400,
            "paid_to_wallet": 600,
            "pending_bank": 198,
            "sent_to_bank": 0,
            "bank_confirmed": 0,
            "failed": 0,
            "held_unclaimed": 0,
            "claimed": 0,
            "returned": 0,
        },
    },
    "Batch.released_vnd": None,
    "Batch.approved_at": _LATER,
    "Batch.finished_at": None,
    "Batch.report": [
        {
            "row": 17,
            "citizen_id": "046190001234",
            "problems": [
                {
                    "code": "name_mismatch",
                    "field": "full_name",
                    "message_vi": "Họ tên không khớp với họ tên của chủ ví (không tính dấu và chữ hoa)",
                    "message_en": "The name does not match the wallet holder's (diacritics and case aside)",
                }
            ],
        }
    ],
    "Batch.report_truncated": False,
    "Batch.follow_up": 2,
    # its bank items: a pain.001 file to VietinBank, and the bank's pain.002 on it
    "PayoutFileView.id": 3,
    "PayoutFileView.batch_id": 7,
    "PayoutFileView.reference": "CTNH5K2M9Q4T7W1A",
    "PayoutFileView.bank_bin": "970415",
    "PayoutFileView.debtor_bank_bin": "970436",
    "PayoutFileView.debtor_account_number": "1017468888",
    "PayoutFileView.item_count": 198,
    "PayoutFileView.total_vnd": 148_500_000,
    "PayoutFileView.status": "sent",
    "PayoutFileView.sent_at": _LATER,
    "PayoutFileView.completed_at": None,
    "FollowUpView.item_id": 1_017,
    "FollowUpView.reference": "CTXH00000000RR7F",
    "FollowUpView.row": 1_018,
    "FollowUpView.bank_bin": "970415",
    "FollowUpView.account_number": "101867654321",
    "FollowUpView.amount_vnd": 750_000,
    "FollowUpView.status": "failed",
    "FollowUpView.failure": "AC04",
    "FollowUpView.failure_detail": "Closed account number",
    "FollowUpView.follow_up": True,
    "StatusReceipt.report_id": "STS9A1B2C3D4E5F",
    "StatusReceipt.file_reference": "CTNH5K2M9Q4T7W1A",
    "StatusReceipt.confirmed": 196,
    "StatusReceipt.failed": 2,
    "StatusReceipt.unchanged": 0,
    "StatusReceipt.file_status": "completed",
    "BatchReport.batch_id": 1,
    "BatchReport.programme_id": 1,
    "BatchReport.programme_name": "Trợ cấp xã hội hằng tháng",
    "BatchReport.file_name": "tro-cap-2026-12.xlsx",
    "BatchReport.status": "completed",
    "BatchReport.rows": 1_200,
    "BatchReport.total_vnd": 898_500_000,
    "BatchReport.outcomes": [
        {"outcome": "invalid", "count": 2, "total_vnd": 1_500_000},
        {"outcome": "valid", "count": 0, "total_vnd": 0},
        {"outcome": "queued", "count": 0, "total_vnd": 0},
        {"outcome": "paid_to_wallet", "count": 999, "total_vnd": 749_250_000},
        {"outcome": "pending_bank", "count": 0, "total_vnd": 0},
        {"outcome": "sent_to_bank", "count": 0, "total_vnd": 0},
        {"outcome": "bank_confirmed", "count": 196, "total_vnd": 146_250_000},
        {"outcome": "failed", "count": 2, "total_vnd": 1_500_000},
        {"outcome": "held_unclaimed", "count": 0, "total_vnd": 0},
        {"outcome": "claimed", "count": 1, "total_vnd": 1_500_000},
        {"outcome": "returned", "count": 0, "total_vnd": 0},
    ],
    # the inbox: her electricity bill paid by auto-pay on its due date
    "NotificationView.kind": "bill_autopay_paid",
    "NotificationView.params": {
        "bill_id": 7,
        "link_id": 3,
        "biller_id": 2,
        "amount_vnd": 150_000,
        "due_date": "2026-12-15",
    },
    "NotificationView.title": {"vi": "Đã tự động thanh toán hóa đơn", "en": "Bill paid automatically"},
    "NotificationView.body": {
        "vi": "Điện lực Thừa Thiên Huế, mã khách hàng PC03AA0012345, kỳ 2026-11, 150.000 ₫, hạn 15/12/2026: "
        "đã thanh toán từ ví của bạn.",
        "en": "Điện lực Thừa Thiên Huế, customer code PC03AA0012345, period 2026-11, 150.000 ₫, due 2026-12-15: "
        "paid from your wallet.",
    },
    "NotificationView.read": False,
    "NotificationPage.unread_count": 1,
    "MarkedRead.marked": 1,
    "AutopayCreate.monthly_ceiling_vnd": 500_000,
    "Autopay.monthly_ceiling_vnd": 500_000,
    "Autopay.monthly_ceiling_display": "500.000 ₫",
    "Autopay.active_from": "2026-11-23",
    # a person as a party to a transfer, in the canonical spelling the service answers with
    "Party.name": "Trần Văn Minh",
    "Party.phone": "+84987******321",
    "Transfer.sender": {"name": "Nguyễn Thị Hương", "phone": "+84912345678"},
    "Citizen.phone": "+84912345678",
    "Staff.phone": "+84901000003",
    "Staff.full_name": "Võ Thị Thu",
    "Staff.role": "clerk",
    "StaffCreate.phone": "0901000003",
    "StaffCreate.full_name": "Võ Thị Thu",
    "StaffCreate.role": "clerk",
    "StaffCreate.citizen_id": None,
    "Me.phone": "+84912345678",
    "Me.name": "Nguyễn Thị Hương",
    "Wallet.phone": "+84912345678",
    "ClerkAssign.phone": "0901000003",
    "LoginCreate.otp": None,
    "TotpConfirm.code": "492039",
    "ApiKeyCreate.name": "Điện lực Thừa Thiên Huế",
    "ApiKeyIssued.name": "Điện lực Thừa Thiên Huế",
    "ApiKeyIssued.role": "biller",
    "CardTopupCreate.amount_vnd": 500_000,
    "CardTopupView.amount_vnd": 500_000,
    "CardTopupView.amount_display": "500.000 ₫",
    "CardTopupView.status": "succeeded",
    "CardRefundCreate.amount_vnd": 100_000,
    "WebhookReceipt.status": "succeeded",
    "NotificationIn.id": "VCB-20261123-000123",
    "AcquirerEvent.id": "evt_1QxYzAbCdEfGh",
    "NotificationIn.amount_vnd": 10_000_000,
    "NotificationIn.account_number": "1017468888",
    "SuspenseItem.amount_display": "2.000.000 ₫",
    "SuspenseItem.amount_vnd": 2_000_000,
    "SuspenseItem.content": "CK tien hoc phi",
    "Resolution.outcome": "assigned",
    "Receipt.outcome": "credited",
    "BankAccountHeld.account_number": "1017468888",
    "BankAccountHeld.balance_vnd": 1_250_000_000,
    "BankAccountHeld.available_vnd": 1_250_000_000,
    "BankAccountHeld.balance_display": "1.250.000.000 ₫",
    "BankAccountHeld.holder_name": "CONG TY CIVICPAY",
    "WithdrawalCreate.amount_vnd": 2_000_000,
    "WithdrawalView.amount_vnd": 2_000_000,
    "WithdrawalView.amount_display": "2.000.000 ₫",
    "WithdrawalView.status": "queued",
    "WithdrawalView.resolved_at": None,
    "PayoutResult.status": "confirmed",
    "PayoutReceipt.status": "confirmed",
    "OfficeCreate.code": "PHUHOI",
    "OfficeCreate.name": "Bộ phận Một cửa phường Phú Hội",
    "OfficeCreate.account_number": "0161001234567",
    "Office.code": "PHUHOI",
    "Office.name": "Bộ phận Một cửa phường Phú Hội",
    "Office.account_number": "0161001234567",
    "CounterCreate.name": "Quầy 1",
    "Counter.name": "Quầy 1",
    "Collection.amount_vnd": 50_000,
    "Collection.amount_display": "50.000 ₫",
    "Collection.status": "paid",
    "CollectionCreate.amount_vnd": 50_000,
    "Receipt.amount_vnd": 50_000,
    "Receipt.amount_display": "50.000 ₫",
    "ScanPaid.amount_vnd": 50_000,
    "ScanPaid.amount_display": "50.000 ₫",
    "ScanPaid.merchant_id": None,
    "ScanPayment.amount_vnd": None,
    "RefundCreate.reason": "Công dân nộp trùng hồ sơ, hoàn lại lệ phí",
    "Overdue.amount_vnd": 50_000,
    "RemittanceLine.amount_vnd": 600_000,
    "RemittanceLine.amount_display": "600.000 ₫",
    "RemittanceLine.status": "confirmed",
    "RemittanceLine.reference": "KBNN00000013",
    "SettlementLine.amount_vnd": 1_350_000,
    "SettlementLine.payout_id": "WD00000007",
    # a biller's settlement: the electricity company's two bills paid on the 23rd, paid out on the 24th
    "Settlement.business_day": "2026-11-24",
    "Settlement.cutoff_at": "2026-11-23T17:00:00Z",
    "Settlement.reference": "QTHD00000000007M",
    "Settlement.amount_vnd": 360_000,
    "Settlement.amount_display": "360.000 ₫",
    "Settlement.account_number": "0161009998887",
    "Settlement.status": "confirmed",
    "Settlement.created_at": "2026-11-24T03:00:00Z",
    "Settlement.resolved_at": "2026-11-24T03:05:00Z",
    "MerchantCreate.phone": "0905111222",
    "MerchantCreate.owner_name": "Trần Thị Thuận",
    "MerchantCreate.name": "Cà phê Thuận Hóa",
    "MerchantCreate.bank_bin": "970422",
    "MerchantCreate.account_number": "0905111222",
    "Merchant.name": "Cà phê Thuận Hóa",
    "Merchant.bank_bin": "970422",
    "Merchant.account_number": "0905111222",
    "Merchant.vietqr": VIETQR_MERCHANT,
    "Merchant.balance_vnd": 1_350_000,
    "Merchant.available_vnd": 1_350_000,
    "OutboxEntry.kind": "card.confirm",
    "OutboxEntry.status": "delivered",
    "OutboxEntry.payload": {"card_topup_id": 3},
    "Health.status": "ok",
    "Health.database": "ok",
    "Health.revision": "0013",
    "Health.expected_revision": "0013",
    # bills
    "BillerCreate.name": "Điện lực Thừa Thiên Huế",
    "BillerCreate.category": "electricity",
    "BillerCreate.account_number": "0161009998887",
    "Biller.name": "Điện lực Thừa Thiên Huế",
    "Biller.category": "electricity",
    "Biller.account_number": "0161009998887",
    "BillerListed.name": "Điện lực Thừa Thiên Huế",
    "BillerListed.category": "electricity",
    "BillerListed.code_label": "Mã khách hàng (trên hóa đơn tiền điện)",
    "BillerCreated.name": "Điện lực Thừa Thiên Huế",
    "BillerCreated.category": "electricity",
    "BillerCreated.account_number": "0161009998887",
    "BillerGroup.category": "electricity",
    "WebhookDelivery.event": "bills.paid",
    "WebhookDelivery.status": "delivered",
    "WebhookDelivery.last_attempt_at": _LATER,
    "WebhookTry.attempted_at": _LATER,
    "WebhookTry.http_status": 200,
    "WebhookTry.error": None,
    "BillIn.bill_id": "PC03-2611-000123",
    "BillIn.status": "open",
    "BillAccepted.bill_id": "PC03-2611-000123",
    "BillRefused.bill_id": "PC03-2611-000124",
    "BillRefused.code": "bill_already_paid",
    "BillRefused.detail": "The bill is paid; it cannot be amended or cancelled",
    "Bill.status": "open",
    "BillDetail.status": "open",
    "BillLine.description": "Điện sinh hoạt bậc 1 (0-50 kWh)",
    "BillLineOut.description": "Điện sinh hoạt bậc 1 (0-50 kWh)",
    "BillLine.quantity": "50 kWh",
    "BillLineOut.quantity": "50 kWh",
    "DueDateGroup.label": "Hạn thanh toán 15/12/2026",
    "DueDateGroup.overdue": False,
    "StaleBiller.reason": "timeout",
    "Bill.overdue": False,
    "BillDetail.overdue": False,
    # reconciliation: the pool account's statement of 23 November, one amount off
    "StatementImport.format": "camt",
    "StatementImport.lines": 3,
    "ImportedStatement.lines": 3,
    "ReconciliationRun.status": "exceptions",
    "ReconciliationRun.id": 7,
    "RunExceptionOut.kind": "amount_mismatch",
    "RunExceptionOut.direction": "credit",
    "RunExceptionOut.detail": {"rule": "reference", "theirs_vnd": 149_000, "ours_vnd": 150_000},
    # the three-way fee check: a fee swept 26 hours after it was paid, its Treasury line there
    "FeeReconciliationOut.clean": False,
    "AgencyFlagOut.fees": 3,
    "AgencyFlagOut.complete": 1,
    "AgencyFlagOut.late": 1,
    "AgencyFlagOut.treasury_missing": 1,
    "AgencyFlagOut.flagged": True,
    "FeeThreeWay.office_code": "PHUHOI",
    "FeeThreeWay.remittance_reference": "KBNN0000000001AB",
    "FeeThreeWay.remittance_amount_vnd": 160_000,
    "FeeThreeWay.remittance_status": "confirmed",
    "FeeThreeWay.from_account": "970436:0161001234567",
    "FeeThreeWay.hours_to_treasury": 26.67,
    "FeeThreeWay.late": True,
    "StatementLegOut.booked_on": "2026-11-24",
}


class MissingExample(LookupError):
    """A field of a request or answer has no example value: add one to ``VALUES`` or ``OVERRIDES``."""


def example_of(annotation: Any) -> Any:
    """A realistic JSON value of the type (a Struct, a list of them, a builtin)."""
    return _value(mi.type_info(annotation), owner=None, name=None)


def _value(info: mi.Type, owner: str | None, name: str | None) -> Any:  # noqa: PLR0911 - one return per kind of type
    if owner is not None and f"{owner}.{name}" in OVERRIDES:
        return OVERRIDES[f"{owner}.{name}"]
    if name is not None and name in VALUES:
        return VALUES[name]
    if isinstance(info, mi.Metadata):
        return _value(info.type, owner, name)
    if isinstance(info, mi.StructType):
        return {field.encode_name: _value(field.type, info.cls.__name__, field.encode_name) for field in info.fields}
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return [_value(info.item_type, owner, None)]
    if isinstance(info, mi.UnionType):
        present = [member for member in info.types if not isinstance(member, mi.NoneType)]
        return _value(present[0], owner, name) if present else None
    if isinstance(info, mi.EnumType):
        first: enum.Enum = next(iter(info.cls))
        return first.value
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.DateTimeType):
        return _AT
    raise MissingExample(f"no example for {owner}.{name} ({type(info).__name__})")


def request_type(handler: HTTPRouteHandler) -> Any | None:
    """The type of the handler's JSON body, if it takes one."""
    parameter = handler.parsed_fn_signature.parameters.get("data")
    return None if parameter is None else parameter.annotation


def answer_type(handler: HTTPRouteHandler) -> Any | None:
    """What the handler answers with when it succeeds: its ResponseSpec's model, or its return type."""
    status = handler.status_code
    spec = (handler.responses or {}).get(status)
    if spec is not None:
        return spec.data_container
    annotation = get_type_hints(inspect.unwrap(handler.fn), include_extras=True).get("return")
    if get_origin(annotation) is Response:  # Response[Health]: the body's type
        annotation = get_args(annotation)[0]
    return annotation if _is_json(annotation) else None


def _is_json(annotation: Any) -> bool:
    try:
        info = mi.type_info(annotation)
    except (TypeError, ValueError):
        return False
    while isinstance(info, mi.ListType):
        info = info.item_type
    return isinstance(info, mi.StructType)


def add_examples(operation: dict[str, Any], handler: HTTPRouteHandler, schemas: dict[str, Any]) -> None:
    """Put an example on the operation's JSON body and on its successful JSON answer."""
    del schemas  # the examples come from the handler's types, not from the generated schemas
    body = request_type(handler)
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and content is not None:
        content["examples"] = {"example": {"value": _checked(body)}}
    answer = answer_type(handler)
    success = operation.get("responses", {}).get(str(handler.status_code), {})
    answered = success.get("content", {}).get("application/json")
    if answer is not None and answered is not None:
        answered["examples"] = {"example": {"value": _checked(answer)}}


def _checked(annotation: Any) -> Any:
    """The example, proven to be what the type accepts (constraints included) by decoding it."""
    value = example_of(annotation)
    msgspec.json.decode(msgspec.json.encode(value), type=annotation, strict=False, dec_hook=_as_datetime)
    return value


def _as_datetime(kind: type, value: Any) -> Any:
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    raise NotImplementedError(kind)
