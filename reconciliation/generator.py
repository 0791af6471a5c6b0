"""A bank's camt.053 for one account and day, written from our own side: for tests, the demo and the bench.

Pure (values in, bytes out): the caller reads the ledger (``reconciliation.runs.our_side``), plants the
breaks it wants (drop an entry, add one, change an amount, book one twice) and hands the entries here.
Written as a stream of chunks, so the bench's million-line statement is never one string in memory.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from reconciliation.matcher import OurItem
from reconciliation.model import Direction

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One entry as the bank would book it: our reference somewhere in the narrative, its own reference beside."""

    amount: int
    direction: Direction
    booked: date
    bank_reference: str
    narrative: str = ""
    end_to_end_id: str | None = None
    reversal: bool = False


def entry_of(item: OurItem, bank_reference: str) -> BankEntry:
    """The entry a bank books for one of our items, the reference printed inside a narrative as banks do."""
    narrative = f"CT DEN {item.reference} NAP VI CIVICPAY" if item.reference else "CHUYEN TIEN"
    return BankEntry(item.amount, item.direction, item.on, bank_reference, narrative)


def closing_of(opening: int, entries: Iterable[BankEntry]) -> int:
    return opening + sum(e.amount if e.direction is Direction.CREDIT else -e.amount for e in entries)


def _balance(code: str, amount: int, day: date) -> str:
    side = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="VND">{abs(amount)}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


def _entry(entry: BankEntry) -> str:
    credit = entry.direction is Direction.CREDIT
    refs = f"<Refs><EndToEndId>{escape(entry.end_to_end_id)}</EndToEndId></Refs>" if entry.end_to_end_id else ""
    return (
        f'<Ntry><Amt Ccy="VND">{entry.amount}</Amt><CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>'
        + ("<RvslInd>true</RvslInd>" if entry.reversal else "")
        + f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{entry.booked.isoformat()}</Dt></BookgDt>"
        f"<ValDt><Dt>{entry.booked.isoformat()}</Dt></ValDt>"
        f"<AcctSvcrRef>{escape(entry.bank_reference)}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls>{refs}<RmtInf><Ustrd>{escape(entry.narrative)}</Ustrd></RmtInf></TxDtls></NtryDtls>"
        "</Ntry>"
    )


def camt053(
    *,
    account: str,
    day: date,
    opening: int,
    closing: int,
    entries: Iterable[BankEntry],
    statement_id: str | None = None,
) -> Iterator[bytes]:
    """A camt.053.001.08 statement of ``account`` (``BIN:NUMBER`` or the bare number) for ``day``, in chunks.

    ``closing`` is the caller's, not summed here: a test plants a broken continuity by giving another.
    """
    name = statement_id or f"STMT-{account.replace(':', '-')}-{day:%Y%m%d}"
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{escape(name)}</MsgId><CreDtTm>{day.isoformat()}T23:30:00+07:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(name)}</Id><CreDtTm>{day.isoformat()}T23:30:00+07:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{day.isoformat()}T00:00:00+07:00</FrDtTm><ToDtTm>{day.isoformat()}T23:59:59+07:00</ToDtTm></FrToDt>"
        f"<Acct><Id><Othr><Id>{escape(account)}</Id></Othr></Id><Ccy>VND</Ccy></Acct>"
        f"{_balance('OPBD', opening, day)}{_balance('CLBD', closing, day)}"
    ).encode()
    batch: list[str] = []
    for entry in entries:
        batch.append(_entry(entry))
        if len(batch) >= 1000:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</Stmt></BkToCstmrStmt></Document>\n").encode()


# --- MT940 and the Treasury's CSV, for the demo's statements
def mt940(*, account: str, day: date, opening: int, closing: int, entries: Iterable[BankEntry]) -> Iterator[bytes]:
    """An MT940 statement of ``account`` for ``day``: ``:61:`` with our reference (at most 16 characters, as the
    field allows) when the narrative starts with one, the bank's after ``//``, and the narrative in ``:86:``."""

    def balance(tag: str, amount: int) -> str:
        return f":{tag}:{'C' if amount >= 0 else 'D'}{day:%y%m%d}VND{abs(amount)},"

    yield f":20:STMT{day:%Y%m%d}\n:25:{account}\n:28C:1/1\n{balance('60F', opening)}\n".encode()
    for entry in entries:
        credit = entry.direction is Direction.CREDIT
        mark = ("RD" if credit else "RC") if entry.reversal else ("C" if credit else "D")
        ours = (entry.end_to_end_id or "NONREF")[:16]
        # :86: lines are at most 65 characters; wrapped between words, so a reference is never cut in two.
        narrative = "\n".join(textwrap.wrap(entry.narrative, 65, break_long_words=True)) or "-"
        yield (
            f":61:{entry.booked:%y%m%d}{entry.booked:%m%d}{mark}{entry.amount},NTRF{ours}//{entry.bank_reference}\n"
            f":86:{narrative}\n"
        ).encode()
    yield f"{balance('62F', closing)}\n-\n".encode()


KBNN_HEADER = (
    "loai_dong,so_tai_khoan,ngay_hach_toan,ngay_gia_tri,so_chung_tu,ma_tham_chieu,ma_dvqhns,no_co,so_tien,dien_giai"
)


def kbnn_csv(
    *, account: str, day: date, opening: int, closing: int, entries: Iterable[BankEntry], agency: str = ""
) -> Iterator[bytes]:
    """A State Treasury statement in our KBNN CSV layout (``reconciliation.parsers.kbnn_csv``): the remitter's
    reference (the entry's ``end_to_end_id``) in ``ma_tham_chieu``, the Treasury's voucher as its bank reference."""

    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text

    def side(amount: int) -> str:
        return "C" if amount >= 0 else "N"

    opening_row = f"SDDK,{account},{day},,SK-{day:%Y%m%d},,,{side(opening)},{abs(opening)},So du dau ky"
    yield f"{KBNN_HEADER}\n{opening_row}\n".encode()
    for entry in entries:
        direction = "C" if entry.direction is Direction.CREDIT else "N"
        yield (
            f"GD,{account},{entry.booked},{entry.booked},{cell(entry.bank_reference)},{entry.end_to_end_id or ''},"
            f"{agency},{direction},{entry.amount},{cell(entry.narrative)}\n"
        ).encode()
    yield f"SDCK,{account},{day},,,,,{side(closing)},{abs(closing)},So du cuoi ky\n".encode()


# --- end of MT940 and the Treasury's CSV ---------------------------------------------------------------------------
