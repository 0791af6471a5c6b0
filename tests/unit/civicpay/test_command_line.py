"""The command lines explain themselves: a version, help for every command and option, and one-line refusals."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from civicpay.cli import main
from civicpay.command_line import language_of
from sandbox.cli import main as sandbox_main
from tests.shell import SECRETS_ENVIRONMENT, speak

COMMAND_LINES = {"civicpay": main, "civicpay-sandbox": sandbox_main}


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group``, groups included, with the words that reach it."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def flat(text: str) -> str:
    """Help as words: without rich-click's boxes and its line breaks."""
    for drawing in "│╭╮╰╯─":
        text = text.replace(drawing, " ")
    return " ".join(text.split())


def test_the_version_is_the_installed_packages() -> None:
    said = CliRunner().invoke(main, ["--version"])

    assert (said.exit_code, said.output) == (0, f"civicpay {version('civicpay')}\n")


@pytest.mark.parametrize("program", sorted(COMMAND_LINES))
def test_every_command_and_option_says_what_it_is_for_with_an_example_and_its_defaults(program: str) -> None:
    root = COMMAND_LINES[program]
    everything = [((), root), *commands(root)]
    assert len(everything) > 5

    for path, command in everything:
        # Wide enough that no table cell wraps: its words then read in order.
        shown = CliRunner().invoke(root, [*path, "--help"], terminal_width=400)
        words = flat(shown.output)
        where = " ".join((program, *path))
        assert shown.exit_code == 0, where
        assert command.help, where
        assert "Example:" in command.help or "Examples:" in command.help, where
        for parameter in command.params:
            helped = getattr(parameter, "help", None)
            assert helped, f"{where} {parameter.name} has no help"
            assert flat(helped) in words, f"{where} --help does not show the help of {parameter.name}"
            if isinstance(parameter, click.Option) and not parameter.is_flag and not parameter.required:
                # Every option shows its default: its value, or words for one that has none of its own.
                assert parameter.default is not None or isinstance(parameter.show_default, str), where
                assert parameter.show_default is not False, where
                assert f"{parameter.opts[0]} " in words, where
        assert "[default:" in words or not any(
            isinstance(p, click.Option) and not p.is_flag and not p.required for p in command.params
        ), where


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "vi_VN.UTF-8"}, "vi"),
        ({"LANG": "vi"}, "vi"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "vi_VN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "vi_VN", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LC_ALL": "", "LANG": "vi_VN.UTF-8"}, "vi"),
        ({"CIVICPAY_LANG": "vi", "LANG": "en_US.UTF-8"}, "vi"),
        ({"CIVICPAY_LANG": "en", "LC_ALL": "vi_VN.UTF-8"}, "en"),
    ],
)
def test_refusals_speak_vietnamese_in_a_vietnamese_locale_and_english_otherwise(
    environ: dict[str, str], lang: str
) -> None:
    assert language_of(environ) == lang


def refusal(said: Result) -> str:
    """The refusal: exactly one line on stderr, nothing on stdout, and never a traceback."""
    assert "Traceback" not in said.output
    assert said.stdout == ""
    lines = said.stderr.splitlines()
    assert len(lines) == 1, said.stderr
    return lines[0]


@pytest.mark.usefixtures("nowhere")
def test_a_clerk_without_a_password_and_no_terminal_to_ask_on_is_told_in_one_line() -> None:
    said = CliRunner().invoke(main, ["collections", "create", "--counter", "1", "--amount", "50000"], input="")

    assert said.exit_code == 2
    assert refusal(said) == (
        "civicpay: the clerk's password is needed: give --password (there is no terminal to ask on)"
    )


@pytest.mark.parametrize(
    ("arguments", "english", "vietnamese"),
    [
        (["ledger", "verify"], "civicpay: nothing set up here (no database and secrets)", "civicpay: chưa thiết lập"),
        (["db", "current"], "civicpay: nothing set up here (no database and secrets)", "civicpay: chưa thiết lập"),
        (["ledger", "verify", "--nope"], "civicpay: no such option --nope", "civicpay: không có tùy chọn --nope"),
        (["db", "upgrade", "nope"], "civicpay: no migration 'nope'", "civicpay: không có bản migration 'nope'"),
        (["qr", "decode", "abc"], "civicpay: bad_length at 3: ", "civicpay: bad_length ở vị trí 3: Không đọc được"),
    ],
)
def test_a_refusal_is_one_line_in_the_language_asked_for_and_leaves_nothing_behind(
    nowhere: Path, arguments: list[str], english: str, vietnamese: str
) -> None:
    in_english = CliRunner().invoke(main, ["--lang", "en", *arguments])
    in_vietnamese = CliRunner().invoke(main, ["--lang", "vi", *arguments])

    assert refusal(in_english).startswith(english)
    assert refusal(in_vietnamese).startswith(vietnamese)
    # A payload that is not VietQR is the command's own "no"; the rest could not run.
    assert in_english.exit_code == in_vietnamese.exit_code == (1 if arguments[0] == "qr" else 2)
    assert list(nowhere.iterdir()) == []


def test_without_lang_the_locale_chooses(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    speak(monkeypatch, "vi")
    vietnamese = CliRunner().invoke(main, ["ledger", "verify"])
    monkeypatch.setenv("CIVICPAY_LANG", "en")
    english = CliRunner().invoke(main, ["ledger", "verify"])

    assert refusal(vietnamese).startswith("civicpay: chưa thiết lập civicpay ở đây (không có cơ sở dữ liệu")
    assert refusal(english).startswith("civicpay: nothing set up here")
    assert list(nowhere.iterdir()) == []


def test_outside_the_project_folder_ledger_verify_says_what_it_would_use_and_creates_nothing(nowhere: Path) -> None:
    said = CliRunner().invoke(main, ["ledger", "verify"])

    assert said.exit_code == 2
    line = refusal(said)
    assert f"database sqlite+aiosqlite:///./var/civicpay.db ({nowhere.resolve() / 'var' / 'civicpay.db'})" in line
    assert f"secrets {nowhere.resolve() / 'var' / 'secrets' / '*.txt'}" in line
    assert "`civicpay db upgrade`" in line
    assert list(nowhere.iterdir()) == []


def test_the_sandbox_will_not_sign_with_a_secret_it_invented(nowhere: Path) -> None:
    said = CliRunner().invoke(sandbox_main, ["bank", "transfer", "--code", "NAP999999X", "--amount", "70000"])

    assert said.exit_code == 2
    assert refusal(said).startswith("civicpay-sandbox: nothing set up here (no database and secrets)")
    assert list(nowhere.iterdir()) == []


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+asyncpg://civicpay:hunter2@127.0.0.1:1/civicpay", "cannot reach the database "),
        ("nonsense://somewhere/civicpay", "unusable database URL nonsense://somewhere/civicpay: "),
        ("not a url at all", "unusable database URL not a url at all: "),
    ],
)
@pytest.mark.parametrize("arguments", [["ledger", "verify"], ["db", "current"], ["db", "upgrade"]])
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_2(
    url: str, says: str, arguments: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every secret given, so only the database is wrong.
    for name, value in SECRETS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CIVICPAY_DATABASE_URL", url)

    said = CliRunner().invoke(main, arguments)

    assert said.exit_code == 2
    line = refusal(said)
    assert line.startswith(f"civicpay: {says}")
    assert "hunter2" not in line
