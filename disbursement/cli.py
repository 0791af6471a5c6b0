"""The disbursement room's commands: `civicpay disburse import FILE --programme ID --officer PHONE`, a batch
validated from a file as the upload route does it, and `civicpay disburse run`, approved batches paid now.

Registered by the shell (``civicpay/cli.py``), which gives each command the service's parts; this room names the
parts it uses (``DisbursementServices``) rather than importing the shell's bootstrap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import rich_click as click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from civicpay.auth.identity import normalise_phone
from civicpay.auth.models import Role, User
from civicpay.clock import Clock
from civicpay.command_line import NO, OK, Refused, Shell
from civicpay.db import UnitsOfWork
from civicpay.errors import DomainError, Text
from civicpay.money import format_vnd
from civicpay.report_files import render
from civicpay.settings import Settings
from disbursement import batches, execution, programmes, reports, unclaimed
from disbursement import schemas as s
from disbursement.models import Batch, BatchStatus, Item, ItemStatus

# The table printed shows this many invalid rows at most; GET /batches/{id} has the first thousand.
SHOWN = 50

logger = logging.getLogger(__name__)


class DisbursementServices(Protocol):
    """The parts of the service (``civicpay.bootstrap.Services``) the disbursement room's commands use."""

    @property
    def units(self) -> UnitsOfWork: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...


@click.group(name="disburse")
def disburse_commands() -> None:
    """Welfare and pension batches: import and validate a file, pay approved batches, settle unclaimed payments,
    report a batch's outcomes.

    Example: civicpay disburse import pensions-2026-12.xlsx --programme 1 --officer 0912345678
    """


@disburse_commands.command(name="import")
@click.argument(
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The beneficiaries: a CSV (UTF-8) or an XLSX file, one a row under a header row.",
)
@click.option("--programme", "programme_id", type=click.IntRange(min=1), required=True, help="The programme's id.")
@click.option(
    "--officer",
    "officer_phone",
    required=True,
    help="The phone of the programme officer making the batch: the maker, who then cannot approve it.",
)
@click.pass_obj
def import_batch(shell: Shell, file: Path, programme_id: int, officer_phone: str) -> int:
    """Validate a batch of beneficiaries from a file and store it with its report; exit 1 if a row is invalid.

    One beneficiary a row, under a header row naming the columns (any order, any case; the Vietnamese names in
    brackets are accepted too):

    - citizen_id (số cccd): the 12-digit citizen ID;
    - full_name (họ và tên): compared with the wallet holder's without diacritics or case;
    - amount_vnd (số tiền): whole đồng, digits only (1500000, not 1.500.000), at most the programme's maximum;
    - period (kỳ): the month paid for, YYYY-MM;
    - destination (hình thức nhận): wallet (ví), bank (ngân hàng), or unclaimed (chờ nhận) for someone with
      neither yet: paid to their wallet if one is open, else held until they open one (or returned in time);
    - bank_bin (mã ngân hàng), account_number (số tài khoản), holder_name (chủ tài khoản): for bank rows.

    Nothing is paid: the batch waits for a second officer's approval with TOTP (POST /batches/{id}/approve).
    A file that cannot be read as this layout at all, an unknown programme or officer, is refused whole (exit 2).

    Example: civicpay disburse import pensions-2026-12.csv --programme 1 --officer 0912345678
    """
    try:
        data = file.read_bytes()
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise Refused(Text(f"không đọc được tệp {file}: {why}", f"cannot read {file}: {why}")) from None

    async def work(services: DisbursementServices) -> s.Batch:
        async with services.units() as unit:
            session = unit.session
            try:
                programme = await programmes.get(session, programme_id)
                rows = batches.read_file(data, file.name, programme.max_amount_vnd)
            except DomainError as refused:
                raise Refused(refused.detail or refused.title) from None
            officer = await session.scalar(
                select(User.id).where(
                    User.phone == (normalise_phone(officer_phone) or officer_phone),
                    User.role == Role.PROGRAMME_OFFICER.value,
                )
            )
            if officer is None:
                raise Refused(
                    Text(
                        f"không có cán bộ chương trình với số điện thoại {officer_phone}",
                        f"no programme officer has the phone {officer_phone}",
                    )
                )
            with shell.progress("validating beneficiaries", len(rows)) as step:

                def advance(done: int) -> None:
                    for _ in range(done):
                        step()

                batch = await batches.validate(
                    session,
                    programme,
                    rows,
                    file_name=file.name,
                    officer_id=officer,
                    now=services.clock.now(),
                    step=advance,
                )
            return await batches.view(session, batch)

    batch = shell.run(work)
    console = Console(soft_wrap=True)
    if batch.report:
        table = Table("row", "citizen_id", "field", "code", "message", title="invalid rows", title_justify="left")
        for row in batch.report[:SHOWN]:
            for problem in row.problems:
                message = shell.say(Text(problem.message_vi, problem.message_en))
                table.add_row(str(row.row), row.citizen_id, problem.field, problem.code, message)
        console.print(table)
        if batch.invalid > SHOWN:
            console.print(f"... and {batch.invalid - SHOWN} more invalid row(s): GET /batches/{batch.id}")
    totals = ", ".join(f"{to.count} to {to.destination} ({format_vnd(to.total_vnd)})" for to in batch.by_destination)
    line = f"batch {batch.id}: {batch.rows} row(s), {batch.valid} valid: {totals}; {batch.invalid} invalid"
    logger.info("disbursement: batch imported from %s: %s", file.resolve(), line)
    click.echo(line)
    return NO if batch.invalid else OK


@disburse_commands.command(name="run")
@click.option("--batch", "batch_id", type=click.IntRange(min=1), help="Only this batch.", show_default="every one")
@click.pass_obj
def run(shell: Shell, batch_id: int | None) -> None:
    """Pay approved batches now, as the workers do every few seconds: wallets, a chunk at a time, then bank
    items in pain.001 files, one per destination bank and chunk, handed to the bank through the outbox.

    Safe beside running workers (they share the chunks) and after a crash (each beneficiary is paid once).

    Example: civicpay disburse run --batch 3
    """

    async def work(services: DisbursementServices) -> execution.Executed:
        waiting = (
            select(func.count())
            .select_from(Item)
            .join(Batch, Batch.id == Item.batch_id)
            .where(Batch.status == BatchStatus.APPROVED.value, Item.status == ItemStatus.QUEUED.value)
        )
        if batch_id is not None:
            waiting = waiting.where(Batch.id == batch_id)
        async with services.units() as unit:
            queued = await unit.session.scalar(waiting)
        done = execution.Executed()
        with shell.progress("paying beneficiaries", queued or 0) as step:
            while True:
                # A chunk per call, so the bar moves as each chunk commits.
                ran = await execution.run(
                    services.units, services.settings, services.clock, most_chunks=1, batch_id=batch_id
                )
                for _ in range(ran.paid + ran.failed + ran.held):
                    step()
                done.paid, done.failed, done.held = done.paid + ran.paid, done.failed + ran.failed, done.held + ran.held
                done.finished += ran.finished
                done.files += ran.files
                if ran.chunks == 0:
                    return done

    done = shell.run(work)
    click.echo(
        f"{done.paid} paid to wallets, {done.held} held until claimed, {done.failed} failed;"
        f" batches ended: {done.finished or 'none'}"
    )
    if done.files:
        click.echo(f"{done.files} bank payout files (pain.001) written and queued to the bank")


@disburse_commands.command(name="unclaimed")
@click.pass_obj
def settle_unclaimed(shell: Shell) -> None:
    """Pay held (unclaimed) payments to wallets their citizens have opened since, and give back to each
    programme's funding what nobody claimed within CIVICPAY_DISBURSEMENT_UNCLAIMED_DAYS; as the workers do.

    Safe beside running workers: each held payment is claimed or returned once.

    Example: civicpay disburse unclaimed
    """

    async def work(services: DisbursementServices) -> unclaimed.Settled:
        return await unclaimed.settle(services.units, services.settings, services.clock)

    done = shell.run(work)
    click.echo(f"{done.claimed} claimed by new wallets, {done.returned} returned to funding")


@disburse_commands.command(name="report")
@click.argument("batch_id", metavar="BATCH", type=click.IntRange(min=1), help="The batch's id.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file: .csv or .xlsx, by its name.",
    show_default="print it as a table",
)
@click.pass_obj
def report(shell: Shell, batch_id: int, out: Path | None) -> None:
    """A batch's rows counted and summed by outcome: paid, held until claimed, claimed, returned, failed, ...

    Example: civicpay disburse report 3 --out dot-3.xlsx
    """
    suffix = out.suffix.lower().lstrip(".") if out is not None else "csv"
    if suffix not in ("csv", "xlsx"):
        raise Refused(Text(f"{out}: tên tệp phải kết thúc bằng .csv hoặc .xlsx", f"{out}: name it .csv or .xlsx"))

    async def work(services: DisbursementServices) -> s.BatchReport:
        async with services.units() as unit:
            try:
                return await reports.report(unit.session, batch_id)
            except DomainError as refused:
                raise Refused(refused.detail or refused.title) from None

    made = shell.run(work)
    if out is None:
        table = Table("outcome", "count", "total", title=f"batch {made.batch_id}: {made.programme_name}")
        for outcome in made.outcomes:
            table.add_row(outcome.outcome.value, str(outcome.count), format_vnd(outcome.total_vnd))
        Console(soft_wrap=True).print(table)
        return
    content, _ = render(reports.rows(made), "xlsx" if suffix == "xlsx" else "csv", sheet="report")
    try:
        out.write_bytes(content)
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise Refused(Text(f"không ghi được tệp {out}: {why}", f"cannot write {out}: {why}")) from None
    click.echo(f"batch {made.batch_id}: report written to {out}")


# What the shell adds to `civicpay`.
COMMANDS = [disburse_commands]
