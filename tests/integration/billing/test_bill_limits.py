"""Bill payments under the wallet's rules: the Circular 40 monthly cap exempts utility bills, not `other`; step-up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.billers import BillerDesk, bill
from tests.conftest import Api


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"monthly_cap_vnd": 500_000}


async def test_the_monthly_cap_counts_only_bills_it_does_not_exempt_and_a_large_payment_needs_an_otp(
    biller_desk: BillerDesk, api: Api
) -> None:
    evn = await biller_desk.biller()
    club = await biller_desk.biller("Câu lạc bộ thể thao phường", "other")
    citizen = await api.register()
    pushed = await biller_desk.push(evn, bill("E1", amount_vnd=2_000_000), bill("E2", amount_vnd=10_500_000))
    fee = await biller_desk.push(club, bill("C1", code="CLB-7", amount_vnd=600_000))
    e1, e2 = (line["id"] for line in pushed.json()["accepted"])
    (c1,) = (line["id"] for line in fee.json()["accepted"])
    for biller, code in ((evn, "PC03AA0000001"), (club, "CLB-7")):
        assert (await biller_desk.link(citizen, biller, code)).status_code == 201
    await api.fund(citizen, 20_000_000)

    mixed = await biller_desk.pay(citizen, e1, c1)
    large = await biller_desk.pay(citizen, e2)
    balance_after_refusals = await api.balance(citizen)
    exempt = await biller_desk.pay(citizen, e1)

    assert (mixed.status_code, mixed.json()["code"], mixed.json()["limit"]) == (
        422,
        "monthly_limit_exceeded",
        "monthly_cap",
    )
    assert (large.status_code, large.json()["code"]) == (403, "step_up_required")
    assert balance_after_refusals == 20_000_000
    assert exempt.status_code == 201, exempt.text
    assert await api.balance(citizen) == 18_000_000
