"""Bills: billers and their pushed bills, citizens' customer links, "my bills", paying bills from the wallet.

Other rooms use it through what this module exports.
"""

from billing.autopay import AutopayResult, pay_due_bills, send_reminders
from billing.routes import (
    BillController,
    BillerApiController,
    BillerController,
    BillLinkController,
    BillPaymentController,
)

ROUTE_HANDLERS = [BillerController, BillerApiController, BillLinkController, BillController, BillPaymentController]

__all__ = ["ROUTE_HANDLERS", "AutopayResult", "pay_due_bills", "send_reminders"]
