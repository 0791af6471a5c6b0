"""The one-call transfer on PostgreSQL (wallet/fast_path.py) against the portable path it stands in for.

The fast path may only post what the portable path would post without a word, must write nothing
when it leaves a request to the portable path, and must answer in the same shape.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from httpx import Response
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import bootstrap
from civicpay.app import create_app, running
from civicpay.auth.identity import normalise_phone
from civicpay.clock import FixedClock
from civicpay.idempotency import IdempotencyRecord, fingerprint
from tests.conftest import Api, Citizen, http_into, make_settings
from wallet import fast_path, ledger, schemas
from wallet.service import p2p_answer

pytestmark = pytest.mark.postgres_only

# Small limits, so every boundary is cheap to reach; tokens that outlive the day the clock moves.
CAP = 500_000
SINGLE = 300_000
DAILY = 400_000
DAY = timedelta(days=1)
LIMITS = {
    "monthly_cap_vnd": CAP,
    "stepup_single_vnd": SINGLE,
    "stepup_daily_vnd": DAILY,
    "access_token_ttl_seconds": int((3 * DAY).total_seconds()),
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return LIMITS


async def rows_written(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        keys = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
        entries = await session.scalar(select(func.count()).select_from(ledger.Entry))
    return keys or 0, entries or 0


async def direct(
    app: Litestar,
    clock: FixedClock,
    sender: Citizen,
    to_phone: str,
    amount_vnd: int,
    key: str,
    memo: str = "",
) -> bytes | None:
    """The fast path called as the route calls it, so a None proves it left the request alone."""
    data = schemas.TransferCreate(to_phone=normalise_phone(to_phone) or to_phone, amount_vnd=amount_vnd, memo=memo)
    return await fast_path.try_transfer(
        app.state.engine,
        app.state.settings,
        app.state.calendar,
        principal=f"user:{sender.user_id}",
        key=key,
        fingerprint=fingerprint("POST", "/transfers", data),
        sender_user_id=sender.user_id,
        data=data,
        now=clock.now(),
    )


async def test_the_fast_answer_is_the_portable_answer_and_is_replayed_byte_for_byte(
    api: Api, app: Litestar, clock: FixedClock
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    minh = await api.register(full_name="Trần Văn Minh")
    memo = 'Tiền "điện" \\ tháng 11'  # a quote and a backslash, to be escaped alike by both paths
    await api.fund(huong, 1_000_000)

    made = await direct(app, clock, huong, minh.phone, 123_456, "same-shape", memo)
    again = await api.transfer(huong, minh, 123_456, key="same-shape", memo=memo)

    assert made is not None
    answer = msgspec.json.decode(made, type=schemas.Transfer, strict=True)
    data = schemas.TransferCreate(to_phone=minh.phone, amount_vnd=123_456, memo=memo)
    expected = p2p_answer(
        answer.id,
        data,
        sender=("Nguyễn Thị Hương", f"+84{huong.phone[1:]}"),
        recipient=("Trần Văn Minh", f"+84{minh.phone[1:]}"),
        now=clock.now(),
    )
    assert answer == expected
    # What the portable code renders from the rows the function wrote says the same.
    shown = await api.client.get(f"/transfers/{answer.id}", headers=huong.headers)
    assert msgspec.json.decode(shown.content, type=schemas.Transfer) == expected
    assert (again.status_code, again.content, again.headers["idempotent-replayed"]) == (201, made, "true")
    assert (await api.balance(huong), await api.balance(minh)) == (876_544, 123_456)


@pytest.mark.parametrize(
    ("funded", "amount", "posts"),
    [
        pytest.param(200_000, 200_000, True, id="exactly the balance"),
        pytest.param(200_000, 200_001, False, id="one dong over the balance"),
        pytest.param(1_000_000, SINGLE, True, id="exactly the single step-up threshold"),
        pytest.param(1_000_000, SINGLE + 1, False, id="one dong over the single threshold"),
    ],
)
async def test_the_fast_path_posts_exactly_what_needs_no_word(
    api: Api,
    app: Litestar,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
    funded: int,
    amount: int,
    posts: bool,
) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, funded)
    before = await rows_written(sessions)

    answer = await direct(app, clock, huong, minh.phone, amount, "boundary")

    assert (answer is not None) == posts
    keys, entries = await rows_written(sessions)
    assert (keys - before[0], entries - before[1]) == ((1, 1) if posts else (0, 0))
    assert await api.balance(minh) == (amount if posts else 0)
    # Whatever the fast path left, the portable path decides the same: it goes through, or it is refused.
    through_http = await api.transfer(huong, minh, amount)
    if not posts:
        assert through_http.status_code in {403, 422}, through_http.text


async def test_what_the_fast_path_leaves_alone_it_does_not_touch(
    api: Api, app: Litestar, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 2_000_000)
    for amount in (250_000, 140_000):  # 390.000 ₫ today: 10.000 ₫ short of the daily step-up
        assert (await api.transfer(huong, minh, amount)).status_code == 201
    assert (await api.transfer(huong, minh, 5_000, key="taken")).status_code == 201
    before = await rows_written(sessions)

    left_alone = {
        "unknown phone": await direct(app, clock, huong, "+84999999999", 1_000, "a"),
        "to oneself": await direct(app, clock, huong, f"+84{huong.phone[1:]}", 1_000, "b"),
        "a key already used": await direct(app, clock, huong, minh.phone, 5_000, "taken"),
        "over the daily step-up": await direct(app, clock, huong, minh.phone, 10_000, "c"),
        "unparseable phone": await direct(app, clock, huong, "not a phone", 1_000, "d"),
    }

    assert left_alone == dict.fromkeys(left_alone)
    assert await rows_written(sessions) == before
    assert await direct(app, clock, huong, minh.phone, 5_000, "e") is not None  # 395.000 ₫: fine


async def test_over_the_monthly_cap_is_left_to_the_portable_path_which_says_so(
    api: Api, app: Litestar, clock: FixedClock
) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 2_000_000)
    # 480.000 ₫ this month, over two days so that no day needs a step-up.
    assert (await api.transfer(huong, minh, 240_000)).status_code == 201
    clock.advance(DAY)
    assert (await api.transfer(huong, minh, 240_000)).status_code == 201

    assert await direct(app, clock, huong, minh.phone, 20_001, "over-cap") is None
    refused = await api.transfer(huong, minh, 20_001)
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["remaining_vnd"]) == ("monthly_limit_exceeded", 20_000)
    assert (await api.transfer(huong, minh, 20_000)).status_code == 201


async def test_both_paths_side_by_side_move_a_contested_key_once(
    api: Api, database_url: str, clock: FixedClock
) -> None:
    """One app with the fast path, one without, on one database: a retried tap lands on either."""
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 1_000_000)
    portable = create_app(bootstrap.build(make_settings(database_url, fast_transfers=False, **LIMITS), clock))

    async with running(portable), http_into(portable) as other:

        async def tap(number: int) -> Response:
            client = api.client if number % 2 else other
            headers = {**huong.headers, "Idempotency-Key": "tap-tap"}
            return await client.post("/transfers", json={"to_phone": minh.phone, "amount_vnd": 10_000}, headers=headers)

        answers = await asyncio.gather(*(tap(number) for number in range(12)))

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.content for answer in answers}) == 1
    assert sum("idempotent-replayed" not in answer.headers for answer in answers) == 1
    assert (await api.balance(huong), await api.balance(minh)) == (990_000, 10_000)
