"""Citizens' wallets and the ledger beneath every movement of money.

Other domains use the wallet through what this module exports.
"""

from wallet.bank_instructions import InstructionKind, PayoutReceipt
from wallet.bank_instructions import handler as instruction_handler
from wallet.bank_instructions import queue as queue_instruction
from wallet.bank_payouts import BankPayouts, Payout, PayoutResult, TreasuryPayout
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
from wallet.models import InstructionRecord, InstructionStatus, NotificationOutcome
from wallet.routes import (
    BankAccountsController,
    BankWebhookController,
    CitizenController,
    LedgerController,
    SuspenseController,
    TransferController,
    WalletController,
    bank_signature_required,
)
from wallet.service import (
    WALLET_OPENED,
    Holder,
    await_wallets,
    check_spending,
    holder_of_user,
    holders_by_citizen_id,
    open_wallet,
    step_up_if_needed,
)
from wallet.suspense_returns import RETURN as SUSPENSE_RETURN
from wallet.withdrawal_routes import BankAccountController, PayoutWebhookController, WithdrawalController
from wallet.withdrawals import PAYOUT, WithdrawalView, bank_account_name, link_settlement_account, pay_out_balance

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
# The wallet's instructions to the bank; rooms above add theirs (bootstrap.Services.instructions).
INSTRUCTION_KINDS = [PAYOUT, SUSPENSE_RETURN]

__all__ = [
    "CARD_CONFIRMATION",
    "INSTRUCTION_KINDS",
    "ROUTE_HANDLERS",
    "SIGN_UP",
    "WALLET_OPENED",
    "BankPayouts",
    "CardAcquirer",
    "CardTopupView",
    "Claimant",
    "Holder",
    "InstructionKind",
    "InstructionRecord",
    "InstructionStatus",
    "NotificationIn",
    "NotificationOutcome",
    "Payout",
    "PayoutReceipt",
    "PayoutResult",
    "Placement",
    "TreasuryPayout",
    "WithdrawalView",
    "await_wallets",
    "bank_account_name",
    "bank_signature_required",
    "card_confirmation_handler",
    "check_spending",
    "holder_of_user",
    "holders_by_citizen_id",
    "instruction_handler",
    "link_settlement_account",
    "open_wallet",
    "pay_out_balance",
    "queue_instruction",
    "reopen_in_suspense",
    "requery_card_topups",
    "step_up_if_needed",
    "suspense_account",
    "wallet_pool_account",
]
