"""The pain.001 writer and the pain.002 reader, pure: valid against ISO 20022's schema, names as banks keep
them, and a status report refused whole when any of it cannot be understood."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from disbursement.payout_files import (
    PAIN_001,
    CreditTransfer,
    PayoutFile,
    TransactionStatus,
    UnreadableStatusReport,
    read_pain002,
    write_pain001,
    write_pain002,
)
from tests.payout_schema import schema_errors

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
NS = {"p": PAIN_001}


def payout(*transfers: CreditTransfer) -> PayoutFile:
    return PayoutFile(
        message_id="CTNH0000000001AB",
        created_at=AT,
        execution_date=date(2026, 12, 7),
        debtor_name="Công ty CivicPay",
        debtor_bank_bin="970436",
        debtor_account_number="1017468888",
        creditor_bank_bin="970415",
        transfers=transfers,
    )


def test_a_file_of_several_items_is_valid_and_names_everyone_as_their_bank_keeps_them() -> None:
    document = write_pain001(
        payout(
            CreditTransfer("CTXH0000000001AA", 1_500_000, "1012345678", "Nguyễn Thị Đào", "CTXH0000000001AA Trợ cấp"),
            CreditTransfer("CTXH0000000002AB", 2_250_000, "0071000123456", "Trần Văn Ấn", "Lương hưu kỳ 2026-12"),
            CreditTransfer("CTXH0000000003AC", 800_000, "19036789012345", "Lê  thị   Hồng", "x" * 300),
        )
    )

    assert schema_errors(document) == []
    root = etree.fromstring(document)
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "3"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "4550000"
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert info is not None
    assert info.findtext("p:BtchBookg", namespaces=NS) == "false"
    assert info.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "1017468888"
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "970436"
    items = info.findall("p:CdtTrfTxInf", NS)
    assert [item.findtext("p:PmtId/p:EndToEndId", namespaces=NS) for item in items] == [
        "CTXH0000000001AA",
        "CTXH0000000002AB",
        "CTXH0000000003AC",
    ]
    assert [item.findtext("p:Cdtr/p:Nm", namespaces=NS) for item in items] == [
        "NGUYEN THI DAO",
        "TRAN VAN AN",
        "LE THI HONG",
    ]
    assert items[1].findtext("p:Amt/p:InstdAmt", namespaces=NS) == "2250000"
    assert items[1].find("p:Amt/p:InstdAmt", NS).get("Ccy") == "VND"  # type: ignore[union-attr]
    assert items[0].findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "1012345678"
    assert items[0].findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "970415"
    assert len(items[2].findtext("p:RmtInf/p:Ustrd", namespaces=NS) or "") == 140
    assert document.isascii()


def test_the_schema_catches_what_we_would_get_wrong() -> None:
    """The check is real: a file with an element out of place is refused by the schema."""
    document = write_pain001(payout(CreditTransfer("CTXH0000000001AA", 1, "1012345678", "An", "x")))
    broken = document.replace(b"<BtchBookg>false</BtchBookg>", b"<BtchBookg>no</BtchBookg>")
    assert schema_errors(broken) != []


def test_a_status_report_reads_back_each_item_with_its_reason() -> None:
    written = write_pain002(
        "STS1",
        AT,
        "CTNH0000000001AB",
        [
            TransactionStatus("CTXH0000000001AA", "ACSC", None, None),
            TransactionStatus("CTXH0000000002AB", "RJCT", "AC04", "Closed account number"),
        ],
    )

    report = read_pain002(written)

    assert (report.message_id, report.original_message_id, report.group_status) == ("STS1", "CTNH0000000001AB", "PART")
    assert list(report.transactions) == [
        TransactionStatus("CTXH0000000001AA", "ACSC", None, None),
        TransactionStatus("CTXH0000000002AB", "RJCT", "AC04", "Closed account number"),
    ]


def _report(transactions: str, group: str = "") -> bytes:
    return (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>STS2</MsgId><CreDtTm>2026-12-07T10:00:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>CTNH0000000001AB</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>"
        f"{group}</OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><OrgnlPmtInfId>CTNH0000000001AB</OrgnlPmtInfId>"
        f"{transactions}</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
    ).encode()


ACSC = "<TxInfAndSts><OrgnlEndToEndId>CTXH0000000001AA</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>"


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (b"<Document>not closed", "Document"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', "Document"),
        (_report(ACSC).replace(b"<OrgnlMsgId>CTNH0000000001AB</OrgnlMsgId>", b""), "OrgnlGrpInfAndSts/OrgnlMsgId"),
        (_report(ACSC + ACSC), "TxInfAndSts[2]"),
        (_report(ACSC.replace("ACSC", "DONE")), "TxInfAndSts[1]/TxSts"),
        (_report(ACSC.replace("ACSC", "RJCT")), "TxInfAndSts[1]/StsRsnInf"),
        (_report(""), "OrgnlPmtInfAndSts"),
        (_report("", "<GrpSts>RJCT</GrpSts>"), "OrgnlGrpInfAndSts/StsRsnInf"),
    ],
    ids=[
        "not-xml",
        "not-pain002",
        "no-original",
        "item-twice",
        "unknown-status",
        "reject-without-reason",
        "empty",
        "group-reject-without-reason",
    ],
)
def test_a_report_that_cannot_be_understood_whole_is_refused_naming_where(document: bytes, where: str) -> None:
    with pytest.raises(UnreadableStatusReport) as refused:
        read_pain002(document)
    assert refused.value.where == where


def test_a_whole_file_rejected_at_once_carries_the_group_reason() -> None:
    report = read_pain002(_report("", "<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>"))
    assert (report.group_status, report.group_reason_code, report.transactions) == ("RJCT", "AM04", [])


def test_entities_are_not_expanded() -> None:
    """A report is data from outside: an entity in it is never resolved (no file read, no billion laughs)."""
    sneaky = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _report(
        ACSC.replace("CTXH0000000001AA", "&x;")
    )
    with pytest.raises(UnreadableStatusReport):
        read_pain002(sneaky)


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**12),
            st.from_regex(r"[0-9]{6,19}", fullmatch=True),
            _names,
            _names,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_names_and_amounts_make_a_valid_ascii_file_whose_sum_is_its_control_sum(
    rows: list[tuple[int, str, str, str]],
) -> None:
    transfers = [
        CreditTransfer(f"CTXH{number:011d}A", amount, account, name, words)
        for number, (amount, account, name, words) in enumerate(rows)
    ]
    document = write_pain001(payout(*transfers))
    assert schema_errors(document) == []
    assert document.isascii()
    root = etree.fromstring(document)
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == str(sum(r[0] for r in rows))
