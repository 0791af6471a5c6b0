"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.bank_payouts import BankPayouts
from wallet.bank_topups import (
    Claimant,
    NotificationIn,
    Placement,
    reopen_in_suspense,
    suspense_account,
    wallet_pool_account,
)
from wallet.card_acquirer import CardAcquirer
from wallet.card_routes import CardTopupController, CardWebhookController
from wallet.card_topups import CONFIRM as CARD_CONFIRMATION
from wallet.card_topups import CardTopupView
from wallet.card_topups import confirmation_handler as card_confirmation_handler
from wallet.card_topups import requery as requery_card_topups
from wallet.models import NotificationOutcome
from wallet.routes import (
    BankAccountsController,
    BankWebhookController,
    CitizenController,
    LedgerController,
    SuspenseController,
    TransferController,
    WalletController,
)
from wallet.service import Holder, check_spending, holder_of_user, open_wallet, step_up_if_needed
from wallet.withdrawal_routes import BankAccountController, PayoutWebhookController, WithdrawalController
from wallet.withdrawals import SEND as PAYOUT_SENDING
from wallet.withdrawals import (
    WithdrawalView,
    bank_account_name,
    link_settlement_account,
    pay_out_balance,
    payout_handler,
)

# Public and rate-limited by the shell together with sign-in.
SIGN_UP = [CitizenController]
ROUTE_HANDLERS = [
    WalletController,
    TransferController,
    LedgerController,
    BankWebhookController,
    SuspenseController,
    BankAccountsController,
    CardTopupController,
    CardWebhookController,
    BankAccountController,
    WithdrawalController,
    PayoutWebhookController,
]

__all__ = [
    "CARD_CONFIRMATION",
    "PAYOUT_SENDING",
    "ROUTE_HANDLERS",
    "SIGN_UP",
    "BankPayouts",
    "CardAcquirer",
    "CardTopupView",
    "Claimant",
    "Holder",
    "NotificationIn",
    "NotificationOutcome",
    "Placement",
    "WithdrawalView",
    "bank_account_name",
    "card_confirmation_handler",
    "check_spending",
    "holder_of_user",
    "link_settlement_account",
    "open_wallet",
    "pay_out_balance",
    "payout_handler",
    "reopen_in_suspense",
    "requery_card_topups",
    "step_up_if_needed",
    "suspense_account",
    "wallet_pool_account",
]
