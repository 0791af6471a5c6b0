"""One ledger account per bank account we hold; bank-facing references of at most 16 characters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Bank accounts. ``ledger_bank_account`` registers each bank account we hold by BIN and number, with
its own ledger asset account (``asset:bank:{bin}:{number}``): the wallets' pooled account and the
card acquirer's settlement account (numbers from the ``CIVICPAY_WALLET_POOL_*`` and
``CIVICPAY_CARD_SETTLEMENT_*`` settings, as the service reads them), and every office's collection
account. The money of ``asset:bank:settlement`` (which stood for all of them) and of
``asset:card:acquirer`` (now the card settlement account) moves to the account each part really is
in, in one balanced entry; both old accounts end at zero. A share is worked out from the records
behind each of the old account's transfers:

- a bank notification's money is in the account the notification names (by BIN and number); one
  we have no record of goes to ``asset:bank:unregistered``, as a new notification would;
- a suspense return left from the account its notification's money had arrived in;
- a Treasury sweep took fees paid by bank transfer from the office's collection account and fees
  paid from a wallet from the pooled account (where that money always was);
- everything else (withdrawals and merchant settlements, the demo's opening money) is the pooled
  account's.

Holds still pending against an old account (payouts and card top-ups in flight) are moved to the
new account with their pending totals, so the bank's later word posts them there. Holds are not
append-only money rows: a pending hold is a reservation, and naming its true account changes no
posted balance.

References. Every reference sent to a bank is now at most 16 upper-case characters with a check
character (civicpay.reference_codes): payouts ``RUT…`` (withdrawals) and ``QTDV…`` (merchant
settlements), Treasury remittances ``KBNN…``, suspense returns ``HOAN…``. Existing remittances and
returns get one here. Every existing payout gets a new ``payout_id`` too, and keeps its old
18-character id in ``legacy_payout_id``: a payout in flight is known to the bank by that old id, and
so may be one still "queued" (sent, then the commit that said so was lost), so the old id is what it
is sent again under and what its callback may carry; both ids find it. Renaming only settled payouts
would leave in-flight ones outside the 16-character rule for good, and a queued one resent under a
new id could be paid twice.

No downgrade: money has moved between ledger accounts in entries that can only be reversed by more
entries; restore the backup taken before upgrading instead.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

OLD_BANK = "asset:bank:settlement"
OLD_CARD = "asset:card:acquirer"
UNREGISTERED = "asset:bank:unregistered"
# The schemes as they are at this revision; the code's own may change, these references may not.
WITHDRAWAL_PAYOUT = ReferenceScheme("RUT", 12)
SETTLEMENT_PAYOUT = ReferenceScheme("QTDV", 11)
REMITTANCE = ReferenceScheme("KBNN", 11)
SUSPENSE_RETURN = ReferenceScheme("HOAN", 11)

account = sa.table(
    "ledger_account",
    sa.column("id", ID),
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("no_overdraft", sa.Boolean),
    sa.column("debits_posted", sa.BigInteger),
    sa.column("credits_posted", sa.BigInteger),
    sa.column("debits_pending", sa.BigInteger),
    sa.column("credits_pending", sa.BigInteger),
    sa.column("created_at", TIMESTAMP),
)
bank_account = sa.table(
    "ledger_bank_account",
    sa.column("id", ID),
    sa.column("bank_bin", sa.String),
    sa.column("account_number", sa.String),
    sa.column("holder_name", sa.String),
    sa.column("purpose", sa.String),
    sa.column("account_id", ID),
    sa.column("created_at", TIMESTAMP),
)
entry = sa.table("ledger_entry", sa.column("id", ID), sa.column("description", sa.String), sa.column("created_at"))
transfer = sa.table(
    "ledger_transfer",
    sa.column("id", ID),
    sa.column("entry_id", ID),
    sa.column("debit_account_id", ID),
    sa.column("credit_account_id", ID),
    sa.column("amount_vnd", sa.BigInteger),
    sa.column("category", sa.String),
    sa.column("reference", sa.String),
    sa.column("metadata", sa.JSON),
    sa.column("hold_id", ID),
    sa.column("created_at", TIMESTAMP),
)
posting = sa.table(
    "ledger_posting",
    sa.column("entry_id", ID),
    sa.column("transfer_id", ID),
    sa.column("account_id", ID),
    sa.column("side", sa.String),
    sa.column("amount_vnd", sa.BigInteger),
    sa.column("category", sa.String),
    sa.column("created_at", TIMESTAMP),
)
hold = sa.table(
    "ledger_hold",
    sa.column("id", ID),
    sa.column("debit_account_id", ID),
    sa.column("credit_account_id", ID),
    sa.column("amount_vnd", sa.BigInteger),
    sa.column("status", sa.String),
    sa.column("reference", sa.String),
)
notification = sa.table(
    "bank_notification",
    sa.column("id", ID),
    sa.column("bank", sa.String),
    sa.column("account_number", sa.String),
    sa.column("outcome", sa.String),
    sa.column("transfer_id", ID),
    sa.column("return_reference", sa.String),
)
office = sa.table(
    "qr_office",
    sa.column("id", ID),
    sa.column("name", sa.String),
    sa.column("bank_bin", sa.String),
    sa.column("account_number", sa.String),
    sa.column("account_id", ID),
)
collection = sa.table(
    "qr_fee_collection",
    sa.column("office_id", ID),
    sa.column("amount_vnd", sa.BigInteger),
    sa.column("paid_by", sa.String),
    sa.column("swept_by_id", ID),
)
remittance = sa.table(
    "qr_treasury_remittance", sa.column("id", ID), sa.column("entry_id", ID), sa.column("reference", sa.String)
)
withdrawal = sa.table(
    "withdrawal",
    sa.column("id", ID),
    sa.column("hold_id", ID),
    sa.column("payout_id", sa.String),
    sa.column("legacy_payout_id", sa.String),
)


def _setting(name: str) -> str:
    """A setting as the service reads it: the environment's ``CIVICPAY_…``, else the service's default."""
    default = next(field.default for field in msgspec.structs.fields(Settings) if field.name == name)
    return os.environ.get(f"CIVICPAY_{name.upper()}", str(default))


def _create_schema() -> None:
    op.create_table(
        "ledger_bank_account",
        sa.Column("id", ID, nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "purpose IN ('wallet_pool', 'fee_collection', 'card_settlement')",
            name=op.f("ck_ledger_bank_account_purpose_known"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_ledger_bank_account_account_id_ledger_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_bank_account")),
        sa.UniqueConstraint("account_id", name=op.f("uq_ledger_bank_account_account_id")),
        sa.UniqueConstraint("bank_bin", "account_number", name=op.f("uq_ledger_bank_account_bank_bin_account_number")),
    )
    with op.batch_alter_table("bank_notification") as batch:
        batch.add_column(sa.Column("return_reference", sa.String(length=16), nullable=True))
        batch.create_unique_constraint(op.f("uq_bank_notification_return_reference"), ["return_reference"])
    with op.batch_alter_table("withdrawal") as batch:
        batch.add_column(sa.Column("legacy_payout_id", sa.String(length=32), nullable=True))
        batch.create_unique_constraint(op.f("uq_withdrawal_legacy_payout_id"), ["legacy_payout_id"])
    with op.batch_alter_table("qr_treasury_remittance") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=16), nullable=True))


class _Books:
    """The few ledger writes this migration makes, following the ledger's own rules."""

    def __init__(self, connection: sa.Connection, now: datetime) -> None:
        self.connection = connection
        self.now = now

    def account_id(self, code: str) -> int | None:
        found: int | None = self.connection.scalar(sa.select(account.c.id).where(account.c.code == code))
        return found

    def open_asset(self, code: str, name: str) -> int:
        existing = self.account_id(code)
        if existing is not None:
            return existing
        values = {"code": code, "name": name[:200], "kind": "asset", "no_overdraft": False, "created_at": self.now}
        zeros = dict.fromkeys(("debits_posted", "credits_posted", "debits_pending", "credits_pending"), 0)
        self.connection.execute(sa.insert(account).values(**values, **zeros))
        opened = self.account_id(code)
        assert opened is not None  # noqa: S101 - inserted just now
        return opened

    def register(self, bank_bin: str, number: str, holder: str, purpose: str) -> int:
        taken = self.connection.execute(
            sa.select(bank_account.c.purpose).where(
                bank_account.c.bank_bin == bank_bin, bank_account.c.account_number == number
            )
        ).scalar()
        if taken is not None:
            raise RuntimeError(f"bank account {bank_bin}/{number} is both {taken} and {purpose}: fix the settings")
        account_id = self.open_asset(f"asset:bank:{bank_bin}:{number}", f"Tiền gửi ngân hàng {bank_bin} {number}")
        self.connection.execute(
            sa.insert(bank_account).values(
                bank_bin=bank_bin,
                account_number=number,
                holder_name=holder[:100],
                purpose=purpose,
                account_id=account_id,
                created_at=self.now,
            )
        )
        return account_id

    def move(self, old: int, shares: dict[int, int], description: str) -> None:
        """One balanced entry taking each share (on the asset's debit side) from ``old`` to its account."""
        moves = [(target, amount) for target, amount in sorted(shares.items()) if amount != 0 and target != old]
        if not moves:
            return
        entry_id = self.connection.execute(
            sa.insert(entry).values(description=description, created_at=self.now).returning(entry.c.id)
        ).scalar_one()
        totals: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])
        for target, amount in moves:
            debit, credit = (target, old) if amount > 0 else (old, target)
            transfer_id = self.connection.execute(
                sa.insert(transfer)
                .values(
                    entry_id=entry_id,
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount_vnd=abs(amount),
                    category="internal",
                    reference="0007",
                    metadata={"memo": "Tách tiền gửi theo từng tài khoản ngân hàng (migration 0007)"},
                    hold_id=None,
                    created_at=self.now,
                )
                .returning(transfer.c.id)
            ).scalar_one()
            for side, account_id in (("D", debit), ("C", credit)):
                self.connection.execute(
                    sa.insert(posting).values(
                        entry_id=entry_id,
                        transfer_id=transfer_id,
                        account_id=account_id,
                        side=side,
                        amount_vnd=abs(amount),
                        category="internal",
                        created_at=self.now,
                    )
                )
            totals[debit][0] += abs(amount)
            totals[credit][1] += abs(amount)
        for account_id, (debits, credits) in sorted(totals.items()):
            self.connection.execute(
                sa.update(account)
                .where(account.c.id == account_id)
                .values(
                    debits_posted=account.c.debits_posted + debits, credits_posted=account.c.credits_posted + credits
                )
            )

    def move_pending(self, old: int, new: int) -> None:
        """Pending holds against ``old`` now reserve against ``new``, with the pending totals they make."""
        for column, total in (("debit_account_id", "debits_pending"), ("credit_account_id", "credits_pending")):
            pending = hold.c.status == "pending"
            amount = self.connection.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(hold.c.amount_vnd), 0)).where(hold.c[column] == old, pending)
            )
            if not amount:
                continue
            self.connection.execute(sa.update(hold).where(hold.c[column] == old, pending).values({column: new}))
            for account_id, delta in ((old, -amount), (new, amount)):
                self.connection.execute(
                    sa.update(account).where(account.c.id == account_id).values({total: account.c[total] + delta})
                )


def _shares_of_old_bank(books: _Books, old: int, pool: int) -> dict[int, int]:
    """Each bank account's part of the old account's balance, from the records behind its transfers."""
    connection = books.connection
    receiving: dict[tuple[str, str], int] = {
        (row.bank_bin, row.account_number): row.account_id for row in connection.execute(sa.select(bank_account))
    }
    arrived_in: dict[int, int] = {}  # notification row id → ledger account its money is in
    by_transfer: dict[int, int] = {}  # transfer id → ledger account it went through
    for row in connection.execute(sa.select(notification).where(notification.c.transfer_id.is_not(None))):
        target = receiving.get((row.bank, row.account_number)) or books.open_asset(
            UNREGISTERED, "Tiền vào tài khoản ngân hàng chưa đăng ký"
        )
        arrived_in[row.id] = by_transfer[row.transfer_id] = target
    # Sweeps: per remittance and office, how much was paid by bank transfer (in the office's account).
    office_bank = {
        row.account_id: receiving[(row.bank_bin, row.account_number)] for row in connection.execute(sa.select(office))
    }
    office_liability = {row.id: row.account_id for row in connection.execute(sa.select(office))}
    by_bank: defaultdict[tuple[int, int], int] = defaultdict(int)  # (entry id, office liability) → đồng
    swept = sa.select(remittance.c.entry_id, collection.c.office_id, collection.c.amount_vnd).join(
        remittance, remittance.c.id == collection.c.swept_by_id
    )
    for row in connection.execute(swept.where(collection.c.paid_by == "bank")):
        by_bank[(row.entry_id, office_liability[row.office_id])] += row.amount_vnd

    shares: defaultdict[int, int] = defaultdict(int)
    touching = sa.select(transfer).where((transfer.c.debit_account_id == old) | (transfer.c.credit_account_id == old))
    for row in connection.execute(touching.order_by(transfer.c.id)):
        sign = 1 if row.debit_account_id == old else -1
        metadata: dict[str, Any] = row._mapping["metadata"] or {}
        if row.id in by_transfer:
            shares[by_transfer[row.id]] += sign * row.amount_vnd
        elif row.category == "return" and metadata.get("bank_notification") in arrived_in:
            shares[arrived_in[metadata["bank_notification"]]] += sign * row.amount_vnd
        elif (row.entry_id, row.debit_account_id) in by_bank:
            from_office = by_bank.pop((row.entry_id, row.debit_account_id))
            shares[office_bank[row.debit_account_id]] += sign * from_office
            shares[pool] += sign * (row.amount_vnd - from_office)
        else:
            shares[pool] += sign * row.amount_vnd
    return dict(shares)


def _balance(books: _Books, account_id: int) -> int:
    row = books.connection.execute(
        sa.select(account.c.debits_posted, account.c.credits_posted).where(account.c.id == account_id)
    ).one()
    return int(row.debits_posted - row.credits_posted)


def _move_money(books: _Books) -> None:
    pool = books.register(
        _setting("wallet_pool_bank_bin"),
        _setting("wallet_pool_account_number"),
        _setting("operator_account_name"),
        "wallet_pool",
    )
    card = books.register(
        _setting("card_settlement_bank_bin"),
        _setting("card_settlement_account_number"),
        _setting("operator_account_name"),
        "card_settlement",
    )
    for row in books.connection.execute(sa.select(office).order_by(office.c.id)).all():
        books.register(row.bank_bin, row.account_number, row.name, "fee_collection")
    description = "0007: tiền gửi ngân hàng về tài khoản của từng tài khoản ngân hàng"
    if (old_bank := books.account_id(OLD_BANK)) is not None:
        shares = _shares_of_old_bank(books, old_bank, pool)
        if sum(shares.values()) != _balance(books, old_bank):
            raise RuntimeError(f"the shares of {OLD_BANK} do not add up to its balance: {shares}")
        books.move(old_bank, shares, description)
        books.move_pending(old_bank, pool)
    if (old_card := books.account_id(OLD_CARD)) is not None:
        books.move(old_card, {card: _balance(books, old_card)}, description)
        books.move_pending(old_card, card)


def _give_references(connection: sa.Connection) -> None:
    used: set[str] = set()

    def fresh(scheme: ReferenceScheme) -> str:
        while (reference := scheme.random()) in used:
            pass
        used.add(reference)
        return reference

    rows = connection.execute(
        sa.select(withdrawal.c.id, withdrawal.c.payout_id, hold.c.reference)
        .join(hold, hold.c.id == withdrawal.c.hold_id)
        .order_by(withdrawal.c.id)
    ).all()
    for row in rows:
        scheme = SETTLEMENT_PAYOUT if row.reference == "settlement" else WITHDRAWAL_PAYOUT
        connection.execute(
            sa.update(withdrawal)
            .where(withdrawal.c.id == row.id)
            .values(payout_id=fresh(scheme), legacy_payout_id=row.payout_id)
        )
    for remittance_id in connection.scalars(sa.select(remittance.c.id).order_by(remittance.c.id)).all():
        connection.execute(
            sa.update(remittance).where(remittance.c.id == remittance_id).values(reference=fresh(REMITTANCE))
        )
    returned = sa.select(notification.c.id).where(notification.c.outcome == "returned").order_by(notification.c.id)
    for notification_id in connection.scalars(returned).all():
        connection.execute(
            sa.update(notification)
            .where(notification.c.id == notification_id)
            .values(return_reference=fresh(SUSPENSE_RETURN))
        )


def upgrade() -> None:
    _create_schema()
    connection = op.get_bind()
    _move_money(_Books(connection, datetime.now(UTC)))
    _give_references(connection)
    with op.batch_alter_table("qr_treasury_remittance") as batch:
        batch.alter_column("reference", existing_type=sa.String(length=16), nullable=False)
        batch.create_unique_constraint(op.f("uq_qr_treasury_remittance_reference"), ["reference"])


def downgrade() -> None:
    raise NotImplementedError("0007 moved money between ledger accounts: restore the backup taken before it")
