"""The matching engine, tier by tier and shape by shape, on lines read from generated statement files."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from civicpay.reference_codes import ReferenceScheme
from reconciliation.matcher import (
    AmountMismatch,
    LineRef,
    MatchRules,
    OurItem,
    Rule,
    Shape,
    TextRule,
    match,
)
from reconciliation.model import Direction, StatementLine, lines_of
from reconciliation.parsers import read_camt, read_mt940
from tests.unit.reconciliation.files import DAY, Entry, camt, mt940_statement

TOPUP = ReferenceScheme("NAP", 6)  # as wallet.topup_code
REMITTANCE = ReferenceScheme("KBNN", 11)  # as qr.treasury: 16 characters
SETTLEMENT = ReferenceScheme("QTDV", 11)  # as wallet.withdrawals


def line(
    sequence: int,
    amount: int,
    narrative: str = "",
    *,
    direction: Direction = Direction.CREDIT,
    booked: date = DAY,
    bank_reference: str | None = None,
    our_reference: str | None = None,
    end_to_end_id: str | None = None,
    reversal: bool = False,
) -> StatementLine:
    return StatementLine(
        statement_id="S",
        sequence=sequence,
        booking_date=booked,
        value_date=booked,
        amount=amount,
        direction=direction,
        currency="VND",
        bank_reference=bank_reference,
        our_reference=our_reference,
        end_to_end_id=end_to_end_id,
        narrative=narrative,
        reversal=reversal,
    )


def item(
    ident: str,
    amount: int,
    reference: str | None = None,
    *,
    direction: Direction = Direction.CREDIT,
    on: date = DAY,
    kind: str = "topup",
    bank_reference: str | None = None,
    end_to_end_id: str | None = None,
    group: str | None = None,
) -> OurItem:
    return OurItem(ident, reference, amount, direction, on, kind, end_to_end_id, bank_reference, group)


CODE = TOPUP.encode(1)  # NAP00001YA
LONG = REMITTANCE.encode(123_456_789)


@pytest.mark.parametrize(
    ("how", "narrative"),
    [
        ("as sent", f"MBVCB.3278907687.NAP TIEN VI {CODE}.CT tu 0123456789"),
        ("diacritics kept around it", f"Nạp tiền ví {CODE} chuyển từ Đà Nẵng"),
        ("diacritics folded", f"Nap tien vi {CODE} chuyen tu Da Nang"),
        ("lower case", f"nap tien {CODE.lower()} ct"),
        ("a space inside", f"NAP TIEN {CODE[:5]} {CODE[5:]} CT"),
        ("a dash inside", f"NAP TIEN {CODE[:3]}-{CODE[3:]}"),
        ("glued to the next word", f"NAPTIEN{CODE}CHUYENTIEN"),
        ("wrapped at 65 columns", "X" * 60 + f" {CODE[:4]} {CODE[4:]}"),
    ],
)
def test_tier_one_finds_our_reference_however_the_bank_printed_it(how: str, narrative: str) -> None:
    result = match([line(1, 100_000, narrative)], [item("t1", 100_000, CODE)])
    (found,) = result.matches
    assert (found.items, found.rule, found.shape) == (("t1",), Rule.REFERENCE, Shape.ONE_TO_ONE), how
    assert result.unmatched_ours == ()
    assert result.unmatched_theirs == ()


def test_tier_one_finds_the_reference_only_in_the_mt940_customer_reference() -> None:
    text = mt940_statement([Entry(250_000, narrative="CHUYEN TIEN", our_reference=CODE)], opening=0)
    lines = list(lines_of(read_mt940(io.StringIO(text))))
    assert CODE not in lines[0].narrative
    (found,) = match(lines, [item("t1", 250_000, CODE)]).matches
    assert found.rule is Rule.REFERENCE


def test_tier_one_finds_the_end_to_end_id_we_sent_in_a_camt_entry() -> None:
    e2e = SETTLEMENT.encode(77)
    data = camt([Entry(5_000_000, Direction.DEBIT, narrative="QUYET TOAN", end_to_end_id=e2e)])
    lines = list(lines_of(read_camt(io.BytesIO(data))))
    payout = item("p1", 5_000_000, "PAYOUT-1", direction=Direction.DEBIT, end_to_end_id=e2e, kind="settlement")
    (found,) = match(lines, [payout]).matches
    assert (found.items, found.rule) == (("p1",), Rule.END_TO_END)


def test_a_one_character_look_alike_is_not_taken_for_our_reference() -> None:
    wrong = CODE[:-1] + ("A" if CODE[-1] != "A" else "B")
    assert TOPUP.decode(wrong) is None  # the check character refuses it
    result = match([line(1, 100_000, f"NAP TIEN {wrong}")], [item("t1", 100_000, CODE, on=DAY - timedelta(days=5))])
    assert result.matches == ()
    assert result.unmatched_ours == ("t1",)
    assert result.unmatched_theirs == (LineRef("S", 1),)


def _cut(reference: str, visible: int, limit: int = 140) -> str:
    return ("CT TU 0123456789 NOI DUNG " * 10)[: limit - visible] + reference[:visible]


def test_a_reference_cut_at_140_characters_matches_by_its_visible_start_when_only_one_of_ours_begins_so() -> None:
    narrative = _cut(LONG, 12)
    assert len(narrative) == 140
    assert LONG not in narrative
    (found,) = match([line(1, 700_000, narrative)], [item("r1", 700_000, LONG, kind="sweep")]).matches
    assert found.rule is Rule.REFERENCE_PREFIX


def test_a_cut_reference_that_two_of_ours_begin_is_left_unmatched() -> None:
    twin = next(REMITTANCE.encode(n) for n in range(123_456_790, 123_500_000) if REMITTANCE.encode(n)[:13] == LONG[:13])
    items = [item("r1", 700_000, LONG, kind="sweep"), item("r2", 700_000, twin, kind="sweep")]
    result = match([line(1, 700_000, _cut(LONG, 12))], items, MatchRules(amount_date=False))
    assert result.matches == ()


def test_a_cut_reference_needs_the_same_amount_and_enough_characters() -> None:
    assert (
        match([line(1, 700_001, _cut(LONG, 12))], [item("r1", 700_000, LONG)], MatchRules(amount_date=False)).matches
        == ()
    )
    assert (
        match([line(1, 700_000, _cut(LONG, 9))], [item("r1", 700_000, LONG)], MatchRules(amount_date=False)).matches
        == ()
    )
    short = _cut(LONG, 12)[10:]  # not cut: the narrative is short, the reference just ends there
    assert match([line(1, 700_000, short)], [item("r1", 700_000, LONG)], MatchRules(amount_date=False)).matches == ()


def test_tier_two_matches_the_bank_reference_we_already_hold() -> None:
    result = match(
        [line(1, 80_000, "CK den", bank_reference="FT26335ABC")],
        [item("t1", 80_000, None, bank_reference="FT26335ABC", on=DAY - timedelta(days=9))],
    )
    (found,) = result.matches
    assert found.rule is Rule.BANK_REFERENCE


def test_tier_three_matches_amount_and_date_only_when_one_item_fits() -> None:
    lines = [line(1, 45_000, "thanh toan"), line(2, 99_000, "thanh toan")]
    items = [item("a", 45_000, on=DAY + timedelta(days=1)), item("b", 99_000), item("c", 99_000)]
    result = match(lines, items)
    assert [(m.lines, m.items, m.rule) for m in result.matches] == [((LineRef("S", 1),), ("a",), Rule.AMOUNT_DATE)]
    assert result.unmatched_theirs == (LineRef("S", 2),)  # two items of 99,000: not guessed
    assert result.unmatched_ours == ("b", "c")


def test_tier_three_respects_the_date_window() -> None:
    late = [item("a", 45_000, on=DAY + timedelta(days=3))]
    assert match([line(1, 45_000)], late).matches == ()
    assert match([line(1, 45_000)], late, MatchRules(date_window_days=3)).matches != ()


def test_tier_three_text_patterns_choose_between_kinds_and_are_recorded() -> None:
    rules = MatchRules(text_rules=(TextRule("electricity", r"\bEVN\b|TIEN DIEN", kind="bill"),))
    items = [item("fee", 120_000, kind="fee"), item("bill", 120_000, kind="bill")]
    (found,) = match([line(1, 120_000, "Thanh toán tiền điện EVN tháng 11")], items, rules).matches
    assert (found.items, found.rule, found.detail) == (("bill",), Rule.AMOUNT_DATE_TEXT, "electricity")
    strict = MatchRules(require_text=True, text_rules=rules.text_rules)
    assert match([line(1, 120_000, "chuyen khoan")], [items[0]], strict).matches == ()


def test_one_bank_line_for_a_settlement_of_many_items() -> None:
    batch = SETTLEMENT.encode(42)
    items = [
        item(f"i{n}", amount, TOPUP.encode(100 + n), direction=Direction.DEBIT, group=batch, kind="settlement")
        for n, amount in enumerate([100_000, 250_000, 650_000])
    ]
    (found,) = match([line(1, 1_000_000, f"QUYET TOAN {batch}", direction=Direction.DEBIT)], items).matches
    assert (found.shape, found.rule, found.items) == (Shape.ONE_TO_MANY, Rule.GROUP, ("i0", "i1", "i2"))

    short = match([line(1, 999_000, f"QUYET TOAN {batch}", direction=Direction.DEBIT)], items)
    assert short.matches == ()
    assert short.amount_mismatches == (
        AmountMismatch((LineRef("S", 1),), ("i0", "i1", "i2"), Rule.GROUP, 999_000, 1_000_000),
    )


def test_one_line_naming_several_of_our_references_is_their_sum() -> None:
    items = [item("a", 30_000, TOPUP.encode(5)), item("b", 20_000, TOPUP.encode(6))]
    (found,) = match([line(1, 50_000, f"{TOPUP.encode(5)} {TOPUP.encode(6)}")], items).matches
    assert (found.shape, found.items) == (Shape.ONE_TO_MANY, ("a", "b"))


def test_a_bill_paid_in_two_transfers_is_many_to_one() -> None:
    lines = [line(1, 300_000, f"TT {CODE} lan 1"), line(2, 200_000, f"TT {CODE} lan 2")]
    (found,) = match(lines, [item("bill", 500_000, CODE)]).matches
    assert (found.shape, found.lines, found.amount) == (Shape.MANY_TO_ONE, (LineRef("S", 1), LineRef("S", 2)), 500_000)
    assert match(lines, [item("bill", 500_000, CODE)], MatchRules(many_to_one=False)).amount_mismatches != ()


def test_a_code_paid_twice_is_one_match_and_one_duplicate() -> None:
    lines = [line(2, 100_000, f"NAP {CODE}"), line(1, 100_000, f"NAP {CODE}")]
    result = match(lines, [item("t1", 100_000, CODE)])
    (found,) = result.matches
    assert found.lines == (LineRef("S", 1),)
    (duplicate,) = result.duplicates
    assert (duplicate.line, duplicate.first, duplicate.items) == (LineRef("S", 2), LineRef("S", 1), ("t1",))
    assert result.unmatched_theirs == ()


def test_an_amount_off_under_our_reference_is_a_mismatch_not_unmatched() -> None:
    result = match([line(1, 99_000, f"NAP {CODE}")], [item("t1", 100_000, CODE)])
    assert result.amount_mismatches == (AmountMismatch((LineRef("S", 1),), ("t1",), Rule.REFERENCE, 99_000, 100_000),)
    assert result.unmatched_ours == ()
    assert result.unmatched_theirs == ()


def test_a_reversal_is_reported_with_the_line_it_reverses() -> None:
    lines = [
        line(1, 100_000, f"NAP {CODE}", bank_reference="FT1"),
        line(2, 100_000, f"HOAN {CODE}", direction=Direction.DEBIT, bank_reference="FT1", reversal=True),
        line(3, 5_000, "phi", direction=Direction.DEBIT, reversal=True),
    ]
    result = match(lines, [item("t1", 100_000, CODE)])
    assert [m.items for m in result.matches] == [("t1",)]
    assert [(r.line, r.original) for r in result.reversals] == [
        (LineRef("S", 2), LineRef("S", 1)),
        (LineRef("S", 3), None),
    ]
    assert result.unmatched_theirs == ()


def test_a_reversal_finds_its_line_by_our_reference_whatever_the_text_around_it() -> None:
    # The bank's own references differ, and so do the texts around our code: only the code ties them.
    other = TOPUP.encode(2)
    lines = [
        line(1, 100_000, f"CT DEN {CODE} NGUYEN THI HUONG", bank_reference="FT1"),
        line(2, 100_000, f"CT DEN {other} TRAN VAN MINH", bank_reference="FT2"),
        line(3, 100_000, f"HOAN TRA {CODE}", direction=Direction.DEBIT, bank_reference="FT9", reversal=True),
    ]
    result = match(lines, [item("t1", 100_000, CODE), item("t2", 100_000, other)])
    assert [(r.line, r.original) for r in result.reversals] == [(LineRef("S", 3), LineRef("S", 1))]


def test_a_reversal_our_side_booked_as_its_own_item_is_matched() -> None:
    back = ReferenceScheme("HOAN", 11).encode(9)
    lines = [line(1, 100_000, f"HOAN TRA {back}", direction=Direction.DEBIT, reversal=True)]
    result = match(lines, [item("ret", 100_000, back, direction=Direction.DEBIT, kind="suspense_return")])
    assert [m.items for m in result.matches] == [("ret",)]
    assert result.reversals == ()


def test_what_is_left_on_each_side_is_reported() -> None:
    result = match([line(1, 1, "?"), line(2, 2, "?")], [item("x", 3), item("y", 4)])
    assert result.matches == ()
    assert result.unmatched_theirs == (LineRef("S", 1), LineRef("S", 2))
    assert result.unmatched_ours == ("x", "y")


def test_the_same_direction_only() -> None:
    result = match([line(1, 100_000, f"NAP {CODE}", direction=Direction.DEBIT)], [item("t1", 100_000, CODE)])
    assert result.matches == ()


def test_one_reference_on_two_items_and_two_lines_pairs_them_one_to_one() -> None:
    lines = [line(1, 100_000, f"NAP {CODE}"), line(2, 100_000, f"NAP {CODE} lan 2"), line(3, 100_000, f"{CODE}")]
    result = match(lines, [item("t1", 100_000, CODE), item("t2", 100_000, CODE)])
    assert [(m.lines, m.items) for m in result.matches] == [
        ((LineRef("S", 1),), ("t1",)),
        ((LineRef("S", 2),), ("t2",)),
    ]
    assert [d.line for d in result.duplicates] == [LineRef("S", 3)]


def test_a_valid_reference_of_ours_without_an_item_is_named_and_a_look_alike_is_not() -> None:
    stranger = TOPUP.encode(777)
    wrong = stranger[:-1] + ("A" if stranger[-1] != "A" else "B")
    lines = [line(1, 10_000, f"nap tien {stranger[:4]} {stranger[4:]}"), line(2, 10_000, f"NAP TIEN {wrong}")]
    rules = MatchRules(schemes=(TOPUP, REMITTANCE), amount_date=False)
    result = match(lines, [item("t1", 100_000, CODE)], rules)
    assert result.unmatched_theirs == (LineRef("S", 1), LineRef("S", 2))
    assert result.foreign_references == ((LineRef("S", 1), (stranger,)),)
    assert match(lines, [], MatchRules()).foreign_references == ()
