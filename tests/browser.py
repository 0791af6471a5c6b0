"""A headless Chromium driven over the Chrome DevTools Protocol, for tests of server-rendered pages.

Playwright and Selenium do not install offline, and a test of a server-rendered page needs little: open
it, run some JavaScript (click a button), and wait until some text appears. That is a few DevTools
commands over one websocket (the ``websockets`` package, which uvicorn already brings).

Nothing here sleeps or polls. Chromium says on stderr when its DevTools endpoint listens; a page's load
is Chromium's own lifecycle event; and :meth:`Page.wait_for_text` is a single ``Runtime.evaluate`` of a
promise that a MutationObserver resolves in the page at the first mutation after which the text shows,
bounded by ``asyncio.wait_for``.

Usage::

    async with headless_chromium() as browser:
        page = await browser.open(url)
        await page.click("#pay")
        await page.wait_for_text("Đã thanh toán")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "OFFLINE",
    "Browser",
    "DevToolsError",
    "JavaScriptError",
    "Page",
    "chromium_available",
    "chromium_path",
    "headless_chromium",
]

CHROMIUM = "/usr/bin/chromium"
# Chromium's own startup, and any one DevTools command, take well under a second; these bound a hang.
START_SECONDS = 20.0
COMMAND_SECONDS = 30.0
LOAD_SECONDS = 10.0
# The background-networking switches matter: the test machines' network is closed, and Chromium's
# update, sync and field-trial fetches would otherwise hang or spam the log.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
# Everything but this machine's loopback is unreachable: names resolve to nothing, and any other address
# goes to a proxy on a port nobody listens on. For pages that must work with no network at all.
OFFLINE = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
# What Chromium answers to an evaluation whose document went away under it (a navigation).
NAVIGATED_AWAY = (
    "Execution context was destroyed",
    "Cannot find context with specified id",
    "Cannot find default execution context",
    "Inspected target navigated or closed",
)
# Resolves once document.body.innerText contains the wanted text: checked at once, then after every
# mutation. It observes `document` rather than its body, which a page still being parsed may lack.
WAIT_FOR_TEXT = """new Promise((resolve) => {
  const wanted = %s;
  const seen = () => document.body !== null && document.body.innerText.includes(wanted);
  if (seen()) { resolve(true); return; }
  const observer = new MutationObserver(() => {
    if (seen()) { observer.disconnect(); resolve(true); }
  });
  observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
})"""

JSONObject = dict[str, Any]


class DevToolsError(RuntimeError):
    """Chromium refused a DevTools command; the message is Chromium's own."""

    def __init__(self, method: str, error: JSONObject) -> None:
        self.method = method
        self.detail = str(error.get("message", error))
        super().__init__(f"{method}: {self.detail}")

    @property
    def navigated_away(self) -> bool:
        """Whether the command failed only because its document was replaced by a navigation."""
        return any(reason in self.detail for reason in NAVIGATED_AWAY)


class JavaScriptError(RuntimeError):
    """The page's JavaScript threw, or its promise rejected, while a test evaluated an expression."""


def chromium_path() -> str:
    """The Chromium to run: ``$CIVICPAY_CHROMIUM`` if set (a path or a name on PATH), else Debian's."""
    return os.environ.get("CIVICPAY_CHROMIUM") or CHROMIUM


def chromium_available() -> bool:
    """Whether :func:`chromium_path` names an executable, so that a test can skip or fail with a reason."""
    return shutil.which(chromium_path()) is not None


class _Changes:
    """Wakes whoever waits for a condition on state that the DevTools reader task updates.

    Each change replaces the event, so a waiter that checked its condition and found it false is woken
    by the next change and checks again: no change is missed, and nothing polls.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._event.wait()


class _Connection:
    """One websocket to the browser; every page's session multiplexed on it (``flatten`` sessions).

    A reader task matches answers to commands by id and hands events to listeners by (session, method),
    so the order in which Chromium sent them is the order in which the state they describe changes.
    """

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[JSONObject]]] = {}
        self._listeners: dict[tuple[str | None, str], list[Callable[[JSONObject], None]]] = {}
        self._closed: ConnectionError | None = None
        self._reader = asyncio.create_task(self._read(), name="chromium-devtools-reader")

    async def send(
        self,
        method: str,
        params: JSONObject | None = None,
        *,
        session_id: str | None = None,
        within: float | None = COMMAND_SECONDS,
    ) -> JSONObject:
        """Send one command and return its result; :class:`DevToolsError` if Chromium refuses it."""
        if self._closed is not None:
            raise self._closed
        message_id = next(self._ids)
        answer: asyncio.Future[JSONObject] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = (method, answer)
        message: JSONObject = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        try:
            await self._websocket.send(json.dumps(message))
            return await asyncio.wait_for(answer, within)
        except TimeoutError:
            raise TimeoutError(f"{method}: Chromium did not answer within {within} s") from None
        finally:
            self._pending.pop(message_id, None)

    def listen(self, session_id: str | None, method: str, listener: Callable[[JSONObject], None]) -> None:
        """Call ``listener`` with the parameters of every ``method`` event of the session, in order."""
        self._listeners.setdefault((session_id, method), []).append(listener)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._websocket.close()

    async def _read(self) -> None:
        closed = ConnectionError("the DevTools websocket closed: Chromium exited or was stopped")
        try:
            async for raw in self._websocket:
                message: JSONObject = json.loads(raw)
                if "id" in message:
                    self._answer(message)
                else:
                    key = (message.get("sessionId"), str(message.get("method")))
                    for listener in list(self._listeners.get(key, ())):
                        listener(message.get("params", {}))
        except ConnectionClosed:
            pass
        except Exception as error:  # a bug here: every waiting command fails with it, and close() raises it
            closed = ConnectionError(f"reading DevTools messages failed: {error!r}")
            raise
        finally:
            self._closed = closed
            for _, answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(closed)

    def _answer(self, message: JSONObject) -> None:
        pending = self._pending.get(message["id"])
        if pending is None:  # its sender gave up waiting (a timeout)
            return
        method, answer = pending
        if answer.done():
            return
        if "error" in message:
            answer.set_exception(DevToolsError(method, message["error"]))
        else:
            answer.set_result(message.get("result", {}))


class Page:
    """One tab, attached through its own DevTools session.

    It follows its main frame's JavaScript context and loads, so that a wait started before a navigation
    carries on in the document that replaces it.
    """

    def __init__(self, connection: _Connection, target_id: str, session_id: str) -> None:
        self.target_id = target_id
        self.url = "about:blank"
        # Uncaught exceptions and unhandled rejections in the page, for the message of a failed wait.
        self.errors: list[str] = []
        # Every URL the page asked for (documents, scripts, styles, images, fetches), in order.
        self.requests: list[str] = []
        self._connection = connection
        self._session_id = session_id
        self._main_frame = target_id
        self._context_id: int | None = None
        self._loaded: set[str] = set()
        self._changes = _Changes()

    async def _start(self) -> None:
        on = self._connection.listen
        on(self._session_id, "Runtime.executionContextCreated", self._context_created)
        on(self._session_id, "Runtime.executionContextDestroyed", self._context_destroyed)
        on(self._session_id, "Runtime.executionContextsCleared", self._contexts_cleared)
        on(self._session_id, "Runtime.exceptionThrown", self._exception_thrown)
        on(self._session_id, "Page.lifecycleEvent", self._lifecycle)
        on(self._session_id, "Page.frameNavigated", self._frame_navigated)
        on(self._session_id, "Network.requestWillBeSent", self._request_sent)
        await self._send("Network.enable")
        await self._send("Page.enable")
        await self._send("Page.setLifecycleEventsEnabled", {"enabled": True})
        tree = await self._send("Page.getFrameTree")
        self._main_frame = tree["frameTree"]["frame"]["id"]
        await self._send("Runtime.enable")  # announces the existing contexts before it answers

    async def goto(self, url: str, *, timeout: float = LOAD_SECONDS) -> None:  # noqa: ASYNC109 - named in its error
        """Navigate to ``url`` and return once its document has loaded (its ``load`` event)."""
        navigation = await self._send("Page.navigate", {"url": url})
        if navigation.get("errorText"):
            raise ConnectionError(f"Chromium could not load {url}: {navigation['errorText']}")
        loader = navigation.get("loaderId")
        if loader is None:  # a same-document navigation (a #fragment): there is nothing to load
            return
        try:
            await asyncio.wait_for(self._changes.until(lambda: loader in self._loaded), timeout)
        except TimeoutError:
            raise TimeoutError(f"{url} did not finish loading within {timeout} s") from None

    async def set_headers(self, headers: dict[str, str]) -> None:
        """Send these headers with every request the page makes from now on (e.g. a bearer token).

        The API's pages are read with a bearer token, which a browser has no way of its own to send;
        ``Network.setExtraHTTPHeaders`` is how a test stands in for an app that adds it. It replaces any
        headers set before; ``{}`` removes them.
        """
        await self._send("Network.setExtraHTTPHeaders", {"headers": headers})

    async def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """The value of a JavaScript expression in the page (JSON-like; ``None`` for undefined).

        With ``await_promise``, the value the expression's promise resolves to. Raises
        :class:`JavaScriptError`, with the exception's text and stack, if it throws or rejects.
        """
        return await self._evaluate(expression, await_promise=await_promise)

    async def text(self) -> str:
        """The page's text as a reader sees it: ``document.body.innerText``."""
        text = await self.evaluate("document.body === null ? '' : document.body.innerText")
        return str(text)

    async def click(self, selector: str) -> None:
        """Click the first element matching a CSS selector; :class:`JavaScriptError` if there is none."""
        await self.evaluate(
            f"""(() => {{
  const element = document.querySelector({json.dumps(selector)});
  if (element === null) throw new Error("nothing matches " + {json.dumps(selector)});
  element.click();
}})()"""
        )

    async def wait_for_text(self, text: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - named in its error
        """Return as soon as ``document.body.innerText`` contains ``text``.

        One evaluation of a MutationObserver's promise, without polling; if a navigation replaces the
        document meanwhile, the wait starts again in the new one. Raises AssertionError, with the
        page's text and uncaught errors, after ``timeout`` seconds. A wait started before a navigation
        is satisfied by the old document too: wait for text that only the awaited one has.
        """
        try:
            await asyncio.wait_for(self._until_text(text), timeout)
        except TimeoutError:
            try:
                now = await asyncio.wait_for(self.text(), COMMAND_SECONDS)
            except (DevToolsError, JavaScriptError, TimeoutError) as error:
                now = f"(unreadable: {error})"
            errors = "".join(f"\n  uncaught: {error}" for error in self.errors)
            message = f"{text!r} did not appear in {self.url} within {timeout} s; its text is:\n{now}{errors}"
            raise AssertionError(message) from None

    async def close(self) -> None:
        """Close the tab (the browser closes every tab when it stops, so this is optional)."""
        await self._connection.send("Target.closeTarget", {"targetId": self.target_id})

    async def _until_text(self, text: str) -> None:
        expression = WAIT_FOR_TEXT % json.dumps(text)
        stale: int | None = None
        while True:
            await self._changes.until(functools.partial(self._has_context_other_than, stale))
            context = self._context_id
            try:
                await self._evaluate(expression, await_promise=True, context_id=context, within=None)
            except DevToolsError as error:
                if not error.navigated_away:
                    raise
                stale = context  # wait for the next document's context, then look again
            else:
                return

    async def _evaluate(
        self,
        expression: str,
        *,
        await_promise: bool,
        context_id: int | None = None,
        within: float | None = COMMAND_SECONDS,
    ) -> Any:
        params: JSONObject = {"expression": expression, "awaitPromise": await_promise, "returnByValue": True}
        if context_id is not None:
            params["contextId"] = context_id
        evaluation = await self._send("Runtime.evaluate", params, within=within)
        if "exceptionDetails" in evaluation:
            raise JavaScriptError(f"{expression} threw: {_describe(evaluation['exceptionDetails'])}")
        result: JSONObject = evaluation["result"]
        if "unserializableValue" in result:  # NaN, Infinity, -0, a BigInt
            return result["unserializableValue"]
        return result.get("value")

    async def _send(
        self, method: str, params: JSONObject | None = None, *, within: float | None = COMMAND_SECONDS
    ) -> JSONObject:
        return await self._connection.send(method, params, session_id=self._session_id, within=within)

    def _has_context_other_than(self, stale: int | None) -> bool:
        return self._context_id is not None and self._context_id != stale

    def _context_created(self, params: JSONObject) -> None:
        context = params["context"]
        aux = context.get("auxData", {})
        if aux.get("isDefault") and aux.get("frameId") == self._main_frame:
            self._context_id = context["id"]
            self._changes.notify()

    def _context_destroyed(self, params: JSONObject) -> None:
        if params.get("executionContextId") == self._context_id:
            self._context_id = None
            self._changes.notify()

    def _contexts_cleared(self, _params: JSONObject) -> None:
        self._context_id = None
        self._changes.notify()

    def _exception_thrown(self, params: JSONObject) -> None:
        self.errors.append(_describe(params["exceptionDetails"]))

    def _lifecycle(self, params: JSONObject) -> None:
        if params.get("name") == "load" and params.get("frameId") == self._main_frame:
            self._loaded.add(params["loaderId"])
            self._changes.notify()

    def _request_sent(self, params: JSONObject) -> None:
        self.requests.append(params["request"]["url"])

    def _frame_navigated(self, params: JSONObject) -> None:
        frame = params["frame"]
        if frame["id"] == self._main_frame:
            self.url = frame["url"]


def _describe(details: JSONObject) -> str:
    """The text of a JavaScript exception as DevTools reports it: its stack if an Error, else its value."""
    exception = details.get("exception", {})
    if "description" in exception:
        return str(exception["description"])
    if "value" in exception:
        return f"{details.get('text', 'Uncaught')} {exception['value']!r}"
    return str(details.get("text", details))


class Browser:
    """A running headless Chromium, driven over its browser-wide DevTools websocket."""

    def __init__(self, connection: _Connection, pid: int) -> None:
        self.pid = pid
        self._connection = connection

    async def open(
        self,
        url: str,
        *,
        timeout: float = LOAD_SECONDS,  # noqa: ASYNC109 - named in its error
        headers: dict[str, str] | None = None,
    ) -> Page:
        """Open ``url`` in a new tab and return it once its document has loaded.

        ``headers`` go with every request of the tab, its first included (:meth:`Page.set_headers`).
        """
        target = await self._connection.send("Target.createTarget", {"url": "about:blank"})
        attached = await self._connection.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self._connection, target["targetId"], attached["sessionId"])
        await page._start()
        if headers is not None:
            await page.set_headers(headers)
        await page.goto(url, timeout=timeout)
        return page


@asynccontextmanager
async def headless_chromium(
    *, start_timeout: float = START_SECONDS, flags: Sequence[str] = ()
) -> AsyncIterator[Browser]:
    """Run a headless Chromium with a fresh profile for the block; kill it and delete the profile after.

    ``flags`` are added to the usual ones (``OFFLINE``: nothing but loopback is reachable).

    It is started in a session of its own, so that stopping it stops its renderer and helper
    processes too. Its endpoint is the one it announces on stderr ("DevTools listening on ws://…"), as
    Puppeteer reads it: the ``DevToolsActivePort`` file in the profile says the same, but Chromium 156
    writes it after the announcement (absent at that moment in 6 launches of 8), so reading it would
    take polling.
    """
    profile = Path(tempfile.mkdtemp(prefix="civicpay-chromium-"))
    log: deque[str] = deque(maxlen=30)
    process: asyncio.subprocess.Process | None = None
    drain: asyncio.Task[None] | None = None
    try:
        process = await asyncio.create_subprocess_exec(
            chromium_path(),
            *FLAGS,
            *flags,
            f"--user-data-dir={profile}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stderr is not None
        listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        drain = asyncio.create_task(_drain(process.stderr, listening, log), name="chromium-stderr")
        try:
            announced = await asyncio.wait_for(listening, start_timeout)
        except TimeoutError:
            tail = "\n".join(log)
            raise TimeoutError(
                f"Chromium's DevTools did not listen within {start_timeout} s; its log:\n{tail}"
            ) from None
        async with connect(
            announced,
            proxy=None,  # a loopback socket: never through a proxy from the environment
            max_size=None,  # a page's text can be larger than the default 1 MiB message
            ping_interval=None,
            compression=None,
            open_timeout=start_timeout,
        ) as websocket:
            connection = _Connection(websocket)
            try:
                yield Browser(connection, process.pid)
            finally:
                await connection.close()
    finally:
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is the whole browser
            await process.wait()
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        shutil.rmtree(profile, ignore_errors=True)


async def _drain(stderr: asyncio.StreamReader, listening: asyncio.Future[str], log: deque[str]) -> None:
    """Read Chromium's stderr to its end: for the DevTools announcement, and so that the pipe never fills."""
    while line := await stderr.readline():
        text = line.decode(errors="replace").rstrip()
        log.append(text)
        if (match := LISTENING.search(text)) and not listening.done():
            listening.set_result(match.group(1))
    if not listening.done():
        tail = "\n".join(log)
        listening.set_exception(RuntimeError(f"Chromium exited before its DevTools listened; its log:\n{tail}"))


def require_chromium() -> None:
    """Skip without Chromium, except under CI, where a missing browser is a failure, never a skip."""
    if chromium_available():
        return
    reason = f"no Chromium at {chromium_path()!r} (.ci/run installs it; CIVICPAY_CHROMIUM names another)"
    if os.environ.get("CI", "").lower() not in {"", "0", "false"}:
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)
