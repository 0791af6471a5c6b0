"""What reconciliation needs to know of fee collections and their sweeps, and cannot read for itself.

Which fee went in which remittance to which Treasury account is the QR room's record (``qr/fee_trail.py``), and
this room may not import that room: the shell hands its ``FEE_BOOK`` in (``Services.fee_book``), and mypy checks
that it has this shape. So the three-way check (``reconciliation.fees``) and the Treasury statement import
(``reconciliation.imports``) stand on these two questions only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

# The "bank" of a State Treasury account, where a bank account has its BIN: a Treasury account is not at a bank.
TREASURY = "KBNN"


class FeeFact(Protocol):
    """One paid fee, and the remittance that carries it to the Treasury if it has been swept."""

    @property
    def collection_id(self) -> int: ...
    @property
    def reference(self) -> str: ...  # the collection's TTHC… reference
    @property
    def office_code(self) -> str: ...
    @property
    def agency_code(self) -> str: ...
    @property
    def agency_name(self) -> str: ...
    @property
    def treasury_account(self) -> str: ...
    @property
    def amount_vnd(self) -> int: ...
    @property
    def paid_at(self) -> datetime: ...
    @property
    def paid_by(self) -> str: ...  # bank (into the office's account) or wallet (the money stays in the pool)
    @property
    def transfer_id(self) -> int | None: ...  # the ledger's transfer that collected it
    @property
    def remittance_reference(self) -> str | None: ...  # KBNN…, None while unswept
    @property
    def remittance_amount_vnd(self) -> int | None: ...  # the whole remittance, every fee it carries
    @property
    def remittance_status(self) -> str | None: ...  # queued, sent, confirmed, rejected
    @property
    def swept_at(self) -> datetime | None: ...
    @property
    def confirmed_at(self) -> datetime | None: ...  # when the bank confirmed the money left for the Treasury
    @property
    def from_bank_bin(self) -> str | None: ...  # the bank account of ours the remittance debits
    @property
    def from_account_number(self) -> str | None: ...


@runtime_checkable  # the API's handlers are handed it by name, and Litestar checks what it hands them
class FeeBook(Protocol):
    async def fees(self, session: AsyncSession, start: datetime, end: datetime) -> Sequence[FeeFact]:
        """Fees paid in [start, end), and fees swept in it (paid earlier), each once, by payment time."""
        ...

    async def treasury_accounts(self, session: AsyncSession) -> Mapping[str, str]:
        """Every agency's Treasury account (as ``3511.0.1054321``), with the agency's code."""
        ...
