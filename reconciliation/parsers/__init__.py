"""Statement parsers: every format read into ``reconciliation.model``'s one shape, streamed.

``read_statements(path)`` tells the format from the file's first bytes unless told, and yields
``Statement``, ``StatementLine`` … ``StatementTotals`` for each statement in the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciliation.model import Event, Message, StatementError, StatementFormat
from reconciliation.parsers.bank_csv import BIDV, MAPPINGS, VIETCOMBANK, VIETINBANK, CsvMapping, read_bank_csv
from reconciliation.parsers.camt import read_camt
from reconciliation.parsers.kbnn_csv import HEADER as KBNN_HEADER
from reconciliation.parsers.kbnn_csv import read_kbnn_csv
from reconciliation.parsers.mt940 import read_mt940, split_statements

__all__ = [
    "BIDV",
    "KBNN_HEADER",
    "MAPPINGS",
    "VIETCOMBANK",
    "VIETINBANK",
    "CsvMapping",
    "detect_format",
    "read_bank_csv",
    "read_camt",
    "read_kbnn_csv",
    "read_mt940",
    "read_statements",
    "split_statements",
]


def detect_format(path: Path) -> StatementFormat:
    """The format from the file's first 4 KiB: XML is camt, a ``:20:`` tag MT940, our header KBNN, else a bank CSV."""
    with path.open("rb") as stream:
        head = stream.read(4096).decode("utf-8-sig", errors="replace").lstrip()
    if head.startswith("<"):
        return StatementFormat.CAMT
    if ":20:" in head and (":60F:" in head or ":60M:" in head or ":25:" in head):
        return StatementFormat.MT940
    if head.lower().startswith(",".join(KBNN_HEADER)):
        return StatementFormat.KBNN_CSV
    if "," in head or ";" in head:
        return StatementFormat.BANK_CSV
    raise StatementError(
        "unknown_format",
        Message("Không nhận ra định dạng sao kê", "Unrecognised statement format"),
        str(path.name),
    )


def read_statements(
    path: Path,
    fmt: StatementFormat | None = None,
    *,
    expected_currency: str | None = None,
    mappings: Iterable[CsvMapping] = MAPPINGS,
    previous_closing: int | None = None,
) -> Iterator[Event]:
    """Every statement in the file, streamed; ``previous_closing`` is the last imported statement's, if any."""
    match fmt or detect_format(path):
        case StatementFormat.CAMT:
            return read_camt(path, expected_currency=expected_currency, previous_closing=previous_closing)
        case StatementFormat.MT940:
            return read_mt940(path, expected_currency=expected_currency, previous_closing=previous_closing)
        case StatementFormat.KBNN_CSV:
            return read_kbnn_csv(path, expected_currency=expected_currency or "VND", previous_closing=previous_closing)
        case StatementFormat.BANK_CSV:
            return read_bank_csv(
                path, mappings=mappings, expected_currency=expected_currency, previous_closing=previous_closing
            )
