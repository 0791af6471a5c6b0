"""Funding and approval: maker-checker with TOTP, replay refused, a batch larger than its funding refused."""

from __future__ import annotations

from tests.conftest import wrong_code
from tests.programme_office import Office, bank_row, wallet_row


async def test_funding_is_posted_only_when_a_second_finance_officer_approves_it(office: Office) -> None:
    programme = await office.programme()
    recorded = await office.api.client.post(
        f"/programmes/{programme}/fundings",
        json={"amount_vnd": 10_000_000, "bank_reference": "FT26341000123"},
        headers=office.recorder.headers,
    )
    assert recorded.status_code == 201, recorded.text
    funding = recorded.json()
    assert funding["status"] == "pending"
    assert len(funding["reference"]) == 16
    listed = await office.api.client.get("/programmes", headers=office.maker.headers)
    assert listed.json()[0]["funded_vnd"] == 0

    # The treasurer records one and cannot approve their own, whatever code they send.
    own = await office.api.client.post(
        f"/programmes/{programme}/fundings",
        json={"amount_vnd": 1_000, "bank_reference": "FT1"},
        headers=office.treasurer.keyed(),
    )
    by_maker = await office.api.client.post(
        f"/fundings/{own.json()['id']}/approve",
        headers={**office.treasurer.keyed(), "X-OTP": office.code(office.treasurer)},
    )
    assert by_maker.status_code == 403
    assert by_maker.json()["code"] == "maker_cannot_approve"

    no_code = await office.api.client.post(f"/fundings/{funding['id']}/approve", headers=office.treasurer.keyed())
    assert no_code.status_code == 401
    assert no_code.json()["code"] == "otp_required"
    approved = await office.api.client.post(
        f"/fundings/{funding['id']}/approve",
        headers={**office.treasurer.keyed(), "X-OTP": office.code(office.treasurer)},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == office.treasurer.user_id
    again = await office.api.client.post(
        f"/fundings/{funding['id']}/approve",
        headers={**office.treasurer.keyed(), "X-OTP": office.code(office.treasurer)},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "funding_not_pending"
    listed = await office.api.client.get("/programmes", headers=office.maker.headers)
    assert (listed.json()[0]["funded_vnd"], listed.json()[0]["available_vnd"]) == (10_000_000, 10_000_000)


async def test_the_maker_cannot_approve_and_nothing_is_reserved(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 10_000_000)
    batch = await office.uploaded(programme, [bank_row("046100000001")])
    answer = await office.approve(batch["id"], office.maker)
    assert answer.status_code == 403
    assert answer.json()["code"] == "maker_cannot_approve"
    assert (await office.batch(batch["id"]))["status"] == "validated"


async def test_approval_needs_a_totp_code_and_refuses_a_wrong_or_replayed_one(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 10_000_000)
    first = await office.uploaded(programme, [bank_row("046100000001")])
    second = await office.uploaded(programme, [bank_row("046100000002")])

    assert office.checker.totp is not None
    # office.approve sends a fresh code when none is given; ask without one by hand.
    missing = await office.api.client.post(f"/batches/{first['id']}/approve", headers=office.checker.keyed())
    assert missing.status_code == 401
    assert missing.json()["code"] == "otp_required"
    wrong = await office.approve(first["id"], otp=wrong_code(office.checker.totp, office.clock))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "otp_invalid"

    code = office.code(office.checker)
    assert (await office.approve(first["id"], otp=code)).status_code == 200
    replayed = await office.approve(second["id"], otp=code)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "otp_replayed"
    assert (await office.batch(second["id"]))["status"] == "validated"

    again = await office.approve(first["id"])
    assert again.status_code == 409
    assert again.json()["code"] == "batch_not_awaiting_approval"


async def test_a_batch_larger_than_the_funding_is_refused_and_nothing_is_held(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 3_000_000)
    batch = await office.uploaded(programme, [bank_row("046100000001"), bank_row("046100000002")])
    assert batch["total_vnd"] == 4_000_000
    answer = await office.approve(batch["id"])
    assert answer.status_code == 409
    assert answer.json()["code"] == "insufficient_funding"
    assert "4.000.000" in answer.json()["detail"]
    assert (await office.batch(batch["id"]))["status"] == "validated"
    listed = await office.api.client.get("/programmes", headers=office.maker.headers)
    assert listed.json()[0]["available_vnd"] == 3_000_000


async def test_approval_reserves_the_total_so_a_second_batch_cannot_spend_it(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 5_000_000)
    an = await office.beneficiary()
    first = await office.uploaded(programme, [wallet_row(an, 1_500_000), bank_row("046100000001", 2_000_000)])
    approved = await office.approve(first["id"])
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["progress"]["by_state"]["queued"] == 1
    assert body["progress"]["by_state"]["pending_bank"] == 1
    listed = await office.api.client.get("/programmes", headers=office.maker.headers)
    assert (listed.json()[0]["funded_vnd"], listed.json()[0]["available_vnd"]) == (5_000_000, 1_500_000)

    second = await office.uploaded(programme, [bank_row("046100000002", 2_000_000)])
    refused = await office.approve(second["id"])
    assert refused.json()["code"] == "insufficient_funding"


async def test_a_batch_with_no_valid_row_cannot_be_approved(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 5_000_000)
    batch = await office.uploaded(programme, [bank_row("046100000001", bank_bin="999999")])
    answer = await office.approve(batch["id"])
    assert answer.status_code == 409
    assert answer.json()["code"] == "batch_has_no_valid_rows"


async def test_an_approval_sent_again_with_its_key_replays_the_answer_and_holds_once(office: Office) -> None:
    programme = await office.programme()
    await office.fund(programme, 5_000_000)
    batch = await office.uploaded(programme, [bank_row("046100000001", 2_000_000)])
    headers = {**office.checker.keyed("approve-once"), "X-OTP": office.code(office.checker)}

    first = await office.api.client.post(f"/batches/{batch['id']}/approve", headers=headers)
    again = await office.api.client.post(f"/batches/{batch['id']}/approve", headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = await office.api.client.get("/programmes", headers=office.maker.headers)
    assert listed.json()[0]["available_vnd"] == 3_000_000


async def test_a_programme_name_is_taken_once_and_only_finance_officers_record_funding(office: Office) -> None:
    programme = await office.programme(name="Lương hưu tháng")
    again = await office.api.client.post(
        "/programmes",
        json={"name": "Lương hưu tháng", "kind": "pension", "max_amount_vnd": 9_000_000},
        headers=office.checker.headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "programme_name_taken")
    by_programme_officer = await office.api.client.post(
        f"/programmes/{programme}/fundings",
        json={"amount_vnd": 1_000_000, "bank_reference": "FT1"},
        headers=office.maker.headers,
    )
    assert by_programme_officer.status_code == 403
