"""Bank items paid by file: one pain.001 per destination bank sent through the outbox to the bank's sandbox,
pain.002 back: ACSC confirms, RJCT returns the money to the programme's funding and flags the beneficiary,
the same report twice changes nothing, a report that cannot be read changes nothing at all.

Every money scenario ends with the ledger's invariants checked (the ``services`` fixture, and mid-test here)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from httpx import Response
from litestar import Litestar
from lxml import etree
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.audit import AuditEntry
from civicpay.auth.secrets import sign_body
from civicpay.settings import Settings
from disbursement.bank_files import CLEARING
from disbursement.payout_files import PAIN_001, TransactionStatus, write_pain002
from sandbox.bank import Bank
from sandbox.cli import main as sandbox_main
from tests.conftest import account_balance
from tests.payout_schema import schema_errors
from tests.programme_office import Office, bank_row
from tests.servers import serving
from wallet import ledger

NS = {"p": PAIN_001}
STATUS_PATH = "/webhooks/bank/payment-status"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": 10}


def pool_code(settings: Settings) -> str:
    return f"asset:bank:{settings.wallet_pool_bank_bin}:{settings.wallet_pool_account_number}"


async def files_of(office: Office, batch_id: int) -> list[dict[str, Any]]:
    answer = await office.api.client.get(f"/batches/{batch_id}/payout-files", headers=office.recorder.headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def sent_batch(office: Office, rows: list[dict[str, Any]], funding_vnd: int = 20_000_000) -> tuple[int, int]:
    """A funded programme, a batch of these rows approved and run: its files are at the bank."""
    programme = await office.programme(name="Trợ cấp xã hội hằng tháng")
    await office.fund(programme, funding_vnd)
    batch = await office.uploaded(programme, rows)
    assert batch["invalid"] == 0, batch["report"]
    assert (await office.approve(batch["id"])).status_code == 200
    await office.run()
    return programme, batch["id"]


async def report_from_bank(bank_url: str, reference: str) -> dict[str, Any]:
    """The bank's back office answers a file; the sandbox signs its pain.002 (not sent: the test delivers it)."""
    async with httpx.AsyncClient(base_url=bank_url) as http:
        signed = await http.post(f"/_sandbox/payment-files/{reference}/report")
    assert signed.status_code == 200, signed.text
    report: dict[str, Any] = signed.json()
    return report


async def deliver(office: Office, body: bytes, signature: str) -> Response:
    headers = {"Content-Type": "application/xml", "X-Signature": signature}
    return await office.api.client.post(STATUS_PATH, content=body, headers=headers)


async def invariants_hold(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


async def test_one_valid_file_per_destination_bank_each_item_named_by_its_reference(
    office: Office, bank: Bank, settings: Settings
) -> None:
    rows = [
        bank_row("046100000001", 1_500_000, full_name="Nguyễn Thị Đào", holder_name="Nguyễn Thị Đào"),
        bank_row("046100000002", 2_000_000, account_number="1012345679", holder_name="TRẦN VĂN ẤN"),
        bank_row("046100000003", 1_200_000, bank_bin="970415", account_number="1088812345", holder_name="Lê Thị Hồng"),
    ]
    _programme, batch_id = await sent_batch(office, rows)

    files = await files_of(office, batch_id)
    assert sorted((f["bank_bin"], f["item_count"], f["total_vnd"], f["status"]) for f in files) == [
        ("970415", 1, 1_200_000, "sent"),
        ("970436", 2, 3_500_000, "sent"),
    ]
    names: list[str] = []
    references: list[str] = []
    for listed in files:
        download = await office.api.client.get(f"/payout-files/{listed['id']}", headers=office.maker.headers)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/xml")
        assert f"{listed['reference']}.xml" in download.headers["content-disposition"]
        assert schema_errors(download.content) == []
        # What the bank received is what we keep and show, byte for byte.
        assert bank.payment_files[listed["reference"]] == download.content
        root = etree.fromstring(download.content)
        assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == listed["reference"]
        info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
        assert info is not None
        assert info.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == settings.wallet_pool_account_number
        for item in info.iterfind("p:CdtTrfTxInf", NS):
            assert item.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == listed["bank_bin"]
            names.append(item.findtext("p:Cdtr/p:Nm", namespaces=NS) or "")
            references.append(item.findtext("p:PmtId/p:EndToEndId", namespaces=NS) or "")
    assert sorted(names) == ["LE THI HONG", "NGUYEN THI DAO", "TRAN VAN AN"]
    assert all(len(reference) == 16 and reference.startswith("CTXH") for reference in references)
    assert len(set(references)) == 3
    batch = await office.batch(batch_id)
    assert (batch["status"], batch["progress"]["by_state"]["sent_to_bank"]) == ("awaiting_bank", 3)

    # A citizen is not an officer: the files are not theirs to see.
    citizen = await office.api.register()
    refused = await office.api.client.get(f"/payout-files/{files[0]['id']}", headers=citizen.headers)
    assert refused.status_code == 403


async def test_the_bank_confirms_some_and_rejects_others_whose_money_goes_back_to_the_funding(
    office: Office, bank: Bank, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rows = [
        bank_row("046100000011", 1_000_000, account_number="1012345678"),
        bank_row("046100000012", 2_000_000, account_number="1012340004", full_name="Phạm Văn Đông"),  # AC04
        bank_row("046100000013", 3_000_000, account_number="1012340404"),  # AM04
        bank_row("046100000014", 4_000_000, bank_bin="970415", account_number="2012340001"),  # AC01
    ]
    programme, batch_id = await sent_batch(office, rows, funding_vnd=12_000_000)
    # The budget's money arrived in our pooled bank account; nothing has left it yet.
    assert await account_balance(sessions, pool_code(settings)) == 12_000_000
    assert await account_balance(sessions, CLEARING) == 10_000_000
    await invariants_hold(sessions)

    receipts = []
    for listed in sorted(await files_of(office, batch_id), key=lambda f: f["bank_bin"]):
        report = await report_from_bank(bank_url(office), listed["reference"])
        answer = await deliver(office, report["body"].encode(), report["signature"])
        assert answer.status_code == 200, answer.text
        receipts.append(answer.json())

    assert [(r["confirmed"], r["failed"], r["file_status"]) for r in receipts] == [
        (0, 1, "completed"),
        (1, 2, "completed"),
    ]
    batch = await office.batch(batch_id)
    assert batch["status"] == "completed"
    assert (batch["progress"]["by_state"]["bank_confirmed"], batch["progress"]["by_state"]["failed"]) == (1, 3)
    assert batch["progress"]["done"] == batch["progress"]["total"] == 4
    assert batch["follow_up"] == 3
    follow_ups = (await office.api.client.get(f"/batches/{batch_id}/follow-ups", headers=office.maker.headers)).json()
    assert [(f["citizen_id"], f["failure"], f["failure_detail"], f["follow_up"]) for f in follow_ups] == [
        ("046100000012", "AC04", "Closed account number", True),
        ("046100000013", "AM04", "Insufficient funds", True),
        ("046100000014", "AC01", "Incorrect account number", True),
    ]
    # Only the confirmed million left our bank account; the rejected nine are the programme's again.
    assert await account_balance(sessions, pool_code(settings)) == 11_000_000
    assert await account_balance(sessions, CLEARING) == 0
    listed = (await office.api.client.get("/programmes", headers=office.maker.headers)).json()[0]
    assert (listed["funded_vnd"], listed["available_vnd"]) == (11_000_000, 11_000_000)
    await invariants_hold(sessions)

    # The bank sends its report again: nothing changes.
    last = await report_from_bank(bank_url(office), receipts[1]["file_reference"])
    again = await deliver(office, last["body"].encode(), last["signature"])
    assert again.status_code == 200
    assert (again.json()["confirmed"], again.json()["failed"], again.json()["unchanged"]) == (0, 0, 3)
    assert await account_balance(sessions, pool_code(settings)) == 11_000_000
    assert (await office.batch(batch_id))["follow_up"] == 3
    await invariants_hold(sessions)
    async with sessions() as session:
        said = await session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "disbursement.payout_file.status_report")
        )
        # One line per report that changed something; the replay wrote none.
        assert sorted(len(details["confirmed"]) + len(details["rejected"]) for details in said) == [1, 3]

    # A rejected beneficiary, with a corrected account, can be paid for the same period by a new batch.
    corrected = await office.uploaded(programme, [bank_row("046100000012", 2_000_000, account_number="1012349999")])
    assert corrected["invalid"] == 0


def bank_url(office: Office) -> str:
    return office.services.settings.bank_api_base


async def test_a_report_that_cannot_be_taken_whole_changes_nothing(
    office: Office, bank: Bank, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _programme, batch_id = await sent_batch(office, [bank_row("046100000021", 1_000_000)])
    (listed,) = await files_of(office, batch_id)
    secret = settings.bank_webhook_secret

    garbage = b"<Document><CstmrPmtStsRpt>"
    refused = await deliver(office, garbage, sign_body(secret, garbage))
    assert refused.status_code == 422
    assert refused.json()["code"] == "status_report_unreadable"

    # One good line and one naming an item the file never had: refused whole, the good line not applied.
    (reference,) = bank.file_outcomes[listed["reference"]]
    mixed = write_pain002(
        "STSMIXED",
        office.clock.now(),
        listed["reference"],
        [TransactionStatus(reference, "ACSC", None, None), TransactionStatus("CTXH9999999999ZZ", "ACSC", None, None)],
    )
    refused = await deliver(office, mixed, sign_body(secret, mixed))
    assert refused.status_code == 422
    assert refused.json()["code"] == "status_report_unreadable"
    assert "CTXH9999999999ZZ" in refused.json()["detail"]

    unsigned = await deliver(office, mixed, "0" * 64)
    assert unsigned.status_code == 401

    batch = await office.batch(batch_id)
    assert (batch["status"], batch["progress"]["by_state"]["sent_to_bank"]) == ("awaiting_bank", 1)
    assert await account_balance(sessions, CLEARING) == 1_000_000

    # The bank rejects it, then claims to have paid it: the contradiction is refused and nothing moves.
    rejected = write_pain002(
        "STSR", office.clock.now(), listed["reference"], [TransactionStatus(reference, "RJCT", "AC04", None)]
    )
    assert (await deliver(office, rejected, sign_body(secret, rejected))).status_code == 200
    paid = write_pain002(
        "STSP", office.clock.now(), listed["reference"], [TransactionStatus(reference, "ACSC", None, None)]
    )
    contradiction = await deliver(office, paid, sign_body(secret, paid))
    assert contradiction.status_code == 409
    assert contradiction.json()["code"] == "status_report_contradiction"
    assert await account_balance(sessions, CLEARING) == 0
    assert (await office.batch(batch_id))["progress"]["by_state"]["failed"] == 1
    await invariants_hold(sessions)


@pytest.mark.usefixtures("command_shell")
async def test_the_sandbox_command_answers_the_files_and_civicpay_takes_the_reports(
    office: Office, bank: Bank, settings: Settings, app_for_a_thread: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    _programme, batch_id = await sent_batch(
        office, [bank_row("046100000031", 1_000_000), bank_row("046100000032", 500_000, account_number="1099940004")]
    )
    monkeypatch.setenv("CIVICPAY_BANK_API_BASE", settings.bank_api_base)
    # A civicpay of its own for the bank to call, as `make run` has (the test's app runs in the test's loop).
    with serving(app_for_a_thread) as url:
        monkeypatch.setattr(bank, "civicpay_url", url)
        played = await asyncio.to_thread(CliRunner().invoke, sandbox_main, ["bank", "answer-files"])

    assert played.exit_code == 0, played.output
    assert "civicpay answered 200" in played.output
    batch = await office.batch(batch_id)
    assert (batch["status"], batch["follow_up"]) == ("completed", 1)
    assert (batch["progress"]["by_state"]["bank_confirmed"], batch["progress"]["by_state"]["failed"]) == (1, 1)
