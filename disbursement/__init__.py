"""Welfare and pension disbursement: programmes and their funding, batches of beneficiaries validated from a
file, approved by a second officer with TOTP, and paid by the workers to wallets.

Other rooms and the shell use it through what this module exports.
"""

from disbursement.execution import Executed
from disbursement.execution import run as run_disbursements
from disbursement.pages import OfficePages
from disbursement.routes import BatchController, FundingController, ProgrammeController

# The API's controllers, and the programme officers' pages (/office).
ROUTE_HANDLERS = [ProgrammeController, FundingController, BatchController, OfficePages]

__all__ = ["ROUTE_HANDLERS", "Executed", "run_disbursements"]
