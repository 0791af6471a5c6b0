"""The directory of NAPAS member banks, by BIN: who can receive (and send) a VietQR / NAPAS 247 transfer.

Banks are identified by BIN and nothing else: short codes clash between public lists (``BVB`` is
Bảo Việt in one and Bản Việt in another), banks are renamed but keep their BIN (970406 DongA →
Vikki), and some public libraries even carry wrong BINs (BIDV as 970488; it is 970418). The data
file, ``civicpay/data/napas_banks.csv``, is curated from public lists; its ``note`` column says where
they disagree.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import msgspec
from litestar import Controller, get


class VietQrSupport(StrEnum):
    SEND_RECEIVE = "send_receive"
    RECEIVE_ONLY = "receive_only"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Bank:
    bin: str
    short_name: str
    legal_name: str
    vietqr: VietQrSupport
    note: str

    @property
    def can_receive(self) -> bool:
        return self.vietqr != VietQrSupport.UNKNOWN

    @property
    def can_send(self) -> bool:
        return self.vietqr == VietQrSupport.SEND_RECEIVE


class DirectoryError(Exception):
    """The shipped data file breaks one of the directory's rules."""


@functools.cache
def directory() -> dict[str, Bank]:
    """Every member bank by BIN, read once from the package's data file."""
    text = resources.files("civicpay.data").joinpath("napas_banks.csv").read_text(encoding="utf-8")
    banks: dict[str, Bank] = {}
    for row in csv.DictReader(io.StringIO(text)):
        bank = Bank(row["bin"], row["short_name"], row["legal_name"], VietQrSupport(row["vietqr"]), row["note"])
        if not (len(bank.bin) == 6 and bank.bin.isascii() and bank.bin.isdigit()):
            raise DirectoryError(f"BIN {bank.bin!r} is not six digits")
        if bank.bin in banks:
            raise DirectoryError(f"BIN {bank.bin} appears twice")
        banks[bank.bin] = bank
    return banks


def by_bin(bin_: str) -> Bank | None:
    return directory().get(bin_)


class BankOut(msgspec.Struct):
    bin: str
    short_name: str
    legal_name: str
    can_receive: bool
    can_send: bool


class BankController(Controller):
    path = "/banks"
    tags = ["banks"]

    @get("/", operation_id="listBanks", exclude_from_auth=True, cache=3600)
    async def all_banks(self) -> list[BankOut]:
        """NAPAS member banks by BIN, for a bank picker; public, as it is on every bank's website."""
        return [
            BankOut(bank.bin, bank.short_name, bank.legal_name, bank.can_receive, bank.can_send)
            for bank in sorted(directory().values(), key=lambda bank: bank.short_name.lower())
        ]
