"""The MT940 and KBNN CSV generators (the demo's statements) write what their parsers read back, entry for entry."""

from __future__ import annotations

import io
from datetime import date

from reconciliation.generator import BankEntry, closing_of, kbnn_csv, mt940
from reconciliation.model import Direction, gather
from reconciliation.parsers import read_kbnn_csv, read_mt940

DAY = date(2026, 12, 6)
REMITTANCE = "KBNN0000000001AB"
ENTRIES = [
    BankEntry(120_000, Direction.CREDIT, DAY, "FT2634000001", "TTHC0000002W le phi chung thuc " * 4),
    BankEntry(160_000, Direction.DEBIT, DAY, "FT2634000002", f"CIVICPAY NOP KBNN {REMITTANCE}", REMITTANCE),
]


def test_mt940_puts_our_reference_in_61_and_the_narrative_in_86_however_long() -> None:
    text = b"".join(mt940(account="0161001234567", day=DAY, opening=40_000, closing=0, entries=ENTRIES)).decode()

    [statement] = gather(read_mt940(io.StringIO(text)))

    assert (statement.statement.opening.amount, statement.totals.closing) == (40_000, 0)  # type: ignore[union-attr]
    assert statement.totals.continuous is True
    credit, debit = statement.lines
    assert (credit.amount, credit.direction, credit.our_reference, credit.bank_reference) == (
        120_000,
        Direction.CREDIT,
        None,
        "FT2634000001",
    )
    # Wrapped at 65 between words, read back whole: every reference in it intact.
    assert credit.narrative.split() == ENTRIES[0].narrative.split()
    assert (debit.direction, debit.our_reference) == (Direction.DEBIT, REMITTANCE)


def test_kbnn_csv_carries_the_remittance_reference_and_quotes_a_comma() -> None:
    arrived = [BankEntry(160_000, Direction.CREDIT, DAY, "KB-1", "Nop phi, le phi", end_to_end_id=REMITTANCE)]
    closing = closing_of(0, arrived)
    text = b"".join(kbnn_csv(account="3511.0.1054321", day=DAY, opening=0, closing=closing, entries=arrived)).decode()

    [statement] = gather(read_kbnn_csv(io.StringIO(text)))

    assert statement.statement.account == "3511.0.1054321"
    assert (statement.totals.closing, statement.totals.continuous) == (160_000, True)
    [line] = statement.lines
    assert (line.our_reference, line.bank_reference, line.narrative, line.amount) == (
        REMITTANCE,
        "KB-1",
        "Nop phi, le phi",
        160_000,
    )
