"""Daily reconciliation (đối soát) with the banks and the State Treasury (KBNN).

The foundation so far, all pure: ``model`` (the one shape of a statement), ``parsers`` (camt.052/053/054,
MT940, banks' CSV exports, our KBNN CSV layout, each streamed) and ``matcher`` (the tiered matching
engine). Runs, exceptions, day close, reports, the console and the CLI will stand on these.
Other rooms use it through what this module exports.
"""

from reconciliation.matcher import (
    AmountMismatch,
    Duplicate,
    LineRef,
    Match,
    MatchResult,
    MatchRules,
    OurItem,
    Reversal,
    Rule,
    Shape,
    TextRule,
    match,
)
from reconciliation.model import (
    Balance,
    Direction,
    Message,
    ParsedStatement,
    Statement,
    StatementError,
    StatementFormat,
    StatementLine,
    StatementTotals,
    file_sha256,
    gather,
)
from reconciliation.parsers import CsvMapping, detect_format, read_statements

__all__ = [
    "AmountMismatch",
    "Balance",
    "CsvMapping",
    "Direction",
    "Duplicate",
    "LineRef",
    "Match",
    "MatchResult",
    "MatchRules",
    "Message",
    "OurItem",
    "ParsedStatement",
    "Reversal",
    "Rule",
    "Shape",
    "Statement",
    "StatementError",
    "StatementFormat",
    "StatementLine",
    "StatementTotals",
    "TextRule",
    "detect_format",
    "file_sha256",
    "gather",
    "match",
    "read_statements",
]
