"""Unclaimed payments: held for someone with no wallet, paid once when they open one, returned to the funding when
nobody does in time; and each batch's report by outcome."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import disbursement
from civicpay import outbox
from civicpay.clock import FixedClock
from disbursement.models import ItemStatus
from tests.programme_office import PERIOD, Office, sign_up, unclaimed_row, wallet_row
from wallet import ledger

TU = "046201000001"  # Lê Văn Tư: no wallet, no bank account when the batch is made
NAM = "046201000002"  # Phạm Văn Năm: likewise


async def paid_and_held(office: Office, rows: list[dict[str, Any]], *, funding_vnd: int = 10_000_000) -> int:
    """A batch of these rows, approved and run; its programme's id."""
    programme = await office.programme(name="Trợ cấp xã hội hằng tháng")
    await office.fund(programme, funding_vnd)
    batch = await office.uploaded(programme, rows)
    assert batch["invalid"] == 0, batch["report"]
    assert (await office.approve(batch["id"])).status_code == 200
    done = await office.run()
    assert done.finished == [batch["id"]]
    return programme


async def test_someone_with_no_wallet_is_held_and_paid_once_when_they_open_one(office: Office) -> None:
    an = await office.beneficiary("Nguyễn Văn An")
    binh = await office.beneficiary("Trần Thị Bình")
    programme = await office.programme(name="Trợ cấp xã hội hằng tháng")
    await office.fund(programme, 10_000_000)
    batch = await office.uploaded(
        programme,
        [
            wallet_row(an, 1_000_000),
            unclaimed_row(TU, "Lê Văn Tư", 1_500_000),
            # She has a wallet already: nothing need wait for her.
            unclaimed_row(binh.citizen_id, binh.full_name, 1_200_000),
        ],
    )
    assert batch["by_destination"] == [
        {"destination": "wallet", "count": 2, "total_vnd": 2_200_000},
        {"destination": "bank", "count": 0, "total_vnd": 0},
        {"destination": "unclaimed", "count": 1, "total_vnd": 1_500_000},
    ]
    assert (await office.approve(batch["id"])).status_code == 200

    done = await office.run()

    assert (done.paid, done.held, done.failed, done.finished) == (2, 1, 0, [batch["id"]])
    after = await office.batch(batch["id"])
    assert (after["status"], after["released_vnd"], after["progress"]["done"]) == ("completed", 0, 3)
    listed = await office.listed(programme)
    assert (listed["funded_vnd"], listed["available_vnd"], listed["unclaimed_vnd"]) == (6_300_000, 6_300_000, 1_500_000)
    report = await office.report(batch["id"])
    assert (report["paid_to_wallet"], report["held_unclaimed"]) == ((2, 2_200_000), (1, 1_500_000))

    tu = await sign_up(office.api, TU, "LE VAN TU")  # the same name, diacritics and case aside

    # The sign-up's answer waited for its wallet.opened message to be delivered: the money is there at once.
    assert await office.api.balance(tu) == 1_500_000
    line = (await office.api.client.get(f"/wallets/{tu.wallet_id}/history", headers=tu.headers)).json()["items"][0]
    assert (line["direction"], line["amount_vnd"], line["category"]) == ("in", 1_500_000, "welfare")
    assert line["counterparty"]["name"] == "Trợ cấp xã hội hằng tháng"
    assert line["memo"] == f"Trợ cấp xã hội hằng tháng kỳ {PERIOD}"
    report = await office.report(batch["id"])
    assert (report["held_unclaimed"], report["claimed"]) == ((0, 0), (1, 1_500_000))
    assert (await office.listed(programme))["unclaimed_vnd"] == 0

    async with office.sessions() as session:  # only an awaited citizen ID's sign-up writes one
        opened = select(outbox.OutboxMessage.key).where(outbox.OutboxMessage.kind == "wallet.opened")
        assert list(await session.scalars(opened)) == [f"wallet.opened:{tu.wallet_id}"]

    # The message delivered again (a dispatcher that died before marking it delivered), and the unclaimed job
    # looking for wallets opened since: nothing is paid twice.
    services = office.services
    await disbursement.wallet_opened_handler(services.units, services.settings, office.clock)({"citizen_id": TU}, "x")
    assert await services.settle_unclaimed() == disbursement.Settled(claimed=0, returned=0)
    assert await office.api.balance(tu) == 1_500_000


async def test_what_nobody_claims_in_time_goes_back_to_the_funding_once(office: Office) -> None:
    programme = await paid_and_held(
        office, [unclaimed_row(TU, "Lê Văn Tư", 1_000_000), unclaimed_row(NAM, "Phạm Văn Năm", 2_000_000)]
    )
    # Someone else with that citizen ID (a mistyped one, say) is not paid another's welfare.
    stranger = await sign_up(office.api, TU, "Hoàng Văn Khác")
    assert await office.api.balance(stranger) == 0

    services = office.services

    async def settle_after(days: int) -> disbursement.Settled:
        # A worker's clock that far on (the office's stays, so its sign-ins do not run out).
        later = FixedClock(office.clock.now() + timedelta(days=days))
        return await disbursement.settle_unclaimed(services.units, services.settings, later)

    early, due, again = await settle_after(89), await settle_after(91), await settle_after(91)

    assert (early.returned, due.returned, again.returned) == (0, 2, 0)
    listed = await office.listed(programme)
    assert (listed["funded_vnd"], listed["available_vnd"], listed["unclaimed_vnd"]) == (10_000_000, 10_000_000, 0)
    batch_id = (await office.api.client.get(f"/programmes/{programme}/batches", headers=office.maker.headers)).json()
    assert (await office.report(batch_id[0]["id"]))["returned"] == (2, 3_000_000)
    nam = await sign_up(office.api, NAM, "Phạm Văn Năm")
    assert await office.api.balance(nam) == 0  # too late: the money is back in the funding

    # Never paid after all: a new batch may name him for the period again, and pays his wallet now.
    later = await office.uploaded(programme, [unclaimed_row(NAM, "Phạm Văn Năm", 2_000_000)])
    assert (later["invalid"], later["by_destination"][0]["count"]) == (0, 1)
    assert (await office.approve(later["id"])).status_code == 200
    assert (await office.run()).paid == 1
    assert await office.api.balance(nam) == 2_000_000


async def test_a_wallet_opened_before_its_batch_is_paid_is_paid_by_the_unclaimed_job(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 5_000_000)
    batch = await office.uploaded(programme, [unclaimed_row(TU, "Lê Văn Tư", 1_000_000)])
    assert (await office.approve(batch["id"])).status_code == 200
    tu = await sign_up(office.api, TU, "Lê Văn Tư")  # its message finds nothing held yet

    assert (await office.run()).held == 1
    assert await office.api.balance(tu) == 0
    settled = await office.services.settle_unclaimed()

    assert settled == disbursement.Settled(claimed=1, returned=0)
    assert await office.api.balance(tu) == 1_000_000
    assert (await office.report(batch["id"]))["claimed"] == (1, 1_000_000)


async def test_a_claim_that_dies_before_its_commit_is_delivered_again_and_pays_once(
    office: Office, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await paid_and_held(office, [unclaimed_row(TU, "Lê Văn Tư", 1_000_000)])
    real_post = ledger.post_entries

    async def post_then_die(*args: Any, **kwargs: Any) -> Any:
        await real_post(*args, **kwargs)  # the money written in the transaction...
        raise RuntimeError("worker killed")  # ...which never commits

    monkeypatch.setattr(ledger, "post_entries", post_then_die)
    tu = await sign_up(office.api, TU, "Lê Văn Tư")  # the wallet opens all the same
    monkeypatch.setattr(ledger, "post_entries", real_post)
    assert await office.api.balance(tu) == 0
    async with sessions() as session:
        message = await session.scalar(
            select(outbox.OutboxMessage).where(outbox.OutboxMessage.key == f"wallet.opened:{tu.wallet_id}")
        )
        assert message is not None
        assert (message.status, message.attempts) == ("pending", 1)

    office.clock.advance(timedelta(minutes=1))  # past its backoff
    delivered = await office.services.outbox.drain()
    again = await office.services.outbox.drain()

    assert (delivered, again) == (1, 0)
    assert await office.api.balance(tu) == 1_000_000


async def test_a_batch_report_counts_and_sums_each_outcome_as_json_csv_and_xlsx(office: Office) -> None:
    an = await office.beneficiary("Nguyễn Văn An")
    binh = await office.beneficiary("Trần Thị Bình")
    programme = await office.programme(name="Lương hưu tháng 12", kind="pension")
    await office.fund(programme, 10_000_000)
    first = await office.uploaded(programme, [wallet_row(an, 1_000_000)])
    second = await office.uploaded(
        programme,
        [
            wallet_row(an, 1_000_000),  # paid by the first batch by the time this one is: failed
            wallet_row(binh, 1_200_000),
            unclaimed_row(TU, "Lê Văn Tư", 1_500_000),
            wallet_row(binh, 700_000, citizen_id="079099999999"),  # nobody's: invalid
        ],
    )
    for batch in (first, second):
        assert (await office.approve(batch["id"])).status_code == 200
    await office.run()

    answer = await office.api.client.get(f"/batches/{second['id']}/report", headers=office.checker.headers)
    report = answer.json()
    assert (report["programme_name"], report["rows"], report["total_vnd"]) == ("Lương hưu tháng 12", 4, 3_700_000)
    outcomes = [(row["outcome"], row["count"], row["total_vnd"]) for row in report["outcomes"]]
    assert [row[0] for row in outcomes] == [status.value for status in ItemStatus]  # every one, in one order
    assert [row for row in outcomes if row[1]] == [
        ("invalid", 1, 700_000),
        ("paid_to_wallet", 1, 1_200_000),
        ("failed", 1, 1_000_000),
        ("held_unclaimed", 1, 1_500_000),
    ]

    as_csv = await office.api.client.get(f"/batches/{second['id']}/report.csv", headers=office.maker.headers)
    as_xlsx = await office.api.client.get(f"/batches/{second['id']}/report.xlsx", headers=office.maker.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == f'attachment; filename="batch-{second["id"]}-report.csv"'
    csv_rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert csv_rows[0] == ["programme", "Lương hưu tháng 12"]
    table = csv_rows[csv_rows.index(["outcome", "count", "total_vnd"]) + 1 :]
    assert [tuple(row) for row in table] == [(name, str(count), str(total)) for name, count, total in outcomes] + [
        ("all", "4", "4400000")
    ]
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).worksheets[0]
    xlsx_rows = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert [[cell for cell in row if cell] for row in xlsx_rows] == csv_rows

    assert (await office.api.client.get("/batches/999/report", headers=office.maker.headers)).status_code == 404
    citizen = await office.api.client.get(f"/batches/{second['id']}/report.csv", headers=an.citizen.headers)
    assert citizen.status_code == 403
