"""VietQR: the codec, images, fee collections at one-stop counters, paying by scan, merchants, the Treasury sweep.

Other rooms use it through what this module exports.
"""

from qr.bank_claims import claim_notification
from qr.counter import CounterDisplayController, CounterScreen, counter_screens
from qr.fee_trail import FEE_BOOK
from qr.merchants import settle as settle_merchants
from qr.render import png as qr_png
from qr.routes import (
    CollectionController,
    MerchantController,
    OfficeController,
    ScanPaymentController,
    TreasuryController,
)
from qr.schemas import RemittanceLine, SettlementLine, SweepReport
from qr.treasury import INSTRUCTION as TREASURY_REMITTANCE
from qr.treasury import history as remittances
from qr.treasury import sweep_and_report
from qr.vietqr import VietQr, fit_for_qr
from qr.vietqr import encode as encode_vietqr

ROUTE_HANDLERS = [
    OfficeController,
    CollectionController,
    ScanPaymentController,
    MerchantController,
    TreasuryController,
    CounterDisplayController,
]
NOTIFICATION_CLAIMANTS = [claim_notification]
# Found by the wallet's callback route and sent by their outbox handlers (bootstrap.Services.instructions).
INSTRUCTION_KINDS = [TREASURY_REMITTANCE]

__all__ = [
    "FEE_BOOK",
    "INSTRUCTION_KINDS",
    "NOTIFICATION_CLAIMANTS",
    "ROUTE_HANDLERS",
    "CounterScreen",
    "RemittanceLine",
    "SettlementLine",
    "SweepReport",
    "VietQr",
    "counter_screens",
    "encode_vietqr",
    "fit_for_qr",
    "qr_png",
    "remittances",
    "settle_merchants",
    "sweep_and_report",
]
