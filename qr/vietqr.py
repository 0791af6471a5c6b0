"""The NAPAS VietQR payload (mã VietQR), read and written without I/O.

A VietQR code is an EMVCo merchant-presented QR payload: a string of TLV objects (two-digit id,
two-digit length 01-99, value) whose NAPAS template (id 38) names a bank by BIN and an account or
card to transfer to, optionally with an amount in đồng and a purpose that lands in the bank's
transfer description. The decoder is strict and explains itself, because a code that is read
wrongly sends money to the wrong place: every refusal is one ``VietQrError`` with a stable ``code``
and the character ``position`` where the reader stopped. Other schemes that share the EMVCo frame
(VNPAY-QR, ShopeePay, card networks) are recognised and named, not half-read.

Both directions run in the request path of pay-by-scan and in batch jobs, so the hot path avoids
regular expressions and Python-level CRC loops (``binascii.crc_hqx`` is the same CRC in C).
"""

from __future__ import annotations

import binascii
import unicodedata
from enum import StrEnum
from typing import Final, Literal

import msgspec

Service = Literal["account", "card"]
Initiation = Literal["static", "dynamic"]

NAPAS_GUID: Final = "A000000727"
MAX_PAYLOAD_CHARS: Final = 512  # EMVCo MPM: a payload longer than this is not a merchant QR
MAX_AMOUNT_VND: Final = 9_999_999_999_999  # 13 digits, the most object 54 holds

_SERVICE_CODES: Final[dict[str, Service]] = {"QRIBFTTA": "account", "QRIBFTTC": "card"}
_SERVICE_OF: Final[dict[Service, str]] = {"account": "QRIBFTTA", "card": "QRIBFTTC"}
_INITIATIONS: Final[dict[str, Initiation]] = {"11": "static", "12": "dynamic"}
_INITIATION_OF: Final[dict[Initiation, str]] = {"static": "11", "dynamic": "12"}
_LENGTHS: Final = {f"{n:02d}": n for n in range(1, 100)}
# Every valid object header (id and length), so that one dict lookup both checks and reads it.
_HEADERS: Final = {f"{tag:02d}{n:02d}": (f"{tag:02d}", n) for tag in range(100) for n in range(1, 100)}
_HEX: Final = frozenset("0123456789ABCDEFabcdef")

# The additional data (id 62) this product reads and writes, by VietQr attribute; at most 25 characters each.
_ADDITIONAL: Final = (
    ("bill", "01"),
    ("store", "03"),
    ("reference", "05"),
    ("customer", "06"),
    ("terminal", "07"),
    ("purpose", "08"),
)
_ADDITIONAL_FIELD: Final = {tag: field for field, tag in _ADDITIONAL}
_ADDITIONAL_MAX: Final = 25
_NAME_MAX: Final = 25
_CITY_MAX: Final = 15
_ACCOUNT_MAX: Final = 19

# Who owns a merchant account information object that is not NAPAS's. Ids 02-25 carry a card
# network's merchant PAN directly; ids 26-51 are templates whose sub-object 00 is a GUID.
_SCHEME_OF_GUID: Final = {
    "A000000775": "VNPAY-QR (VNPAY)",
    "vn.airpay.www": "ShopeePay (AirPay)",
    NAPAS_GUID: "NAPAS, but outside template 38",
}
_SCHEME_OF_ID: Final = {
    **dict.fromkeys(("02", "03"), "Visa"),
    **dict.fromkeys(("04", "05"), "Mastercard"),
    **dict.fromkeys(("09", "10"), "Discover"),
    **dict.fromkeys(("11", "12"), "American Express"),
    **dict.fromkeys(("13", "14"), "JCB"),
    **dict.fromkeys(("15", "16"), "UnionPay"),
}
_MERCHANT_ACCOUNT_IDS: Final = tuple(f"{n:02d}" for n in range(2, 52))


class ErrorCode(StrEnum):
    """Why a payload was refused; the values are a stable contract with API clients."""

    BAD_LENGTH = "bad_length"
    BAD_ID = "bad_id"
    DUPLICATE_ID = "duplicate_id"
    NON_ASCII = "non_ascii"
    CRC_NOT_LAST = "crc_not_last"
    BAD_CRC = "bad_crc"
    BAD_FORMAT_INDICATOR = "bad_format_indicator"
    BAD_INITIATION = "bad_initiation"
    MISSING_OBJECT = "missing_object"
    NOT_NAPAS = "not_napas"
    AMOUNT_WITH_STATIC = "amount_with_static"
    BAD_AMOUNT = "bad_amount"
    BAD_VALUE = "bad_value"
    TOO_LONG = "too_long"


class VietQrError(ValueError):
    """A payload that is not a VietQR code we can pay, or fields that cannot make one.

    ``position`` is a character index: into the payload when decoding (where the reader stopped:
    an object's id, its length digits or its value), into the offending field's folded text when
    encoding. ``field`` names the ``VietQr`` attribute concerned, when one is.
    """

    def __init__(self, code: ErrorCode, message: str, position: int, field: str | None = None) -> None:
        super().__init__(f"{message} (at {position})")
        self.code = code
        self.message = message
        self.position = position
        self.field = field


class VietQr(msgspec.Struct, frozen=True, kw_only=True):
    """What a VietQR code says: pay this account (or card) at this bank, perhaps this much, for this.

    Static (QR tĩnh) codes are printed once and the payer types the amount; dynamic (QR động) codes
    are made for one payment and may carry ``amount_vnd``. ``purpose`` (62.08, nội dung chuyển
    khoản) is what banks copy into the transfer description, so payment references travel there.
    ``crc`` is filled in by ``decode`` (upper case) and ignored by ``encode``.
    """

    bin: str
    account: str
    service: Service = "account"
    initiation: Initiation = "static"
    amount_vnd: int | None = None
    purpose: str | None = None
    bill: str | None = None
    reference: str | None = None
    terminal: str | None = None
    store: str | None = None
    customer: str | None = None
    merchant_name: str | None = None
    city: str | None = None
    mcc: str | None = None
    crc: str | None = None


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final xor), as EMVCo asks.

    ``binascii.crc_hqx`` is this polynomial, unreflected, with the initial value as its argument,
    computed in C: many times faster than a table walked in Python.
    """
    return binascii.crc_hqx(data, 0xFFFF)


def fold_for_qr(text: str) -> str:
    """Vietnamese text as ASCII for a QR field: ``Nộp phí hộ tịch`` → ``Nop phi ho tich``.

    Bank apps and EMVCo fields are ASCII only. đ/Đ is a letter of its own, not d with a mark, so
    it is folded by hand; every other mark is dropped after canonical decomposition.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def fit_for_qr(text: str, limit: int) -> str:
    """Folded, and shortened to ``limit`` at a word's end where one is near: a name a payer can still read."""
    folded = " ".join(fold_for_qr(text).split())
    if len(folded) <= limit:
        return folded
    cut = folded[: limit + 1].rpartition(" ")[0]
    return cut if len(cut) >= limit // 2 else folded[:limit]


# --- encoding --------------------------------------------------------------------------------


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def field_text(value: str, field: str, limit: int) -> str:
    """A free-text field folded to ASCII and checked against its EMVCo limit."""
    folded = fold_for_qr(value)
    if not folded:
        raise VietQrError(ErrorCode.BAD_VALUE, f"{field} is empty; leave it out instead", 0, field)
    if not (folded.isascii() and folded.isprintable()):
        at = next(i for i, ch in enumerate(folded) if not (ch.isascii() and ch.isprintable()))
        raise VietQrError(ErrorCode.NON_ASCII, f"{field} has {folded[at]!r}, which has no ASCII form", at, field)
    if len(folded) > limit:
        raise VietQrError(ErrorCode.TOO_LONG, f"{field} has {len(folded)} characters; at most {limit}", limit, field)
    return folded


def _napas_template(code: VietQr) -> str:
    """Object 38: the NAPAS GUID, the beneficiary (BIN and account or card) and the service code."""
    if not (len(code.bin) == 6 and _digits(code.bin)):
        raise VietQrError(ErrorCode.BAD_VALUE, f"BIN {code.bin!r} is not six digits", 0, "bin")
    service = _SERVICE_OF.get(code.service)
    if service is None:
        raise VietQrError(ErrorCode.BAD_VALUE, f"service {code.service!r} is not account or card", 0, "service")
    account = code.account
    if not (_digits(account) if code.service == "card" else account.isascii() and account.isalnum()):
        kind = "digits" if code.service == "card" else "letters and digits"
        raise VietQrError(ErrorCode.BAD_VALUE, f"{code.service} number must be {kind} only", 0, "account")
    if len(account) > _ACCOUNT_MAX:
        message = f"{code.service} number has {len(account)} characters; at most {_ACCOUNT_MAX}"
        raise VietQrError(ErrorCode.TOO_LONG, message, _ACCOUNT_MAX, "account")
    beneficiary = f"0006{code.bin}01{len(account):02d}{account}"
    return _tlv("38", f"0010{NAPAS_GUID}01{len(beneficiary):02d}{beneficiary}0208{service}")


def _amount(code: VietQr) -> str:
    """Object 54, or nothing: only a dynamic code may fix the amount, in whole đồng."""
    amount = code.amount_vnd
    if amount is None:
        return ""
    if code.initiation == "static":
        raise VietQrError(ErrorCode.AMOUNT_WITH_STATIC, "a static code carries no amount", 0, "amount_vnd")
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT_VND:
        message = f"amount {amount!r} is not a whole number of đồng from 1 to {MAX_AMOUNT_VND}"
        raise VietQrError(ErrorCode.BAD_AMOUNT, message, 0, "amount_vnd")
    return _tlv("54", str(amount))


def _additional_data(code: VietQr) -> str:
    """Object 62, or nothing; all its sub-objects together must fit in 99 characters."""
    additional = "".join(
        _tlv(tag, field_text(value, field, _ADDITIONAL_MAX))
        for field, tag in _ADDITIONAL
        if (value := getattr(code, field)) is not None
    )
    if len(additional) > 99:
        message = f"additional data (62) needs {len(additional)} characters; at most 99"
        raise VietQrError(ErrorCode.TOO_LONG, message, 99)
    return _tlv("62", additional) if additional else ""


def encode(code: VietQr) -> str:
    """The payload to render as a QR image; text fields are folded to ASCII on the way.

    Refuses (``VietQrError``) rather than truncates: a shortened account or reference would send
    money somewhere, just not where it was meant to go. Objects come in ascending id order.
    """
    initiation = _INITIATION_OF.get(code.initiation)
    if initiation is None:
        raise VietQrError(ErrorCode.BAD_INITIATION, "initiation must be static or dynamic", 0, "initiation")
    mcc = ""
    if code.mcc is not None:
        if not (len(code.mcc) == 4 and _digits(code.mcc)):
            raise VietQrError(ErrorCode.BAD_VALUE, f"MCC {code.mcc!r} is not four digits", 0, "mcc")
        mcc = f"5204{code.mcc}"
    name = "" if code.merchant_name is None else _tlv("59", field_text(code.merchant_name, "merchant_name", _NAME_MAX))
    city = "" if code.city is None else _tlv("60", field_text(code.city, "city", _CITY_MAX))
    body = (
        f"0002010102{initiation}{_napas_template(code)}{mcc}5303704{_amount(code)}5802VN"
        f"{name}{city}{_additional_data(code)}6304"
    )
    return f"{body}{crc16_ccitt_false(body.encode('ascii')):04X}"


# --- decoding --------------------------------------------------------------------------------


def _framing_error(text: str, i: int, where: str) -> VietQrError:
    """Why ``text[i:]`` does not start with an object header; off the hot path."""
    if len(text) - i < 4:
        return VietQrError(
            ErrorCode.BAD_LENGTH, f"{where}: truncated, {len(text) - i} characters left for an object", i
        )
    tag = text[i : i + 2]
    if not (tag.isascii() and tag.isdigit()):
        return VietQrError(ErrorCode.BAD_ID, f"{where}: object id {tag!r} is not two digits", i)
    return VietQrError(
        ErrorCode.BAD_LENGTH, f"{where}: object {tag} has length {text[i + 2 : i + 4]!r}, not 01-99", i + 2
    )


def _objects(text: str, where: str) -> dict[str, str]:
    """The TLV objects that make up all of ``text``, by id; error positions are relative to ``text``."""
    values: dict[str, str] = {}
    i, end = 0, len(text)
    while i < end:
        header = _HEADERS.get(text[i : i + 4])
        if header is None:
            raise _framing_error(text, i, where)
        tag, length = header
        value_end = i + 4 + length
        if value_end > end:
            message = f"{where}: object {tag} runs {value_end - end} characters past the end"
            raise VietQrError(ErrorCode.BAD_LENGTH, message, i + 2)
        if tag in values:
            raise VietQrError(ErrorCode.DUPLICATE_ID, f"{where}: object {tag} appears twice", i)
        values[tag] = text[i + 4 : value_end]
        i = value_end
    return values


def _locate(payload: str, *path: str) -> int:
    """Where the object at ``path`` (ids from the root down) starts in the payload.

    Positions are needed only to explain a refusal, so they are found again then rather than kept
    for every object on the way in. The framing on the path has already been read successfully.
    """
    start, end = 0, len(payload)
    for wanted in path:
        i = start
        while i < end and payload[i : i + 2] != wanted:
            i += 4 + _LENGTHS.get(payload[i + 2 : i + 4], 0)
        start, end = i + 4, i + 4 + _LENGTHS.get(payload[i + 2 : i + 4], 0)
    return start - 4


def _value_at(payload: str, *path: str) -> int:
    return _locate(payload, *path) + 4


def _end(payload: str, value: str, *path: str) -> int:
    """Where a template ends: the place to report an object missing from it."""
    return _locate(payload, *path) + 4 + len(value)


def _template(payload: str, value: str, where: str, *path: str) -> dict[str, str]:
    """The objects inside a template, with a framing error reported at its place in the payload."""
    try:
        return _objects(value, where)
    except VietQrError as error:
        shifted = error.position + _value_at(payload, *path)
        raise VietQrError(error.code, error.message, shifted, error.field) from None


def _missing(what: str, position: int) -> VietQrError:
    return VietQrError(ErrorCode.MISSING_OBJECT, f"no {what}", position)


def _too_long(payload: str, field: str, value: str, limit: int, *path: str) -> VietQrError:
    message = f"{field} ({'.'.join(path)}) has {len(value)} characters; at most {limit}"
    return VietQrError(ErrorCode.TOO_LONG, message, _value_at(payload, *path), field)


def _scheme(tag: str, value: str) -> str:
    """Who a merchant account information object belongs to, in words a cashier understands."""
    if tag in _SCHEME_OF_ID:
        return _SCHEME_OF_ID[tag]
    try:
        guid = _objects(value, tag).get("00")
    except VietQrError:
        guid = None
    if guid is None:
        return "an unknown scheme"
    return _SCHEME_OF_GUID.get(guid, f"an unknown scheme (GUID {guid!r})")


def _frame(payload: str) -> dict[str, str]:
    """The root objects of a payload that is ASCII, well framed, and ends in its own right CRC."""
    size = len(payload)
    if not (payload.isascii() and payload.isprintable()):
        at = next(i for i, ch in enumerate(payload) if not (ch.isascii() and ch.isprintable()))
        raise VietQrError(ErrorCode.NON_ASCII, f"character {payload[at]!r} is not printable ASCII", at)
    if size < 4:
        raise VietQrError(ErrorCode.BAD_LENGTH, f"{size} characters: truncated before the first object", size)
    if size > MAX_PAYLOAD_CHARS:
        message = f"{size} characters; EMVCo allows {MAX_PAYLOAD_CHARS}"
        raise VietQrError(ErrorCode.BAD_LENGTH, message, MAX_PAYLOAD_CHARS)
    if payload[:2] != "00":
        raise VietQrError(ErrorCode.BAD_FORMAT_INDICATOR, "the payload does not start with object 00", 0)
    root = _objects(payload, "payload")
    crc = root.get("63")
    if crc is None:
        raise _missing("CRC (63)", size)
    if next(reversed(root)) != "63":
        raise VietQrError(ErrorCode.CRC_NOT_LAST, "objects follow the CRC (63)", _locate(payload, "63"))
    if len(crc) != 4 or not _HEX.issuperset(crc):
        raise VietQrError(ErrorCode.BAD_CRC, f"CRC {crc!r} is not four hex digits", size - len(crc))
    expected = crc16_ccitt_false(payload[:-4].encode("ascii"))
    if int(crc, 16) != expected:
        message = f"CRC is {crc}, the payload's is {expected:04X}: misread or altered"
        raise VietQrError(ErrorCode.BAD_CRC, message, size - 4)
    if root["00"] != "01":
        raise VietQrError(ErrorCode.BAD_FORMAT_INDICATOR, f"format indicator is {root['00']!r}, not '01'", 4)
    return root


def _initiation(payload: str, root: dict[str, str]) -> Initiation:
    code = root.get("01")
    if code is None:
        raise _missing("point of initiation (01)", len(payload) - 8)
    initiation = _INITIATIONS.get(code)
    if initiation is None:
        message = f"initiation is {code!r}, not 11 or 12"
        raise VietQrError(ErrorCode.BAD_INITIATION, message, _value_at(payload, "01"), "initiation")
    return initiation


def _not_napas(payload: str, root: dict[str, str]) -> VietQrError:
    """No template 38: name the scheme whose code this is, if any."""
    for tag in _MERCHANT_ACCOUNT_IDS:
        if tag in root:
            scheme = _scheme(tag, root[tag])
            message = f"not a NAPAS VietQR code: merchant account information {tag} belongs to {scheme}"
            return VietQrError(ErrorCode.NOT_NAPAS, message, _locate(payload, tag))
    return _missing("merchant account information (38)", len(payload) - 8)


def _beneficiary(payload: str, root: dict[str, str]) -> tuple[str, str, Service]:
    """BIN, account or card number, and service, from the NAPAS template (38)."""
    napas = root.get("38")
    if napas is None:
        raise _not_napas(payload, root)
    template = _template(payload, napas, "template 38", "38")
    guid, beneficiary, service_code = template.get("00"), template.get("01"), template.get("02")
    if guid is None:
        raise _missing("GUID (38.00)", _end(payload, napas, "38"))
    if guid != NAPAS_GUID:
        scheme = _SCHEME_OF_GUID.get(guid, f"an unknown scheme (GUID {guid!r})")
        message = f"not a NAPAS VietQR code: template 38 belongs to {scheme}"
        raise VietQrError(ErrorCode.NOT_NAPAS, message, _value_at(payload, "38", "00"))
    if beneficiary is None:
        raise _missing("beneficiary (38.01)", _end(payload, napas, "38"))
    if service_code is None:
        raise _missing("service code (38.02)", _end(payload, napas, "38"))
    service = _SERVICE_CODES.get(service_code)
    if service is None:
        message = f"service code {service_code!r} is not QRIBFTTA or QRIBFTTC"
        raise VietQrError(ErrorCode.BAD_VALUE, message, _value_at(payload, "38", "02"), "service")
    bank = _template(payload, beneficiary, "beneficiary 38.01", "38", "01")
    bin_, account = bank.get("00"), bank.get("01")
    if bin_ is None or account is None:
        what = "bank BIN (38.01.00)" if bin_ is None else "account or card number (38.01.01)"
        raise _missing(what, _end(payload, beneficiary, "38", "01"))
    if len(bin_) != 6 or not bin_.isdigit():
        message = f"BIN {bin_!r} is not six digits"
        raise VietQrError(ErrorCode.BAD_VALUE, message, _value_at(payload, "38", "01", "00"), "bin")
    if len(account) > _ACCOUNT_MAX:
        raise _too_long(payload, "account", account, _ACCOUNT_MAX, "38", "01", "01")
    if not (account.isdigit() if service == "card" else account.isalnum()):
        message = f"{service} number {account!r} is not {'digits' if service == 'card' else 'letters and digits'} only"
        raise VietQrError(ErrorCode.BAD_VALUE, message, _value_at(payload, "38", "01", "01"), "account")
    return bin_, account, service


def _transaction(payload: str, root: dict[str, str], initiation: Initiation) -> int | None:
    """Currency (53) and country (58) are Vietnam's; the amount (54), if any, in whole đồng."""
    currency, country, amount = root.get("53"), root.get("58"), root.get("54")
    if currency is None:
        raise _missing("transaction currency (53)", len(payload) - 8)
    if currency != "704":
        message = f"currency is {currency!r}, not 704 (VND)"
        raise VietQrError(ErrorCode.BAD_VALUE, message, _value_at(payload, "53"))
    if country is None:
        raise _missing("country code (58)", len(payload) - 8)
    if country != "VN":
        raise VietQrError(ErrorCode.BAD_VALUE, f"country is {country!r}, not VN", _value_at(payload, "58"))
    if amount is None:
        return None
    if initiation == "static":
        message = "a static code (01=11) carries an amount (54)"
        raise VietQrError(ErrorCode.AMOUNT_WITH_STATIC, message, _locate(payload, "54"), "amount_vnd")
    if len(amount) > 13 or amount[0] == "0" or not amount.isdigit():
        message = f"amount {amount!r} is not a whole number of đồng from 1"
        raise VietQrError(ErrorCode.BAD_AMOUNT, message, _value_at(payload, "54"), "amount_vnd")
    return int(amount)


def _merchant(payload: str, root: dict[str, str]) -> None:
    """MCC (52), merchant name (59) and city (60) keep EMVCo's formats."""
    mcc, name, city = root.get("52"), root.get("59"), root.get("60")
    if mcc is not None and (len(mcc) != 4 or not mcc.isdigit()):
        raise VietQrError(ErrorCode.BAD_VALUE, f"MCC {mcc!r} is not four digits", _value_at(payload, "52"), "mcc")
    if name is not None and len(name) > _NAME_MAX:
        raise _too_long(payload, "merchant_name", name, _NAME_MAX, "59")
    if city is not None and len(city) > _CITY_MAX:
        raise _too_long(payload, "city", city, _CITY_MAX, "60")


def _additional(payload: str, root: dict[str, str]) -> dict[str, str]:
    """The additional data template (62), its known sub-objects within 25 characters."""
    data = root.get("62")
    if data is None:
        return {}
    additional = _template(payload, data, "additional data 62", "62")
    for tag, value in additional.items():
        if len(value) > _ADDITIONAL_MAX and tag in _ADDITIONAL_FIELD:
            raise _too_long(payload, _ADDITIONAL_FIELD[tag], value, _ADDITIONAL_MAX, "62", tag)
    return additional


def decode(payload: str) -> VietQr:
    """Read a scanned payload, or say exactly why it is not a VietQR code we can pay.

    Structure first (ASCII, TLV framing, CRC last and right), so that a misread scan is reported as
    one; then meaning: format, initiation, the NAPAS template, currency, country, amount, text
    limits. Objects this product has no use for (tips, postal code, ids 64-99, another scheme's
    object beside a NAPAS template, as ZaloPay adds) are accepted and left out. Between 00 first
    and 63 last, root objects may come in any order, as EMVCo allows and some issuers do.
    """
    root = _frame(payload)
    initiation = _initiation(payload, root)
    bin_, account, service = _beneficiary(payload, root)
    amount_vnd = _transaction(payload, root, initiation)
    _merchant(payload, root)
    additional = _additional(payload, root)
    return VietQr(
        bin=bin_,
        account=account,
        service=service,
        initiation=initiation,
        amount_vnd=amount_vnd,
        purpose=additional.get("08"),
        bill=additional.get("01"),
        reference=additional.get("05"),
        terminal=additional.get("07"),
        store=additional.get("03"),
        customer=additional.get("06"),
        merchant_name=root.get("59"),
        city=root.get("60"),
        mcc=root.get("52"),
        crc=root["63"].upper(),
    )
