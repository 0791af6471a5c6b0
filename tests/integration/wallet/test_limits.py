"""Spending limits on wallet transfers: step-up OTP (Decision 2345) and the monthly cap (Circular 40/2024)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.money import Category
from civicpay.settings import Settings
from tests.conftest import TOTP_STEP, Api, Citizen, enrol, wrong_code
from wallet import ledger

MILLION = 1_000_000
# START in conftest is 10:00 in Huế (UTC+7): 14 hours later is local midnight, 13 hours later is
# still the same business day, although both are the same UTC date.
TO_LOCAL_MIDNIGHT = timedelta(hours=14)
# From Monday 23 November 10:00 local to Tuesday 1 December 00:00 local.
TO_NEXT_LOCAL_MONTH = timedelta(days=7, hours=14)


# Tokens that outlive every jump of the clock below, so the citizens stay signed in: these tests are
# about limits, not sessions (token expiry is tested in tests/integration/civicpay/test_auth.py).
LONG_SESSION = {"access_token_ttl_seconds": int(timedelta(days=10).total_seconds())}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return LONG_SESSION


# --- helpers -------------------------------------------------------------------------------------


def refusal(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def sent_ok(api: Api, sender: Citizen, to: Citizen, amount_vnd: int, otp: str | None = None) -> None:
    made = await api.transfer(sender, to, amount_vnd, otp=otp)
    assert made.status_code == 201, made.text
    assert made.json()["amount_vnd"] == amount_vnd


async def limits(api: Api, citizen: Citizen) -> dict[str, int]:
    wallet = await api.client.get("/wallets/me", headers=citizen.headers)
    assert wallet.status_code == 200, wallet.text
    shown: dict[str, int] = wallet.json()["limits"]
    return shown


async def balances(api: Api, *citizens: Citizen) -> tuple[int, ...]:
    return tuple([await api.balance(citizen) for citizen in citizens])


@pytest.fixture
async def pair(api: Api) -> tuple[Citizen, Citizen]:
    """A sender with 60 million đồng and a recipient with nothing."""
    sender, recipient = await api.register(full_name="Hoàng Thị Thu"), await api.register(full_name="Đặng Văn Long")
    await api.fund(sender, 60 * MILLION)
    return sender, recipient


# --- step-up on one large transfer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_vnd", "needs_otp"),
    [(10_000_000, False), (10_000_001, True)],
    ids=["exactly-10-million", "one-dong-more"],
)
async def test_only_a_transfer_above_10_million_needs_step_up(
    api: Api, pair: tuple[Citizen, Citizen], amount_vnd: int, needs_otp: bool
) -> None:
    sender, recipient = pair

    answer = await api.transfer(sender, recipient, amount_vnd)

    if needs_otp:
        body = refusal(answer, 403, "step_up_required")
        assert (body["limit"], body["limit_vnd"]) == ("single_transfer", 10_000_000)
        assert [error["field"] for error in body["errors"]] == ["header.X-OTP"]
        assert await balances(api, sender, recipient) == (60 * MILLION, 0)
        assert (await limits(api, sender))["day_total_vnd"] == 0
    else:
        assert answer.status_code == 201, answer.text
        assert await balances(api, sender, recipient) == (60 * MILLION - amount_vnd, amount_vnd)


async def test_a_large_transfer_goes_with_a_valid_code_once(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock
) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)
    code = totp.at(clock.now())

    await sent_ok(api, sender, recipient, 15 * MILLION, otp=code)
    replayed = await api.transfer(sender, recipient, 15 * MILLION, otp=code)

    refusal(replayed, 401, "otp_replayed")
    assert await balances(api, sender, recipient) == (45 * MILLION, 15 * MILLION)
    clock.advance(TOTP_STEP)
    await sent_ok(api, sender, recipient, 15 * MILLION, otp=totp.at(clock.now()))
    assert await balances(api, sender, recipient) == (30 * MILLION, 30 * MILLION)


async def test_a_code_offered_with_a_refused_transfer_is_not_spent_and_works_once(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock
) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)
    code = totp.at(clock.now())

    refusal(await api.transfer(sender, recipient, 61 * MILLION, otp=code), 422, "insufficient_funds")
    await sent_ok(api, sender, recipient, 15 * MILLION, otp=code)
    refusal(await api.transfer(sender, recipient, 15 * MILLION, otp=code), 401, "otp_replayed")

    assert await balances(api, sender, recipient) == (45 * MILLION, 15 * MILLION)


async def test_retrying_the_same_transfer_with_a_code_sends_it(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock
) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)
    refusal(await api.transfer(sender, recipient, 15 * MILLION, key="rent-november"), 403, "step_up_required")

    retried = await api.transfer(sender, recipient, 15 * MILLION, key="rent-november", otp=totp.at(clock.now()))

    assert retried.status_code == 201, retried.text
    assert await balances(api, sender, recipient) == (45 * MILLION, 15 * MILLION)


async def test_a_wrong_code_moves_nothing(api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)

    answer = await api.transfer(sender, recipient, 15 * MILLION, otp=wrong_code(totp, clock))

    refusal(answer, 401, "otp_invalid")
    assert await balances(api, sender, recipient) == (60 * MILLION, 0)


async def test_a_code_without_totp_set_up_is_refused(api: Api, pair: tuple[Citizen, Citizen]) -> None:
    sender, recipient = pair

    answer = await api.transfer(sender, recipient, 15 * MILLION, otp="123456")

    refusal(answer, 403, "totp_not_enrolled")
    assert await balances(api, sender, recipient) == (60 * MILLION, 0)


async def test_a_locked_otp_blocks_step_up_too(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock, settings: Settings
) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)
    for _ in range(settings.otp_max_failures):
        refusal(await api.transfer(sender, recipient, 15 * MILLION, otp=wrong_code(totp, clock)), 401, "otp_invalid")

    locked = await api.transfer(sender, recipient, 15 * MILLION, otp=totp.at(clock.now()))

    refusal(locked, 429, "locked")
    assert await balances(api, sender, recipient) == (60 * MILLION, 0)
    clock.advance(timedelta(seconds=settings.lockout_seconds))
    await sent_ok(api, sender, recipient, 15 * MILLION, otp=totp.at(clock.now()))


# --- step-up on the day's total ------------------------------------------------------------------


async def test_the_transfer_that_takes_the_day_past_20_million_needs_step_up(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock
) -> None:
    sender, recipient = pair
    totp = await enrol(api, sender, clock)
    await sent_ok(api, sender, recipient, 8 * MILLION)
    await sent_ok(api, sender, recipient, 8 * MILLION)

    crossing = await api.transfer(sender, recipient, 5 * MILLION)

    body = refusal(crossing, 403, "step_up_required")
    assert (body["limit"], body["limit_vnd"], body["remaining_vnd"]) == ("daily_total", 20 * MILLION, 4 * MILLION)
    assert await balances(api, sender, recipient) == (44 * MILLION, 16 * MILLION)
    # Up to the threshold still goes without a code; past it, every đồng needs one.
    await sent_ok(api, sender, recipient, 4 * MILLION)
    assert refusal(await api.transfer(sender, recipient, 1), 403, "step_up_required")["remaining_vnd"] == 0
    await sent_ok(api, sender, recipient, 5 * MILLION, otp=totp.at(clock.now()))
    assert await balances(api, sender, recipient) == (35 * MILLION, 25 * MILLION)
    assert (await limits(api, sender))["day_total_vnd"] == 25 * MILLION


@pytest.mark.parametrize(
    ("later", "day_total_vnd"),
    [(TO_LOCAL_MIDNIGHT - timedelta(minutes=1), 20 * MILLION), (TO_LOCAL_MIDNIGHT, 0)],
    ids=["23:59-same-business-day", "00:00-next-business-day"],
)
async def test_the_day_total_resets_at_midnight_in_vietnam(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock, later: timedelta, day_total_vnd: int
) -> None:
    sender, recipient = pair
    for amount in (10 * MILLION, 10 * MILLION):
        await sent_ok(api, sender, recipient, amount)

    clock.advance(later)
    shown = await limits(api, sender)
    answer = await api.transfer(sender, recipient, 5 * MILLION)

    assert (shown["day_total_vnd"], shown["month_used_vnd"]) == (day_total_vnd, 20 * MILLION)
    if day_total_vnd:
        assert refusal(answer, 403, "step_up_required")["limit"] == "daily_total"
        assert await balances(api, sender, recipient) == (40 * MILLION, 20 * MILLION)
    else:
        assert answer.status_code == 201, answer.text
        assert await balances(api, sender, recipient) == (35 * MILLION, 25 * MILLION)


# --- the monthly cap -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{**LONG_SESSION, "monthly_cap_vnd": 1_000_000}])
async def test_the_monthly_cap_refuses_what_would_pass_it_and_moves_nothing(
    api: Api, pair: tuple[Citizen, Citizen]
) -> None:
    sender, recipient = pair
    await sent_ok(api, sender, recipient, 600_000)

    over = await api.transfer(sender, recipient, 500_000)

    body = refusal(over, 422, "monthly_limit_exceeded")
    assert (body["limit_vnd"], body["remaining_vnd"]) == (1_000_000, 400_000)
    assert [error["field"] for error in body["errors"]] == ["amount_vnd"]
    assert await balances(api, sender, recipient) == (60 * MILLION - 600_000, 600_000)
    assert (await limits(api, sender))["month_remaining_vnd"] == 400_000
    # Exactly what is left still goes; after that nothing does.
    await sent_ok(api, sender, recipient, 400_000)
    assert refusal(await api.transfer(sender, recipient, 1), 422, "monthly_limit_exceeded")["remaining_vnd"] == 0
    assert await balances(api, sender, recipient) == (59 * MILLION, MILLION)


@pytest.mark.parametrize("settings_overrides", [{**LONG_SESSION, "monthly_cap_vnd": 1_000_000}])
@pytest.mark.parametrize(
    ("later", "allowed"),
    [(TO_NEXT_LOCAL_MONTH - timedelta(minutes=1), False), (TO_NEXT_LOCAL_MONTH, True)],
    ids=["30-november-23:59", "1-december-00:00"],
)
async def test_the_monthly_cap_starts_again_on_the_first_in_vietnam(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock, later: timedelta, allowed: bool
) -> None:
    sender, recipient = pair
    await sent_ok(api, sender, recipient, 1_000_000)

    clock.advance(later)
    answer = await api.transfer(sender, recipient, 300_000)

    if allowed:
        assert answer.status_code == 201, answer.text
        assert (await limits(api, sender))["month_used_vnd"] == 300_000
    else:
        refusal(answer, 422, "monthly_limit_exceeded")
        assert (await limits(api, sender))["month_used_vnd"] == 1_000_000
    assert await api.balance(recipient) == 1_000_000 + (300_000 if allowed else 0)


async def test_a_cap_exempt_bill_counts_for_the_day_but_not_for_the_month(
    api: Api, pair: tuple[Citizen, Citizen], sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    sender, recipient = pair
    async with sessions.begin() as session:
        biller = await ledger.open_account(
            session,
            code="liability:biller:evn-hue",
            name="Điện lực Huế",
            kind=ledger.AccountKind.LIABILITY,
            no_overdraft=False,
            now=clock.now(),
        )
        bill = ledger.TransferSpec(sender.account_id, biller, 3 * MILLION, Category.ELECTRICITY, reference="EVN")
        await ledger.post_entry(session, [bill], now=clock.now(), description="electricity bill")

    await sent_ok(api, sender, recipient, 2 * MILLION)

    shown = await limits(api, sender)
    assert (shown["month_used_vnd"], shown["day_total_vnd"]) == (2 * MILLION, 5 * MILLION)
    assert shown["month_remaining_vnd"] == shown["monthly_cap_vnd"] - 2 * MILLION


# --- what the wallet shows -----------------------------------------------------------------------


async def test_the_wallet_shows_its_limits_consistently(
    api: Api, pair: tuple[Citizen, Citizen], clock: FixedClock
) -> None:
    sender, recipient = pair
    await api.fund(recipient, 1 * MILLION)
    before = await limits(api, sender)

    await sent_ok(api, sender, recipient, 3 * MILLION)
    await sent_ok(api, sender, recipient, 2 * MILLION)
    await sent_ok(api, recipient, sender, 1 * MILLION)  # money in does not use the sender's limits
    refusal(await api.transfer(sender, recipient, 16 * MILLION), 403, "step_up_required")  # refused, not counted
    today = await limits(api, sender)
    clock.advance(TO_LOCAL_MIDNIGHT)
    tomorrow = await limits(api, sender)

    assert before == {
        "monthly_cap_vnd": 100 * MILLION,
        "month_used_vnd": 0,
        "month_remaining_vnd": 100 * MILLION,
        "day_total_vnd": 0,
        "stepup_single_vnd": 10 * MILLION,
        "stepup_daily_vnd": 20 * MILLION,
    }
    assert today == {
        **before,
        "month_used_vnd": 5 * MILLION,
        "month_remaining_vnd": 95 * MILLION,
        "day_total_vnd": 5 * MILLION,
    }
    assert tomorrow == {**today, "day_total_vnd": 0}
    assert (await limits(api, recipient))["month_used_vnd"] == 1 * MILLION
    assert await balances(api, sender, recipient) == (56 * MILLION, 5 * MILLION)
