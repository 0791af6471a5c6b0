"""Execution: each wallet paid once, in chunks, resumable after a crash; the hold drawn and its rest released."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from disbursement.models import Payment
from tests.programme_office import PERIOD, Beneficiary, Office, bank_row, wallet_row
from wallet import ledger


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The worker's job (not office.run) stops after one chunk, so a batch takes it several runs.
    return {"disbursement_chunk_size": 2, "disbursement_chunks_per_run": 1}


async def approved_batch(office: Office, people: list[Beneficiary], *, funding_vnd: int = 50_000_000) -> int:
    programme = await office.programme(name="Trợ cấp xã hội hằng tháng")
    await office.fund(programme, funding_vnd)
    rows = [wallet_row(who, 1_000_000 + 100_000 * number) for number, who in enumerate(people)]
    batch = await office.uploaded(programme, rows)
    approved = await office.approve(batch["id"])
    assert approved.status_code == 200, approved.text
    batch_id: int = batch["id"]
    return batch_id


async def payments(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Payment)) or 0


async def test_each_wallet_is_paid_once_and_the_hold_ends_released(
    office: Office, sessions: async_sessionmaker[AsyncSession]
) -> None:
    people = [await office.beneficiary(name) for name in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường")]
    batch_id = await approved_batch(office, people, funding_vnd=4_000_000)

    done = await office.run()

    assert (done.paid, done.failed, done.finished) == (3, 0, [batch_id])
    assert done.chunks == 2  # chunks of two
    for number, who in enumerate(people):
        assert await office.api.balance(who.citizen) == 1_000_000 + 100_000 * number
    batch = await office.batch(batch_id)
    assert batch["status"] == "completed"
    assert batch["progress"]["done"] == batch["progress"]["total"] == 3
    assert batch["progress"]["by_state"]["paid_to_wallet"] == 3
    assert batch["released_vnd"] == 0
    listed = (await office.api.client.get("/programmes", headers=office.maker.headers)).json()[0]
    assert (listed["funded_vnd"], listed["available_vnd"]) == (700_000, 700_000)
    async with sessions() as session:
        hold = await session.scalar(select(ledger.Hold).order_by(ledger.Hold.id.desc()))
        assert hold is not None
        assert (hold.status, hold.posted_vnd, hold.amount_vnd) == ("posted", 3_300_000, 3_300_000)

    # The beneficiary sees the credit under the programme's name.
    an = people[0].citizen
    history = await office.api.client.get(f"/wallets/{an.wallet_id}/history", headers=an.headers)
    item = history.json()["items"][0]
    assert item["direction"] == "in"
    assert item["counterparty"]["name"] == "Trợ cấp xã hội hằng tháng"
    assert item["memo"] == f"Trợ cấp xã hội hằng tháng kỳ {PERIOD}"
    assert item["category"] == "welfare"

    again = await office.run()
    assert (again.paid, again.failed, again.chunks) == (0, 0, 0)
    assert await payments(sessions) == 3


async def test_a_crash_mid_chunk_leaves_it_undone_and_a_rerun_pays_everyone_once(
    office: Office, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [await office.beneficiary(f"Người Nhận {letter}") for letter in ("An", "Bình", "Cường", "Dũng", "Em")]
    batch_id = await approved_batch(office, people)

    first = await office.run(most_chunks=1)
    assert (first.paid, first.chunks, first.finished) == (2, 1, [])
    progress = (await office.batch(batch_id))["progress"]
    assert (progress["done"], progress["total"]) == (2, 5)

    real_draw = ledger.draw_hold

    async def draw_then_die(*args: Any, **kwargs: Any) -> Any:
        await real_draw(*args, **kwargs)  # the money written in the transaction...
        raise RuntimeError("worker killed")  # ...which never commits

    monkeypatch.setattr(ledger, "draw_hold", draw_then_die)
    with pytest.raises(RuntimeError):
        await office.run()
    monkeypatch.setattr(ledger, "draw_hold", real_draw)
    assert await payments(sessions) == 2
    assert (await office.batch(batch_id))["progress"]["by_state"]["queued"] == 3

    rest = await office.run()
    assert (rest.paid, rest.finished) == (3, [batch_id])
    assert await payments(sessions) == 5
    for number, who in enumerate(people):
        assert await office.api.balance(who.citizen) == 1_000_000 + 100_000 * number
    assert (await office.batch(batch_id))["status"] == "completed"


async def test_someone_paid_by_another_batch_for_the_period_fails_rather_than_being_paid_twice(
    office: Office, sessions: async_sessionmaker[AsyncSession]
) -> None:
    an = await office.beneficiary("Nguyễn Văn An")
    binh = await office.beneficiary("Trần Thị Bình")
    programme = await office.programme()
    await office.fund(programme, 10_000_000)
    first = await office.uploaded(programme, [wallet_row(an, 1_000_000)])
    second = await office.uploaded(programme, [wallet_row(an, 1_000_000), wallet_row(binh, 1_200_000)])
    assert second["invalid"] == 0  # neither is paid yet when the second is validated
    assert (await office.approve(first["id"])).status_code == 200
    assert (await office.approve(second["id"])).status_code == 200

    done = await office.run()

    assert (done.paid, done.failed) == (2, 1)
    assert await office.api.balance(an.citizen) == 1_000_000
    assert await office.api.balance(binh.citizen) == 1_200_000
    later = await office.batch(second["id"])
    assert later["progress"]["by_state"]["failed"] == 1
    assert later["status"] == "completed"
    # The failed item's money went back to the programme's funding with the hold's rest.
    assert later["released_vnd"] == 1_000_000
    listed = (await office.api.client.get("/programmes", headers=office.maker.headers)).json()[0]
    assert listed["available_vnd"] == listed["funded_vnd"] == 10_000_000 - 2_200_000

    # And a new file naming him for the same period is refused at validation.
    third = await office.uploaded(programme, [wallet_row(an, 1_000_000)])
    assert third["report"][0]["problems"][0]["code"] == "already_paid"
    other_period = await office.uploaded(programme, [wallet_row(an, 1_000_000, period="2027-01")])
    assert other_period["invalid"] == 0


async def test_bank_items_go_out_in_a_file_and_the_batch_waits_for_the_bank(office: Office) -> None:
    an = await office.beneficiary()
    programme = await office.programme()
    await office.fund(programme, 10_000_000)
    batch = await office.uploaded(programme, [wallet_row(an, 1_000_000), bank_row("046100000001", 2_000_000)])
    assert (await office.approve(batch["id"])).status_code == 200

    done = await office.run()

    assert (done.paid, done.finished) == (1, [batch["id"]])
    after = await office.batch(batch["id"])
    assert after["status"] == "awaiting_bank"
    assert after["progress"]["by_state"]["sent_to_bank"] == 1
    assert done.files == 1
    # The bank item's money has left the funding for the bank-payout clearing until the bank's word.
    listed = (await office.api.client.get("/programmes", headers=office.maker.headers)).json()[0]
    assert (listed["funded_vnd"], listed["available_vnd"]) == (7_000_000, 7_000_000)


async def test_the_worker_job_pays_a_batch_over_several_runs_within_its_budget(office: Office) -> None:
    people = [await office.beneficiary(name) for name in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường")]
    batch_id = await approved_batch(office, people)
    assert "disbursement" in [job.name for job in office.services.jobs]

    runs = [await office.services.pay_disbursements() for _ in range(3)]

    assert [(run.paid, run.finished) for run in runs] == [(2, []), (1, []), (0, [batch_id])]
    assert (await office.batch(batch_id))["status"] == "completed"
