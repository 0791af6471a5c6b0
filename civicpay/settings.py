"""Settings, read once from the environment.

Every number that comes from a Vietnamese rule is a setting whose default is the figure in
DOMAIN.md, so an operator can follow a new circular without a release.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

import msgspec
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from civicpay.errors import Text

Environment = Literal["development", "production", "test"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/civicpay.db"
DEV_SECRET_DIR = Path("var/secrets")
# The e-wallet's pooled bank account in development, which the bank sandbox also knows.
DEFAULT_WALLET_POOL_ACCOUNT = "1017468888"
DEFAULT_DB_POOL_SIZE = 10
DEFAULT_DB_POOL_OVERFLOW = 0


# Our own bank accounts: their defaults are the sandbox's, so production must name the real ones (money
# booked against an account the bank does not have could never be reconciled).
_OWN_BANK_ACCOUNTS = (
    "wallet_pool_bank_bin",
    "wallet_pool_account_number",
    "card_settlement_bank_bin",
    "card_settlement_account_number",
)
# Settings that are secrets: never a default in production, created once under var/ in development.
_SECRETS = ("secret_key", "bank_webhook_secret", "bank_api_secret", "card_secret_key", "card_webhook_secret")


class SettingsError(Exception):
    """The environment does not describe a runnable service; ``text`` says why in both languages."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


class NotSetUp(SettingsError):
    """Nothing set up where the settings point: the development database or secrets do not exist there.

    Raised instead of creating them, unless the caller sets the service up (``create_missing``): a
    command run from the wrong folder must not start a new, empty service beside the real one, nor
    sign with a secret nobody else knows.
    """

    def __init__(self, database_url: str, missing: list[Path]) -> None:
        self.database_url = database_url
        self.missing = missing
        database = sqlite_file(database_url)
        where = shown_url(database_url) + (f" ({database.resolve()})" if database is not None else "")
        secrets_at = (DEV_SECRET_DIR / "*.txt").resolve()
        no_database = database is not None and database in missing
        no_secrets = any(path != database for path in missing)
        what = Text(
            " và ".join(["cơ sở dữ liệu"] * no_database + ["khóa bí mật"] * no_secrets),
            " and ".join(["database"] * no_database + ["secrets"] * no_secrets),
        )
        super().__init__(
            Text(
                f"chưa thiết lập civicpay ở đây (không có {what.vi}): lệnh này sẽ dùng cơ sở dữ liệu {where} "
                f"và khóa bí mật {secrets_at}; hãy chạy trong thư mục dự án, đặt CIVICPAY_DATABASE_URL và các "
                "khóa CIVICPAY_*, hoặc tạo chúng bằng `civicpay db upgrade`",
                f"nothing set up here (no {what.en}): this command would use database {where} and secrets "
                f"{secrets_at}; run it from the project folder, set CIVICPAY_DATABASE_URL and the CIVICPAY_* "
                "secrets, or create them with `civicpay db upgrade`",
            )
        )


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service needs to know about its surroundings."""

    env: Environment = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections each app process (each uvicorn worker, each `civicpay worker`) keeps open,
    # and how many more it may open for a burst, closing each again as soon as it is returned. Overflow is
    # 0 because a busy process would open and close them constantly (a connection costs PostgreSQL a
    # process fork and authentication): at 32 clients on 2 workers, pool 10 with overflow 10 made 500-671
    # transfers/s, pool 10 with none 968-1405 (README, Benchmarks). A request waits up to
    # db_pool_timeout_seconds for a pooled connection instead; no request holds two at once, so waiting
    # cannot deadlock. Size it so that, with each app process (every uvicorn worker of every `civicpay
    # serve`) also keeping one connection of its own to LISTEN for announcements (civicpay/events.py):
    #   app processes x (pool + overflow + 1) + `civicpay worker` processes x (pool + overflow)
    #     <= PostgreSQL's max_connections - headroom (superuser_reserved_connections, migrations, psql,
    #        monitoring, and the old processes of a rolling deploy still running beside the new ones).
    # E.g. 2 hosts x 2 uvicorn workers and 1 `civicpay worker` at the default 10: 4 x 11 + 10 = 54 of 100.
    # More busy connections than a few per PostgreSQL core add lock and CPU contention, not throughput
    # (pools of 5 to 32 measured alike on 2 cores); connections open lazily, so a process never holds more
    # than its load has needed at once.
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_pool_overflow: int = DEFAULT_DB_POOL_OVERFLOW
    # How long a request waits for a pooled connection when every one is busy before it is answered 503
    # (SQLAlchemy's default is 30 s): an overloaded process sheds load within seconds rather than queueing
    # work whose caller has likely given up.
    db_pool_timeout_seconds: float = 10.0
    # Signs access tokens. Never has a production default: see from_env.
    secret_key: str
    access_token_ttl_seconds: int = 3600
    # Argon2id cost. The defaults follow RFC 9106's second recommendation; tests lower them.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Circular 40/2024/TT-NHNN: transfers and payments from one wallet, per month.
    monthly_cap_vnd: int = 100_000_000
    # Decision 2345/QĐ-NHNN: step-up above one transfer of this size ...
    stepup_single_vnd: int = 10_000_000
    # ... or when the day's total would pass this.
    stepup_daily_vnd: int = 20_000_000
    business_timezone: str = "Asia/Ho_Chi_Minh"
    # Sign-in throttling (civicpay/auth/throttle.py), per (phone, client address): after each failure past
    # the first the next try waits 1, 2, 4… seconds, and this many failures within the window lock that
    # phone from that address for lockout_seconds; a stranger elsewhere never locks the owner out.
    login_max_failures: int = 5
    # Failures from one address, whatever the phones, within the window that lock the address for
    # lockout_seconds: wide, since many people share an address behind a carrier's NAT or an office's.
    login_address_max_failures: int = 50
    # How long a failure is remembered: the counts start again once the window since the first has passed.
    login_failure_window_seconds: int = 900
    # How often the workers write the lifting of sign-in locks that have ended to the audit log and forget
    # what is past its window (an attempt after a lock has ended also writes its lifting); 0: never.
    login_lock_sweep_interval_seconds: int = 60
    otp_max_failures: int = 5
    lockout_seconds: int = 900
    # Requests a minute one client address may make to the sign-in and OTP endpoints.
    auth_rate_per_minute: int = 30
    # HMAC-SHA256 key the bank (or its aggregator) signs incoming-transfer notifications with.
    bank_webhook_secret: str
    # The bank's payout API (withdrawals): its base URL, and the HMAC key we sign our requests with.
    bank_api_base: str = "http://127.0.0.1:8421"
    bank_api_secret: str
    # Our own bank accounts, each mirrored by a ledger account of its own (wallet/ledger/bank_accounts.py):
    # the e-wallet's pooled account at its partner bank (tài khoản đảm bảo thanh toán ví), which top-ups
    # by transfer reach and withdrawals and merchant settlements leave; the development default is the
    # account the bank sandbox and `civicpay-sandbox bank transfer` send top-ups to ...
    wallet_pool_bank_bin: str = "970436"
    wallet_pool_account_number: str = DEFAULT_WALLET_POOL_ACCOUNT
    # ... and the account the card acquirer settles the cards it charged into.
    card_settlement_bank_bin: str = "970436"
    card_settlement_account_number: str = "1017469999"
    # The name the bank holds both under: the e-wallet operator's.
    operator_account_name: str = "CONG TY CIVICPAY"
    # A single bank-transfer top-up above this waits in suspense for a finance officer.
    max_topup_vnd: int = 100_000_000
    # The card acquirer, which speaks the Stripe API; development and tests use localstripe here.
    card_api_base: str = "http://127.0.0.1:8420"
    card_secret_key: str
    # Signs the acquirer's webhooks (Stripe-Signature); refused when older or newer than the tolerance.
    card_webhook_secret: str
    card_webhook_tolerance_seconds: int = 300
    # A card top-up still pending this long is asked after at the acquirer (its webhook may be late) ...
    card_requery_after_seconds: int = 60
    # ... and one not paid this long is cancelled there and its hold voided.
    card_abandon_after_seconds: int = 1800
    # How often the workers run that re-query; 0 leaves it to `civicpay card requery`.
    card_requery_interval_seconds: int = 30
    # A card top-up can be refunded to its card for this many days (the acquirer allows more).
    card_refund_days: int = 30
    # A counter's fee collection may be paid for this long; a later payment waits in suspense.
    collection_ttl_seconds: int = 1800
    # How often the workers sweep collected fees to the Treasury (Circular 74/2022 asks daily).
    treasury_sweep_interval_seconds: int = 3600
    # How often the workers look for merchants not yet settled today (each is paid out once a business day).
    merchant_settlement_interval_seconds: int = 3600
    # How often the workers look for billers not yet settled today (each is paid out once a business
    # day); 0 leaves it to `civicpay billing settle` and POST /billers/settlements.
    biller_settlement_interval_seconds: int = 3600
    # The hour (0-23, business zone) a biller's business day closes: bill payments before it are paid
    # out by that day's settlement, later ones by the next day's. Midnight: a day pays the day before.
    biller_settlement_cutoff_hour: int = 0
    # How often the workers give back the money of holds whose time has passed; 0 leaves it to
    # `civicpay ledger expire-holds`.
    hold_expiry_interval_seconds: int = 60
    # How often the workers pay the bills due today on links with auto-pay (each bill once, however many run);
    # 0 leaves it to no one.
    bill_autopay_interval_seconds: int = 900
    # How often the workers look for bills to remind citizens of, and how many days before the due date.
    bill_reminder_interval_seconds: int = 3600
    bill_reminder_days_before: int = 3
    # How often the workers pay approved welfare and pension batches (disbursement/execution.py); 0 leaves it
    # to `civicpay disburse run`. Each chunk of this many items is one transaction: a crash loses at most one.
    disbursement_interval_seconds: int = 10
    disbursement_chunk_size: int = 1000
    # A worker runs its jobs one after another: after this many chunks it goes back to the others (the ledger
    # fold, the outbox), and the next due time, claimed by whichever worker is free, carries the batch on.
    disbursement_chunks_per_run: int = 50
    # An unclaimed payment (no wallet, no bank account: disbursement/unclaimed.py) waits this many days in the
    # programme's claims account for a wallet opened with the citizen's ID, then goes back to the funding.
    disbursement_unclaimed_days: int = 90
    # How often the workers pay held payments to wallets opened since (should the wallet's event have found
    # none: opened while its batch was being paid) and return those past their days; 0 leaves it to
    # `civicpay disburse unclaimed`.
    disbursement_unclaimed_interval_seconds: int = 60
    # How often a worker adds the money waiting beside busy receivers' rows to the rows (BalanceIncrease).
    ledger_fold_interval_seconds: int = 5
    # The outbox (civicpay/outbox.py): a message to an outside party is tried this many times, waiting
    # a random time below base · 2^(tries-1) seconds, at most the cap, between tries; then it is given up
    # and waits for an admin (GET /admin/outbox?status=given_up, `civicpay outbox redeliver`).
    outbox_max_attempts: int = 10
    outbox_backoff_base_seconds: float = 2.0
    outbox_backoff_cap_seconds: float = 900.0
    # How long a dispatcher holds a message it is delivering before another may take it over.
    outbox_lease_seconds: float = 120.0
    # How long a request (or a job) waits for the delivery of what it wrote, after its commit, before
    # answering anyway and leaving the delivery to the workers.
    outbox_prompt_seconds: float = 10.0
    # Billers that answer look-ups (billing/pull.py), asked on `GET /bills` for each linked customer code:
    # one try waits at most this long for the biller ...
    billing_pull_timeout_seconds: float = 1.5
    # ... and all the billers of one request together at most this long, after which what is stored is
    # served and the billers not yet answered are named stale: one slow biller never slows the list.
    billing_pull_deadline_seconds: float = 2.0
    # Tries again after a refused connection or a 5xx (never after a timeout, which spent the time),
    # waiting backoff · 2^(try-1) seconds between tries, all within the deadline.
    billing_pull_retries: int = 1
    billing_pull_backoff_seconds: float = 0.1
    # A biller that failed this many look-ups in a row is not asked for cooldown seconds (its circuit is
    # open, the list says so at once); then one look-up tries it again (half-open) and its answer decides.
    billing_pull_breaker_failures: int = 3
    billing_pull_breaker_cooldown_seconds: float = 30.0
    # The fake billers (`civicpay-sandbox billers serve`, sandbox/billers.py) in development: where they
    # listen, so the demo billers' look-up and webhook URLs point at them.
    sandbox_billers_base: str = "http://127.0.0.1:8422"
    # How often a worker's dispatcher looks for due messages when nothing has woken it.
    outbox_poll_seconds: float = 1.0
    # How long one try of a biller's payment notification (billing/webhooks.py) waits for the biller's
    # answer; a slower biller's try fails and the outbox tries again on its backoff.
    biller_webhook_timeout_seconds: float = 10.0
    # How often a worker looks for periodic jobs that are due.
    worker_tick_seconds: float = 1.0
    # Whether `civicpay serve` runs a worker (outbox and periodic jobs) inside each app process. Unset:
    # on for the embedded SQLite database (one machine, so `make run` needs nothing else), off for
    # PostgreSQL, where `civicpay worker` runs beside the app processes, as many as wanted.
    worker_in_process: bool | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # One log line per request; off under load tests, where writing it costs as much as a query.
    access_log: bool = True
    # On PostgreSQL, make an everyday transfer in one call of wallet_p2p_transfer (migration 0003) and an
    # everyday bill payment in one call of billing_pay_bills (0022); off, every one takes the portable
    # Python path, as on SQLite.
    fast_transfers: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, create_missing: bool = False) -> Settings:
        """Build settings from ``CIVICPAY_*`` variables.

        Outside production a secret not in the environment is read from ``var/secrets/``, so every
        process of a development install agrees on it. Only a caller that sets the service up
        (``create_missing``: ``civicpay db upgrade``, ``civicpay demo``) creates what is missing there,
        secrets and the SQLite database alike (the latter by migrating it); any other caller gets
        ``NotSetUp``, naming what it looked for. In production a missing secret stops the service
        instead of running with a guessable one.
        """
        env = dict(os.environ if environ is None else environ)
        fields: dict[str, object] = {}
        for name in cls.__struct_fields__:
            raw = env.get(f"CIVICPAY_{name.upper()}")
            if raw is not None:
                fields[name] = raw
        production = fields.get("env", "development") == "production"
        for needed in _OWN_BANK_ACCOUNTS:
            if production and needed not in fields:
                raise SettingsError(_must_be_set(needed))
        missing: list[Path] = []
        database_url = str(fields.get("database_url", DEFAULT_DATABASE_URL))
        database = sqlite_file(database_url)
        if database is not None and not database.exists() and not create_missing:
            missing.append(database)
        for secret in _SECRETS:
            if secret in fields:
                continue
            if production:
                raise SettingsError(_must_be_set(secret))
            if (value := _development_secret(secret, create_missing=create_missing)) is not None:
                fields[secret] = value
            else:
                missing.append(development_secret_file(secret))
        if missing:
            raise NotSetUp(database_url, missing)
        try:
            return msgspec.convert(fields, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(Text(f"cấu hình không hợp lệ: {exc}", f"invalid setting: {exc}")) from exc

    @property
    def database_file(self) -> Path | None:
        """The embedded database's file, or None for a server (PostgreSQL) or an in-memory database."""
        return sqlite_file(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_worker_in_process(self) -> bool:
        return self.is_sqlite if self.worker_in_process is None else self.worker_in_process


# The acquirer's sandbox, like the acquirer, knows its keys by these prefixes.
_SECRET_PREFIXES = {"card_secret_key": "sk_test_", "card_webhook_secret": "whsec_"}


def _must_be_set(name: str) -> Text:
    variable = f"CIVICPAY_{name.upper()}"
    return Text(f"cần đặt {variable} trong môi trường production", f"{variable} must be set in production")


def database_url_from_env(environ: dict[str, str] | None = None) -> str:
    """Only the database's URL, read as ``Settings.from_env`` reads it, without looking for secrets."""
    return (os.environ if environ is None else environ).get("CIVICPAY_DATABASE_URL", DEFAULT_DATABASE_URL)


def sqlite_file(database_url: str) -> Path | None:
    """The file a SQLite URL names (relative to the working directory), or None."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[-1].split("?", 1)[0] if "///" in database_url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def shown_url(database_url: str) -> str:
    """A database URL fit to print: its password masked."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return database_url


def development_secret_file(name: str) -> Path:
    """Where a development install keeps one secret (relative to the working directory)."""
    return DEV_SECRET_DIR / f"{name}.txt"


def _development_secret(name: str, *, create_missing: bool) -> str | None:
    """A random secret kept under var/, so every process of a development install agrees on it.

    None when it does not exist and may not be created.
    """
    path = development_secret_file(name)
    if path.exists():
        return path.read_text().strip()
    if not create_missing:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = _SECRET_PREFIXES.get(name, "") + secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
