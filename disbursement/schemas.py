"""msgspec Structs at the disbursement room's edge: what programme and finance officers send and see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
from litestar.datastructures import UploadFile

from civicpay.money import AmountVnd
from disbursement.models import BatchStatus, Destination, FundingStatus, ItemStatus, ProgrammeKind

# The most rows of a batch's report a GET answers with; the counts always cover every row.
REPORT_ROWS = 1000


class ProgrammeCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"\S")]
    kind: ProgrammeKind
    max_amount_vnd: Annotated[
        AmountVnd, msgspec.Meta(description="The most one beneficiary may be paid in one row of a batch")
    ]


class Programme(msgspec.Struct):
    id: int
    name: str
    kind: ProgrammeKind
    max_amount_vnd: int
    funding_account_id: int
    funded_vnd: Annotated[int, msgspec.Meta(description="The programme's money in our books, not yet paid out")]
    available_vnd: Annotated[int, msgspec.Meta(description="Funded less what approved batches hold")]
    unclaimed_vnd: Annotated[
        int, msgspec.Meta(description="Paid out but waiting in the claims account for its beneficiaries' wallets")
    ]
    created_at: datetime


class FundingCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount_vnd: AmountVnd
    bank_reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=35,
            pattern=r"^[A-Za-z0-9./-]+$",
            description="The bank statement's reference of the budget's transfer into our bank account",
        ),
    ]


class Funding(msgspec.Struct):
    id: int
    programme_id: int
    amount_vnd: int
    bank_reference: str
    reference: Annotated[str, msgspec.Meta(description="Ours, 16 characters, for reconciliation")]
    status: FundingStatus
    recorded_by: int
    approved_by: int | None
    created_at: datetime
    approved_at: datetime | None


@dataclass
class BatchUpload:
    """The multipart form of a batch upload: one file, CSV or XLSX, in the documented layout."""

    file: UploadFile


class DestinationTotal(msgspec.Struct):
    destination: Destination
    count: int
    total_vnd: int


class RowProblem(msgspec.Struct):
    code: str
    field: str
    message_vi: str
    message_en: str


class RowReport(msgspec.Struct):
    row: Annotated[int, msgspec.Meta(description="As a spreadsheet numbers it: the header is row 1")]
    citizen_id: str
    problems: list[RowProblem]


class Progress(msgspec.Struct):
    done: Annotated[
        int,
        msgspec.Meta(
            description="Approved items the workers are done with: paid to a wallet, confirmed by the bank, failed,"
            " or unclaimed and held (then claimed or returned)"
        ),
    ]
    total: Annotated[int, msgspec.Meta(description="Approved items: the valid rows")]
    by_state: dict[ItemStatus, int]


class Batch(msgspec.Struct):
    id: int
    programme_id: int
    file_name: str
    status: BatchStatus
    made_by: int
    approved_by: int | None
    rows: int
    valid: int
    invalid: int
    total_vnd: Annotated[int, msgspec.Meta(description="The valid rows' total: what approval reserves")]
    by_destination: list[DestinationTotal]
    progress: Progress
    released_vnd: int | None
    follow_up: Annotated[
        int,
        msgspec.Meta(
            description="Beneficiaries flagged for follow-up: a bank rejected their account (GET .../follow-ups)"
        ),
    ]
    created_at: datetime
    approved_at: datetime | None
    finished_at: datetime | None
    report: Annotated[list[RowReport], msgspec.Meta(description=f"The invalid rows, the first {REPORT_ROWS}")]
    report_truncated: bool


class Outcome(msgspec.Struct):
    outcome: Annotated[
        ItemStatus,
        msgspec.Meta(
            description="What became of the rows: invalid, valid (not approved yet), queued, paid_to_wallet, "
            "pending_bank, failed, held_unclaimed (waiting for the citizen's wallet), claimed (paid to it later), "
            "returned (to the programme's funding, unclaimed in time)"
        ),
    ]
    count: int
    total_vnd: Annotated[int, msgspec.Meta(description="The rows' amounts; an invalid row's only if it had one")]


class BatchReport(msgspec.Struct):
    batch_id: int
    programme_id: int
    programme_name: str
    file_name: str
    status: BatchStatus
    rows: int
    total_vnd: Annotated[int, msgspec.Meta(description="The valid rows' total: what approval holds")]
    outcomes: Annotated[list[Outcome], msgspec.Meta(description="Every outcome, in this order, 0 when none")]
