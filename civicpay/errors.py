"""Typed domain errors and their RFC 9457 problem+json form, in Vietnamese or English.

Services raise ``DomainError`` subclasses and never HTTP exceptions; this module is the one place
that turns an error, ours or the framework's, into a response. The ``code`` is the stable
contract with clients; titles and details are for people.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
import sqlalchemy.exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

log = logging.getLogger("civicpay")

Language = Literal["vi", "en"]
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Text:
    """One message in both languages the product speaks."""

    vi: str
    en: str

    def pick(self, lang: Language) -> str:
        return self.vi if lang == "vi" else self.en


class FieldError(msgspec.Struct, frozen=True):
    field: Annotated[
        str,
        msgspec.Meta(
            description="Where: a body field (`amount_vnd`, `items.0.phone`), or `header.`, `query.`, `path.` and "
            "the parameter's name as sent (`header.Idempotency-Key`)",
            examples=["amount_vnd"],
        ),
    ]
    message: Annotated[str, msgspec.Meta(description="What is wrong with it, in the answer's language")]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer: RFC 9457 problem details (``application/problem+json``), written by ``problem_body``.

    Some codes add members of their own (``retry_after_seconds``, ``collection_status``, ``reason`` and
    ``position``...), so a client reads ``code`` and ignores members it does not know.
    """

    type: Annotated[str, msgspec.Meta(description="`urn:civicpay:problem:` and the code")]
    title: Annotated[str, msgspec.Meta(description="What went wrong, for people (Vietnamese unless English is asked)")]
    status: Annotated[int, msgspec.Meta(description="The HTTP status, repeated")]
    code: Annotated[str, msgspec.Meta(description="The stable, machine-readable reason: branch on this")]
    detail: Annotated[str | None, msgspec.Meta(description="More about this occurrence, for people")] = None
    errors: Annotated[
        list[FieldError] | None, msgspec.Meta(description="The fields at fault, for validation errors")
    ] = None


class DomainError(Exception):
    """A failure the caller can act on. Subclasses fix ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    title: ClassVar[Text] = Text("Yêu cầu không hợp lệ", "Invalid request")
    # Whether an Idempotency-Key keeps this refusal as its answer. False for refusals that ask the
    # caller to prove something (an OTP) and send the same request again.
    replayable: ClassVar[bool] = True

    def __init__(self, detail: Text | None = None, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail.en if detail else self.title.en)
        self.detail = detail
        self.field = field
        self.extra = extra


F = TypeVar("F", bound=Callable[..., Any])


def may_raise(*errors: type[DomainError]) -> Callable[[F], F]:
    """Name errors a function raises where reading its code cannot see them (through a method of an
    object, or an error kept in a variable), so the API documentation lists them on every route that
    calls it (``civicpay.apidocs.raises``)."""

    def declare(function: F) -> F:
        function.__dict__.setdefault("__may_raise__", ())
        function.__dict__["__may_raise__"] += errors
        return function

    return declare


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = Text("Không tìm thấy", "Not found")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = Text("Xung đột với trạng thái hiện tại", "Conflicts with the current state")


class InvalidField(DomainError):
    """One field of the request breaks a rule that a schema cannot express."""

    code = "validation_failed"
    status = 422
    title = Text("Dữ liệu không hợp lệ", "The request data is invalid")


def negotiate_language(accept_language: str | None) -> Language:
    """Vietnamese unless the caller prefers English: the highest q-value wins, the first listed on a tie.

    Vietnamese is also the answer when neither language is acceptable: it is the product's first language.
    """
    best: tuple[float, Language] = (-1.0, "vi")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        if lang not in ("vi", "en"):
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality <= 0:
            continue  # RFC 9110 §12.4.2: q=0 means "not acceptable"
        if quality > best[0]:
            best = (quality, "vi" if lang == "vi" else "en")
    return best[1]


_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code", "errors"})


def problem_body(
    lang: Language,
    *,
    status: int,
    code: str,
    title: Text,
    detail: Text | None = None,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    # An extension member never stands in for a standard one, present or not.
    body: dict[str, Any] = {name: value for name, value in (extra or {}).items() if name not in _STANDARD_MEMBERS}
    body |= {
        "type": f"urn:civicpay:problem:{code}",
        "title": title.pick(lang),
        "status": status,
        "code": code,
    }
    if detail is not None:
        body["detail"] = detail.pick(lang)
    if errors:
        body["errors"] = errors
    return msgspec.json.encode(body)


def render_domain_error(error: DomainError, lang: Language) -> bytes:
    errors = None
    if error.field is not None:
        errors = [FieldError(error.field, (error.detail or error.title).pick(lang))]
    return problem_body(
        lang,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        errors=errors,
        extra=error.extra,
    )


def _problem_response(request: Request[Any, Any, Any], status: int, content: bytes) -> Response[bytes]:
    lang = negotiate_language(request.headers.get("accept-language"))
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers={"Content-Language": lang})


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    lang = negotiate_language(request.headers.get("accept-language"))
    response = _problem_response(request, exc.status, render_domain_error(exc, lang))
    if "retry_after_seconds" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after_seconds"])
    return response


# msgspec's English messages, as Litestar passes them on, and their Vietnamese form.
_NO_BODY = "A JSON request body is required"
_MESSAGE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(re.escape(_NO_BODY)), "Cần nội dung yêu cầu dạng JSON"),
    (re.compile(r"Object missing required field `(?P<f>.*)`"), "Thiếu trường bắt buộc `{f}`"),
    (re.compile(r"Object contains unknown field `(?P<f>.*)`"), "Trường `{f}` không được chấp nhận"),
    (re.compile(r"Expected `(?P<t>[^`]+)`, got `(?P<g>[^`]+)`"), "Cần giá trị kiểu `{t}`, nhận được `{g}`"),
    (re.compile(r"Expected `[^`]+` of length (?P<op>[<>]=?) (?P<n>\d+)"), "Độ dài phải {op} {n}"),
    (re.compile(r"Expected `[^`]+` (?P<op>[<>]=?) (?P<n>-?\d+)"), "Giá trị phải {op} {n}"),
    (re.compile(r"Expected `str` matching regex"), "Không đúng định dạng"),
    (re.compile(r"Invalid enum value (?P<v>.+)"), "Giá trị {v} không thuộc danh sách cho phép"),
    (re.compile(r"Missing required (?P<k>header|query|path|cookie) parameter '(?P<f>[^']+)'"), "Thiếu tham số `{f}`"),
]
_FIELD_IN_MESSAGE = re.compile(r"field `(?P<f>[^`]+)`|parameter '(?P<p>[^']+)'")
_PARAMETER_KIND = re.compile(r"header|query|path|cookie")


def _translate(message: str) -> str:
    for pattern, vietnamese in _MESSAGE_PATTERNS:
        if match := pattern.search(message):
            return vietnamese.format(**match.groupdict())
    return f"Giá trị không hợp lệ ({message})"


def _wire_name(request: Request[Any, Any, Any], key: str) -> str:
    """A parameter's name as the client sends it (``Idempotency-Key``), not its Python name."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    kwarg = getattr(parameter, "kwarg_definition", None)
    return str(getattr(kwarg, "header", None) or getattr(kwarg, "name", None) or key)


def _field_errors(request: Request[Any, Any, Any], exc: ValidationException, lang: Language) -> list[FieldError]:
    # Body errors come as a list in `extra`; a missing header or query parameter only in `detail`.
    items = exc.extra if isinstance(exc.extra, list) else [{"message": exc.detail}]
    errors = []
    for item in items:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        key = str(item.get("key") or "")
        if item.get("field_named"):  # the body's decoder named the field itself (civicpay.bodies)
            errors.append(FieldError(key or "body", message if lang == "en" else _translate(message)))
            continue
        named = _FIELD_IN_MESSAGE.search(message)
        if named and named["p"]:
            message = message.split(" for path ", maxsplit=1)[0]
            key = f"{(_PARAMETER_KIND.search(message) or [''])[0]}.{named['p']}"
        elif named and (key in ("", "data") or "missing" in message or "unknown" in message):
            key = ".".join(filter(None, (key if key != "data" else "", named["f"])))
        if key == "data":  # the body as a whole: Litestar names it after the handler's argument
            key = "body"
            message = _NO_BODY if message == "'data'" else message
        source = getattr(item.get("source"), "value", item.get("source"))
        if source and source != "body" and key:
            key = f"{source}.{_wire_name(request, key)}"
        errors.append(FieldError(key or "body", message if lang == "en" else _translate(message)))
    return errors


# The words of the answers the framework's own refusals become; the API documentation quotes them too.
VALIDATION_FAILED = ("validation_failed", Text("Dữ liệu không hợp lệ", "The request data is invalid"))
VALIDATION_DETAIL = Text("Kiểm tra các trường được nêu trong `errors`.", "Check the fields listed in `errors`.")
INVALID_JSON = ("invalid_json", Text("Nội dung yêu cầu không phải JSON hợp lệ", "The request body is not valid JSON"))
INTERNAL_ERROR = ("internal_error", Text("Lỗi hệ thống, vui lòng thử lại", "Internal error, please try again"))
DATABASE_BUSY = (
    "busy",
    Text("Hệ thống đang quá tải, vui lòng thử lại sau giây lát", "The service is busy, try again soon"),
)


_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def split_validation_error(error: msgspec.ValidationError, *, under: str = "") -> tuple[str, str]:
    """msgspec's message and the field it is about: ``("Expected `int`, got `str`", "amount_vnd")``.

    The field is the path from the body (``items[0].amount_vnd``; ``under`` when the value decoded sits there in
    the body), with the name of a missing or unknown field added; empty for the body itself.
    """
    text = str(error)
    at = _AT_PATH.search(text)
    message, path = (text, "") if at is None else (text[: at.start()], at["path"].removeprefix("."))
    field = ".".join(part for part in (under, path) if part)
    named = _FIELD_IN_MESSAGE.search(message)
    if named and named["f"] and ("missing" in message or "unknown" in message):
        field = f"{field}.{named['f']}" if field else named["f"]
    return message, field


class Malformed(DomainError):
    """A part of a body that a service reads into its type only later (a webhook's object) does not fit it."""

    code = "validation_failed"
    status = 400
    title = Text("Dữ liệu không hợp lệ", "The request data is invalid")


def malformed(error: msgspec.ValidationError, *, under: str) -> Malformed:
    """The refusal of the value at ``under`` in the body, naming the field as the body's own errors do."""
    message, field = split_validation_error(error, under=under)
    return Malformed(Text(_translate(message), message), field=field or "body")


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    lang = negotiate_language(request.headers.get("accept-language"))
    errors = _field_errors(request, exc, lang)
    code, title = VALIDATION_FAILED
    body = problem_body(lang, status=400, code=code, title=title, detail=VALIDATION_DETAIL, errors=errors)
    return _problem_response(request, 400, body)


HTTP_TITLES: dict[int, tuple[str, Text]] = {
    400: ("bad_request", Text("Yêu cầu không hợp lệ", "Bad request")),
    401: ("unauthenticated", Text("Cần đăng nhập", "Authentication required")),
    403: ("forbidden", Text("Không có quyền truy cập", "Forbidden")),
    404: ("not_found", Text("Không tìm thấy", "Not found")),
    405: ("method_not_allowed", Text("Phương thức không được hỗ trợ", "Method not allowed")),
    413: ("payload_too_large", Text("Nội dung quá lớn", "Payload too large")),
    415: ("unsupported_media_type", Text("Kiểu nội dung không được hỗ trợ", "Unsupported media type")),
    429: ("rate_limited", Text("Quá nhiều yêu cầu, vui lòng thử lại sau", "Too many requests, try again later")),
}


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    lang = negotiate_language(request.headers.get("accept-language"))
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    code, title = HTTP_TITLES.get(status, ("http_error", Text("Yêu cầu không thành công", "Request failed")))
    if status == 400 and "JSON is malformed" in exc.detail:
        code, title = INVALID_JSON
    body = problem_body(lang, status=status, code=code, title=title)
    response = _problem_response(request, status, body)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # The traceback goes to the log, never to the caller.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    lang = negotiate_language(request.headers.get("accept-language"))
    code, title = INTERNAL_ERROR
    return _problem_response(request, 500, problem_body(lang, status=500, code=code, title=title))


def database_busy_handler(request: Request[Any, Any, Any], exc: sqlalchemy.exc.TimeoutError) -> Response[bytes]:
    """Every pooled connection stayed busy for the pool's whole timeout: a load to shed, not a bug.

    503 with Retry-After, so clients and load balancers back off, and one log line, not a traceback.
    """
    log.warning("database pool exhausted on %s %s: %s", request.method, request.url.path, exc)
    lang = negotiate_language(request.headers.get("accept-language"))
    code, title = DATABASE_BUSY
    response = _problem_response(request, 503, problem_body(lang, status=503, code=code, title=title))
    response.headers["Retry-After"] = "1"
    return response


class NulCharacter(DomainError):
    code = "nul_character"
    status = 400
    title = Text("Dữ liệu chứa ký tự NUL (\\u0000)", "The request contains a NUL character (\\u0000)")


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """PostgreSQL text cannot hold NUL: refuse it here, for every route, not as a 500 at the database."""
    if request.method in {"POST", "PUT", "PATCH"} and b"\\u0000" in await request.body():
        raise NulCharacter()


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    sqlalchemy.exc.TimeoutError: database_busy_handler,
    Exception: internal_error_handler,
}

__all__ = [
    "DATABASE_BUSY",
    "EXCEPTION_HANDLERS",
    "HTTP_TITLES",
    "INTERNAL_ERROR",
    "INVALID_JSON",
    "PROBLEM_JSON",
    "VALIDATION_DETAIL",
    "VALIDATION_FAILED",
    "Conflict",
    "DomainError",
    "FieldError",
    "InvalidField",
    "Language",
    "Malformed",
    "NotFound",
    "NulCharacter",
    "Problem",
    "Text",
    "malformed",
    "may_raise",
    "negotiate_language",
    "problem_body",
    "refuse_nul_characters",
    "render_domain_error",
    "split_validation_error",
]
