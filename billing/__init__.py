"""Bills: billers and their pushed bills, citizens' customer links, "my bills", paying bills from the wallet.

Other rooms use it through what this module exports.
"""

from billing.routes import (
    BillController,
    BillerApiController,
    BillerController,
    BillLinkController,
    BillPaymentController,
)
from billing.webhooks import KIND as WEBHOOK_KIND
from billing.webhooks import handler as webhook_handler

ROUTE_HANDLERS = [BillerController, BillerApiController, BillLinkController, BillController, BillPaymentController]

__all__ = ["ROUTE_HANDLERS", "WEBHOOK_KIND", "webhook_handler"]
