"""Which domain errors a route handler can answer with, read from its code rather than written beside it.

A handler is thin: it calls a use case, which calls others. Starting from the handler (and its
``before_request`` hook), this follows every call it can name (a function of ours reached through a
module, a name in scope, or a closure) and collects every ``DomainError`` subclass raised on the way.
What it cannot follow (a method of an object, an error kept in a variable) the function declares with
``civicpay.errors.may_raise``; what a route reaches through a value (a list of handlers, a service on
the app's state) the route declares with ``errors=[...]`` in its decorator (Litestar keeps it in ``opt``).

It reads more than runs: an error raised on a branch the route never takes is still listed, and an
error caught on the way is dropped only when an ``except`` around the call names it and does not raise
it again. So the list can be a little long, never short where the calls can be named; the fuzz test
(tests/e2e/test_openapi_fuzz.py) checks the statuses against what the server really answers.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from civicpay.errors import DomainError

# The packages whose functions are followed; anything else (SQLAlchemy, Litestar, httpx) is not ours to read.
OUR_PACKAGES = frozenset({"civicpay", "wallet", "qr", "billing", "disbursement", "reconciliation"})
ErrorClass = type[DomainError]
_UNKNOWN = object()


def raised_by(functions: Iterable[Callable[..., Any]]) -> frozenset[ErrorClass]:
    """Every DomainError the functions, and whatever of ours they call, can raise."""
    reader = _Reader()
    found: set[ErrorClass] = set()
    for function in functions:
        found |= reader.errors_of(function)
    return frozenset(found)


def _ours(target: object) -> types.FunctionType | None:
    """The plain function of ours behind ``target`` (a bound method, a decorated function), or None."""
    target = inspect.unwrap(target) if callable(target) else target
    if isinstance(target, types.MethodType):
        target = target.__func__
    if isinstance(target, types.FunctionType) and target.__module__.partition(".")[0] in OUR_PACKAGES:
        return target
    return None


class _Reader:
    """Reads functions once each; a call back into one being read (recursion) adds nothing new."""

    def __init__(self) -> None:
        self._done: dict[types.FunctionType, frozenset[ErrorClass]] = {}
        self._reading: set[types.FunctionType] = set()

    def errors_of(self, target: object) -> frozenset[ErrorClass]:
        function = _ours(target)
        if function is None or function in self._reading:
            return frozenset()
        if function not in self._done:
            self._reading.add(function)
            try:
                self._done[function] = frozenset(self._read(function))
            finally:
                self._reading.discard(function)
        return self._done[function]

    def _read(self, function: types.FunctionType) -> Iterator[ErrorClass]:
        yield from function.__dict__.get("__may_raise__", ())  # what ``civicpay.errors.may_raise`` names
        try:
            source = textwrap.dedent(inspect.getsource(function))
        except (OSError, TypeError):  # no source to read (built at run time): nothing more to say
            return
        closure = inspect.getclosurevars(function).nonlocals
        scope: dict[str, Any] = {**vars(builtins), **function.__globals__, **closure}
        yield from self._visit(ast.parse(source), scope, caught=())

    def _visit(self, node: ast.AST, scope: dict[str, Any], caught: tuple[type, ...]) -> Iterator[ErrorClass]:
        if isinstance(node, ast.Try | ast.TryStar):
            swallowed = tuple(kind for handler in node.handlers for kind in _swallowed_by(handler, scope))
            for statement in node.body:
                yield from self._visit(statement, scope, caught + swallowed)
            for rest in (*node.handlers, *node.orelse, *node.finalbody):
                yield from self._visit(rest, scope, caught)
            return
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            for candidate in _branches(raised):
                error = _resolve(candidate, scope)
                if isinstance(error, type) and issubclass(error, DomainError) and not issubclass(error, caught):
                    yield error
        if isinstance(node, ast.Call):
            for error in self.errors_of(_resolve(node.func, scope)):
                if not issubclass(error, caught):
                    yield error
        for child in ast.iter_child_nodes(node):
            yield from self._visit(child, scope, caught)


def _branches(node: ast.expr) -> Iterator[ast.expr]:
    """``raise (A if x else B)(...)`` raises A or B."""
    if isinstance(node, ast.IfExp):
        yield from _branches(node.body)
        yield from _branches(node.orelse)
    else:
        yield node


def _swallowed_by(handler: ast.ExceptHandler, scope: dict[str, Any]) -> Iterator[type]:
    """The exception classes an ``except`` clause catches for good (not when it raises them again)."""
    if any(isinstance(node, ast.Raise) and node.exc is None for node in ast.walk(handler)):
        return
    if handler.type is None:
        yield BaseException
        return
    named = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for name in named:
        kind = _resolve(name, scope)
        if isinstance(kind, type) and issubclass(kind, BaseException):
            yield kind


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """What a name or dotted name (``service.transfer``, ``ledger.errors.InsufficientFunds``) stands for.

    Attributes are looked up on modules and classes only: looking one up on another object could run
    its code (a property).
    """
    if isinstance(node, ast.Name):
        return scope.get(node.id, _UNKNOWN)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope)
        if isinstance(owner, types.ModuleType | type):
            return getattr(owner, node.attr, _UNKNOWN)
    return _UNKNOWN
