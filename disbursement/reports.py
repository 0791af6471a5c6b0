"""A batch's report (báo cáo đợt chi trả): how many rows ended how, and for how much, as JSON, CSV and XLSX.

Counted from the items as they are now, so the report of a batch still being paid shows its progress, and that
of a finished one goes on changing only as its unclaimed payments are claimed or returned. Every outcome is
listed, in one order, 0 when none, so two reports line up row for row. The files carry the same cells: a few
header rows (programme, batch, file, status, rows, total), a blank row, then outcome, count, total đồng (numbers,
which a spreadsheet sums), and a last row of totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.report_files import Cell, render
from disbursement import batches, programmes
from disbursement import schemas as s
from disbursement.models import BatchStatus, Item, ItemStatus

Format = Literal["csv", "xlsx"]
COLUMNS = ("outcome", "count", "total_vnd")


async def report(session: AsyncSession, batch_id: int) -> s.BatchReport:
    batch = await batches.get(session, batch_id)
    programme = await programmes.get(session, batch.programme_id)
    by_status = (
        select(Item.status, func.count(), func.coalesce(func.sum(Item.amount_vnd), 0).label("total"))
        .where(Item.batch_id == batch.id)
        .group_by(Item.status)
    )
    # int(): PostgreSQL sums a BIGINT as NUMERIC.
    found = {status: (count, int(total or 0)) for status, count, total in await session.execute(by_status)}
    return s.BatchReport(
        batch_id=batch.id,
        programme_id=programme.id,
        programme_name=programme.name,
        file_name=batch.file_name,
        status=BatchStatus(batch.status),
        rows=batch.row_count,
        total_vnd=batches.total_of(batch),
        outcomes=[s.Outcome(status, *found.get(status.value, (0, 0))) for status in ItemStatus],
    )


def rows(made: s.BatchReport) -> list[Sequence[Cell]]:
    header: list[Sequence[Cell]] = [
        ("programme", made.programme_name),
        ("programme_id", made.programme_id),
        ("batch_id", made.batch_id),
        ("file_name", made.file_name),
        ("status", made.status.value),
        ("rows", made.rows),
        ("total_vnd", made.total_vnd),
    ]
    table = [(outcome.outcome.value, outcome.count, outcome.total_vnd) for outcome in made.outcomes]
    totals = ("all", sum(row[1] for row in table), sum(row[2] for row in table))
    return [*header, (), COLUMNS, *table, totals]


async def report_file(session: AsyncSession, batch_id: int, report_format: Format) -> tuple[bytes, str, str]:
    """The report's bytes, media type and file name."""
    made = await report(session, batch_id)
    content, media_type = render(rows(made), report_format, sheet="report")
    return content, media_type, f"batch-{made.batch_id}-report.{report_format}"
