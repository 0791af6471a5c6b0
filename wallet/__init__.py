"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.routes import (
    BankWebhookController,
    CitizenController,
    LedgerController,
    SuspenseController,
    TransferController,
    WalletController,
)

ROUTE_HANDLERS = [
    CitizenController,
    WalletController,
    TransferController,
    LedgerController,
    BankWebhookController,
    SuspenseController,
]

__all__ = ["ROUTE_HANDLERS"]
