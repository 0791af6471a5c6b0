"""Bills: billers and their pushed bills, citizens' customer links, "my bills", paying bills from the wallet.

Other rooms use it through what this module exports.
"""

from billing.pull import BillLookup
from billing.routes import (
    BillController,
    BillerApiController,
    BillerController,
    BillLinkController,
    BillPaymentController,
)

ROUTE_HANDLERS = [BillerController, BillerApiController, BillLinkController, BillController, BillPaymentController]

__all__ = ["ROUTE_HANDLERS", "BillLookup"]
