"""Welfare and pension disbursement: programmes and their funding, batches of beneficiaries validated from a
file, approved by a second officer with TOTP, and paid by the workers to wallets and, in pain.001 files, to
bank accounts.

Other rooms and the shell use it through what this module exports.
"""

from disbursement.bank_files import SEND as PAYOUT_FILE_SEND
from disbursement.bank_files import handler as payout_file_handler
from disbursement.execution import Executed
from disbursement.execution import run as run_disbursements
from disbursement.pages import OfficePages
from disbursement.routes import (
    BatchController,
    FundingController,
    PaymentStatusWebhookController,
    PayoutFileController,
    ProgrammeController,
)
from disbursement.unclaimed import Settled, wallet_opened_handler
from disbursement.unclaimed import settle as settle_unclaimed

# The API's controllers, and the programme officers' pages (/office).
ROUTE_HANDLERS = [
    ProgrammeController,
    FundingController,
    BatchController,
    PayoutFileController,
    PaymentStatusWebhookController,
    OfficePages,
]

__all__ = [
    "PAYOUT_FILE_SEND",
    "ROUTE_HANDLERS",
    "Executed",
    "Settled",
    "payout_file_handler",
    "run_disbursements",
    "settle_unclaimed",
    "wallet_opened_handler",
]
