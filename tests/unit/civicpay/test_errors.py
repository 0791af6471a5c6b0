"""Properties of language negotiation, the problem+json body, and the Vietnamese validation messages."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from civicpay.auth.schemas import ApiKeyCreate, LoginCreate, StaffCreate, TotpConfirm
from civicpay.errors import FieldError, Text, _translate, negotiate_language, problem_body
from wallet.schemas import CitizenCreate, TransferCreate

# ---------------------------------------------------------------- Accept-Language

OTHER_TAGS = st.sampled_from(["fr", "de", "zh-CN", "ja", "ko", "th", "es-419", "*", "km", "lo", "ru"])
VI_TAGS = st.sampled_from(["vi", "vi-VN", "VI", "Vi-vn"])
EN_TAGS = st.sampled_from(["en", "en-US", "en-GB", "EN", "en-au"])
# RFC 9110 qvalues: 0 to 1 with at most three decimals; 0 means "not acceptable", so start at 0.001.
QUALITY = st.integers(1, 1000).map(lambda n: f"{n / 1000:g}")


def _weighted(tag: str, quality: str | None) -> str:
    return tag if quality is None else f"{tag};q={quality}"


def test_without_a_header_the_answer_is_vietnamese() -> None:
    assert negotiate_language(None) == "vi"
    assert negotiate_language("") == "vi"


@given(st.text())
@example("en;q=")
@example(";;,,;q=1")
@example("en;q=abc, vi;q=nan")
def test_any_header_gives_one_of_the_two_languages(header: str) -> None:
    assert negotiate_language(header) in ("vi", "en")


@given(st.lists(st.tuples(OTHER_TAGS, st.none() | QUALITY), max_size=5))
def test_a_caller_who_names_no_english_gets_vietnamese(parts: list[tuple[str, str | None]]) -> None:
    assert negotiate_language(", ".join(_weighted(tag, q) for tag, q in parts)) == "vi"


@given(EN_TAGS, st.none() | QUALITY, st.lists(st.tuples(OTHER_TAGS, st.none() | QUALITY), max_size=3))
def test_english_as_the_only_product_language_named_gives_english(
    tag: str, quality: str | None, others: list[tuple[str, str | None]]
) -> None:
    parts = [_weighted(t, q) for t, q in others] + [_weighted(tag, quality)]
    assert negotiate_language(", ".join(parts)) == "en"


@given(vi=VI_TAGS, en=EN_TAGS, q_vi=QUALITY, q_en=QUALITY, english_first=st.booleans(), spaces=st.booleans())
@example(vi="vi", en="en-US", q_vi="0.8", q_en="0.9", english_first=False, spaces=False)
@example(vi="vi-VN", en="en", q_vi="1", q_en="0.5", english_first=True, spaces=True)
def test_the_language_with_the_higher_quality_wins_in_any_order(
    vi: str, en: str, q_vi: str, q_en: str, english_first: bool, spaces: bool
) -> None:
    if float(q_vi) == float(q_en):
        return
    parts = [_weighted(vi, q_vi), _weighted(en, q_en)]
    if english_first:
        parts.reverse()
    separator = " , " if spaces else ","
    expected = "en" if float(q_en) > float(q_vi) else "vi"
    assert negotiate_language(separator.join(parts)) == expected


# RFC 9110 §12.4.2: a qvalue of 0 means "not acceptable".
@given(en=EN_TAGS, others=st.lists(OTHER_TAGS, max_size=3))
def test_english_marked_not_acceptable_is_never_chosen(en: str, others: list[str]) -> None:
    assert negotiate_language(", ".join([*others, f"{en};q=0"])) == "vi"


# ---------------------------------------------------------------- problem+json

TEXT = st.text(max_size=40)
TEXTS = st.builds(Text, TEXT, TEXT)
CODE = st.from_regex(r"[a-z][a-z_]{0,30}", fullmatch=True)
# RFC 9457's members, plus the product's stable `code` and the field `errors`.
STANDARD = {"type", "title", "status", "detail", "instance", "code", "errors"}
EXTRA = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in STANDARD),
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    max_size=4,
)


@given(
    lang=st.sampled_from(["vi", "en"]),
    status=st.integers(400, 599),
    code=CODE,
    title=TEXTS,
    detail=st.none() | TEXTS,
    errors=st.none() | st.lists(st.builds(FieldError, TEXT, TEXT), max_size=3),
    extra=st.none() | EXTRA,
)
def test_a_problem_body_is_rfc_9457_json_in_the_callers_language(
    lang: Any,
    status: int,
    code: str,
    title: Text,
    detail: Text | None,
    errors: list[FieldError] | None,
    extra: dict[str, Any] | None,
) -> None:
    body = msgspec.json.decode(
        problem_body(lang, status=status, code=code, title=title, detail=detail, errors=errors, extra=extra)
    )
    assert body["type"] == f"urn:civicpay:problem:{code}"
    assert body["title"] == title.pick(lang)
    assert body["status"] == status
    assert body["code"] == code
    assert body.get("detail") == (detail.pick(lang) if detail is not None else None)
    assert ("detail" in body) == (detail is not None)
    assert body.get("errors", []) == [{"field": e.field, "message": e.message} for e in errors or []]
    for key, value in (extra or {}).items():
        assert body[key] == value
    assert set(body) <= STANDARD | set(extra or {})


@given(member=st.sampled_from(sorted(STANDARD)), value=st.integers() | TEXT)
def test_extension_members_never_replace_the_standard_ones(member: str, value: object) -> None:
    body = msgspec.json.decode(
        problem_body("en", status=422, code="limit", title=Text("vi", "en"), detail=None, extra={member: value})
    )
    expected = {"type": "urn:civicpay:problem:limit", "title": "en", "status": 422, "code": "limit"}
    assert {name: body.get(name) for name in STANDARD} == {**dict.fromkeys(STANDARD), **expected}


# ---------------------------------------------------------------- Vietnamese validation messages

REQUEST_STRUCTS: list[type[msgspec.Struct]] = [
    CitizenCreate,
    TransferCreate,
    LoginCreate,
    StaffCreate,
    TotpConfirm,
    ApiKeyCreate,
]
# Field names as clients send them; odd ones (empty, with backticks) have a test of their own below.
KEY = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=3),
    max_leaves=5,
)
FALLBACK = "Giá trị không hợp lệ ("


@st.composite
def _invalid_bodies(draw: st.DrawFn) -> tuple[type[msgspec.Struct], Any]:
    """A request struct and a JSON body for it: some fields missing, mistyped, out of bounds or unknown."""
    struct = draw(st.sampled_from(REQUEST_STRUCTS))
    body: dict[str, Any] = {}
    for name in struct.__struct_fields__:
        if draw(st.booleans()):
            body[name] = draw(JSON | st.text(max_size=300) | st.integers(-(10**20), 10**20))
    if draw(st.integers(0, 4)) == 0:
        body[draw(KEY)] = draw(JSON)
    return struct, draw(st.just(body) | JSON)


def _msgspec_message(struct: type[msgspec.Struct], body: Any) -> str | None:
    """The message Litestar puts in a 400: msgspec's, converted leniently, cut before " - at `$...`"."""
    try:
        msgspec.convert(body, struct, strict=False)
    except msgspec.ValidationError as error:
        return str(error).split(" - ", maxsplit=1)[0]
    return None


@given(_invalid_bodies())
@example((TransferCreate, {"to_phone": "0987654321", "amount_vnd": 0}))
@example((TransferCreate, {"to_phone": "", "amount_vnd": 10**14}))
@example((CitizenCreate, {"phone": "1", "citizen_id": "12", "full_name": "A", "password": "p"}))
@example((StaffCreate, {"phone": "1", "full_name": "A", "password": "p", "role": "boss"}))
@example((LoginCreate, {"phone": "1", "password": "p", "surprise": 1}))
@example((TotpConfirm, {"code": 123456}))
def test_every_message_msgspec_gives_for_a_request_has_a_vietnamese_form(
    case: tuple[type[msgspec.Struct], Any],
) -> None:
    message = _msgspec_message(*case)
    if message is None:
        return
    vietnamese = _translate(message)
    assert not vietnamese.startswith(FALLBACK), message
    words = re.sub(r"`[^`]*`|'.*'", "", vietnamese)  # the names and values quoted from the request
    for english in ("Expected", "Object", "field", "Invalid", "got"):
        assert english not in words, (message, vietnamese)
    # What the caller needs to fix survives translation: the field, the types, the bound, the value.
    for name in re.findall(r"field `([^`]+)`", message) + re.findall(r"got `([^`]+)`", message):
        assert f"`{name}`" in vietnamese, (message, vietnamese)
    if "matching regex" not in message:
        assert re.findall(r"-?\d+", message) == re.findall(r"-?\d+", vietnamese), (message, vietnamese)
    if enum := re.search(r"Invalid enum value (.+)", message):
        assert enum[1] in vietnamese


@given(st.sampled_from(["", "`", "a`b", "``x"]))
def test_odd_unknown_field_names_are_named_in_vietnamese_too(name: str) -> None:
    message = _msgspec_message(TransferCreate, {"to_phone": "0987654321", "amount_vnd": 1, name: 0})
    assert message is not None
    vietnamese = _translate(message)
    assert not vietnamese.startswith(FALLBACK)
    assert f"`{name}`" in vietnamese


@pytest.mark.parametrize(
    ("english", "vietnamese"),
    [
        ("Object missing required field `phone`", "Thiếu trường bắt buộc `phone`"),
        ("Object contains unknown field `surprise`", "Trường `surprise` không được chấp nhận"),
        ("Expected `int`, got `str`", "Cần giá trị kiểu `int`, nhận được `str`"),
        ("Expected `str` of length <= 32", "Độ dài phải <= 32"),
        ("Expected `int` >= 1", "Giá trị phải >= 1"),
        ("Expected `str` matching regex '^[0-9]{12}$'", "Không đúng định dạng"),
        ("Invalid enum value 'boss'", "Giá trị 'boss' không thuộc danh sách cho phép"),
        ("Missing required header parameter 'Idempotency-Key'", "Thiếu tham số `Idempotency-Key`"),
    ],
)
def test_the_translations_read_as_vietnamese(english: str, vietnamese: str) -> None:
    assert _translate(english) == vietnamese


@given(st.text(max_size=80))
def test_a_message_without_a_known_form_is_kept_inside_a_vietnamese_sentence(message: str) -> None:
    translated = _translate(message)
    assert translated.startswith(FALLBACK) or translated != message
    if translated.startswith(FALLBACK):
        assert translated == f"{FALLBACK}{message})"
