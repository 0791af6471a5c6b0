"""How every JSON request body is read: once, here, for every route (the app's ``request_class``).

Two rules no route can forget, because no route reads its own body:

- **Nesting.** msgspec decodes arrays and objects recursively, so a body of arrays 1,000 deep raised
  ``RecursionError``: a 500 and a full traceback in the log, from anyone, signed in or not. A body whose
  arrays and objects nest deeper than ``MAX_BODY_NESTING`` is refused before it is decoded: a 400
  ``body_too_deep`` and one line in the log.
- **Types.** Litestar converts a handler's ``data`` with msgspec in lax mode (``strict=False`` is fixed in
  its signature model), so ``"amount_vnd": "1000"`` and ``1000.0`` became 1000 and money moved. The body is
  decoded here, strictly, into the type the handler declares; the signature model then receives the typed
  value and has nothing left to coerce. A wrong type is a 400 ``validation_failed`` naming the field.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
from itertools import accumulate, count
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException, ValidationException
from litestar.handlers import BaseRouteHandler

from civicpay.errors import DomainError, Text, split_validation_error

log = logging.getLogger("civicpay")

# Our deepest body (a card acquirer's event: data.object.last_payment_error…) nests about five levels; the
# acquirer's full events about ten. 32 leaves room for both and stays far below Python's recursion limit.
MAX_BODY_NESTING = 32

# A JSON string, escapes and all, possessive so that no body makes the scanner backtrack; one left open runs
# to the end of the body (the decoder calls that malformed afterwards).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
# An opening bracket counts 2 and a closing one 0: after k brackets the running sum less k is the depth.
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class BodyTooDeep(DomainError):
    code = "body_too_deep"
    status = 400
    title = Text("Nội dung yêu cầu lồng nhau quá sâu", "The request body is nested too deeply")


def nesting_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest, brackets inside strings aside; without recursion."""
    steps = _STRING.sub(b"", body).translate(None, _NOT_A_BRACKET).translate(_STEP)
    return max(map(operator.sub, accumulate(steps), count(1)), default=0)


def too_deep(body: bytes) -> bool:
    # Fewer opening brackets than the limit cannot nest past it: every ordinary body stops here.
    if body.count(b"[") + body.count(b"{") <= MAX_BODY_NESTING:
        return False
    return nesting_depth(body) > MAX_BODY_NESTING


@functools.cache
def _decoder(target: Any) -> msgspec.json.Decoder[Any] | None:
    try:
        return msgspec.json.Decoder(target, strict=True)
    except TypeError:  # not a type msgspec decodes itself: leave it to Litestar
        return None


def _body_decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any] | None:
    data = handler.parsed_fn_signature.parameters.get("data")
    return None if data is None else _decoder(data.annotation)


class CivicRequest(Request[Any, Any, Any]):
    """The app's request: its JSON body is checked for depth and decoded strictly into the handler's type."""

    async def json(self) -> Any:
        body = await self.body()
        if not body:
            return await super().json()  # Litestar's own "body required" answer
        if too_deep(body):
            log.warning(
                "refused a request body nested deeper than %d on %s %s", MAX_BODY_NESTING, self.method, self.url.path
            )
            raise BodyTooDeep(
                Text(
                    f"Mảng và đối tượng chỉ được lồng tối đa {MAX_BODY_NESTING} cấp.",
                    f"Arrays and objects may nest at most {MAX_BODY_NESTING} deep.",
                ),
                field="body",
            )
        decoder = _body_decoder(self.route_handler)
        if decoder is None:
            return await super().json()
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as wrong:
            message, field = split_validation_error(wrong)
            located = {"message": message, "key": field or "body", "source": "body", "field_named": True}
            raise ValidationException(extra=[located]) from None
        except msgspec.DecodeError as malformed:
            # In the words the problem+json mapping knows as invalid_json, a truncated body included.
            said = str(malformed)
            said = said if "JSON is malformed" in said else f"JSON is malformed: {said}"
            raise SerializationException(said) from None


__all__ = ["MAX_BODY_NESTING", "BodyTooDeep", "CivicRequest", "nesting_depth", "too_deep"]
