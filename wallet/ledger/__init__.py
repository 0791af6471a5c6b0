"""The ledger: the one place that moves money. Every other domain uses only what is exported here."""

from wallet.ledger.errors import (
    AccountNotFound,
    HoldAlreadyFinal,
    HoldExpired,
    HoldNotFound,
    InsufficientFunds,
    InvalidTransfer,
)
from wallet.ledger.holds import expire_holds, hold, post_hold, void_hold
from wallet.ledger.invariants import check_invariants
from wallet.ledger.models import Account, AccountKind, Entry, Hold, HoldStatus, Posting, Transfer
from wallet.ledger.service import (
    Balance,
    LockedBalances,
    PostedEntry,
    TransferSpec,
    account_id,
    balances,
    lock_accounts,
    open_account,
    post_entry,
)

__all__ = [
    "Account",
    "AccountKind",
    "AccountNotFound",
    "Balance",
    "Entry",
    "Hold",
    "HoldAlreadyFinal",
    "HoldExpired",
    "HoldNotFound",
    "HoldStatus",
    "InsufficientFunds",
    "InvalidTransfer",
    "LockedBalances",
    "PostedEntry",
    "Posting",
    "Transfer",
    "TransferSpec",
    "account_id",
    "balances",
    "check_invariants",
    "expire_holds",
    "hold",
    "lock_accounts",
    "open_account",
    "post_entry",
    "post_hold",
    "void_hold",
]
