"""An operator's shell for the command-line tests: a scratch folder, this test's database, every secret.

The commands find their settings as from a shell: in the environment, else under ./var of the current
folder, and refuse to invent any. So a test that runs a command gives them all here, from a folder of
its own (the repository's ./var is no test's business), in a locale whose refusals are in English
unless the test asks otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.card_sandbox import SECRET_KEY, WEBHOOK_SECRET
from tests.conftest import BANK_API_SECRET, BANK_WEBHOOK_SECRET, make_settings

_SETTINGS = make_settings("sqlite+aiosqlite:///:memory:")
# Every secret as an operator exports it, the same the tests' servers and sandboxes check.
SECRETS_ENVIRONMENT = {
    "CIVICPAY_SECRET_KEY": _SETTINGS.secret_key,
    "CIVICPAY_BANK_WEBHOOK_SECRET": BANK_WEBHOOK_SECRET,
    "CIVICPAY_BANK_API_SECRET": BANK_API_SECRET,
    "CIVICPAY_CARD_SECRET_KEY": SECRET_KEY,
    "CIVICPAY_CARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def speak(monkeypatch: pytest.MonkeyPatch, lang: str | None = None) -> None:
    """A locale in ``lang`` (``None``: an English one), and no CIVICPAY_LANG to override it."""
    for name in ("LC_ALL", "LC_MESSAGES", "CIVICPAY_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "vi_VN.UTF-8" if lang == "vi" else "en_US.UTF-8")


@pytest.fixture
def command_shell(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's shell: in a scratch folder, this test's database and every secret; the folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIVICPAY_DATABASE_URL", database_url)
    for name, value in SECRETS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    speak(monkeypatch)
    return tmp_path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder and no civicpay settings in the environment: anywhere but the project folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in list(os.environ):
        if name.startswith("CIVICPAY_"):
            monkeypatch.delenv(name)
    speak(monkeypatch)
    return folder
