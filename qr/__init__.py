"""VietQR: the codec, images, fee collections at one-stop counters, paying by scan, merchants, the Treasury sweep.

Other rooms use it through what this module exports.
"""

from qr.bank_claims import claim_notification
from qr.counter import CounterDisplayController
from qr.merchants import settle_and_send as settle_merchants
from qr.routes import (
    CollectionController,
    MerchantController,
    OfficeController,
    ScanPaymentController,
    TreasuryController,
)
from qr.schemas import SettlementLine, SweepReport
from qr.treasury import sweep_and_report

ROUTE_HANDLERS = [
    OfficeController,
    CollectionController,
    ScanPaymentController,
    MerchantController,
    TreasuryController,
    CounterDisplayController,
]
NOTIFICATION_CLAIMANTS = [claim_notification]

__all__ = [
    "NOTIFICATION_CLAIMANTS",
    "ROUTE_HANDLERS",
    "SettlementLine",
    "SweepReport",
    "settle_merchants",
    "sweep_and_report",
]
