"""The public sample statements (``tests/data/statements``, copied from ``../shared/samples`` with their sources)
read as their text says, figure by figure.

Both samples are test fixtures of other projects and neither balances: the tests assert the breaks
are reported with their exact size, as a finance officer would see them.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from reconciliation.model import Direction, StatementFormat, file_sha256, gather
from reconciliation.parsers import detect_format, read_statements

# In the repository, so a clone tests them wherever it stands (CI clones outside the shared folder).
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "statements"


@pytest.fixture(scope="module")
def samples() -> Path:
    return SAMPLES


def test_the_abn_amro_mt940_file_is_two_statements_of_eight_and_two_debits(samples: Path) -> None:
    path = samples / "mt940.abnamro.jejik.sta"
    assert detect_format(path) is StatementFormat.MT940
    first, second = gather(read_statements(path))

    assert first.statement.statement_id == "19321/1"
    assert first.statement.account == "517852257"
    assert first.statement.currency == "EUR"
    assert first.statement.opening is not None
    assert first.statement.closing is not None
    assert (first.statement.opening.amount, first.statement.opening.on) == (323628, date(2011, 5, 22))
    assert (first.statement.closing.amount, first.statement.closing.on) == (87684, date(2011, 5, 23))
    assert first.statement.final
    assert [line.amount for line in first.lines] == [900, 1159, 1163, 1180, 1345, 1549, 10700, 14148]
    assert all(line.direction is Direction.DEBIT and line.our_reference is None for line in first.lines)
    assert all(line.currency == "EUR" for line in first.lines)
    # :61:1105210523D11,59N426NONREF: value date 21 May, booked 23 May.
    assert (first.lines[1].value_date, first.lines[1].booking_date) == (date(2011, 5, 21), date(2011, 5, 23))
    assert first.lines[0].narrative.startswith("GIRO   428428 KPN - DIGITENNE")
    assert first.lines[0].narrative.endswith("INCL. 1,44 BTW")
    assert first.lines[0].raw.startswith(":61:1105240524D9,N192NONREF\n:86:GIRO")
    # 3,236.28 - 321.44 = 2,914.84, and the file says 876.84: a break of 2,038.00.
    assert (first.totals.lines, first.totals.credits, first.totals.debits) == (8, 0, 32144)
    assert first.totals.continuous is False
    assert first.totals.gap == -203800

    assert second.statement.statement_id == "19322/1"
    assert not second.statement.final  # :62M:, an intermediate closing balance
    assert second.statement.opening is not None
    assert second.statement.closing is not None
    assert (second.statement.opening.amount, second.statement.closing.amount) == (287684, 184975)
    assert [(line.amount, line.booking_date) for line in second.lines] == [
        (949, date(2011, 5, 24)),
        (1500, date(2011, 5, 24)),
    ]
    assert [line.sequence for line in second.lines] == [9, 10]
    assert second.totals.continuous is False
    assert second.totals.follows_previous is False  # opens at 2,876.84 after closing at 876.84


def test_the_genkgo_camt053_v08_file_is_one_credit_of_8_85_eur(samples: Path) -> None:
    path = samples / "camt053.v8.genkgo.xml"
    assert detect_format(path) is StatementFormat.CAMT
    (parsed,) = gather(read_statements(path))
    statement = parsed.statement
    assert statement.kind == "camt.053.001.08"
    assert statement.statement_id == "253EURNL26VAYB8060476890"
    assert statement.account == "NL26VAYB8060476890"
    assert statement.currency == "EUR"
    assert statement.created == date(2015, 3, 10)
    assert (statement.from_date, statement.to_date) == (date(2007, 10, 18), date(2007, 10, 18))
    assert statement.opening is not None
    assert statement.closing is not None
    assert (statement.opening.amount, statement.opening.on) == (1815, date(2014, 12, 30))
    assert statement.closing.amount == -2700  # CLBD 27.00 DBIT
    # The fixture's CLBD is in SEK: kept, and said.
    assert [message.en for message in statement.anomalies] == ["Balance CLBD is in SEK; the statement is in EUR"]

    (line,) = parsed.lines
    assert (line.amount, line.direction, line.currency) == (885, Direction.CREDIT, "EUR")
    assert line.booking_date == date(2014, 12, 31)  # BookgDt/DtTm 2014-12-31T13:15:00+01:00
    assert line.value_date == date(2015, 1, 2)
    assert line.bank_reference == "AAAASESS-FP-CN_98765/01"
    assert line.end_to_end_id == "MUELL/FINP/RA12345"
    assert line.other_references == ("4654654654654654",)
    assert (line.counterparty, line.counterparty_account) == ("NAME NAME", "NL56AGDH9619008421")
    assert not line.reversal
    assert line.raw.startswith("<Ntry")
    assert line.raw.endswith("</Ntry>")

    assert (parsed.totals.credits, parsed.totals.debits) == (885, 0)
    assert parsed.totals.continuous is False
    assert parsed.totals.gap == -2700 - (1815 + 885)


def test_the_file_hash_is_the_sha256_of_its_bytes(samples: Path) -> None:
    for path in sorted(samples.iterdir()):
        assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
        with path.open("rb") as stream:
            assert file_sha256(stream, chunk=7) == file_sha256(path)
