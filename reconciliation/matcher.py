"""The matching engine (đối soát): bank statement lines against our side's items, in tiers, deterministically.

Pure: values in, values out, no clock, no database. The same lines and items give the same result
whatever order they are handed in: both sides are sorted first by what names them (a line by its
statement and position in the file, an item by its id), and every later step walks those orders.

Tiers, each only over what the tiers before it left open:

1. **Our reference** (or an ``EndToEndId`` we sent, or a batch's reference) found in the line: in
   the MT940 :61: customer reference, the camt ``EndToEndId``/``InstrId``/creditor reference, or
   anywhere in the narrative, however the bank printed it. Every text is folded (diacritics off,
   đ → d), upper-cased and stripped of everything but letters and digits (``reconciliation.text.compact``)
   before the search, so ``nap-0000 1ya``, ``NAP00001YA.CT`` and ``Nạp NAP00001YA`` all hold
   ``NAP00001YA``. A key is only ever found whole and exact, so a look-alike (one character changed)
   is never taken for it; our references carry a check character (``civicpay.reference_codes``),
   so a single changed character cannot turn one of ours into another of ours either.

   *Cut at 140 characters* (camt ``Ustrd``, bank apps): when no whole key is in the line, the
   narrative is at least ``narrative_cut`` long, and it ends with the first ``min_visible_prefix`` or
   more characters of a reference, the line matches by that visible prefix only when exactly one of
   all our references (matched or not) starts with it, and that item is open, in the same direction
   and for the same amount. The check character is not visible then, so the rule is recorded as
   ``reference_prefix``, weaker than ``reference``, for the finance officer to see.

2. **The bank's reference**: the line's ``bank_reference`` equals the one we already hold for the
   item (from the bank's notification or callback).
3. **Amount + date window + text pattern**: same direction, same amount, booked within
   ``date_window_days`` of our date, and, when the account's rules name text patterns, one of them
   found in the narrative (optionally only for items of one kind). Taken only when exactly one open
   item fits: an ambiguous line stays unmatched rather than guessed.

Shapes: one-to-one; one-to-many (one bank line for several of our items: a settlement or batch
whose reference, the items' ``group``, is in the line, or a line naming several of our references,
when the items sum to the line); many-to-one (several lines carrying one item's reference that sum
to it: a bill paid in two transfers). Tier 1 finds all shapes; tiers 2 and 3 match one-to-one only.

What is not a match is still reported: lines carrying an item's reference whose amounts do not add
up (amount mismatches), a further line for an item already matched (duplicates: a dynamic QR paid
twice), reversal lines (camt ``RvslInd``, MT940 RC/RD) with the line they reverse when it is in the
input, and whatever is left on either side (unmatched ours, unmatched theirs). Given our reference
schemes (``MatchRules.schemes``), an unmatched line that carries a well-formed reference of ours,
check character and all, that no item has is named too (``foreign_references``), found by the
schemes' own finder (``ReferenceScheme.find``); a look-alike fails its check character and is not.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from civicpay.reference_codes import ReferenceScheme
from reconciliation.model import Direction, StatementLine
from reconciliation.text import compact, fold

# Shorter keys are only matched as a whole field, never searched for inside free text, where six
# characters or fewer would be found by chance.
_MIN_SEARCHED = 6
_HEAD = 3


class Shape(StrEnum):
    ONE_TO_ONE = "one_to_one"
    ONE_TO_MANY = "one_to_many"  # one bank line, several of our items
    MANY_TO_ONE = "many_to_one"  # several bank lines, one of our items


class Rule(StrEnum):
    """Which rule made a match (or found the pair that did not add up), stored with it."""

    REFERENCE = "reference"  # tier 1: our reference, whole
    END_TO_END = "end_to_end"  # tier 1: the EndToEndId we sent
    GROUP = "group"  # tier 1: a batch's reference, its items summed
    REFERENCE_PREFIX = "reference_prefix"  # tier 1: the visible start of a reference cut off at the end
    BANK_REFERENCE = "bank_reference"  # tier 2
    AMOUNT_DATE = "amount_date"  # tier 3 without a text pattern
    AMOUNT_DATE_TEXT = "amount_date_text"  # tier 3 with one; ``Match.detail`` names the pattern


@dataclass(frozen=True, slots=True)
class OurItem:
    """One movement on our side that the bank should show: a top-up, a payout, a sweep, a settlement item.

    ``id`` is text so that integer ids and UUIDs both fit, and sorts as text. ``direction`` is seen
    from our account at the bank, as the statement's. ``group`` is the reference of the batch the bank
    books this item in (a settlement, a payout file), when it books several as one line.
    """

    id: str
    reference: str | None
    amount: int
    direction: Direction
    on: date
    kind: str = ""
    end_to_end_id: str | None = None
    bank_reference: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class TextRule:
    """A tier-3 pattern: a regular expression over the folded, upper-case narrative, maybe for one kind of item."""

    name: str
    pattern: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class MatchRules:
    """An account's matching rules; the defaults suit a VND collection account."""

    date_window_days: int = 2
    bank_reference: bool = True
    amount_date: bool = True
    # When True, tier 3 needs one of ``text_rules`` to hold: for accounts busy with equal amounts.
    require_text: bool = False
    text_rules: tuple[TextRule, ...] = ()
    narrative_cut: int = 140
    # 0 turns matching by a cut reference's visible prefix off.
    min_visible_prefix: int = 10
    many_to_one: bool = True
    # Our kinds of reference (``wallet.topup_code.TOPUP``, ``qr.treasury.REMITTANCE``…), handed in by
    # the caller: a valid one of these in a line left unmatched is reported, so the officer sees a
    # top-up for a wallet that has no item today rather than an anonymous credit.
    schemes: tuple[ReferenceScheme, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class LineRef:
    """A statement line named by its statement and its position in the file."""

    statement_id: str
    sequence: int


@dataclass(frozen=True, slots=True)
class Match:
    lines: tuple[LineRef, ...]
    items: tuple[str, ...]
    shape: Shape
    rule: Rule
    amount: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AmountMismatch:
    """Lines that name our items but do not add up to them: ``theirs`` on the statement, ``ours`` in the ledger."""

    lines: tuple[LineRef, ...]
    items: tuple[str, ...]
    rule: Rule
    theirs: int
    ours: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A further line for items already matched by ``first``: paid twice, or booked twice by the bank."""

    line: LineRef
    items: tuple[str, ...]
    first: LineRef
    amount: int


@dataclass(frozen=True, slots=True)
class Reversal:
    """A reversal line; ``original`` is the line it reverses when that is among the lines given."""

    line: LineRef
    original: LineRef | None
    amount: int


@dataclass(frozen=True, slots=True)
class MatchResult:
    matches: tuple[Match, ...]
    unmatched_ours: tuple[str, ...]
    unmatched_theirs: tuple[LineRef, ...]
    amount_mismatches: tuple[AmountMismatch, ...]
    duplicates: tuple[Duplicate, ...]
    reversals: tuple[Reversal, ...]
    # Unmatched lines that carry a well-formed reference of ours (its check character holds) that no
    # item given has: each line with the references, in order of appearance.
    foreign_references: tuple[tuple[LineRef, tuple[str, ...]], ...] = ()

    @property
    def matched_lines(self) -> frozenset[LineRef]:
        return frozenset(ref for match in self.matches for ref in match.lines)


def ref(line: StatementLine) -> LineRef:
    return LineRef(line.statement_id, line.sequence)


@dataclass
class _Keys:
    """Our keys (references, EndToEndIds, batch references) in compact form, and how to find them in text."""

    targets: dict[str, tuple[Rule, tuple[OurItem, ...]]] = field(default_factory=dict)
    by_head: dict[str, set[int]] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)  # sorted, for the cut-reference prefix search
    search: re.Pattern[str] | None = None
    # Each head's key lengths, longest first, and the longest reference: worked out once, not per line.
    lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)
    longest: int = 0

    @classmethod
    def build(cls, items: Sequence[OurItem]) -> _Keys:
        keys = cls()
        # One dict per rule: a tuple key holding a Rule would hash the enum in Python, a million times.
        grouped: dict[Rule, dict[str, list[OurItem]]] = {
            rule: {} for rule in (Rule.REFERENCE, Rule.END_TO_END, Rule.GROUP)
        }
        by_reference, by_end_to_end, by_group = grouped[Rule.REFERENCE], grouped[Rule.END_TO_END], grouped[Rule.GROUP]
        references: set[str] = set()
        for item in items:
            # Each text compacted once: a million items are three million texts otherwise.
            if item.reference:
                packed = compact(item.reference)
                references.add(packed)
                if packed:
                    by_reference.setdefault(packed, []).append(item)
            if item.end_to_end_id and (packed := compact(item.end_to_end_id)):
                by_end_to_end.setdefault(packed, []).append(item)
            if item.group and (packed := compact(item.group)):
                by_group.setdefault(packed, []).append(item)
        # A key that is both a reference and a group (should not happen) keeps the rule first by name, as when the
        # pairs (key, rule) were sorted and the first of each key kept.
        for rule in sorted(grouped):
            for key, members in grouped[rule].items():
                keys.targets.setdefault(key, (rule, tuple(members)))
        for key in keys.targets:
            if len(key) >= _MIN_SEARCHED:
                keys.by_head.setdefault(key[:_HEAD], set()).add(len(key))
        if keys.by_head:
            heads = "|".join(re.escape(head) for head in sorted(keys.by_head))
            keys.search = re.compile(f"(?=({heads}))")
        keys.lengths = {head: tuple(sorted(found, reverse=True)) for head, found in keys.by_head.items()}
        keys.references = sorted(references)
        keys.longest = max((len(key) for key in keys.references), default=0)
        return keys

    def find(self, texts: Iterable[str]) -> list[str]:
        """Every key in these texts, each once, in order of the fields and of appearance."""
        found: list[str] = []
        for text in texts:
            packed = compact(text)
            if not packed:
                continue
            if packed in self.targets and packed not in found:
                found.append(packed)
            if self.search is None:
                continue
            for hit in self.search.finditer(packed):
                start = hit.start()
                for length in self.lengths[hit.group(1)]:
                    candidate = packed[start : start + length]
                    if len(candidate) == length and candidate in self.targets and candidate not in found:
                        found.append(candidate)
        return found

    def by_prefix(self, narrative: str, rules: MatchRules) -> str | None:
        """The one reference of ours that the end of a cut narrative begins, if exactly one does."""
        if rules.min_visible_prefix <= 0 or len(narrative) < rules.narrative_cut:
            return None
        packed = compact(narrative)
        for visible in range(self.longest - 1, rules.min_visible_prefix - 1, -1):
            tail = packed[-visible:]
            at = bisect.bisect_left(self.references, tail)
            starts = [key for key in self.references[at : at + 2] if key.startswith(tail)]
            if len(starts) == 1 and len(starts[0]) > visible:
                return starts[0]
            if len(starts) > 1:
                return None  # ambiguous: two of ours begin so; a longer tail was already tried
        return None


def _texts(line: StatementLine) -> list[str]:
    fields = [line.our_reference, line.end_to_end_id, *line.other_references, line.narrative]
    return [text for text in fields if text]


class _Run:
    """One matching pass: open lines and items, and what has been found so far."""

    def __init__(self, lines: Sequence[StatementLine], items: Sequence[OurItem], rules: MatchRules) -> None:
        self.rules = rules
        # Sorted by plain tuples (LineRef's own order, compared in C), each line's LineRef made once and kept by
        # the line's identity: a million lines would otherwise be millions of LineRefs made and compared.
        self.lines = sorted(lines, key=lambda line: (line.statement_id, line.sequence))
        self.items = sorted(items, key=lambda item: item.id)
        self.keys = _Keys.build(self.items)
        self.refs: dict[int, LineRef] = {}
        # Open lines by the line's identity, in the lines' order: an int hashes in C, a LineRef in Python.
        self.open_lines: dict[int, StatementLine] = {}
        for line in self.lines:
            key = id(line)  # one int object for both dicts
            self.refs[key] = ref(line)
            self.open_lines[key] = line
        self.by_amount: dict[tuple[int, Direction], list[StatementLine]] | None = None  # for reversals, when needed
        self.open_items: dict[str, OurItem] = {item.id: item for item in self.items}
        self.matched_by: dict[str, LineRef] = {}
        self.matches: list[Match] = []
        self.mismatches: list[AmountMismatch] = []
        self.duplicates: list[Duplicate] = []
        self.reversals: list[Reversal] = []

    def take(
        self, lines: Sequence[StatementLine], items: Sequence[OurItem], shape: Shape, rule: Rule, detail: str = ""
    ) -> None:
        refs = tuple(self.refs[id(line)] for line in lines)
        for line in lines:
            del self.open_lines[id(line)]
        for item in items:
            del self.open_items[item.id]
            self.matched_by[item.id] = refs[0]
        amount = sum(line.amount for line in lines)
        self.matches.append(Match(refs, tuple(item.id for item in items), shape, rule, amount, detail))

    # Tier 1 -------------------------------------------------------------------------------------
    def tier_one(self) -> None:
        # Each target's lines: the line itself while it is the only one (most are: a list and a pair for each of a
        # million lines cost a hundred megabytes), and the rule of its first line, the one that settles it.
        claims: dict[tuple[str, ...], StatementLine | list[StatementLine]] = {}
        first_rule: dict[tuple[str, ...], Rule] = {}
        for line in self.lines:
            target = self._target(line)
            if target is not None:
                ids, rule = target
                held = claims.get(ids)
                if held is None:
                    claims[ids] = line
                    first_rule[ids] = rule
                elif isinstance(held, list):
                    held.append(line)
                else:
                    claims[ids] = [held, line]
        # Targets in the order of their first line, so that a contested item goes to the earlier line: the order
        # they were first claimed in, the lines being walked in their own order.
        for ids, held in claims.items():
            rule = first_rule[ids]
            self._settle(ids, [(line, rule) for line in (held if isinstance(held, list) else (held,))])

    def _target(self, line: StatementLine) -> tuple[tuple[str, ...], Rule] | None:
        """The items a line names by tier 1 (ids sorted) and the rule that found them, or None."""
        found = self.keys.find(_texts(line))
        prefix = False
        if not found:
            cut = self.keys.by_prefix(line.narrative, self.rules)
            if cut is None:
                return None
            found, prefix = [cut], True
        members: dict[str, OurItem] = {}
        rules: list[Rule] = []
        for key in found:
            key_rule, items = self.keys.targets[key]
            same_way = [item for item in items if item.direction is line.direction]
            if same_way:
                rules.append(key_rule)
            for item in same_way:
                members.setdefault(item.id, item)
        if not members:
            return None
        if prefix:
            (item,) = members.values()
            if item.amount != line.amount or item.id not in self.open_items:
                return None
            return (item.id,), Rule.REFERENCE_PREFIX
        # Several keys naming several items are a settlement listing its parts: summed like a group.
        rule = rules[0] if len(members) == 1 or len(rules) == 1 else Rule.GROUP
        return tuple(sorted(members)), rule

    def _settle(self, ids: tuple[str, ...], claimed: list[tuple[StatementLine, Rule]]) -> None:
        items = [self.open_items[item_id] for item_id in ids if item_id in self.open_items]
        lines = [line for line, _ in claimed]
        rule = claimed[0][1]
        if not items:
            # Every item named was matched by an earlier target: each line here is a further one.
            taken = [item_id for item_id in ids if item_id in self.matched_by]
            for line in lines:
                self.duplicates.append(Duplicate(ref(line), tuple(taken), self.matched_by[taken[0]], line.amount))
                del self.open_lines[id(line)]
            return
        if rule in (Rule.REFERENCE, Rule.END_TO_END) and len(items) > 1 and len(lines) > 1:
            # One reference on several items of ours (a code paid twice, both payments booked) and on
            # several lines: paired one to one by amount, in order, before anything is summed.
            lines, items = self._pair(lines, items, rule)
            if not lines:
                return
            if not items:
                self._settle(ids, [(line, rule) for line in lines])
                return
        ours = sum(item.amount for item in items)
        shape = Shape.ONE_TO_ONE if len(items) == 1 else Shape.ONE_TO_MANY
        exact = next((line for line in lines if line.amount == ours), None)
        if exact is not None:
            self.take([exact], items, shape, rule)
            for line in lines:
                if line is not exact:
                    self.duplicates.append(Duplicate(ref(line), ids, ref(exact), line.amount))
                    del self.open_lines[id(line)]
            return
        theirs = sum(line.amount for line in lines)
        if len(lines) > 1 and theirs == ours and len(items) == 1 and self.rules.many_to_one:
            self.take(lines, items, Shape.MANY_TO_ONE, rule)
            return
        self.mismatches.append(
            AmountMismatch(tuple(ref(line) for line in lines), tuple(item.id for item in items), rule, theirs, ours)
        )
        for line in lines:
            del self.open_lines[id(line)]
        for item in items:
            del self.open_items[item.id]
            self.matched_by[item.id] = ref(lines[0])

    def _pair(
        self, lines: list[StatementLine], items: list[OurItem], rule: Rule
    ) -> tuple[list[StatementLine], list[OurItem]]:
        left = list(items)
        unpaired: list[StatementLine] = []
        for line in lines:
            same = next((item for item in left if item.amount == line.amount), None)
            if same is None:
                unpaired.append(line)
            else:
                left.remove(same)
                self.take([line], [same], Shape.ONE_TO_ONE, rule)
        return unpaired, left

    # Tier 2 -------------------------------------------------------------------------------------
    def tier_two(self) -> None:
        if not self.rules.bank_reference:
            return
        by_reference: dict[tuple[str, Direction], list[OurItem]] = defaultdict(list)
        for item in self.open_items.values():
            if item.bank_reference and compact(item.bank_reference):
                by_reference[compact(item.bank_reference), item.direction].append(item)
        for line in list(self.open_lines.values()):
            if not line.bank_reference:
                continue
            candidates = [
                item
                for item in by_reference.get((compact(line.bank_reference), line.direction), [])
                if item.id in self.open_items
            ]
            if len(candidates) != 1:
                continue
            (item,) = candidates
            if item.amount == line.amount:
                self.take([line], [item], Shape.ONE_TO_ONE, Rule.BANK_REFERENCE)
            else:
                self.mismatches.append(
                    AmountMismatch((ref(line),), (item.id,), Rule.BANK_REFERENCE, line.amount, item.amount)
                )
                del self.open_lines[id(line)]
                del self.open_items[item.id]
                self.matched_by[item.id] = ref(line)

    # Tier 3 -------------------------------------------------------------------------------------
    def tier_three(self) -> None:
        if not self.rules.amount_date:
            return
        by_amount: dict[tuple[int, Direction], list[OurItem]] = defaultdict(list)
        for item in self.open_items.values():
            by_amount[item.amount, item.direction].append(item)
        patterns = [(rule, re.compile(rule.pattern)) for rule in self.rules.text_rules]
        for line in list(self.open_lines.values()):
            candidates = [
                item
                for item in by_amount.get((line.amount, line.direction), [])
                if item.id in self.open_items and abs((item.on - line.booking_date).days) <= self.rules.date_window_days
            ]
            if not candidates:
                continue
            text = fold(line.narrative).upper()
            held = [rule for rule, pattern in patterns if pattern.search(text)]
            if held:
                kinds = {rule.kind for rule in held}
                candidates = [item for item in candidates if None in kinds or item.kind in kinds]
            elif self.rules.require_text:
                continue
            if len(candidates) == 1:
                rule, detail = (Rule.AMOUNT_DATE_TEXT, held[0].name) if held else (Rule.AMOUNT_DATE, "")
                self.take([line], candidates, Shape.ONE_TO_ONE, rule, detail)

    # Reversals ----------------------------------------------------------------------------------
    def reversals_first(self) -> None:
        """Take reversal lines out before matching, each with the line it reverses, if that is here.

        A reversal that names one of our items which is itself in the reversal's direction (our side
        booked the return as an item of its own) is left in, to be matched like any other line.
        """
        for line in self.lines:
            if not line.reversal:
                continue
            found = self.keys.find(_texts(line))
            if any(item.direction is line.direction for key in found for item in self.keys.targets[key][1]):
                continue
            del self.open_lines[id(line)]
            self.reversals.append(Reversal(ref(line), self._original(line), line.amount))

    def _original(self, reversal: StatementLine) -> LineRef | None:
        taken = {item.original for item in self.reversals if item.original is not None}
        keys = {key for text in _texts(reversal) for key in [compact(text)] if key}
        if self.by_amount is None:
            # The lines a reversal may undo, by amount and direction, in the lines' order: one pass over a day of
            # a million lines rather than one pass per reversal.
            self.by_amount = defaultdict(list)
            for line in self.lines:
                if not line.reversal:
                    self.by_amount[line.amount, line.direction].append(line)
        other = Direction.DEBIT if reversal.direction is Direction.CREDIT else Direction.CREDIT
        candidates = [
            line for line in self.by_amount.get((reversal.amount, other), ()) if self.refs[id(line)] not in taken
        ]
        # Our references the reversal names, however the bank's text around them differs from the original's.
        named = set(self.keys.find(_texts(reversal)))
        for line in candidates:
            if (
                (line.bank_reference and reversal.bank_reference and line.bank_reference == reversal.bank_reference)
                or keys & {compact(text) for text in _texts(line)}
                or (named and named.intersection(self.keys.find(_texts(line))))
            ):
                return self.refs[id(line)]
        # Without a shared reference, the latest earlier line of the same amount and the other direction.
        earlier = [line for line in candidates if line.booking_date <= reversal.booking_date]
        return self.refs[id(earlier[-1])] if earlier else None

    def foreign(self) -> tuple[tuple[LineRef, tuple[str, ...]], ...]:
        """Valid references of ours in the lines left unmatched, found by each scheme's own finder."""
        if not self.rules.schemes:
            return ()
        found: list[tuple[LineRef, tuple[str, ...]]] = []
        for line in self._open_in_order():
            key = self.refs[id(line)]
            packed = " ".join(compact(text) for text in _texts(line))
            codes = [scheme.encode(number) for scheme in self.rules.schemes for number in scheme.find(packed)]
            if codes:
                found.append((key, tuple(dict.fromkeys(codes))))
        return tuple(found)

    def _open_in_order(self) -> list[StatementLine]:
        return sorted(self.open_lines.values(), key=lambda line: (line.statement_id, line.sequence))

    def result(self) -> MatchResult:
        return MatchResult(
            # Keyed by plain tuples, LineRef's own order: a million LineRef comparisons in Python cost seconds.
            matches=tuple(sorted(self.matches, key=lambda match: (_plain(match.lines), match.items))),
            unmatched_ours=tuple(sorted(self.open_items)),
            unmatched_theirs=tuple(self.refs[id(line)] for line in self._open_in_order()),
            amount_mismatches=tuple(sorted(self.mismatches, key=lambda found: (found.lines, found.items))),
            duplicates=tuple(sorted(self.duplicates, key=lambda found: found.line)),
            reversals=tuple(sorted(self.reversals, key=lambda found: found.line)),
            foreign_references=self.foreign(),
        )


def _plain(refs: tuple[LineRef, ...]) -> tuple[tuple[str, int], ...]:
    return tuple((found.statement_id, found.sequence) for found in refs)


def match(lines: Iterable[StatementLine], items: Iterable[OurItem], rules: MatchRules | None = None) -> MatchResult:
    """Match statement lines against our items by the account's rules; same input, same output, in any order."""
    run = _Run(list(lines), list(items), rules or MatchRules())
    run.reversals_first()
    run.tier_one()
    run.tier_two()
    run.tier_three()
    return run.result()
