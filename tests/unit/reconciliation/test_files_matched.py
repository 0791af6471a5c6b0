"""A business day's statement in every format, with every break planted, read and matched end to end.

The same day is written as camt.053 (02 and 08), camt.052, camt.054, MT940, each bank's CSV export and
the KBNN layout; each file is read by its parser and matched against the same items of ours, and
every planted break must come out where it belongs, and nothing else.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from civicpay.reference_codes import ReferenceScheme
from reconciliation.matcher import LineRef, MatchResult, OurItem, Rule, Shape, match
from reconciliation.model import Direction, Event, lines_of
from reconciliation.parsers import MAPPINGS, CsvMapping, read_bank_csv, read_camt, read_kbnn_csv, read_mt940
from tests.unit.reconciliation.files import DAY, Entry, bank_csv, camt, kbnn_csv, mt940_statement

TOPUP = ReferenceScheme("NAP", 6)
REMITTANCE = ReferenceScheme("KBNN", 11)
SETTLEMENT = ReferenceScheme("QTDV", 11)
NAP = {n: TOPUP.encode(n) for n in range(1, 9)}
SWEEP = REMITTANCE.encode(987_654_321)
BATCH = SETTLEMENT.encode(42)
CUT = ("CT TU 0123456789 KHO BAC NHA NUOC NOP PHI " * 4)[: 140 - 12] + SWEEP[:12]

DEBIT = Direction.DEBIT


def ours() -> list[OurItem]:
    def topup(n: int, amount: int) -> OurItem:
        return OurItem(f"t{n}", NAP[n], amount, Direction.CREDIT, DAY, "topup")

    settled = [
        OurItem(f"s{n}", f"PAY-{n}", amount, DEBIT, DAY, "settlement", group=BATCH)
        for n, amount in enumerate([100_000, 250_000, 650_000], start=1)
    ]
    return [
        *(topup(n, n * 100_000) for n in range(1, 9)),
        OurItem("r1", SWEEP, 1_600_000, DEBIT, DAY, "sweep"),
        *settled,
    ]


def entries(customer_field: bool) -> list[Entry]:
    only_in_customer_field = (
        Entry(600_000, narrative="CHUYEN TIEN", our_reference=NAP[6])
        if customer_field
        else Entry(600_000, narrative=f"CHUYEN TIEN {NAP[6]}")
    )
    return [
        Entry(100_000, narrative=f"MBVCB.3278907687.NAP TIEN VI {NAP[1]}.CT tu 0123456789", bank_reference="FT1"),
        Entry(200_000, narrative=f"Nạp tiền ví {NAP[2].lower()} từ Đà Nẵng", bank_reference="FT2"),
        Entry(300_000, narrative=f"NAP TIEN {NAP[3][:5]} {NAP[3][5:]}", bank_reference="FT3"),
        Entry(400_000, narrative=f"NAP TIEN {NAP[4][:3]}-{NAP[4][3:]}", bank_reference="FT4"),
        Entry(500_000, narrative=f"NAPTIEN{NAP[5]}CHUYENTIEN", bank_reference="FT5"),
        Entry(1_600_000, DEBIT, narrative=CUT, bank_reference="FT6"),
        only_in_customer_field,
        Entry(1_000_000, DEBIT, narrative=f"QUYET TOAN {BATCH}", bank_reference="FT8"),
        Entry(100_000, narrative=f"MBVCB.3278907688.NAP TIEN VI {NAP[1]}.CT lan 2", bank_reference="FT9"),  # twice
        Entry(699_000, narrative=f"NAP TIEN {NAP[7]}", bank_reference="FT10"),  # amount off by 1,000
        Entry(12_345, narrative="CK KHONG RO NOI DUNG", bank_reference="FT11"),  # extra line
        Entry(200_000, DEBIT, narrative=f"HOAN GD {NAP[2]}", bank_reference="FT2", reversal=True),
        # NAP[8] has no line: missing.
    ]


Writer = Callable[[list[Entry]], Iterator[Event]]


def _csv_reader(mapping: CsvMapping) -> Writer:
    return lambda written: read_bank_csv(io.StringIO(bank_csv(mapping, written)))


FORMATS: dict[str, tuple[Writer, bool, bool]] = {
    # name: (write then read, has a customer reference field, marks reversals)
    "camt.053.02": (lambda e: read_camt(io.BytesIO(camt(e, version="02"))), True, True),
    "camt.053.08": (lambda e: read_camt(io.BytesIO(camt(e))), True, True),
    "camt.052.08": (lambda e: read_camt(io.BytesIO(camt(e, message="052"))), True, True),
    "camt.054.08": (lambda e: read_camt(io.BytesIO(camt(e, message="054"))), True, True),
    "mt940": (lambda e: read_mt940(io.StringIO(mt940_statement(e))), True, True),
    "kbnn": (lambda e: read_kbnn_csv(io.StringIO(kbnn_csv(e))), True, False),
    **{f"csv.{mapping.name}": (_csv_reader(mapping), False, False) for mapping in MAPPINGS},
}


@pytest.mark.parametrize("name", FORMATS)
def test_every_planted_break_is_reported_and_nothing_else(name: str) -> None:
    read, customer_field, marks_reversals = FORMATS[name]
    lines = list(lines_of(read(entries(customer_field))))
    assert len(lines) == 12
    result: MatchResult = match(lines, ours())
    sid = lines[0].statement_id

    def at(position: int) -> LineRef:
        return LineRef(sid, position)

    matched = {match.items: (match.lines, match.rule, match.shape) for match in result.matches}
    assert matched == {
        ("t1",): ((at(1),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("t2",): ((at(2),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("t3",): ((at(3),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("t4",): ((at(4),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("t5",): ((at(5),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("r1",): ((at(6),), Rule.REFERENCE_PREFIX, Shape.ONE_TO_ONE),
        ("t6",): ((at(7),), Rule.REFERENCE, Shape.ONE_TO_ONE),
        ("s1", "s2", "s3"): ((at(8),), Rule.GROUP, Shape.ONE_TO_MANY),
    }
    assert [(d.line, d.first, d.items) for d in result.duplicates] == [(at(9), at(1), ("t1",))]
    assert [(m.lines, m.items, m.theirs, m.ours) for m in result.amount_mismatches] == [
        ((at(10),), ("t7",), 699_000, 700_000)
    ]
    assert result.unmatched_ours == ("t8",)
    if marks_reversals:
        assert [(r.line, r.original) for r in result.reversals] == [(at(12), at(2))]
        assert result.unmatched_theirs == (at(11),)
    else:  # a CSV has no reversal mark: the bank's return is an unexplained debit
        assert result.reversals == ()
        assert result.unmatched_theirs == (at(11), at(12))
