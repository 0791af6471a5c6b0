"""Welfare and pension disbursement: programmes and their funding, batches of beneficiaries validated from a
file, approved by a second officer with TOTP, and paid by the workers to wallets.

Other rooms and the shell use it through what this module exports.
"""

from disbursement.execution import Executed
from disbursement.execution import run as run_disbursements
from disbursement.routes import BatchController, FundingController, ProgrammeController
from disbursement.unclaimed import Settled, wallet_opened_handler
from disbursement.unclaimed import settle as settle_unclaimed

ROUTE_HANDLERS = [ProgrammeController, FundingController, BatchController]

__all__ = ["ROUTE_HANDLERS", "Executed", "Settled", "run_disbursements", "settle_unclaimed", "wallet_opened_handler"]
