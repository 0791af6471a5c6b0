"""Properties of the VietQR codec: what it writes it reads back, and nothing it is given breaks it.

The decoder reads payloads from cameras and from anyone who can print a sticker, so it is fuzzed:
arbitrary text, TLV-shaped text, and valid payloads with characters changed, dropped or added,
with and without a CRC recomputed to match, must give a ``VietQr`` or a ``VietQrError``, never
another exception.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qr.vietqr import (
    MAX_AMOUNT_VND,
    ErrorCode,
    Initiation,
    Service,
    VietQr,
    VietQrError,
    crc16_ccitt_false,
    decode,
    encode,
    fold_for_qr,
)

DIGITS = "0123456789"
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậđeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵ ĐƯƠÂÊÔĂ"
SERVICES: tuple[Service, ...] = ("account", "card")
INITIATIONS: tuple[Initiation, ...] = ("static", "dynamic")
ADDITIONAL = ("bill", "store", "reference", "customer", "terminal", "purpose")


def _text(max_size: int) -> st.SearchStrategy[str | None]:
    return st.none() | st.text(PRINTABLE_ASCII, min_size=1, max_size=max_size)


@st.composite
def vietqr_codes(draw: st.DrawFn) -> VietQr:
    """Any code the codec may write: both services, both initiations, any optional fields."""
    service = draw(st.sampled_from(SERVICES))
    initiation = draw(st.sampled_from(INITIATIONS))
    amount = draw(st.none() | st.integers(1, MAX_AMOUNT_VND)) if initiation == "dynamic" else None
    return VietQr(
        bin=draw(st.text(DIGITS, min_size=6, max_size=6)),
        account=draw(st.text(DIGITS if service == "card" else ALNUM, min_size=1, max_size=19)),
        service=service,
        initiation=initiation,
        amount_vnd=amount,
        purpose=draw(_text(25)),
        bill=draw(_text(25)),
        reference=draw(_text(25)),
        terminal=draw(_text(25)),
        store=draw(_text(25)),
        customer=draw(_text(25)),
        merchant_name=draw(_text(25)),
        city=draw(_text(15)),
        mcc=draw(st.none() | st.text(DIGITS, min_size=4, max_size=4)),
    )


def _additional_size(code: VietQr) -> int:
    return sum(4 + len(value) for name in ADDITIONAL if (value := getattr(code, name)) is not None)


def _restamp(payload: str) -> str:
    """The same text with the CRC it would have if it had been written like this."""
    body = payload[:-4]
    try:
        return f"{body}{crc16_ccitt_false(body.encode('ascii')):04X}"
    except UnicodeEncodeError:
        return payload


def _bitwise_crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE straight from its definition, one bit at a time."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _decodes_or_explains(payload: str) -> VietQr | VietQrError:
    try:
        return decode(payload)
    except VietQrError as error:
        refusal = error
    assert refusal.code in set(ErrorCode)
    assert 0 <= refusal.position <= max(len(payload), 512)
    return refusal


# --- CRC ---------------------------------------------------------------------------------------


def test_the_crc_has_the_catalogued_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


@given(st.binary(max_size=600))
@example(b"123456789")
def test_the_crc_is_the_one_its_definition_gives(data: bytes) -> None:
    assert crc16_ccitt_false(data) == _bitwise_crc(data)


# --- round trip --------------------------------------------------------------------------------


@given(vietqr_codes())
def test_every_code_that_fits_reads_back_as_written(code: VietQr) -> None:
    if _additional_size(code) > 99:
        with pytest.raises(VietQrError) as refused:
            encode(code)
        assert refused.value.code == ErrorCode.TOO_LONG
        return
    payload = encode(code)
    decoded = decode(payload)
    assert decoded.crc == payload[-4:]
    assert msgspec.structs.replace(decoded, crc=None) == code


@given(vietqr_codes())
def test_a_written_payload_has_the_shape_banks_expect(code: VietQr) -> None:
    assume(_additional_size(code) <= 99)
    payload = encode(code)
    assert payload.startswith("000201010211" if code.initiation == "static" else "000201010212")
    assert payload.isascii()
    assert payload.isprintable()
    assert payload[-8:-4] == "6304"
    assert payload[-4:] == f"{crc16_ccitt_false(payload[:-4].encode()):04X}"
    if code.amount_vnd is not None:
        assert f"54{len(str(code.amount_vnd)):02d}{code.amount_vnd}5802VN" in payload


@given(vietqr_codes(), st.text(VIETNAMESE, min_size=1, max_size=25))
@example(VietQr(bin="970415", account="113366668888"), "Nộp phí hộ tịch Thuận Hóa")
def test_vietnamese_text_is_written_without_diacritics_and_read_back_folded(code: VietQr, text: str) -> None:
    with_text = msgspec.structs.replace(code, purpose=text, bill=None, store=None, customer=None, terminal=None)
    assume(_additional_size(with_text) <= 99)
    assert decode(encode(with_text)).purpose == fold_for_qr(text)


@given(st.text(VIETNAMESE))
@example("Đặng Thị Ngọc Ánh")
@example("đường Lê Lợi, phường Thuận Hóa")
def test_folding_leaves_ascii_letters_one_for_one(text: str) -> None:
    folded = fold_for_qr(text)
    assert folded.isascii()
    assert len(folded) == len(text)  # precomposed Vietnamese: one base letter per letter
    assert fold_for_qr(folded) == folded


def test_folding_strips_every_mark_and_the_crossed_d() -> None:
    assert fold_for_qr("Nộp phí hộ tịch Đà Nẵng, đường Ưng Văn Khiêm") == "Nop phi ho tich Da Nang, duong Ung Van Khiem"


# --- fuzz --------------------------------------------------------------------------------------


@settings(max_examples=1000)
@given(st.text())
@example("")
@example("000201")
@example("0002010102")
@example("6304")
def test_decoding_any_text_gives_a_code_or_an_explanation(payload: str) -> None:
    _decodes_or_explains(payload)


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(["00", "01", "02", "04", "11", "12", "38", "54", "62", "63", "99", "A", "0", "9"])))
def test_decoding_tlv_shaped_text_gives_a_code_or_an_explanation(pieces: list[str]) -> None:
    payload = "".join(pieces)
    _decodes_or_explains(payload)
    _decodes_or_explains(_restamp(payload + "6304XXXX"))


_MUTATION = st.tuples(st.sampled_from(["replace", "delete", "insert"]), st.integers(0, 10**6), PRINTABLE_ASCII)


@settings(max_examples=500)
@given(vietqr_codes(), st.lists(_MUTATION, min_size=1, max_size=4), st.booleans())
def test_mutated_payloads_give_a_code_or_an_explanation(
    code: VietQr, mutations: list[tuple[str, int, str]], restamp: bool
) -> None:
    assume(_additional_size(code) <= 99)
    payload = encode(code)
    for kind, index, character in mutations:
        at = index % (len(payload) + 1)
        if kind == "replace":
            payload = payload[:at] + character + payload[at + 1 :]
        elif kind == "delete":
            payload = payload[:at] + payload[at + 1 :]
        else:
            payload = payload[:at] + character + payload[at:]
    result = _decodes_or_explains(_restamp(payload) if restamp else payload)
    if isinstance(result, VietQr):
        # Whatever the reader accepts, the writer can write and the reader reads back the same.
        assert msgspec.structs.replace(decode(encode(result)), crc=None) == msgspec.structs.replace(result, crc=None)


@given(vietqr_codes(), st.integers(min_value=0), PRINTABLE_ASCII)
def test_one_misread_character_never_reads_as_a_payment(code: VietQr, index: int, character: str) -> None:
    assume(_additional_size(code) <= 99)
    payload = encode(code)
    at = index % (len(payload) - 4)  # anywhere before the CRC digits
    assume(payload[at] != character)
    with pytest.raises(VietQrError):
        decode(payload[:at] + character + payload[at + 1 :])
