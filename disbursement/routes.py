"""Thin HTTP controllers of the disbursement room: programmes and their funding, batches, their approval."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.approval import ApprovalOtp
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import Clock
from civicpay.idempotency import Once, idempotent
from civicpay.report_files import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, download
from civicpay.settings import Settings
from disbursement import bank_files, batches, programmes, reports
from disbursement import schemas as s
from wallet import bank_signature_required
from wallet.routes import RowId

Upload = Annotated[s.BatchUpload, Body(media_type=RequestEncodingType.MULTI_PART)]

# A month's pensions for a province (600,000 rows of some 70 bytes) is about 40 MB as CSV; the app's 10 MB
# default for every other body would refuse it. Fixed here, as route options are built at import.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

OFFICERS = requires(Role.PROGRAMME_OFFICER, Role.FINANCE_OFFICER, Role.ADMIN)


class ProgrammeController(Controller):
    path = "/programmes"
    tags = ["disbursement"]

    @post("/", operation_id="createProgramme", status_code=201, guards=[requires(Role.PROGRAMME_OFFICER)])
    async def create(
        self,
        data: JSONBody[s.ProgrammeCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Programme:
        """A welfare, pension or one-off programme, with its funding account in the ledger (empty until funded)."""
        return await programmes.create(session, data, officer_id=principal.user_id, now=clock.now())

    @get("/", operation_id="listProgrammes", guards=[OFFICERS])
    async def list_all(self, session: NamedDependency[AsyncSession]) -> list[s.Programme]:
        """Every programme with what its funding holds and what approved batches have not reserved of it."""
        return await programmes.list_all(session)

    @post(
        "/{programme_id:int}/fundings",
        operation_id="recordProgrammeFunding",
        status_code=201,
        guards=[requires(Role.FINANCE_OFFICER)],
    )
    async def record_funding(
        self,
        programme_id: RowId,
        data: JSONBody[s.FundingCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Funding:
        """Record budget money that reached our pooled bank account for the programme; pending until a second
        finance officer approves it with TOTP (POST /fundings/{id}/approve). Nothing is posted yet."""
        return await programmes.record_funding(
            session, programme_id, data, officer_id=principal.user_id, now=clock.now()
        )

    @get("/{programme_id:int}/fundings", operation_id="listProgrammeFundings", guards=[OFFICERS])
    async def fundings(self, programme_id: RowId, session: NamedDependency[AsyncSession]) -> list[s.Funding]:
        """The programme's fundings, pending and approved, oldest first."""
        return await programmes.list_fundings(session, programme_id)

    @post(
        "/{programme_id:int}/batches",
        operation_id="uploadDisbursementBatch",
        status_code=201,
        guards=[requires(Role.PROGRAMME_OFFICER)],
        request_max_body_size=MAX_UPLOAD_BYTES,
    )
    async def upload(
        self,
        programme_id: RowId,
        data: Upload,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Batch:
        """Upload a batch of beneficiaries (multipart field `file`, CSV or XLSX) and get its validation report.

        Columns: citizen_id (12-digit CCCD), full_name, amount_vnd (whole đồng, digits only), period (YYYY-MM),
        destination (wallet, bank, or unclaimed: neither yet, held until a wallet opens with the citizen id), and
        for bank rows bank_bin, account_number, holder_name. Validation moves
        no money; each invalid row is listed with its problems. A file that cannot be read as this layout at
        all is refused whole and nothing is stored.
        """
        programme = await programmes.get(session, programme_id)
        name = data.file.filename or "upload"
        rows = batches.read_file(await data.file.read(), name, programme.max_amount_vnd)
        batch = await batches.validate(
            session, programme, rows, file_name=name, officer_id=principal.user_id, now=clock.now()
        )
        return await batches.view(session, batch)

    @get("/{programme_id:int}/batches", operation_id="listDisbursementBatches", guards=[OFFICERS])
    async def list_batches(self, programme_id: RowId, session: NamedDependency[AsyncSession]) -> list[s.Batch]:
        """The programme's batches, oldest first, each with its totals, progress and the first invalid rows."""
        return [await batches.view(session, batch) for batch in await batches.list_for(session, programme_id)]


class FundingController(Controller):
    path = "/fundings"
    tags = ["disbursement"]

    @post(
        "/{funding_id:int}/approve",
        operation_id="approveProgrammeFunding",
        guards=[requires(Role.FINANCE_OFFICER)],
        **idempotent(200, s.Funding, "Approved: the money is in the programme's funding"),
    )
    async def approve(
        self,
        funding_id: RowId,
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        otp: ApprovalOtp = None,
    ) -> Response[bytes]:
        """Approve a funding another finance officer recorded, with your TOTP code: the money is posted from our
        pooled bank account to the programme's funding. The recorder cannot approve; an approved one stays so."""
        officer, now = principal.user_id, once.now
        return await once(
            _NoBody(),
            lambda: programmes.approve_funding(session, settings, funding_id, officer_id=officer, otp=otp, now=now),
        )


class BatchController(Controller):
    path = "/batches"
    tags = ["disbursement"]

    @get("/{batch_id:int}", operation_id="getDisbursementBatch", guards=[OFFICERS])
    async def get_one(self, batch_id: RowId, session: NamedDependency[AsyncSession]) -> s.Batch:
        """A batch: status, counts and totals by destination, progress by item state, and its invalid rows."""
        return await batches.view(session, await batches.get(session, batch_id))

    @get("/{batch_id:int}/report", operation_id="getDisbursementBatchReport", guards=[OFFICERS])
    async def report(self, batch_id: RowId, session: NamedDependency[AsyncSession]) -> s.BatchReport:
        """A batch's rows counted and summed by outcome (every outcome, 0 when none), as they stand now."""
        return await reports.report(session, batch_id)

    @get(
        "/{batch_id:int}/report.csv",
        operation_id="getDisbursementBatchReportCsv",
        guards=[OFFICERS],
        media_type=CSV_MEDIA_TYPE,
    )
    async def report_csv(self, batch_id: RowId, session: NamedDependency[AsyncSession]) -> Response[bytes]:
        """The batch's report as CSV (UTF-8, for Excel): a few header rows, then outcome, count, total."""
        return download(await reports.report_file(session, batch_id, "csv"))

    @get(
        "/{batch_id:int}/report.xlsx",
        operation_id="getDisbursementBatchReportXlsx",
        guards=[OFFICERS],
        media_type=XLSX_MEDIA_TYPE,
    )
    async def report_xlsx(self, batch_id: RowId, session: NamedDependency[AsyncSession]) -> Response[bytes]:
        """The batch's report as an Excel workbook, laid out as the CSV is."""
        return download(await reports.report_file(session, batch_id, "xlsx"))

    @post(
        "/{batch_id:int}/approve",
        operation_id="approveDisbursementBatch",
        guards=[requires(Role.PROGRAMME_OFFICER, Role.FINANCE_OFFICER)],
        **idempotent(200, s.Batch, "Approved: the total is held and the workers pay it"),
    )
    async def approve(
        self,
        batch_id: RowId,
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        otp: ApprovalOtp = None,
    ) -> Response[bytes]:
        """Approve a batch another officer uploaded, with your TOTP code: its valid rows' total is reserved on
        the programme's funding (refused if the funding is short) and the workers start paying it."""
        officer = principal.user_id

        async def approve() -> s.Batch:
            batch = await batches.approve(session, settings, batch_id, officer_id=officer, otp=otp, now=once.now)
            return await batches.view(session, batch)

        return await once(_NoBody(), approve)

    @get("/{batch_id:int}/payout-files", operation_id="listBatchPayoutFiles", guards=[OFFICERS])
    async def payout_files(
        self, batch_id: RowId, session: NamedDependency[AsyncSession]
    ) -> list[bank_files.PayoutFileView]:
        """The batch's bank payout files (ISO 20022 pain.001.001.03), one per destination bank and chunk."""
        return await bank_files.files_of(session, batch_id)

    @get("/{batch_id:int}/follow-ups", operation_id="listBatchFollowUps", guards=[OFFICERS])
    async def follow_ups(
        self, batch_id: RowId, session: NamedDependency[AsyncSession]
    ) -> list[bank_files.FollowUpView]:
        """Beneficiaries whose bank rejected the payment (pain.002 RJCT), with the bank's reason code and text:
        their money is back in the programme's funding; a corrected row in a new batch can pay them."""
        return await bank_files.follow_ups(session, batch_id)


class PayoutFileController(Controller):
    path = "/payout-files"
    tags = ["disbursement"]

    @get("/{file_id:int}", operation_id="downloadPayoutFile", guards=[OFFICERS], media_type="application/xml")
    async def download(self, file_id: RowId, session: NamedDependency[AsyncSession]) -> Response[bytes]:
        """A bank payout file exactly as sent to the bank (pain.001.001.03 XML), as a download."""
        reference, document = await bank_files.document(session, file_id)
        disposition = f'attachment; filename="{reference}.xml"'
        return Response(document, media_type="application/xml", headers={"Content-Disposition": disposition})


class PaymentStatusWebhookController(Controller):
    path = "/webhooks/bank/payment-status"
    tags = ["disbursement"]

    @post(
        "/",
        operation_id="receivePaymentStatusReport",
        exclude_from_auth=True,
        before_request=bank_signature_required,
        status_code=200,
    )
    async def receive(
        self, request: Request[Any, Any, Any], session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]
    ) -> bank_files.StatusReceipt:
        """The bank's ISO 20022 pain.002.001.03 status report on a payout file (XML body, signed with
        HMAC-SHA256 in ``X-Signature`` like its other callbacks). ACSC confirms an item; RJCT fails it with the
        bank's reason (AC01, AC04, AM04…), gives its money back to the programme's funding and flags the
        beneficiary for follow-up. Applied whole or not at all: a report that cannot be read, or names an item
        not in the file, changes nothing (422); the same report again changes nothing; one contradicting an
        earlier word is a 409."""
        return await bank_files.receive_status_report(session, await request.body(), now=clock.now())


class _NoBody(msgspec.Struct):
    """An approval takes no body (the code is a header): its fingerprint is its path."""
