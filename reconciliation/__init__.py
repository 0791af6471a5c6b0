"""Daily reconciliation (đối soát) with the banks and the State Treasury (KBNN).

The pure foundation: ``model`` (the one shape of a statement), ``parsers`` (camt.052/053/054, MT940, banks'
CSV exports, our KBNN CSV layout, each streamed), ``matcher`` (the tiered matching engine) and ``generator``
(a bank's camt.053 written from our side, for tests, the demo and the bench). On them, the service modules
that touch the database: ``imports`` (a file's statements and lines stored whole or not at all) and ``runs``
(one bank account and business day compared, with its exceptions), over ``models``, with ``routes`` and
``cli`` above. Exceptions, day close, reports and the console will stand on these.

Other rooms use it through what this module exports. This module exports the pure parts only: the shell
mounts ``reconciliation.routes.ROUTE_HANDLERS`` and ``reconciliation.cli.COMMANDS`` itself, so a bench or a
worker that imports the parsers does not load Litestar and the tables with them.
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
