"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.routes import CitizenController, LedgerController, TransferController, WalletController

ROUTE_HANDLERS = [CitizenController, WalletController, TransferController, LedgerController]

__all__ = ["ROUTE_HANDLERS"]
