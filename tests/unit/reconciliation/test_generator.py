"""The camt.053 generator writes what the camt parser reads back, entry for entry, whatever the entries."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from reconciliation.generator import BankEntry, camt053, closing_of, entry_of
from reconciliation.matcher import OurItem, match
from reconciliation.model import Direction, gather
from reconciliation.parsers import read_statements

DAY = date(2026, 11, 23)

ENTRIES = st.lists(
    st.builds(
        BankEntry,
        amount=st.integers(min_value=1, max_value=10**12),
        direction=st.sampled_from(list(Direction)),
        booked=st.just(DAY),
        bank_reference=st.from_regex(r"FT[0-9]{6,12}", fullmatch=True),
        narrative=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=140),
    ),
    max_size=30,
)


def _write(tmp: Path, entries: list[BankEntry], opening: int = 5_000_000) -> Path:
    path = tmp / "statement.xml"
    chunks = camt053(
        account="970415:1140000123", day=DAY, opening=opening, closing=closing_of(opening, entries), entries=entries
    )
    path.write_bytes(b"".join(chunks))
    return path


@given(entries=ENTRIES)
def test_what_is_written_is_read_back(entries: list[BankEntry]) -> None:
    # Hypothesis calls the test many times: a folder of each call's own (a function-scoped fixture would be shared).
    with tempfile.TemporaryDirectory() as folder:
        [parsed] = gather(read_statements(_write(Path(folder), entries)))
    assert parsed.statement.account == "970415:1140000123"
    assert parsed.statement.to_date == DAY
    assert parsed.totals.continuous is True
    assert [(line.amount, line.direction, line.bank_reference) for line in parsed.lines] == [
        (entry.amount, entry.direction, entry.bank_reference) for entry in entries
    ]


def test_our_items_written_as_the_bank_books_them_all_match(tmp_path: Path) -> None:
    items = [
        OurItem("1", "DSTEST0001Y", 100_000, Direction.CREDIT, DAY),
        OurItem("2", "DSTEST0002X", 100_000, Direction.CREDIT, DAY),
        OurItem("3", "DSTEST0003W", 40_000, Direction.DEBIT, DAY),
    ]
    entries = [entry_of(item, f"FT{n:08d}") for n, item in enumerate(items, start=1)]
    [parsed] = gather(read_statements(_write(tmp_path, entries)))
    result = match(parsed.lines, items)
    assert len(result.matches) == 3
    assert not result.unmatched_ours
    assert not result.unmatched_theirs
