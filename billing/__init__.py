"""Bills: billers, their pushed bills, customer links, "my bills", paying bills from the wallet or any bank app.

Other rooms use it through what this module exports.
"""

from billing.bank_payments import claimant as notification_claimant
from billing.routes import (
    BillController,
    BillerApiController,
    BillerController,
    BillLinkController,
    BillPaymentController,
)

ROUTE_HANDLERS = [BillerController, BillerApiController, BillLinkController, BillController, BillPaymentController]

__all__ = ["ROUTE_HANDLERS", "notification_claimant"]
