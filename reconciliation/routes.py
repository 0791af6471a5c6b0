"""Thin HTTP controllers of the reconciliation room: statement import and reconciliation runs, for finance officers."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody, QueryParameter, RawBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.errors import Text
from civicpay.report_files import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, download
from reconciliation import console_routes, fees, imports, queue_routes, reports, runs
from reconciliation import schemas as s
from reconciliation.errors import StatementAccountUnknown
from reconciliation.fee_book import FeeBook
from reconciliation.fee_schemas import FeeReconciliationOut
from reconciliation.imports import AccountRef
from reconciliation.model import StatementFormat
from wallet.routes import RowId


@dataclass
class _StatementUpload(Operation):
    """The import's operation with its body documented: Litestar reads a non-JSON body only as the raw ``body``
    parameter, which it leaves out of the document, so the fuzz and the API docs would not know there is one."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/octet-stream": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                )
            },
            description="The statement file as the bank gave it: camt.052/053/054, MT940, a bank's CSV or a KBNN CSV",
            required=True,
        )


def _account(text: str) -> AccountRef:
    found = AccountRef.parse(text)
    if found is None:  # the schema's pattern already refuses it; a second guard costs nothing
        raise StatementAccountUnknown(
            Text(f"Không hiểu tài khoản {text!r}", f"Not an account: {text!r}"), field="account"
        )
    return found


class StatementController(Controller):
    path = "/finance/statements"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @post("/", operation_id="importStatement", status_code=201, operation_class=_StatementUpload)
    async def import_statement(
        self,
        body: RawBody,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        fee_book: NamedDependency[FeeBook],
        account: Annotated[
            str | None,
            QueryParameter(
                pattern=s.ACCOUNT_PATTERN,
                description="BIN:NUMBER of the account, when the file does not name it (or to check it does)",
            ),
        ] = None,
        fmt: Annotated[
            StatementFormat | None,
            QueryParameter(name="format", description="The format, when it should not be told from the file"),
        ] = None,
    ) -> s.StatementImport:
        """Import a bank statement file whole, or refuse it whole: the same file twice, an account we do not hold,
        a file that cannot be read (nothing of it is stored)."""
        given = _account(account) if account is not None else None
        with tempfile.TemporaryDirectory(prefix="civicpay-statement-") as folder:
            # The parsers read a file in a stream; the upload is spooled to one the request alone can see.
            path = Path(folder) / "statement"
            await asyncio.to_thread(path.write_bytes, body)
            summary = await imports.import_file(
                session,
                path,
                file_name="upload",
                account=given,
                fmt=fmt,
                user_id=principal.user_id,
                via="api",
                now=clock.now(),
                treasury=fee_book,
            )
        return s.StatementImport.of(summary)


class ReconciliationRunController(Controller):
    path = "/finance/reconciliation-runs"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @post("/", operation_id="createReconciliationRun", status_code=201)
    async def create(
        self,
        data: JSONBody[s.ReconciliationRunCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        calendar: NamedDependency[BusinessCalendar],
    ) -> s.ReconciliationRun:
        """Reconcile a bank account's ledger with its statement for one business day; the run, counts, drift and
        every exception (status no_statement when there is no statement line that day, never 'all matched')."""
        view = await runs.run(
            session, _account(data.account), data.date, calendar=calendar, user_id=principal.user_id, now=clock.now()
        )
        return s.ReconciliationRun.of(view)

    @get("/{run_id:int}", operation_id="getReconciliationRun")
    async def one(self, run_id: RowId, session: NamedDependency[AsyncSession]) -> s.ReconciliationRun:
        """A run as it was made: counts, drift and every exception with both sides' references and amounts."""
        return s.ReconciliationRun.of(await runs.one(session, run_id))

    # --- reports
    @get("/{run_id:int}/report.csv", operation_id="getReconciliationReportCsv", media_type=CSV_MEDIA_TYPE)
    async def report_csv(
        self, run_id: RowId, session: NamedDependency[AsyncSession], calendar: NamedDependency[BusinessCalendar]
    ) -> Response[bytes]:
        """The run's daily reconciliation report as CSV: the account's day, counts and drift, then every exception."""
        return download(await reports.report(session, calendar.zone, run_id=run_id, report_format="csv"))

    @get("/{run_id:int}/report.xlsx", operation_id="getReconciliationReportXlsx", media_type=XLSX_MEDIA_TYPE)
    async def report_xlsx(
        self, run_id: RowId, session: NamedDependency[AsyncSession], calendar: NamedDependency[BusinessCalendar]
    ) -> Response[bytes]:
        """The run's daily reconciliation report as an Excel workbook, laid out as the CSV is."""
        return download(await reports.report(session, calendar.zone, run_id=run_id, report_format="xlsx"))


class FeeReconciliationController(Controller):
    path = "/finance/fee-reconciliation"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @get("/", operation_id="getFeeReconciliation")
    async def three_way(
        self,
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        calendar: NamedDependency[BusinessCalendar],
        fee_book: NamedDependency[FeeBook],
        day: Annotated[
            date, QueryParameter(name="date", description="The business day (Asia/Ho_Chi_Minh), YYYY-MM-DD")
        ],
    ) -> FeeReconciliationOut:
        """Fees paid or swept that day, each with its three legs (ledger, our bank's debit line, the Treasury's
        credit line), the 24-hour rule of Circular 74/2022 and a missing Treasury line flagged per agency."""
        found = await fees.three_way(session, fee_book, calendar, day, now=clock.now())
        return FeeReconciliationOut.of(found)


# --- end of reports and fees ---------------------------------------------------------------------------------------


# What the shell mounts. Imported by the shell from here rather than through ``reconciliation/__init__``, so
# that importing the pure parsers and matcher (a bench, a worker) does not load Litestar and the tables.
ROUTE_HANDLERS = [
    StatementController,
    ReconciliationRunController,
    FeeReconciliationController,
    # --- the exception queue, day close and the finance officers' console ---
    *queue_routes.ROUTE_HANDLERS,
    *console_routes.ROUTE_HANDLERS,
]
