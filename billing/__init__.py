"""Bills: billers, their bills (pushed, pulled or imported), customer links, "my bills", paying bills from the
wallet or any bank app, biller notifications, auto-pay, receipts and each biller's daily settlement.

Other rooms use it through what this module exports.
"""

from billing.autopay import AutopayResult, pay_due_bills, send_reminders
from billing.bank_payments import claimant as notification_claimant
from billing.pull import BillLookup
from billing.receipt_routes import BillReceiptController
from billing.routes import (
    BillController,
    BillerApiController,
    BillerController,
    BillerDirectoryController,
    BillLinkController,
    BillPaymentController,
    SettlementController,
)
from billing.schemas import Settlement
from billing.settlements import INSTRUCTION_KINDS
from billing.settlements import settle as settle_billers
from billing.webhooks import KIND as WEBHOOK_KIND
from billing.webhooks import handler as webhook_handler

ROUTE_HANDLERS = [
    BillerController,
    BillerDirectoryController,
    SettlementController,
    BillerApiController,
    BillLinkController,
    BillController,
    BillPaymentController,
    BillReceiptController,
]

__all__ = [
    "INSTRUCTION_KINDS",
    "ROUTE_HANDLERS",
    "WEBHOOK_KIND",
    "AutopayResult",
    "BillLookup",
    "Settlement",
    "notification_claimant",
    "pay_due_bills",
    "send_reminders",
    "settle_billers",
    "webhook_handler",
]
