"""The daily reconciliation report (báo cáo đối soát ngày): one bank account's business day as a run found it.

A few header rows (the account, the day, the run's status, its counts, the ledger's balance, the statement's
closing and the drift between them), a blank row, then one row per exception: its kind, the bank's reference
and amount, ours, and the difference. The CSV and the workbook carry the same cells (``civicpay.report_files``
writes both), so a finance officer may take either; amounts are whole đồng as numbers, times Asia/Ho_Chi_Minh
with their offset. It lays out what the run stored, so a report asked for later says what the officer saw.
"""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import report_files
from civicpay.db import table_of
from civicpay.report_files import ReportFormat, Row
from reconciliation import runs
from reconciliation.errors import RunNotFound
from reconciliation.imports import AccountRef
from reconciliation.models import ReconciliationRun
from reconciliation.runs import ExceptionView, RunView

EXCEPTION_COLUMNS = (
    "kind",
    "direction",
    "bank_reference",
    "statement_amount_vnd",
    "our_reference",
    "our_amount_vnd",
    "difference_vnd",
    "statement_line_id",
    "transfer_id",
    "detail",
)
_run = table_of(ReconciliationRun)


def _header(view: RunView, zone: ZoneInfo) -> list[Row]:
    return [
        ("report", "Báo cáo đối soát ngày / Daily reconciliation report"),
        ("run_id", view.id),
        ("bank_bin", view.account.bank_bin),
        ("bank_account", view.account.number),
        ("business_day", view.business_day.isoformat()),
        ("status", view.status.value),
        ("run_at", view.created_at.astimezone(zone).isoformat(timespec="seconds")),
        ("statement_import", view.file_id),
        ("statement_lines", view.statement_lines),
        ("ledger_items", view.ledger_items),
        ("matched", view.matched),
        ("unmatched_ours", view.unmatched_ours),
        ("unmatched_theirs", view.unmatched_theirs),
        ("amount_mismatches", view.amount_mismatches),
        ("duplicates", view.duplicates),
        ("reversals", view.reversals),
        ("ledger_balance_vnd", view.ledger_balance_vnd),
        ("statement_closing_vnd", view.statement_closing_vnd),
        ("drift_vnd", view.drift_vnd),
        ("exceptions", len(view.exceptions)),
    ]


def _difference(exception: ExceptionView) -> int | None:
    """The statement's amount less ours, where both sides exist (an amount mismatch)."""
    if exception.statement_amount_vnd is None or exception.our_amount_vnd is None:
        return None
    return exception.statement_amount_vnd - exception.our_amount_vnd


def _exception(exception: ExceptionView) -> Row:
    return (
        exception.kind.value,
        exception.direction,
        exception.bank_reference,
        exception.statement_amount_vnd,
        exception.our_reference,
        exception.our_amount_vnd,
        _difference(exception),
        exception.line_id,
        exception.transfer_id,
        # The matcher's own words (rule, the other line's id…): kept whole, for the officer who digs.
        json.dumps(exception.detail, ensure_ascii=False, sort_keys=True) if exception.detail else None,
    )


def rows_of(view: RunView, zone: ZoneInfo) -> list[Row]:
    """The report's cells, row by row, as both files lay them out."""
    return [*_header(view, zone), (), EXCEPTION_COLUMNS, *(_exception(e) for e in view.exceptions)]


async def latest_run(session: AsyncSession, account: AccountRef, day: date) -> int:
    """The newest run of the account's day: the one a report of "that day" means."""
    found: int | None = await session.scalar(
        select(_run.c.id)
        .where(
            _run.c.bank_bin == account.bank_bin,
            _run.c.account_number == account.number,
            _run.c.business_day == day,
        )
        .order_by(_run.c.id.desc())
        .limit(1)
    )
    if found is None:
        raise RunNotFound(field="date")
    return found


async def report(
    session: AsyncSession, zone: ZoneInfo, *, run_id: int, report_format: ReportFormat
) -> tuple[bytes, str, str]:
    """The run's report: its bytes, media type and file name (the account, the day and the run)."""
    view = await runs.one(session, run_id)
    content, media_type = report_files.render(rows_of(view, zone), report_format, sheet="doi-soat")
    account = view.account
    name = f"doi-soat-{account.bank_bin}-{account.number}-{view.business_day.isoformat()}-run{view.id}.{report_format}"
    return content, media_type, name
