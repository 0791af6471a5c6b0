"""Each format, written by the tests with a break planted, reads into the same lines and reports the break."""

from __future__ import annotations

import io
import re
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import cast

import pytest

from reconciliation.model import (
    Direction,
    Event,
    StatementError,
    StatementFormat,
    StatementTotals,
    gather,
    lines_of,
    to_minor,
)
from reconciliation.parsers import (
    BIDV,
    MAPPINGS,
    VIETCOMBANK,
    VIETINBANK,
    CsvMapping,
    detect_format,
    read_bank_csv,
    read_camt,
    read_kbnn_csv,
    read_mt940,
    read_statements,
)
from tests.unit.reconciliation.files import DAY, Entry, bank_csv, camt, closing_of, kbnn_csv, mt940_statement

ENTRIES = [
    Entry(1_234_567, narrative="MBVCB.3278907687.NAP TIEN VI NAP00001YA.CT tu 0123", bank_reference="FT26335001"),
    Entry(50_000, narrative="Nộp phí hộ tịch TTHC0000019", bank_reference="FT26335002", counterparty="Trần Thị Bé"),
    Entry(
        2_000_000, Direction.DEBIT, narrative="RUT TIEN", bank_reference="FT26335003", our_reference="RUT0000000000017"
    ),
]

Reader = Callable[[list[Entry], int, int | None], Iterator[Event]]


def _camt(message: str, version: str) -> Reader:
    return lambda entries, opening, closing: read_camt(
        io.BytesIO(camt(entries, message=message, version=version, opening=opening, closing=closing))
    )


def _mt940(entries: list[Entry], opening: int, closing: int | None) -> Iterator[Event]:
    return read_mt940(io.StringIO(mt940_statement(entries, opening=opening, closing=closing)))


def _csv(mapping: CsvMapping) -> Reader:
    return lambda entries, opening, closing: read_bank_csv(
        io.StringIO(bank_csv(mapping, entries, opening=opening, closing=closing))
    )


def _kbnn(entries: list[Entry], opening: int, closing: int | None) -> Iterator[Event]:
    return read_kbnn_csv(io.StringIO(kbnn_csv(entries, opening=opening, closing=closing)))


READERS: dict[str, Reader] = {
    "camt.053.02": _camt("053", "02"),
    "camt.053.08": _camt("053", "08"),
    "camt.052.08": _camt("052", "08"),
    "mt940": _mt940,
    **{f"csv.{mapping.name}": _csv(mapping) for mapping in MAPPINGS},
    "kbnn": _kbnn,
}


@pytest.mark.parametrize("name", READERS)
def test_every_format_reads_the_same_lines(name: str) -> None:
    (parsed,) = gather(READERS[name](ENTRIES, 10_000_000, None))
    assert [(line.amount, line.direction, line.booking_date) for line in parsed.lines] == [
        (1_234_567, Direction.CREDIT, DAY),
        (50_000, Direction.CREDIT, DAY),
        (2_000_000, Direction.DEBIT, DAY),
    ]
    assert [line.sequence for line in parsed.lines] == [1, 2, 3]
    assert "NAP00001YA" in parsed.lines[0].narrative
    assert parsed.lines[1].narrative == "Nộp phí hộ tịch TTHC0000019"  # diacritics kept as the bank sent them
    assert [line.bank_reference for line in parsed.lines] == ["FT26335001", "FT26335002", "FT26335003"]
    assert all(line.currency == "VND" and line.raw for line in parsed.lines)
    assert parsed.totals == StatementTotals(
        parsed.statement.statement_id, 3, 1_284_567, 2_000_000, 10_000_000, 9_284_567, True
    )


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize(
    ("label", "written", "closing_from"),
    [
        ("missing line", ENTRIES[:2], ENTRIES),  # the closing balance counts a line the file lacks
        ("extra line", [*ENTRIES, Entry(10_000, narrative="extra")], ENTRIES),
        ("amount off", [ENTRIES[0], Entry(50_001, narrative="off by one"), ENTRIES[2]], ENTRIES),
    ],
)
def test_a_planted_break_is_a_continuity_gap_of_its_size(
    name: str, label: str, written: list[Entry], closing_from: list[Entry]
) -> None:
    closing = closing_of(10_000_000, closing_from)
    (parsed,) = gather(READERS[name](written, 10_000_000, closing))
    assert parsed.totals.continuous is False, label
    assert parsed.totals.gap == closing - closing_of(10_000_000, written)


@pytest.mark.parametrize("name", READERS)
def test_duplicate_and_reversal_lines_are_read_as_written(name: str) -> None:
    reversal = Entry(1_234_567, Direction.DEBIT, narrative="HOAN GD NAP00001YA", reversal=True)
    entries = [ENTRIES[0], ENTRIES[0], reversal]
    (parsed,) = gather(READERS[name](entries, 0, None))
    assert [line.amount for line in parsed.lines] == [1_234_567] * 3
    assert parsed.totals.continuous is True
    if name.startswith(("camt", "mt940")):  # the CSV layouts have no reversal mark: a plain debit
        assert [line.reversal for line in parsed.lines] == [False, False, True]
    assert parsed.lines[2].direction is Direction.DEBIT


def test_camt054_notifications_have_no_balances_and_no_continuity_to_check() -> None:
    (parsed,) = gather(read_camt(io.BytesIO(camt(ENTRIES, message="054"))))
    assert parsed.statement.opening is None
    assert parsed.totals.continuous is None
    assert parsed.totals.lines == 3
    assert parsed.statement.kind == "camt.054.001.08"


def test_camt_references_are_read_from_refs_and_instruction_id() -> None:
    entries = [Entry(300_000, Direction.DEBIT, end_to_end_id="QTDV000000000A7X", our_reference="INSTR-1")]
    (line,) = lines_of(read_camt(io.BytesIO(camt(entries))))
    assert (line.end_to_end_id, line.our_reference) == ("QTDV000000000A7X", "INSTR-1")


def test_several_camt_statements_in_a_file_check_each_opening_against_the_last_closing() -> None:
    parsed = gather(read_camt(io.BytesIO(camt(ENTRIES, statements=2))))
    assert [p.totals.follows_previous for p in parsed] == [None, False]  # same opening twice: a day missing
    assert [p.statement.statement_id for p in parsed] == ["STMT-20261201", "STMT-20261201-1"]


def test_mt940_statements_in_one_file_are_split_and_chained() -> None:
    first = mt940_statement(ENTRIES[:1], opening=0, number="5/1")
    second = mt940_statement(ENTRIES[1:], opening=1_234_567, number="6/1")
    parsed = gather(read_mt940(io.StringIO(first + second)))
    assert [p.statement.statement_id for p in parsed] == ["5/1", "6/1"]
    assert [p.totals.lines for p in parsed] == [1, 2]
    assert [p.totals.follows_previous for p in parsed] == [None, True]
    assert parsed[1].lines[1].our_reference == "RUT0000000000017"


def test_mt940_reversal_marks_decide_the_direction() -> None:
    entries = [Entry(100, reversal=True), Entry(200, Direction.DEBIT, reversal=True)]
    text = mt940_statement(entries, opening=1000)
    assert "RD100," in text
    assert "RC200," in text
    lines = list(lines_of(read_mt940(io.StringIO(text))))
    assert [(line.direction, line.reversal) for line in lines] == [(Direction.CREDIT, True), (Direction.DEBIT, True)]


# Refusals ---------------------------------------------------------------------------------------


def _refused(events: Iterator[Event]) -> StatementError:
    with pytest.raises(StatementError) as caught:
        list(events)
    assert caught.value.message.vi
    assert caught.value.message.en
    assert caught.value.message.vi != caught.value.message.en
    return caught.value


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_xml_is_refused(cut: float) -> None:
    whole = camt(ENTRIES)
    error = _refused(read_camt(io.BytesIO(whole[: int(len(whole) * cut)])))
    assert error.code == "truncated"


def test_an_xml_that_is_no_statement_is_refused() -> None:
    assert _refused(read_camt(io.BytesIO(b"<Document><Other/></Document>"))).code == "malformed"


def test_an_mt940_without_a_closing_balance_is_refused() -> None:
    text = mt940_statement(ENTRIES, closing_tag=None)
    error = _refused(read_mt940(io.StringIO(text)))
    assert error.code == "no_closing_balance"
    assert ":62F:" in error.message.en
    assert ":62F:" in error.message.vi


def test_an_mt940_page_closed_by_62m_is_read_as_not_final() -> None:
    (parsed,) = gather(read_mt940(io.StringIO(mt940_statement(ENTRIES, closing_tag="62M"))))
    assert not parsed.statement.final
    assert parsed.totals.continuous is True


def test_a_csv_with_an_unknown_header_is_refused_naming_what_it_found() -> None:
    text = "SAO KE\nNgay,So tien,Noi dung la\n01/12/2026,1.000,x\n"
    error = _refused(read_bank_csv(io.StringIO(text)))
    assert error.code == "unknown_header"
    assert "Ngay | So tien | Noi dung la" in error.message.en


def test_a_csv_header_is_found_without_diacritics_and_in_capitals() -> None:
    text = bank_csv(VIETCOMBANK, ENTRIES).replace("Ngày giao dịch", "NGAY GIAO DICH").replace("Mô tả", "MÔ TẢ")
    assert len(list(lines_of(read_bank_csv(io.StringIO(text))))) == 3


def test_a_csv_read_with_another_bank_mapping_is_refused() -> None:
    error = _refused(read_bank_csv(io.StringIO(bank_csv(VIETCOMBANK, ENTRIES)), mappings=[VIETINBANK, BIDV]))
    assert error.code == "unknown_header"


def test_a_csv_without_preamble_balances_takes_them_from_the_running_balance() -> None:
    text = bank_csv(VIETINBANK, ENTRIES, preamble_balances=False)
    (parsed,) = gather(read_bank_csv(io.StringIO(text)))
    assert (parsed.totals.opening, parsed.totals.closing, parsed.totals.continuous) == (10_000_000, 9_284_567, True)


def test_a_csv_row_with_an_amount_and_no_readable_date_is_refused_not_skipped() -> None:
    text = bank_csv(VIETCOMBANK, ENTRIES).replace('"01/12/2026"', '"31/02/2026"', 1)
    error = _refused(read_bank_csv(io.StringIO(text)))
    assert error.code == "bad_date"
    assert error.where is not None
    assert error.where.startswith("line ")


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (lambda: read_camt(io.BytesIO(camt(ENTRIES, currency="EUR")), expected_currency="VND"), "EUR"),
        (lambda: read_mt940(io.StringIO(mt940_statement(ENTRIES, currency="USD")), expected_currency="VND"), "USD"),
        (lambda: read_bank_csv(io.StringIO(bank_csv(BIDV, ENTRIES, currency="EUR")), expected_currency="VND"), "EUR"),
        (lambda: read_kbnn_csv(io.StringIO(kbnn_csv(ENTRIES)), expected_currency="USD"), "VND"),
    ],
)
def test_a_file_in_another_currency_than_the_account_is_refused(
    events: Callable[[], Iterator[Event]], expected: str
) -> None:
    error = _refused(events())
    assert error.code == "wrong_currency"
    assert expected in error.message.en
    assert expected in error.message.vi


def test_eur_amounts_become_cents_and_vnd_stays_dong() -> None:
    (parsed,) = gather(read_camt(io.BytesIO(camt([Entry(123_456)], currency="EUR", opening=1))))
    assert parsed.lines[0].amount == 123_456
    assert "1234.56" in parsed.lines[0].raw
    assert to_minor("1,5", "EUR") == 150
    assert to_minor("1234567", "VND") == 1_234_567
    with pytest.raises(StatementError, match="more decimals"):
        to_minor("1.5", "VND")
    with pytest.raises(StatementError) as caught:
        to_minor("1", "XXX")
    assert caught.value.code == "unknown_currency"


def test_kbnn_layout_refusals() -> None:
    good = kbnn_csv(ENTRIES)
    assert _refused(read_kbnn_csv(io.StringIO(kbnn_csv(ENTRIES, with_closing=False)))).code == "no_closing_balance"
    assert _refused(read_kbnn_csv(io.StringIO(good.replace("loai_dong", "kind")))).code == "unknown_header"
    assert _refused(read_kbnn_csv(io.StringIO(good.replace(",C,1234567,", ",C,1.234.567,", 1)))).code == "bad_amount"
    assert _refused(read_kbnn_csv(io.StringIO(good.replace("\nGD,", "\nXX,", 1)))).code == "malformed"
    (parsed,) = gather(read_kbnn_csv(io.StringIO(good)))
    assert parsed.lines[2].our_reference == "RUT0000000000017"
    assert parsed.lines[0].counterparty == "1234567"
    assert parsed.statement.from_date == date(2026, 12, 1)


def test_five_thousand_camt_entries_stream_in_memory_for_a_few() -> None:
    entry = Entry(1_000, narrative="NAP TIEN NAP00001YA " + "x" * 80, bank_reference="FT1")
    head, _, tail = camt([entry]).partition(b"<Ntry>")
    one = b"<Ntry>" + tail.partition(b"</Ntry>")[0] + b"</Ntry>"
    rest = tail.partition(b"</Ntry>")[2]
    count = 5_000

    class Chunks(io.RawIOBase):
        """The file produced as it is read, so the test itself never holds it whole (about 3 MB)."""

        def __init__(self) -> None:
            self.parts = iter([head, *(one for _ in range(count)), rest])
            self.buffer = b""

        def readable(self) -> bool:
            return True

        def readinto(self, target: bytearray) -> int:  # type: ignore[override]
            while len(self.buffer) < len(target):
                part = next(self.parts, None)
                if part is None:
                    break
                self.buffer += part
            size = min(len(target), len(self.buffer))
            target[:size] = self.buffer[:size]
            self.buffer = self.buffer[size:]
            return size

    tracemalloc.start()
    lines = 0
    for event in read_camt(io.BufferedReader(cast("io.RawIOBase", Chunks()), 1 << 16), expected_currency="VND"):
        if isinstance(event, StatementTotals):
            assert event.lines == count
            assert event.continuous is False  # the balances were written for one entry
        elif not isinstance(event, type(None)):
            lines += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lines == count + 1  # the lines and the header
    assert peak < 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_an_mt940_line_the_package_cannot_read_is_refused_in_a_sentence() -> None:
    text = ":20:X\n:25:1\n:28C:1\n:60F:C261201VND1000,\n:61:ABCDEF\n:62F:C261201VND1000,\n-\n"
    error = _refused(read_mt940(io.StringIO(text)))
    assert error.code == "malformed"
    assert "\n" not in error.message.en


def test_the_format_is_told_from_the_first_bytes(tmp_path: Path) -> None:
    written = {
        "a.xml": camt(ENTRIES),
        "a.sta": mt940_statement(ENTRIES).encode(),
        "kbnn.csv": kbnn_csv(ENTRIES).encode("utf-8-sig"),
        "vcb.csv": bank_csv(VIETCOMBANK, ENTRIES).encode("utf-8-sig"),
    }
    for name, data in written.items():
        (tmp_path / name).write_bytes(data)
    assert [detect_format(tmp_path / name) for name in written] == [
        StatementFormat.CAMT,
        StatementFormat.MT940,
        StatementFormat.KBNN_CSV,
        StatementFormat.BANK_CSV,
    ]
    for name in written:
        assert len(list(lines_of(read_statements(tmp_path / name)))) == 3
    (tmp_path / "x.bin").write_bytes(b"\x00\x01 no statement")
    with pytest.raises(StatementError) as caught:
        detect_format(tmp_path / "x.bin")
    assert caught.value.code == "unknown_format"


def test_a_csv_statement_takes_its_period_and_account_from_the_preamble() -> None:
    (parsed,) = gather(read_bank_csv(io.StringIO(bank_csv(VIETINBANK, ENTRIES))))
    statement = parsed.statement
    assert (statement.from_date, statement.to_date) == (DAY, DAY)
    assert statement.account == "970415:0071001234567"
    assert statement.statement_id == "vietinbank:0071001234567:2026-12-01"
    assert statement.opening is not None
    assert statement.opening.on == DAY
    assert (
        parsed.lines[1].raw
        == "2,01/12/2026,01/12/2026,Nộp phí hộ tịch TTHC0000019,,50.000,11.284.567,FT26335002,Trần Thị Bé,"
    )


@pytest.mark.parametrize("how", ["prefixed", "no namespace", "another version"])
def test_camt_is_read_whatever_its_namespace_is_written_as(how: str) -> None:
    data = camt(ENTRIES).decode()
    namespace = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    if how == "prefixed":
        data = data.replace(f'xmlns="{namespace}"', f'xmlns:c="{namespace}"')
        data = re.sub(r"<(/?)([A-Za-z])", r"<\1c:\2", data.split("?>", 1)[1])
    elif how == "no namespace":
        data = data.replace(f' xmlns="{namespace}"', "")
    else:
        data = data.replace("camt.053.001.08", "camt.053.001.13")
    (parsed,) = gather(read_camt(io.BytesIO(data.encode())))
    assert [line.amount for line in parsed.lines] == [1_234_567, 50_000, 2_000_000]
    assert parsed.totals.continuous is True
    assert parsed.lines[1].counterparty == "Trần Thị Bé"
