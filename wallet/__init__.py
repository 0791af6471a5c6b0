"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.bank_payouts import BankPayouts
from wallet.card_acquirer import CardAcquirer
from wallet.card_routes import CardTopupController, CardWebhookController
from wallet.card_topups import requery as requery_card_topups
from wallet.routes import (
    BankWebhookController,
    CitizenController,
    LedgerController,
    SuspenseController,
    TransferController,
    WalletController,
)
from wallet.withdrawal_routes import BankAccountController, PayoutWebhookController, WithdrawalController
from wallet.withdrawals import dispatch as dispatch_payouts

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
    BankAccountController,
    WithdrawalController,
    PayoutWebhookController,
]

__all__ = [
    "ROUTE_HANDLERS",
    "SIGN_UP",
    "BankPayouts",
    "CardAcquirer",
    "dispatch_payouts",
    "requery_card_topups",
]
