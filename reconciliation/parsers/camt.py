"""ISO 20022 bank-to-customer cash management: camt.053 (statement), camt.052 (report), camt.054 (notification).

Read with lxml's ``iterparse``: each child of a statement is handled at its end tag, then cleared and
dropped with the siblings before it, so memory holds one entry at a time however many the file has.
The namespace is taken from the document's root, so every version (001.02 to 001.13) reads the same;
the few places where versions differ (``Sts`` as text in 02, ``Sts/Cd`` from 08; ``Dbtr/Nm`` in 02,
``Dbtr/Pty/Nm`` from 08) are each read both ways. Entities are not resolved and nothing is fetched
from the network (no XXE).

Only booked entries (``Sts`` BOOK, or none) are lines: a pending entry of a camt.052 intraday report
has not moved the balance yet, and counting it would break continuity.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, cast

from lxml import etree

from reconciliation.model import (
    Balance,
    Direction,
    Event,
    Message,
    Statement,
    StatementError,
    StatementFormat,
    StatementLine,
    Tally,
    check_currency,
    to_minor,
)

_CONTAINERS = {"Stmt", "Rpt", "Ntfctn"}
_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD", "ITBD")


def _local(element: etree._Element) -> str:
    # A Clark name's tail: far cheaper than etree.QName, and called for every element handled.
    return str(element.tag).rpartition("}")[2]


# The root's namespace, looked for in the file's first bytes so that iterparse can be told which
# elements to report: a million entries of twenty elements each would otherwise be twenty million
# Python-level events. A prefixed root (``<camt:Document xmlns:camt=…>``) is found too.
_NAMESPACE = re.compile(rb'xmlns(?::[\w.-]+)?="(urn:iso:std:iso:20022:tech:xsd:camt\.[^"]+)"')
_SNIFF = 1 << 16
# The elements the reader handles: the statement containers and their direct children of interest.
_REPORTED = ("Stmt", "Rpt", "Ntfctn", "Id", "CreDtTm", "FrToDt", "Acct", "Bal", "Ntry")


class _Paths:
    """XPath-free child lookups in the document's own namespace (``find`` with Clark names is C-fast)."""

    def __init__(self, namespace: str | None) -> None:
        self.prefix = f"{{{namespace}}}" if namespace else ""
        self.cache: dict[str, str] = {}

    def path(self, steps: str) -> str:
        found = self.cache.get(steps)
        if found is None:
            found = self.cache[steps] = "/".join(self.prefix + step for step in steps.split("/"))
        return found

    def text(self, element: etree._Element, *paths: str) -> str | None:
        for steps in paths:
            found = element.find(self.path(steps))
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return None


# A statement's entries share a few dates: each text read once.
@functools.lru_cache(maxsize=256)
def _date(text: str | None) -> date | None:
    if not text:
        return None
    if "T" in text:
        # The bank's local date of a timestamp, as printed: a booking at 23:30 +07:00 is that day in Vietnam.
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    return date.fromisoformat(text[:10])


def _when(paths: _Paths, element: etree._Element, steps: str) -> date | None:
    return _date(paths.text(element, f"{steps}/Dt", f"{steps}/DtTm"))


class _Statement:
    """What is known of the statement being read, until its first entry makes the header final."""

    def __init__(self, kind: str, position: int) -> None:
        self.kind = kind
        self.position = position
        self.statement_id = ""
        self.account = ""
        self.currency: str | None = None
        self.created: date | None = None
        self.from_date: date | None = None
        self.to_date: date | None = None
        self.balances: dict[str, tuple[Balance, str]] = {}
        self.tally: Tally | None = None


class _Reader:
    """The state of one pass over a file: the statement being read, the line count, the last closing balance."""

    def __init__(self, expected_currency: str | None, previous_closing: int | None, namespace: str | None) -> None:
        self.expected_currency = expected_currency
        self.last_closing = previous_closing
        self.paths = _Paths(namespace)
        self.kind = namespace.rpartition(":")[2] if namespace else ""
        self.current: _Statement | None = None
        self.sequence = 0
        self.statements = 0

    def start(self, element: etree._Element) -> None:
        if not self.kind:
            namespace = etree.QName(element).namespace
            self.paths = _Paths(namespace)
            self.kind = (namespace or "").rpartition(":")[2] or _local(element)
        elif _local(element) in _CONTAINERS and self.current is None and element.getparent() is not None:
            self.statements += 1
            self.current = _Statement(self.kind, self.statements)

    def end(self, element: etree._Element) -> Iterator[Event]:
        current = self.current
        if current is None:
            return
        name = _local(element)
        parent = element.getparent()
        if name in _CONTAINERS and parent is not None and _local(parent) != name:
            if current.tally is None:  # a statement without entries: its header is yielded now
                yield self.header(current).statement
            totals = self.header(current).close()
            self.last_closing = totals.closing if totals.closing is not None else self.last_closing
            yield totals
            self.current = None
            _drop(element)
            return
        if parent is None or _local(parent) not in _CONTAINERS:
            return  # inside a child of the statement: read with it at its end
        if name == "Ntry":
            first = current.tally is None
            tally = self.header(current)
            if first:
                yield tally.statement
            line = _entry(current, self.paths, element, self.sequence + 1)
            if line is not None:
                self.sequence += 1
                yield tally.add(line)
        else:
            _statement_field(current, self.paths, name, element)
        _drop(element)

    def header(self, current: _Statement) -> Tally:
        return _header(current, self.expected_currency, self.last_closing)


def read_camt(
    source: str | Path | IO[bytes], *, expected_currency: str | None = None, previous_closing: int | None = None
) -> Iterator[Event]:
    """Every statement of a camt.05x file, streamed: header, booked lines, totals; refuses a truncated file."""
    if isinstance(source, str | Path):
        with Path(source).open("rb") as opened:
            yield from read_camt(opened, expected_currency=expected_currency, previous_closing=previous_closing)
        return
    parsed, namespace = _sniff(source)
    reader = _Reader(expected_currency, previous_closing, namespace)
    tags = [f"{{{namespace}}}{name}" for name in _REPORTED] if namespace else None
    context = etree.iterparse(
        parsed, events=("start", "end"), tag=tags, resolve_entities=False, no_network=True, huge_tree=True
    )
    try:
        for event, element in context:
            if event == "start":
                reader.start(element)
            else:
                yield from reader.end(element)
    except etree.XMLSyntaxError as error:
        raise StatementError(
            "truncated",
            Message(
                "Tệp XML bị cắt cụt hoặc hỏng, không nhập dòng nào",
                "The XML file is truncated or malformed; nothing imported",
            ),
            f"line {error.lineno}",
        ) from None
    if reader.statements == 0:
        raise StatementError(
            "malformed",
            Message(
                "Không phải sao kê camt.052/053/054: không có Stmt, Rpt hay Ntfctn",
                "Not a camt.052/053/054 statement: no Stmt, Rpt or Ntfctn",
            ),
        )


def _sniff(source: IO[bytes]) -> tuple[IO[bytes], str | None]:
    """The stream to parse (rewound, or buffered so the first bytes are read again) and the camt namespace."""
    if source.seekable():
        start = source.tell()
        head = source.read(_SNIFF)
        source.seek(start)
        stream = source
    else:
        buffered = (
            source if isinstance(source, io.BufferedReader) else io.BufferedReader(cast("io.RawIOBase", source), _SNIFF)
        )
        head = buffered.peek(_SNIFF)
        stream = buffered
    found = _NAMESPACE.search(head)
    return stream, found.group(1).decode() if found else None


def _drop(element: etree._Element) -> None:
    """Free an element handled and everything before it under the same parent: one entry in memory at a time."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _statement_field(current: _Statement, paths: _Paths, name: str, element: etree._Element) -> None:
    if name == "Id":
        current.statement_id = (element.text or "").strip()
    elif name == "CreDtTm":
        current.created = _date((element.text or "").strip())
    elif name == "FrToDt":
        current.from_date = _date(paths.text(element, "FrDtTm", "FrDt"))
        current.to_date = _date(paths.text(element, "ToDtTm", "ToDt"))
    elif name == "Acct":
        current.account = paths.text(element, "Id/IBAN", "Id/Othr/Id") or ""
        current.currency = paths.text(element, "Ccy") or current.currency
    elif name == "Bal":
        code = paths.text(element, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or ""
        amount = element.find(paths.path("Amt"))
        if amount is None or code in current.balances:
            return
        currency = (amount.get("Ccy") or current.currency or "").upper()
        value = to_minor(amount.text or "", currency, where=f"Bal {code}")
        sign = -1 if paths.text(element, "CdtDbtInd") == "DBIT" else 1
        current.balances[code] = (Balance(sign * value, _when(paths, element, "Dt")), currency)


def _header(current: _Statement, expected_currency: str | None, last_closing: int | None) -> Tally:
    if current.tally is not None:
        return current.tally
    opening = next((current.balances[code] for code in _OPENING if code in current.balances), None)
    closing = next((current.balances[code] for code in _CLOSING if code in current.balances), None)
    found = current.currency or (opening[1] if opening else None) or (closing[1] if closing else None)
    currency = check_currency(found or expected_currency or "", expected_currency, f"Stmt {current.statement_id}")
    anomalies = tuple(
        Message(
            f"Số dư {code} bằng {ccy}, sao kê bằng {currency}",
            f"Balance {code} is in {ccy}; the statement is in {currency}",
        )
        for code, (_, ccy) in sorted(current.balances.items())
        if ccy != currency and code in _OPENING + _CLOSING
    )
    statement = Statement(
        format=StatementFormat.CAMT,
        statement_id=current.statement_id or f"{current.kind}#{current.position}",
        account=current.account,
        currency=currency,
        opening=opening[0] if opening else None,
        closing=closing[0] if closing else None,
        created=current.created,
        from_date=current.from_date,
        to_date=current.to_date,
        kind=current.kind,
        anomalies=anomalies,
    )
    current.tally = Tally(statement, previous_closing=last_closing)
    return current.tally


# Texts of an entry gathered in one walk of its subtree (six ``iterfind`` calls cost six walks),
# keyed by the element's name, or by its parent's and its own where the name alone is ambiguous.
_GATHERED = {"EndToEndId", "Ustrd", "AddtlTxInf", "AddtlNtryInf"}
_GATHERED_UNDER = {("CdtrRefInf", "Ref"), ("Refs", "AcctSvcrRef")}
# The walk visits only these, in any namespace (lxml filters in C): the gathered texts, and the two elements whose
# presence sends the entry to a path look-up (``find`` is ElementPath, in Python: too dear for every entry).
_RARE = ("InstrId", "RltdPties")
_WALKED = tuple(f"{{*}}{name}" for name in (*_GATHERED, *(name for _, name in _GATHERED_UNDER), *_RARE))


def _texts(element: etree._Element) -> tuple[dict[str, list[str]], set[str]]:
    """The gathered texts of an entry, and which of ``_RARE`` it holds."""
    found: dict[str, list[str]] = {name: [] for name in _GATHERED}
    found.update({f"{parent}/{name}": [] for parent, name in _GATHERED_UNDER})
    rare: set[str] = set()
    for node in element.iter(*_WALKED):
        name = node.tag.rpartition("}")[2]
        if name in _RARE:
            rare.add(name)
            continue
        text = node.text.strip() if node.text else ""
        if not text:
            continue
        if name in _GATHERED:
            found[name].append(text)
            continue
        parent = node.getparent()
        if parent is not None and (pair := (_local(parent), name)) in _GATHERED_UNDER:
            found["/".join(pair)].append(text)
    return found, rare


def _text(element: etree._Element | None) -> str | None:
    """An element's own text, or its first child's (``Sts`` in 02 is text, from 08 it holds ``Cd``)."""
    if element is None:
        return None
    if element.text and element.text.strip():
        return element.text.strip()
    for child in element:
        if child.text and child.text.strip():
            return child.text.strip()
    return None


def _day(element: etree._Element | None) -> date | None:
    return _date(_text(element))  # ``BookgDt``/``ValDt`` hold one ``Dt`` or one ``DtTm``


def _entry(current: _Statement, paths: _Paths, element: etree._Element, sequence: int) -> StatementLine | None:
    # The entry's own fields, read in one pass over its children rather than a ``find`` each.
    fields: dict[str, etree._Element] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            fields.setdefault(tag.rpartition("}")[2], child)
    status = _text(fields.get("Sts"))
    if status not in (None, "BOOK"):
        return None
    assert current.tally is not None  # noqa: S101 -- _header ran just before, for this very entry
    currency = current.tally.statement.currency
    amount_element = fields.get("Amt")
    where = f"Ntry {sequence}"
    if amount_element is None:
        raise StatementError("malformed", Message("Bút toán không có số tiền", "An entry without an amount"), where)
    stated = amount_element.get("Ccy")
    if stated is not None and stated != currency:  # the statement's own code needs no second check
        check_currency(stated, currency, where)
    credit = _text(fields.get("CdtDbtInd")) == "CRDT"
    found, rare = _texts(element)
    end_to_end = [ref for ref in found["EndToEndId"] if ref.upper() != "NOTPROVIDED"]
    others = [*end_to_end[1:], *found["CdtrRefInf/Ref"], *found["Refs/AcctSvcrRef"]]
    narrative_parts = [*found["Ustrd"], *found["AddtlTxInf"], *found["AddtlNtryInf"]]
    party = "Dbtr" if credit else "Cdtr"
    counterparty = counterparty_account = None
    details = element.find(paths.path("NtryDtls/TxDtls")) if "RltdPties" in rare else None
    if details is not None:
        counterparty = paths.text(details, f"RltdPties/{party}/Pty/Nm", f"RltdPties/{party}/Nm")
        counterparty_account = paths.text(
            details, f"RltdPties/{party}Acct/Id/IBAN", f"RltdPties/{party}Acct/Id/Othr/Id"
        )
    value_date = _day(fields.get("ValDt"))
    booking = _day(fields.get("BookgDt")) or value_date
    if booking is None:
        raise StatementError(
            "bad_date", Message("Bút toán không có ngày hạch toán", "An entry without a booking date"), where
        )
    return StatementLine(
        statement_id=current.tally.statement.statement_id,
        sequence=sequence,
        booking_date=booking,
        value_date=value_date,
        amount=to_minor(amount_element.text or "", currency, where=where),
        direction=Direction.CREDIT if credit else Direction.DEBIT,
        currency=currency,
        bank_reference=_text(fields.get("AcctSvcrRef")),
        end_to_end_id=end_to_end[0] if end_to_end else None,
        our_reference=(paths.text(element, "NtryDtls/TxDtls/Refs/InstrId") if "InstrId" in rare else None)
        or _text(fields.get("NtryRef")),
        other_references=tuple(dict.fromkeys(others)),
        counterparty=counterparty,
        counterparty_account=counterparty_account,
        narrative=" ".join(narrative_parts),
        reversal=(_text(fields.get("RvslInd")) or "").lower() == "true",
        raw=etree.tostring(element, encoding="unicode", with_tail=False),
    )
