"""ISO 20022's own pain.001.001.03 schema, as the `sepaxml` package ships it (sepaxml/schemas/, taken from the
iso20022.org message archive, as the file's first comment says): what our bank payout files are checked against."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree


@cache
def pain001_schema() -> etree.XMLSchema:
    source = resources.files("sepaxml").joinpath("schemas", "pain.001.001.03.xsd")
    return etree.XMLSchema(etree.fromstring(source.read_bytes()))


def schema_errors(document: bytes) -> list[str]:
    """What the schema says is wrong with a file; empty when it is valid."""
    schema = pain001_schema()
    if schema.validate(etree.fromstring(document)):
        return []
    return str(schema.error_log).splitlines()
