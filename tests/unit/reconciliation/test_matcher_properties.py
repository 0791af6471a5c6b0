"""Properties of the matching engine: order does not matter, mangling does not hide our references,
and no look-alike is ever taken for one of them."""

from __future__ import annotations

from datetime import timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from civicpay.reference_codes import ALPHABET, ReferenceScheme
from reconciliation.matcher import LineRef, MatchRules, OurItem, Rule, match
from reconciliation.model import Direction, StatementLine
from tests.unit.reconciliation.files import DAY

SCHEMES = [
    ReferenceScheme("NAP", 6),
    ReferenceScheme("KBNN", 11),
    ReferenceScheme("QTDV", 11),
    ReferenceScheme("RUT", 12),
]
TIER_ONE = {Rule.REFERENCE, Rule.END_TO_END, Rule.GROUP, Rule.REFERENCE_PREFIX}
NOISE = st.text(alphabet="abcdeđĐạộ XYZ.,/-0123456789", max_size=30)


@st.composite
def references(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(SCHEMES))
    return scheme.encode(draw(st.integers(1, scheme.max_number)))


@st.composite
def mangled(draw: st.DrawFn, reference: str) -> str:
    """The reference as some bank might print it inside its narrative."""
    text = reference
    if draw(st.booleans()):
        text = text.lower()
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + draw(st.sampled_from([" ", "-", ".", "  ", "\n"])) + text[at:]
    before = draw(NOISE)
    after = draw(st.sampled_from(["", "CT", " CT tu", ".", "chuyen tien"]))
    return f"{before} {text}{after}" if draw(st.booleans()) else f"{before}{text}{after}"


def _line(sequence: int, amount: int, narrative: str, *, our_reference: str | None = None) -> StatementLine:
    return StatementLine(
        "S", sequence, DAY, DAY, amount, Direction.CREDIT, "VND", narrative=narrative, our_reference=our_reference
    )


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_a_mangled_reference_still_matches_by_tier_one(data: st.DataObject) -> None:
    reference = data.draw(references())
    narrative = data.draw(mangled(reference))
    in_customer_field = data.draw(st.booleans())
    line = _line(
        1, 10_000, "" if in_customer_field else narrative, our_reference=reference if in_customer_field else None
    )
    # The item is dated far away so that only tier 1 can match it.
    ours = OurItem("t", reference, 10_000, Direction.CREDIT, DAY - timedelta(days=30))
    (found,) = match([line], [ours]).matches
    assert found.rule is Rule.REFERENCE


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_a_one_character_change_never_matches_by_tier_one(data: st.DataObject) -> None:
    reference = data.draw(references())
    at = data.draw(st.integers(0, len(reference) - 1))
    other = data.draw(st.sampled_from(ALPHABET).filter(lambda ch: ch != reference[at]))
    changed = reference[:at] + other + reference[at + 1 :]
    narrative = data.draw(mangled(changed))
    ours = OurItem("t", reference, 10_000, Direction.CREDIT, DAY)
    result = match([_line(1, 10_000, narrative)], [ours])
    assert not any(found.rule in TIER_ONE for found in result.matches)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[StatementLine], list[OurItem]]:
    """Items of ours and bank lines for them, with the usual faults: missing, extra, off, twice, ambiguous."""
    count = draw(st.integers(0, 12))
    codes = draw(st.lists(references(), min_size=count, max_size=count, unique=True))
    amounts = st.sampled_from([10_000, 20_000, 50_000, 100_000])
    items: list[OurItem] = []
    lines: list[StatementLine] = []
    for number, code in enumerate(codes):
        amount = draw(amounts)
        with_reference = draw(st.booleans())
        items.append(
            OurItem(f"i{number:02d}", code if with_reference else None, amount, Direction.CREDIT, DAY, "topup")
        )
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
            paid = amount if draw(st.integers(0, 4)) else amount - 1
            text = draw(mangled(code)) if with_reference and draw(st.booleans()) else draw(NOISE)
            lines.append(_line(len(lines) + 1, paid, text))
    for _ in range(draw(st.integers(0, 3))):
        lines.append(_line(len(lines) + 1, draw(amounts), draw(NOISE)))
    if draw(st.booleans()):  # a settlement: several items booked as one line under the batch's reference
        batch = ReferenceScheme("QTDV", 11).encode(draw(st.integers(1, 10_000)))
        parts = draw(st.lists(amounts, min_size=2, max_size=4))
        items += [
            OurItem(f"g{n}", None, amount, Direction.CREDIT, DAY, "settlement", group=batch)
            for n, amount in enumerate(parts)
        ]
        lines.append(_line(len(lines) + 1, sum(parts) - draw(st.sampled_from([0, 0, 1])), draw(mangled(batch))))
    if draw(st.booleans()) and lines:  # the bank takes one line back
        taken = draw(st.sampled_from(lines))
        lines.append(
            StatementLine(
                "S",
                len(lines) + 1,
                DAY,
                DAY,
                taken.amount,
                Direction.DEBIT,
                "VND",
                narrative="HOAN " + taken.narrative,
                reversal=True,
            )
        )
    return lines, items


@given(scenarios(), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_the_result_does_not_depend_on_the_order_of_either_side(
    scenario: tuple[list[StatementLine], list[OurItem]], random: Random
) -> None:
    lines, items = scenario
    rules = MatchRules(date_window_days=1)
    first = match(lines, items, rules)
    shuffled_lines, shuffled_items = list(lines), list(items)
    random.shuffle(shuffled_lines)
    random.shuffle(shuffled_items)
    assert match(shuffled_lines, shuffled_items, rules) == first
    # Every line and every item is accounted for exactly once.
    seen_lines = [ref for m in first.matches for ref in m.lines]
    seen_lines += [ref for m in first.amount_mismatches for ref in m.lines]
    seen_lines += [d.line for d in first.duplicates] + [r.line for r in first.reversals] + list(first.unmatched_theirs)
    assert sorted(seen_lines) == sorted(LineRef(line.statement_id, line.sequence) for line in lines)
    seen_items = [i for m in first.matches for i in m.items] + [i for m in first.amount_mismatches for i in m.items]
    assert sorted(seen_items + list(first.unmatched_ours)) == sorted(item.id for item in items)
