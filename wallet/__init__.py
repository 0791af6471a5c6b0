"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.card_acquirer import CardAcquirer
from wallet.card_routes import CardTopupController, CardWebhookController
from wallet.card_topups import requery_every as requery_card_topups_every
from wallet.routes import (
    BankWebhookController,
    CitizenController,
    LedgerController,
    SuspenseController,
    TransferController,
    WalletController,
)

# Public and rate-limited by the shell together with sign-in.
SIGN_UP = [CitizenController]
ROUTE_HANDLERS = [
    WalletController,
    TransferController,
    LedgerController,
    BankWebhookController,
    SuspenseController,
    CardTopupController,
    CardWebhookController,
]

__all__ = ["ROUTE_HANDLERS", "SIGN_UP", "CardAcquirer", "requery_card_topups_every"]
