"""What every command of `civicpay` (and of `civicpay-sandbox`) shares.

One line for every refusal, in Vietnamese or English, and never a traceback; the exit codes (0 done,
1 the command's own "no", 2 it could not run); settings that are found, never invented (a command run
from the wrong folder must not start an empty service beside the real one, nor sign with a secret
nobody else knows); the service's parts for one command, with the database reached and its schema
checked first; and modest progress bars, on a terminal only.

Each room keeps its commands beside the code they drive (``wallet/cli.py``, ``qr/cli.py``) and takes
from the shell only this module; ``civicpay/cli.py`` assembles them.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import click as plain_click
import httpx
import rich_click as click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from civicpay.db import SchemaBehind, current_revision, head_revision
from civicpay.errors import DomainError, Language, Text
from civicpay.settings import Settings, SettingsError, shown_url

# The exit codes, the same for every command (the top-level help says so).
OK = 0
NO = 1  # the command ran and its answer is "no": a ledger breach, a database behind, a payload that is not VietQR
CANNOT_RUN = 2  # bad usage, nothing set up here, no database, an unreachable server, a refusal

T = TypeVar("T")

# Every command's: -h too, each option's default shown, and help as written (a blank line between paragraphs).
CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "rich_help_config": {"text_paragraph_linebreaks": "\n\n"},
}

LANGUAGE_HELP = (
    "The language of refusals. Unset: CIVICPAY_LANG, else vi when the locale (LC_ALL, LC_MESSAGES or LANG, "
    "the first one set) starts with vi, else en."
)


class Refused(Exception):
    """The command will not or cannot do what was asked: one line in both languages, and its exit code."""

    def __init__(self, text: Text, exit_code: int = CANNOT_RUN) -> None:
        super().__init__(text.en)
        self.text = text
        self.exit_code = exit_code


def language_of(environ: Mapping[str, str]) -> Language:
    """Vietnamese when CIVICPAY_LANG says so or, unset, when the locale is Vietnamese; English otherwise.

    English is the default (unlike the API's Vietnamese) because a shell without a Vietnamese locale is an
    operator's or a developer's, and the commands' own output is in English.
    """
    asked = environ.get("CIVICPAY_LANG", "").strip().lower()
    if asked in {"vi", "en"}:
        return "vi" if asked == "vi" else "en"
    locale = next((environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(name)), "")
    return "vi" if locale.lower().startswith("vi") else "en"


class _HasEngine(Protocol):
    @property
    def engine(self) -> AsyncEngine: ...


ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Any]]


@dataclass
class Shell:
    """What a command is given (``click.pass_obj``): the reader's language, settings, and the service's parts."""

    lang: Language
    services: ServicesFactory | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def say(self, text: Text) -> str:
        return text.pick(self.lang)

    def settings(self, *, create_missing: bool = False) -> Settings:
        """The settings from the environment; ``NotSetUp`` rather than new secrets or a new database.

        Only the commands that set a service up (``db upgrade``, ``demo``) pass ``create_missing``.
        """
        return Settings.from_env(dict(self.environ), create_missing=create_missing)

    def run(
        self,
        action: Callable[[Any], Awaitable[T]],
        *,
        settings: Settings | None = None,
        schema_current: bool = True,
    ) -> T:
        """Run one command's work on the service's parts, built once and closed after, in its own event loop.

        The database is reached first, so an unreachable one is one line, and (unless told otherwise) its
        schema must be the newest: a command on a database behind would fail halfway.
        """
        settings = settings or self.settings()
        factory = self.services
        if factory is None:
            raise RuntimeError("this command line was built without the service's parts")

        async def work() -> T:
            async with AsyncExitStack() as stack:
                try:
                    services: _HasEngine = await stack.enter_async_context(factory(settings))
                except (ArgumentError, InvalidRequestError, ImportError) as unusable:
                    raise database_refusal(settings, unusable, reach=False) from None
                try:
                    current = await current_revision(services.engine)
                except (DBAPIError, OSError, TimeoutError) as unreachable:
                    raise database_refusal(settings, unreachable, reach=True) from None
                if schema_current and current != (head := head_revision()):
                    raise SchemaBehind(current, head)
                return await action(services)

        return asyncio.run(work())

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[], None]]:
        """A bar on stderr while a loop works through ``total`` items; nothing when not on a terminal or in CI.

        Yields the function to call after each item.
        """
        console = Console(stderr=True)
        in_ci = self.environ.get("CI", "").lower() not in {"", "0", "false", "no"}
        if not console.is_terminal or in_ci:
            yield lambda: None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def database_refusal(settings: Settings, error: Exception, *, reach: bool) -> Refused:
    """One line for a database that cannot be reached (``reach``), or whose URL cannot be used at all."""
    cause = getattr(error, "orig", None) or error
    why = _one_line(str(cause).splitlines()[0] if str(cause) else type(cause).__name__)
    url = shown_url(settings.database_url)
    if reach:
        return Refused(
            Text(f"không kết nối được cơ sở dữ liệu {url}: {why}", f"cannot reach the database {url}: {why}")
        )
    return Refused(Text(f"không dùng được URL cơ sở dữ liệu {url}: {why}", f"unusable database URL {url}: {why}"))


def needs_terminal(what: Text, option: str) -> None:
    """Refuse to ask for ``what`` when there is nobody to ask: stdin is not a terminal."""
    if not sys.stdin.isatty():
        raise Refused(
            Text(
                f"cần {what.vi}: hãy thêm {option} (không có terminal để hỏi)",
                f"{what.en} is needed: give {option} (there is no terminal to ask on)",
            )
        )


def answer_refused(answer: httpx.Response) -> Refused:
    """A server's refusal as one line: its problem's detail (asked for in the reader's language), and code.

    The request should carry ``Accept-Language`` (``Shell.lang``): the server words its problems in it.
    """
    try:
        problem = answer.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        line = f"HTTP {answer.status_code} {answer.reason_phrase}"
        return Refused(Text(line, line))
    said = str(problem.get("detail") or problem.get("title") or f"HTTP {answer.status_code}")
    fields = [
        str(error.get("field")) if error.get("message") == said else f"{error.get('field')}: {error.get('message')}"
        for error in problem.get("errors") or []
        if isinstance(error, dict)
    ]
    line = _one_line(f"{said}{': ' + '; '.join(fields) if fields else ''} ({problem.get('code', answer.status_code)})")
    return Refused(Text(line, line))


def _usage_line(error: plain_click.UsageError) -> Text:
    """Click's usage errors in one line, in both languages (click's own words are English)."""
    if isinstance(error, plain_click.NoSuchOption):
        guess = sorted(error.possibilities or [])
        return Text(
            f"không có tùy chọn {error.option_name}" + (f" (có phải {', '.join(guess)}?)" if guess else ""),
            f"no such option {error.option_name}" + (f" (did you mean {', '.join(guess)}?)" if guess else ""),
        )
    if isinstance(error, plain_click.MissingParameter) and error.param is not None:
        hint = error.param.get_error_hint(error.ctx) if error.ctx else error.param.name
        kind = (
            Text("tùy chọn", "option") if isinstance(error.param, plain_click.Option) else Text("tham số", "argument")
        )
        return Text(f"thiếu {kind.vi} {hint}", f"missing {kind.en} {hint}")
    if isinstance(error, plain_click.BadParameter):
        if error.param is not None and error.ctx is not None:
            hint = error.param.get_error_hint(error.ctx)
        else:
            hint = str(error.param_hint or "")
        message = _one_line(error.message)
        return Text(f"giá trị không hợp lệ cho {hint}: {message}", f"invalid value for {hint}: {message}")
    message = _one_line(error.format_message())
    for pattern, vietnamese, english in _USAGE_MESSAGES:
        if matched := pattern.fullmatch(message):
            return Text(vietnamese.format(**matched.groupdict()), english.format(**matched.groupdict()))
    return Text(message, message)


# Click's other usage errors, as it words them, in both languages.
_USAGE_MESSAGES = [
    (re.compile(r"No such command '(?P<name>.+)'\."), "không có lệnh '{name}'", "no such command '{name}'"),
    (
        re.compile(r"Got unexpected extra arguments? \((?P<extra>.+)\)"),
        "thừa tham số ({extra})",
        "unexpected extra arguments ({extra})",
    ),
    (
        re.compile(r"Option '(?P<name>.+)' requires (?:an argument|\d+ arguments)\."),
        "tùy chọn '{name}' cần giá trị",
        "option '{name}' needs a value",
    ),
]


class CommandGroup(click.RichGroup):
    """A command line whose every refusal is one line in the reader's language, ending with its exit code.

    ``services`` builds the service's parts for a command (``civicpay.bootstrap.running``).
    """

    def __init__(self, *args: Any, services: ServicesFactory | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.services = services
        self.params.extend(
            [
                click.Option(
                    ["--lang"],
                    type=click.Choice(["vi", "en"]),
                    envvar="CIVICPAY_LANG",
                    show_envvar=True,
                    show_default="from the locale",
                    expose_value=False,
                    is_eager=True,
                    callback=_set_language,
                    help=LANGUAGE_HELP,
                ),
                click.Option(
                    ["--traceback"],
                    is_flag=True,
                    expose_value=False,
                    help="On an unexpected error (a bug), show Python's traceback instead of one line.",
                ),
            ]
        )

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        shell = Shell(lang=language_of(os.environ), services=self.services)
        prog = prog_name or self.name or "civicpay"
        try:
            code = super().main(arguments, prog, complete_var, standalone_mode=False, obj=shell, **extra)
        except Exception as error:
            if "--traceback" in arguments and not _expected(error):
                raise
            line, code = _refusal(error, shell, prog)
            click.echo(f"{prog}: {line}", err=True)
        code = OK if code is None else int(code)
        if standalone_mode:
            sys.exit(code)
        return code


def _set_language(ctx: plain_click.Context, _: plain_click.Parameter, value: str | None) -> None:
    shell = ctx.find_object(Shell)
    if value and shell is not None:
        shell.lang = "vi" if value == "vi" else "en"


_EXPECTED = (
    Refused,
    SettingsError,
    SchemaBehind,
    DomainError,
    plain_click.ClickException,
    plain_click.Abort,
    httpx.HTTPError,
)


def _expected(error: Exception) -> bool:
    return isinstance(error, _EXPECTED)


def _refusal(error: Exception, shell: Shell, prog: str) -> tuple[str, int]:  # noqa: PLR0911 - one answer per kind
    """The one line and the exit code for what stopped a command."""
    match error:
        case Refused():
            return shell.say(error.text), error.exit_code
        case SettingsError() | SchemaBehind():
            return shell.say(error.text), CANNOT_RUN
        case DomainError():
            return f"{shell.say(error.detail or error.title)} ({error.code})", CANNOT_RUN
        case plain_click.UsageError():
            usage = _usage_line(error)
            where = (error.ctx.command_path if error.ctx else "") or prog
            see = Text(f"xem `{where} --help`", f"see `{where} --help`")
            return f"{shell.say(usage)} ({shell.say(see)})", CANNOT_RUN
        case plain_click.ClickException():
            return _one_line(error.format_message()), CANNOT_RUN
        case plain_click.Abort():
            return shell.say(Text("đã dừng", "stopped")), CANNOT_RUN
        case httpx.HTTPError():
            where = str(error.request.url) if _has_request(error) else ""
            why = _one_line(str(error)) or type(error).__name__
            return shell.say(Text(f"không kết nối được {where}: {why}", f"cannot reach {where}: {why}")), CANNOT_RUN
        case SQLAlchemyError():
            why = _one_line(str(getattr(error, "orig", None) or error).splitlines()[0])
            return shell.say(Text(f"lỗi cơ sở dữ liệu: {why}", f"database error: {why}")), CANNOT_RUN
    why = _one_line(f"{type(error).__name__}: {error}")
    return (
        shell.say(
            Text(
                f"lỗi ngoài dự kiến ({why}); chạy lại với --traceback để xem chỗ lỗi",
                f"unexpected error ({why}); run again with --traceback to see where",
            )
        ),
        CANNOT_RUN,
    )


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - httpx raises when the error has no request
    except RuntimeError:
        return False
    return True
