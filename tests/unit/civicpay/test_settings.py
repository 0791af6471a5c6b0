"""Settings from the environment: production names its secrets and its own bank accounts, or does not start."""

from __future__ import annotations

import pytest

from civicpay.settings import Settings, SettingsError

SECRETS = {
    "CIVICPAY_SECRET_KEY": "a-production-secret-key-long-enough",
    "CIVICPAY_BANK_WEBHOOK_SECRET": "bank-webhook",
    "CIVICPAY_BANK_API_SECRET": "bank-api",
    "CIVICPAY_CARD_SECRET_KEY": "sk_live_x",
    "CIVICPAY_CARD_WEBHOOK_SECRET": "whsec_x",
}
# Production's database is a server's: an embedded one's file would have to exist already.
DATABASE = {"CIVICPAY_DATABASE_URL": "postgresql+asyncpg://civicpay@db.internal/civicpay"}
OWN_ACCOUNTS = {
    "CIVICPAY_WALLET_POOL_BANK_BIN": "970415",
    "CIVICPAY_WALLET_POOL_ACCOUNT_NUMBER": "118000123456",
    "CIVICPAY_CARD_SETTLEMENT_BANK_BIN": "970415",
    "CIVICPAY_CARD_SETTLEMENT_ACCOUNT_NUMBER": "118000654321",
}


@pytest.mark.parametrize("missing", sorted(OWN_ACCOUNTS))
def test_production_refuses_to_book_against_the_sandboxs_bank_accounts(missing: str) -> None:
    environ = {"CIVICPAY_ENV": "production", **DATABASE, **SECRETS, **OWN_ACCOUNTS}
    del environ[missing]

    with pytest.raises(SettingsError, match=f"{missing} must be set in production"):
        Settings.from_env(environ)


def test_production_with_its_own_accounts_starts_on_them() -> None:
    settings = Settings.from_env({"CIVICPAY_ENV": "production", **DATABASE, **SECRETS, **OWN_ACCOUNTS})

    assert (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number) == ("970415", "118000123456")
    assert settings.card_settlement_account_number == "118000654321"
