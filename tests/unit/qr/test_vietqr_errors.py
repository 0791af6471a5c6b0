"""Every refusal of the VietQR codec: its stable code, and where in the payload the reader stopped.

Payloads that must get past the CRC to reach the rule under test are stamped with their own CRC
(``_stamp``), so each case fails for the one reason it is named after.
"""

from __future__ import annotations

import msgspec
import pytest

from qr.vietqr import MAX_AMOUNT_VND, ErrorCode, VietQr, VietQrError, crc16_ccitt_false, decode, encode

HEAD = "000201"
STATIC, DYNAMIC = "010211", "010212"
NAPAS_38 = "38570010A00000072701270006970403011300110123456780208QRIBFTTA"  # the spec's account 0011012345678
TAIL = "5303704" + "5802VN"
VALID = HEAD + STATIC + NAPAS_38 + TAIL  # without its CRC


def _obj(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _napas(
    guid: str = "A000000727", bin_: str = "970403", account: str = "0011012345678", service: str = "QRIBFTTA"
) -> str:
    beneficiary = _obj("00", bin_) + _obj("01", account)
    return _obj("38", _obj("00", guid) + _obj("01", beneficiary) + _obj("02", service))


def _stamp(body: str) -> str:
    body += "6304"
    return f"{body}{crc16_ccitt_false(body.encode()):04X}"


def _refusal(payload: str) -> VietQrError:
    with pytest.raises(VietQrError) as refused:
        decode(payload)
    return refused.value


def test_the_reference_payload_is_valid() -> None:
    assert decode(_stamp(VALID)).account == "0011012345678"


# --- structure ---------------------------------------------------------------------------------

CASES: list[tuple[str, str, ErrorCode, int]] = [
    # name, payload, code, position
    ("empty", "", ErrorCode.BAD_LENGTH, 0),
    ("shorter than a header", "000", ErrorCode.BAD_LENGTH, 3),
    ("longer than EMVCo allows", _stamp(VALID + _obj("99", "x" * 99) * 5), ErrorCode.BAD_LENGTH, 512),
    ("truncated scan", _stamp(VALID)[:-3], ErrorCode.BAD_LENGTH, len(VALID) + 2),
    ("length not digits", HEAD + "01A211", ErrorCode.BAD_LENGTH, 8),
    ("length zero", HEAD + "0100", ErrorCode.BAD_LENGTH, 8),
    ("value runs past the end", HEAD + "0120" + "11", ErrorCode.BAD_LENGTH, 8),
    ("leftover characters", HEAD + STATIC + "63", ErrorCode.BAD_LENGTH, 12),
    ("framing broken inside 38", _stamp(HEAD + STATIC + "3806" + "0010A0" + TAIL), ErrorCode.BAD_LENGTH, 18),
    ("id not digits", HEAD + "X10211", ErrorCode.BAD_ID, 6),
    ("duplicate root object", _stamp(HEAD + STATIC + STATIC + NAPAS_38 + TAIL), ErrorCode.DUPLICATE_ID, 12),
    (
        "duplicate inside 62",
        _stamp(VALID + _obj("62", _obj("08", "a") + _obj("08", "b"))),
        ErrorCode.DUPLICATE_ID,
        len(VALID) + 9,
    ),
    ("vietnamese letter", VALID + "62050801á", ErrorCode.NON_ASCII, len(VALID) + 8),
    ("trailing newline", _stamp(VALID) + "\n", ErrorCode.NON_ASCII, len(VALID) + 8),
    ("no crc", VALID, ErrorCode.MISSING_OBJECT, len(VALID)),
    ("crc not last", _stamp(VALID) + _obj("64", "vi"), ErrorCode.CRC_NOT_LAST, len(VALID)),
    ("crc wrong", VALID + "63040000", ErrorCode.BAD_CRC, len(VALID) + 4),
    ("crc not hex", VALID + "6304XYZW", ErrorCode.BAD_CRC, len(VALID) + 4),
    ("crc too short", VALID + "6303ABC", ErrorCode.BAD_CRC, len(VALID) + 4),
    ("does not start with 00", "01021100020" + "1", ErrorCode.BAD_FORMAT_INDICATOR, 0),
    ("format 02", _stamp("000202" + STATIC + NAPAS_38 + TAIL), ErrorCode.BAD_FORMAT_INDICATOR, 4),
]


@pytest.mark.parametrize(("payload", "code", "position"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_malformed_payload_is_refused_where_it_breaks(payload: str, code: ErrorCode, position: int) -> None:
    refusal = _refusal(payload)
    assert (refusal.code, refusal.position) == (code, position), str(refusal)


# --- meaning -----------------------------------------------------------------------------------

END_OF_ROOT = len(VALID)  # a missing root object is reported where the CRC starts: it comes last
# Positions inside template 38 add up what comes before: 12 (objects 00 and 01), 4 (38's id and
# length), 14 (38.00, the GUID), 4 (38.01's id and length), 10 (38.01.00, the BIN), 4 (38.01.01's).
MEANING: list[tuple[str, str, ErrorCode, int]] = [
    ("no initiation", _stamp(HEAD + NAPAS_38 + TAIL), ErrorCode.MISSING_OBJECT, END_OF_ROOT - 6),
    ("initiation 13", _stamp(HEAD + "010213" + NAPAS_38 + TAIL), ErrorCode.BAD_INITIATION, 10),
    ("no merchant account", _stamp(HEAD + STATIC + TAIL), ErrorCode.MISSING_OBJECT, 12 + len(TAIL)),
    ("no currency", _stamp(HEAD + STATIC + NAPAS_38 + "5802VN"), ErrorCode.MISSING_OBJECT, END_OF_ROOT - 7),
    ("no country", _stamp(HEAD + STATIC + NAPAS_38 + "5303704"), ErrorCode.MISSING_OBJECT, END_OF_ROOT - 6),
    (
        "no guid",
        _stamp(HEAD + STATIC + _obj("38", "0116" + "0006970403" + "010212" + "0208QRIBFTTA") + TAIL),
        ErrorCode.MISSING_OBJECT,
        12 + 4 + 32,
    ),
    (
        "no service code",
        _stamp(HEAD + STATIC + _obj("38", "0010A000000727" + "0116" + "0006970403" + "0102" + "12") + TAIL),
        ErrorCode.MISSING_OBJECT,
        12 + 4 + 34,
    ),
    (
        "no bin",
        _stamp(HEAD + STATIC + _obj("38", "0010A000000727" + "0106" + "0102" + "12" + "0208QRIBFTTA") + TAIL),
        ErrorCode.MISSING_OBJECT,
        12 + 4 + 14 + 4 + 6,
    ),
    ("another guid in 38", _stamp(HEAD + STATIC + _napas(guid="A000000775") + TAIL), ErrorCode.NOT_NAPAS, 20),
    ("unionpay", _stamp(HEAD + STATIC + _obj("15", "6201234567890123") + TAIL), ErrorCode.NOT_NAPAS, 12),
    ("napas guid in 26", _stamp(HEAD + STATIC + _obj("26", "0010A000000727") + TAIL), ErrorCode.NOT_NAPAS, 12),
    (
        "service QRPUSH",
        _stamp(HEAD + STATIC + _napas(service="QRPUSH") + TAIL),
        ErrorCode.BAD_VALUE,
        12 + 4 + 14 + 4 + 27 + 4,
    ),
    (
        "bin of five digits",
        _stamp(HEAD + STATIC + _napas(bin_="97040") + TAIL),
        ErrorCode.BAD_VALUE,
        12 + 4 + 14 + 4 + 4,
    ),
    (
        "account with a dash",
        _stamp(HEAD + STATIC + _napas(account="0011-01") + TAIL),
        ErrorCode.BAD_VALUE,
        12 + 4 + 14 + 4 + 10 + 4,
    ),
    (
        "card with letters",
        _stamp(HEAD + STATIC + _napas(account="9704AB", service="QRIBFTTC") + TAIL),
        ErrorCode.BAD_VALUE,
        12 + 4 + 14 + 4 + 10 + 4,
    ),
    (
        "account of 20",
        _stamp(HEAD + STATIC + _napas(account="1" * 20) + TAIL),
        ErrorCode.TOO_LONG,
        12 + 4 + 14 + 4 + 10 + 4,
    ),
    (
        "currency 840",
        _stamp(HEAD + STATIC + NAPAS_38 + "5303840" + "5802VN"),
        ErrorCode.BAD_VALUE,
        len(HEAD + STATIC + NAPAS_38) + 4,
    ),
    ("country US", _stamp(HEAD + STATIC + NAPAS_38 + "5303704" + "5802US"), ErrorCode.BAD_VALUE, END_OF_ROOT - 2),
    (
        "amount on a static code",
        _stamp(HEAD + STATIC + NAPAS_38 + "5303704" + "540510000" + "5802VN"),
        ErrorCode.AMOUNT_WITH_STATIC,
        len(HEAD + STATIC + NAPAS_38) + 7,
    ),
    (
        "amount with a leading zero",
        _stamp(HEAD + DYNAMIC + NAPAS_38 + "5303704" + "540501000" + "5802VN"),
        ErrorCode.BAD_AMOUNT,
        len(HEAD + STATIC + NAPAS_38) + 11,
    ),
    (
        "amount with decimals",
        _stamp(HEAD + DYNAMIC + NAPAS_38 + "5303704" + _obj("54", "1000.50") + "5802VN"),
        ErrorCode.BAD_AMOUNT,
        len(HEAD + STATIC + NAPAS_38) + 11,
    ),
    (
        "amount of 14 digits",
        _stamp(HEAD + DYNAMIC + NAPAS_38 + "5303704" + _obj("54", "1" * 14) + "5802VN"),
        ErrorCode.BAD_AMOUNT,
        len(HEAD + STATIC + NAPAS_38) + 11,
    ),
    (
        "mcc of letters",
        _stamp(HEAD + STATIC + NAPAS_38 + "5204ABCD" + TAIL),
        ErrorCode.BAD_VALUE,
        len(HEAD + STATIC + NAPAS_38) + 4,
    ),
    ("name of 26", _stamp(VALID + _obj("59", "N" * 26)), ErrorCode.TOO_LONG, len(VALID) + 4),
    ("city of 16", _stamp(VALID + _obj("60", "C" * 16)), ErrorCode.TOO_LONG, len(VALID) + 4),
    (
        "purpose of 26",
        _stamp(VALID + _obj("62", _obj("01", "B") + _obj("08", "P" * 26))),
        ErrorCode.TOO_LONG,
        len(VALID) + 4 + 5 + 4,
    ),
    ("framing broken inside 62", _stamp(VALID + _obj("62", "0805abc")), ErrorCode.BAD_LENGTH, len(VALID) + 6),
]


@pytest.mark.parametrize(
    ("payload", "code", "position"), [case[1:] for case in MEANING], ids=[case[0] for case in MEANING]
)
def test_a_well_formed_payload_that_is_not_a_payable_vietqr_is_refused_at_the_object(
    payload: str, code: ErrorCode, position: int
) -> None:
    refusal = _refusal(payload)
    assert (refusal.code, refusal.position) == (code, position), str(refusal)


def test_every_error_code_is_exercised() -> None:
    assert {case[2] for case in CASES + MEANING} == set(ErrorCode)


def test_objects_we_do_not_use_are_accepted_and_left_out() -> None:
    extras = (
        _obj("26", "0010A000000775") + _obj("55", "01") + _obj("61", "53000") + _obj("64", "0002vi") + _obj("99", "x")
    )
    code = decode(_stamp(HEAD + STATIC + extras[:18] + NAPAS_38 + TAIL + extras[18:]))
    assert (code.bin, code.account) == ("970403", "0011012345678")


def test_the_message_says_what_is_wrong_in_words() -> None:
    refusal = _refusal(_stamp(HEAD + STATIC + NAPAS_38 + "5303704" + "540510000" + "5802VN"))
    assert "static" in refusal.message
    assert refusal.field == "amount_vnd"
    assert isinstance(refusal, ValueError)


# --- encoding ----------------------------------------------------------------------------------

BASE = VietQr(bin="970403", account="0011012345678")
ENCODING: list[tuple[str, VietQr, ErrorCode, str | None, int]] = [
    ("bin of letters", msgspec.structs.replace(BASE, bin="97O403"), ErrorCode.BAD_VALUE, "bin", 0),
    ("account with a space", msgspec.structs.replace(BASE, account="0011 0123"), ErrorCode.BAD_VALUE, "account", 0),
    ("empty account", msgspec.structs.replace(BASE, account=""), ErrorCode.BAD_VALUE, "account", 0),
    (
        "card with letters",
        msgspec.structs.replace(BASE, service="card", account="9704AB"),
        ErrorCode.BAD_VALUE,
        "account",
        0,
    ),
    ("account of 20", msgspec.structs.replace(BASE, account="1" * 20), ErrorCode.TOO_LONG, "account", 19),
    (
        "amount on static",
        msgspec.structs.replace(BASE, amount_vnd=10_000),
        ErrorCode.AMOUNT_WITH_STATIC,
        "amount_vnd",
        0,
    ),
    (
        "amount zero",
        msgspec.structs.replace(BASE, initiation="dynamic", amount_vnd=0),
        ErrorCode.BAD_AMOUNT,
        "amount_vnd",
        0,
    ),
    (
        "amount too big",
        msgspec.structs.replace(BASE, initiation="dynamic", amount_vnd=MAX_AMOUNT_VND + 1),
        ErrorCode.BAD_AMOUNT,
        "amount_vnd",
        0,
    ),
    (
        "amount true",
        msgspec.structs.replace(BASE, initiation="dynamic", amount_vnd=True),
        ErrorCode.BAD_AMOUNT,
        "amount_vnd",
        0,
    ),
    ("mcc of three", msgspec.structs.replace(BASE, mcc="939"), ErrorCode.BAD_VALUE, "mcc", 0),
    ("purpose with an emoji", msgspec.structs.replace(BASE, purpose="Phí 🎉"), ErrorCode.NON_ASCII, "purpose", 4),
    ("purpose of 26 after folding", msgspec.structs.replace(BASE, purpose="Đ" * 26), ErrorCode.TOO_LONG, "purpose", 25),
    ("city of 16", msgspec.structs.replace(BASE, city="Thành phố Huế ab"), ErrorCode.TOO_LONG, "city", 15),
    ("empty name", msgspec.structs.replace(BASE, merchant_name=""), ErrorCode.BAD_VALUE, "merchant_name", 0),
    (
        "additional data over 99",
        msgspec.structs.replace(BASE, bill="B" * 25, reference="R" * 25, purpose="P" * 25, store="S" * 10),
        ErrorCode.TOO_LONG,
        None,
        99,
    ),
]


@pytest.mark.parametrize(
    ("code", "error", "field", "position"), [case[1:] for case in ENCODING], ids=[case[0] for case in ENCODING]
)
def test_fields_that_cannot_make_a_code_are_refused_not_truncated(
    code: VietQr, error: ErrorCode, field: str | None, position: int
) -> None:
    with pytest.raises(VietQrError) as refused:
        encode(code)
    assert (refused.value.code, refused.value.field, refused.value.position) == (error, field, position)
