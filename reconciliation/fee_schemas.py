"""The three-way fee check's API shape (``GET /finance/fee-reconciliation``, ``civicpay recon fees --json``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from reconciliation.fees import AgencyFlag, FeeLegs, FeeReconciliation, Leg, LineSeen, Problem


class StatementLegOut(msgspec.Struct, frozen=True):
    status: Annotated[
        Leg,
        msgspec.Meta(
            description="found; amount_mismatch; missing (a statement covers the day, no line of it has the "
            "reference); no_statement (none imported yet); not_swept"
        ),
    ]
    line_id: int | None
    amount_vnd: Annotated[int | None, msgspec.Meta(description="The line's amount (the whole remittance's)")]
    booked_on: date | None

    @classmethod
    def of(cls, seen: LineSeen) -> StatementLegOut:
        return cls(seen.leg, seen.line_id, seen.amount_vnd, seen.booked_on)


class FeeThreeWay(msgspec.Struct, frozen=True):
    """One fee: collected (ledger), swept (ledger and our bank's debit line), credited (the Treasury's line)."""

    collection_id: int
    reference: Annotated[str, msgspec.Meta(description="The collection's TTHC… reference")]
    agency_code: str
    office_code: str
    amount_vnd: int
    paid_at: datetime
    paid_by: Annotated[str, msgspec.Meta(description="bank (a transfer into the office's account) or wallet")]
    transfer_id: Annotated[int | None, msgspec.Meta(description="The ledger's transfer that collected it")]
    remittance_reference: Annotated[str | None, msgspec.Meta(description="KBNN…; null while unswept")]
    remittance_amount_vnd: int | None
    remittance_status: Annotated[str | None, msgspec.Meta(description="queued, sent, confirmed, rejected")]
    swept_at: datetime | None
    confirmed_at: Annotated[datetime | None, msgspec.Meta(description="When the bank confirmed it sent")]
    from_account: Annotated[str | None, msgspec.Meta(description="BIN:NUMBER of our bank account it left")]
    treasury_account: str
    bank_line: StatementLegOut
    treasury_line: StatementLegOut
    hours_to_treasury: Annotated[float | None, msgspec.Meta(description="Payment to the bank's confirmation")]
    late: Annotated[bool, msgspec.Meta(description="Past the 24 hours of Circular 74/2022")]
    problems: list[Problem]

    @classmethod
    def of(cls, legs: FeeLegs) -> FeeThreeWay:
        fee = legs.fee
        paying = f"{fee.from_bank_bin}:{fee.from_account_number}" if fee.from_bank_bin else None
        return cls(
            collection_id=fee.collection_id,
            reference=fee.reference,
            agency_code=fee.agency_code,
            office_code=fee.office_code,
            amount_vnd=fee.amount_vnd,
            paid_at=fee.paid_at,
            paid_by=fee.paid_by,
            transfer_id=fee.transfer_id,
            remittance_reference=fee.remittance_reference,
            remittance_amount_vnd=fee.remittance_amount_vnd,
            remittance_status=fee.remittance_status,
            swept_at=fee.swept_at,
            confirmed_at=fee.confirmed_at,
            from_account=paying,
            treasury_account=fee.treasury_account,
            bank_line=StatementLegOut.of(legs.bank),
            treasury_line=StatementLegOut.of(legs.treasury),
            hours_to_treasury=None if legs.hours_to_treasury is None else round(legs.hours_to_treasury, 2),
            late=legs.late,
            problems=list(legs.problems),
        )


class AgencyFlagOut(msgspec.Struct, frozen=True):
    agency_code: str
    agency_name: str
    fees: int
    amount_vnd: int
    complete: Annotated[int, msgspec.Meta(description="Fees with all three legs, on time")]
    late: int
    treasury_missing: int
    flagged: Annotated[bool, msgspec.Meta(description="A late fee or a missing Treasury line")]

    @classmethod
    def of(cls, flag: AgencyFlag) -> AgencyFlagOut:
        return cls(
            flag.agency_code,
            flag.agency_name,
            flag.fees,
            flag.amount_vnd,
            flag.complete,
            flag.late,
            flag.treasury_missing,
            flag.flagged,
        )


class FeeReconciliationOut(msgspec.Struct, frozen=True):
    """A business day's fees, each with its three legs, and every agency's flags."""

    date: date
    as_of: datetime
    clean: Annotated[bool, msgspec.Meta(description="Some fees, and every one complete and on time")]
    agencies: list[AgencyFlagOut]
    fees: list[FeeThreeWay]

    @classmethod
    def of(cls, found: FeeReconciliation) -> FeeReconciliationOut:
        return cls(
            date=found.business_day,
            as_of=found.as_of,
            clean=found.clean,
            agencies=[AgencyFlagOut.of(flag) for flag in found.agencies],
            fees=[FeeThreeWay.of(legs) for legs in found.fees],
        )
