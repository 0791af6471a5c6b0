"""The README's walkthrough, run as written: its blocks, in order, in one bash shell, twice on one database.

civicpay is started as ``make run`` starts it (``civicpay db upgrade`` and ``demo``, then the card, bank and
billers sandboxes, a worker and ``civicpay serve`` as processes of their own), on free ports and a database of its
own: a SQLite file, or a PostgreSQL database created beside the test one. Its settings go to the blocks'
shell in ``CIVICPAY_*`` variables, so ``.venv/bin/civicpay`` and ``.venv/bin/civicpay-sandbox`` reach the
same database, servers and secrets; the only change made to the blocks' text is the addresses of ``make
run`` they name (civicpay on :8000, the bank sandbox on :8421, the billers sandbox on :8422), turned into
the test's.

What is run: every ```` ```sh ```` block under "## Walkthrough with curl", up to the next ``## `` heading
(its ``###`` sections included), in order. A block for reading only is marked by the line
``<!-- readme-test: skip -->`` just above its fence (GitHub does not show it).

What is checked, on each of two runs in a row on the same database and servers:

- every block runs to its end under ``set -euo pipefail`` (any failing command fails it);
- every HTTP answer curl got was a 2xx, except the refusals the block announces, in order, with a comment
  line ``# expect NNN …``: the statuses come from a ``curl`` on the blocks' PATH that runs the real one and
  notes each answer's status, so the README itself carries no plumbing for it;
- afterwards ``civicpay ledger verify`` finds the books sound, and ``git status --porcelain`` of the clone
  is what it was before (the blocks may write only under the git-ignored ``var/``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.card_sandbox import free_port
from tests.conftest import ON_POSTGRES, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Walkthrough with curl"
SKIP_MARKER = "<!-- readme-test: skip -->"
# The addresses `make run` serves on, as the blocks name them.
MAKE_RUN_API = "http://127.0.0.1:8000"
MAKE_RUN_BANK = "http://127.0.0.1:8421"
MAKE_RUN_BILLERS = "http://127.0.0.1:8422"
READY_SECONDS = 60
RUN_SECONDS = 300
STOP_SECONDS = 30

_FENCE = re.compile(r"^```(\S*)\s*$")
_EXPECT = re.compile(r"^\s*#\s*expect (\d{3})\b")
_STEP = re.compile(r"^# (\d+)([a-z]?)\. ")


@dataclass(frozen=True)
class Block:
    """One ```sh block of the walkthrough: its text, its README line, the step it begins, the refusals it announces."""

    text: str
    line: int
    step: tuple[int, str] | None
    expected: tuple[int, ...]

    @property
    def step_name(self) -> str:
        return f"{self.step[0]}{self.step[1]}" if self.step else "setup"


def walkthrough_blocks(readme: str) -> list[Block]:
    """The ```sh blocks from the walkthrough's heading to the next ``## `` heading, less those marked to skip."""
    lines = readme.splitlines()
    start = lines.index(SECTION)
    blocks: list[Block] = []
    fence_at: int | None = None
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if fence_at is None and line.startswith("## "):
            break
        fence = _FENCE.match(line)
        if fence is None:
            continue
        if fence_at is None:
            fence_at = number if fence.group(1) == "sh" and lines[number - 2].strip() != SKIP_MARKER else -number
            continue
        if fence_at > 0:
            body = lines[fence_at : number - 1]
            step = next((_STEP.match(text) for text in body if _STEP.match(text)), None)
            blocks.append(
                Block(
                    text="\n".join(body),
                    line=fence_at,
                    step=(int(step.group(1)), step.group(2)) if step else None,
                    expected=tuple(int(found.group(1)) for text in body if (found := _EXPECT.match(text))),
                )
            )
        fence_at = None
    return blocks


def test_the_walkthrough_is_found_in_order_with_its_announced_refusals() -> None:
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    steps = [block.step for block in blocks if block.step is not None]
    assert steps == sorted(steps), f"the walkthrough's steps are out of order: {steps}"
    assert {number for number, _ in steps} >= set(range(1, 15)), f"steps 1-14 are not all there: {steps}"
    refusals = {block.step: block.expected for block in blocks if block.expected}
    assert refusals.items() >= {(7, ""): (403,), (8, ""): (400,)}.items(), f"refusals announced: {refusals}"


def test_the_extraction_follows_the_marker_and_stops_at_the_next_section() -> None:
    readme = "\n".join(
        [
            "## Quick start",
            "```sh",
            "make run",
            "```",
            SECTION,
            "```sh",
            "# 1. First.",
            "# expect 404 not here",
            "true",
            "```",
            SKIP_MARKER,
            "```sh",
            "exit 1",
            "```",
            "```json",
            "{}",
            "```",
            "### A subsection",
            "```sh",
            "# 2. Second.",
            "```",
            "## Next",
            "```sh",
            "exit 1",
            "```",
        ]
    )
    blocks = walkthrough_blocks(readme)
    assert [(block.step, block.expected, block.line) for block in blocks] == [
        ((1, ""), (404,), 6),
        ((2, ""), (), 19),
    ]
    assert blocks[0].text == "# 1. First.\n# expect 404 not here\ntrue"


# The blocks' curl: the real one, noting the HTTP status of each answer (000: none) beside the block's number.
CURL_SHIM = """#!/usr/bin/env bash
headers=$(mktemp)
status=0
"$README_REAL_CURL" --dump-header "$headers" "$@" || status=$?
code=$(awk 'toupper($1) ~ /^HTTP\\// { code = $2 } END { print code }' "$headers")
rm -f "$headers"
echo "$README_BLOCK ${code:-000}" >> "$README_STATUSES"
exit "$status"
"""


def runner_script(blocks: list[Block], api: str, bank: str, billers: str = MAKE_RUN_BILLERS) -> str:
    """One bash script: each block's text after ``README_BLOCK=i``, its end and time noted in ``$README_FINISHED``."""
    parts = [
        "set -euo pipefail",
        """trap 'echo "README walkthrough: block $README_BLOCK failed (exit $?) at: $BASH_COMMAND" >&2' ERR""",
        # bash 5 has EPOCHREALTIME; an older one counts whole seconds.
        'now() { echo "${EPOCHREALTIME:-$SECONDS}"; }',
        'echo "-1 $(now)" >> "$README_FINISHED"',
    ]
    for index, block in enumerate(blocks):
        rest = block.text.replace(MAKE_RUN_API, "").replace(MAKE_RUN_BANK, "").replace(MAKE_RUN_BILLERS, "")
        others = re.findall(r"localhost\S*|127\.0\.0\.1:\d+", rest)
        assert not others, f"the block at README line {block.line} names an address the test does not serve: {others}"
        script = block.text.replace(MAKE_RUN_API, api).replace(MAKE_RUN_BANK, bank).replace(MAKE_RUN_BILLERS, billers)
        parts += [f"export README_BLOCK={index}", f'echo; echo "=== block {index} (README line {block.line})"', script]
        parts.append(f'echo "{index} $(now)" >> "$README_FINISHED"')
    return "\n".join(parts) + "\n"


@dataclass
class Pass:
    """One run of the whole walkthrough: how it ended, and each block's HTTP statuses."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    finished: list[int] = field(default_factory=list)
    block_seconds: list[float] = field(default_factory=list)
    statuses: dict[int, list[int]] = field(default_factory=dict)

    def tail(self) -> str:
        return "\n".join([*self.stdout.splitlines()[-30:], "--- stderr:", *self.stderr.splitlines()[-30:]])


@dataclass
class Served:
    """civicpay as ``make run`` serves it, on the test's ports and database."""

    env: dict[str, str]
    api: str
    bank: str
    logs: Path
    billers: str = MAKE_RUN_BILLERS

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in sorted(self.logs.glob("*.log"))
        )


def _postgres(url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextmanager
def own_database(tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a new PostgreSQL database beside the test one (dropped after)."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'civicpay.db'}"
        return
    server = make_url(POSTGRES_URL)
    name = f"{server.database}_readme_{uuid.uuid4().hex[:8]}"
    _postgres(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], served: Served) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not ready():
        assert process.poll() is None, f"{what} exited with {process.returncode}\n{served.log_tails()}"
        assert time.monotonic() < deadline, f"{what} not ready within {READY_SECONDS} s\n{served.log_tails()}"
        time.sleep(0.1)  # the poll's interval; the loop is bounded by the deadline


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _said(log: Path, words: str) -> Callable[[], bool]:
    return lambda: words in log.read_text(errors="replace")


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own (a session, so its children can be stopped with it), stopped with SIGTERM after."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command,
            env=env,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_SECONDS)


def _settings_env(database_url: str, port: int, card_port: int, bank_port: int, billers_port: int) -> dict[str, str]:
    outside = {name: value for name, value in os.environ.items() if not name.startswith("CIVICPAY_")}
    return {
        **outside,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "CIVICPAY_ENV": "development",
        "CIVICPAY_DATABASE_URL": database_url,
        "CIVICPAY_HOST": "127.0.0.1",
        "CIVICPAY_PORT": str(port),
        "CIVICPAY_CARD_API_BASE": f"http://127.0.0.1:{card_port}",
        "CIVICPAY_BANK_API_BASE": f"http://127.0.0.1:{bank_port}",
        "CIVICPAY_SANDBOX_BILLERS_BASE": f"http://127.0.0.1:{billers_port}",
        # Given here, so no process writes a development secret under the clone's var/.
        "CIVICPAY_SECRET_KEY": "readme-walkthrough-secret-key-long-enough-for-hs256",
        "CIVICPAY_BANK_WEBHOOK_SECRET": "readme-walkthrough-bank-webhook",
        "CIVICPAY_BANK_API_SECRET": "readme-walkthrough-bank-api",
        "CIVICPAY_CARD_SECRET_KEY": "sk_test_readme_walkthrough",
        "CIVICPAY_CARD_WEBHOOK_SECRET": "whsec_readme_walkthrough",
        # Argon2 at its cheapest: the walkthrough is about the steps, not the cost of hashing its passwords.
        "CIVICPAY_ARGON2_TIME_COST": "1",
        "CIVICPAY_ARGON2_MEMORY_KIB": "1024",
    }


@contextmanager
def make_run(tmp_path: Path) -> Iterator[Served]:
    """What ``make run`` does, on free ports and a database of the test's own."""
    civicpay, sandbox = ROOT / ".venv/bin/civicpay", ROOT / ".venv/bin/civicpay-sandbox"
    if not (civicpay.exists() and sandbox.exists()):
        pytest.fail(f"the README's commands are in .venv/bin, which has none: run `make install` in {ROOT}")
    logs = tmp_path / "logs"
    logs.mkdir()
    port, card_port, bank_port, billers_port = free_port(), free_port(), free_port(), free_port()
    with own_database(tmp_path) as database_url, ExitStack() as stack:
        env = _settings_env(database_url, port, card_port, bank_port, billers_port)
        billers_url = f"http://127.0.0.1:{billers_port}"
        served = Served(env, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bank_port}", logs, billers_url)
        for setup in (["db", "upgrade"], ["demo"]):
            done = subprocess.run(  # noqa: S603 - our own command
                [str(civicpay), *setup], env=env, cwd=logs, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, f"civicpay {' '.join(setup)}: {done.stdout}{done.stderr}"
        card = stack.enter_context(started([str(sandbox), "card", "serve"], env, logs / "card.log"))
        bank = stack.enter_context(started([str(sandbox), "bank", "serve"], env, logs / "bank.log"))
        billers = stack.enter_context(started([str(sandbox), "billers", "serve"], env, logs / "billers.log"))
        worker = stack.enter_context(started([str(civicpay), "worker"], env, logs / "worker.log"))
        server = stack.enter_context(
            started([str(civicpay), "serve"], {**env, "CIVICPAY_WORKER_IN_PROCESS": "false"}, logs / "serve.log")
        )
        _until(_said(logs / "card.log", "card sandbox (localstripe) at"), "the card sandbox", card, served)
        _until(lambda: _listens(bank_port), "the bank sandbox", bank, served)
        _until(lambda: _listens(billers_port), "the billers sandbox", billers, served)
        _until(_said(logs / "worker.log", "worker: outbox"), "the worker", worker, served)
        _until(lambda: _answers(f"{served.api}/health"), "civicpay serve", server, served)
        yield served


def run_walkthrough(blocks: list[Block], served: Served, work: Path) -> Pass:
    """The blocks in one bash, from the clone's top directory, as the README tells a newcomer to run them."""
    work.mkdir()
    (work / "bin").mkdir()
    (work / "tmp").mkdir()
    shim = work / "bin" / "curl"
    shim.write_text(CURL_SHIM)
    shim.chmod(0o755)
    script = work / "walkthrough.sh"
    script.write_text(runner_script(blocks, served.api, served.bank, served.billers))
    real_curl, bash = shutil.which("curl"), shutil.which("bash")
    assert real_curl is not None, "the walkthrough needs curl"
    assert bash is not None, "the walkthrough needs bash"
    statuses, finished = work / "statuses", work / "finished"
    env = {
        **served.env,
        "PATH": f"{work / 'bin'}{os.pathsep}{served.env.get('PATH', '')}",
        "TMPDIR": str(work / "tmp"),
        "README_REAL_CURL": real_curl,
        "README_STATUSES": str(statuses),
        "README_FINISHED": str(finished),
    }
    began = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - bash on the README's own blocks
            [bash, "--noprofile", "--norc", str(script)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as late:
        said = late.stdout.decode(errors="replace") if isinstance(late.stdout, bytes) else late.stdout or ""
        pytest.fail(f"the walkthrough took over {RUN_SECONDS} s; it said:\n{said[-3000:]}\n{served.log_tails()}")
    outcome = Pass(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        seconds=time.monotonic() - began,
    )
    ends = [line.split() for line in finished.read_text().splitlines()] if finished.exists() else []
    for (_, began_at), (block, ended_at) in pairwise(ends):
        outcome.finished.append(int(block))
        outcome.block_seconds.append(float(ended_at) - float(began_at))
    for line in statuses.read_text().splitlines() if statuses.exists() else []:
        block, status = line.split()
        outcome.statuses.setdefault(int(block), []).append(int(status))
    return outcome


def _git_status() -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    status = subprocess.run(  # noqa: S603 - git, on the clone
        [git, "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True, check=False
    )
    return status.stdout if status.returncode == 0 else None


def test_the_walkthrough_runs_as_written_twice_on_one_database(tmp_path: Path) -> None:
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    before = _git_status()
    with make_run(tmp_path) as served:
        for run in (1, 2):
            outcome = run_walkthrough(blocks, served, tmp_path / f"run-{run}")
            took = zip(blocks, outcome.block_seconds, strict=False)
            times = ", ".join(f"{block.step_name} {seconds:.1f}" for block, seconds in took)
            print(f"README walkthrough, run {run}: {outcome.seconds:.1f} s ({times})")  # noqa: T201 - shown with -s
            context = f"run {run}\n{outcome.tail()}\n{served.log_tails()}"
            assert outcome.returncode == 0, f"a block failed; {context}"
            assert outcome.finished == list(range(len(blocks))), f"not every block ran to its end; {context}"
            for index, block in enumerate(blocks):
                got = outcome.statuses.get(index, [])
                refused = tuple(status for status in got if not 200 <= status < 300)
                assert refused == block.expected, (
                    f"run {run}, the block at README line {block.line} announces {block.expected or 'no refusal'} "
                    f"but curl got {got}; {context}"
                )
        verify = subprocess.run(  # noqa: S603 - our own command
            [str(ROOT / ".venv/bin/civicpay"), "ledger", "verify"],
            env=served.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert _git_status() == before, "the walkthrough left files in the clone (only the git-ignored var/ may hold any)"
