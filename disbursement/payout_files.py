"""Bank payout files (pure): ISO 20022 ``pain.001.001.03`` written, ``pain.002.001.03`` status reports read.

A file pays one destination bank's share of a chunk of a batch: one ``PmtInf`` from our bank account (the
debtor, by BIN and number, as the ledger names it), ``BtchBookg`` false so the bank books and reports each
beneficiary on their own, and one ``CdtTrfTxInf`` per item whose ``EndToEndId`` is the item's 16-character
reference (``CTXH…``), which the bank hands back in ``pain.002`` and prints on statements. Accounts in
Vietnam have no IBAN: the beneficiary's number goes in ``CdtrAcct/Id/Othr/Id``, and banks are named by
their NAPAS BIN as a clearing-system member (``ClrSysMmbId``: ``Prtry`` NAPAS, ``MmbId`` the BIN), never by
short name.

Names and free text are written without diacritics, in upper case (``Nguyễn Thị Đào`` → ``NGUYEN THI DAO``,
``civicpay.auth.identity.folded_name``): it is how Vietnamese banks keep a holder's name (the name inquiry
answers so) and what the interbank switch carries, so the name in the file is the one the bank compares.
The XML itself is UTF-8; only ASCII goes in.

The reader refuses a status report whole (``UnreadableStatusReport``) when it is not a ``pain.002.001.03``
document, names no original message, carries a status it does not know, a rejection without a reason code,
or one ``EndToEndId`` twice: a report half understood is not applied half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from civicpay.auth.identity import folded_name

PAIN_001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN_002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
CLEARING_SYSTEM = "NAPAS"  # whose member ids the BINs are
CURRENCY = "VND"

# pain.002 transaction statuses (ExternalPaymentTransactionStatus1Code) and what each means to an item.
CONFIRMED = frozenset({"ACSC"})  # settlement completed: the money reached the beneficiary's bank
REJECTED = frozenset({"RJCT"})
# Accepted along the way, not final: the item stays "sent to bank" until a final word.
INTERIM = frozenset({"ACCP", "ACSP", "ACTC", "ACWC", "PDNG", "RCVD"})

# What the sandbox and banks send most, in both languages, for an officer's follow-up list.
REASONS: dict[str, tuple[str, str]] = {
    "AC01": ("Số tài khoản không đúng", "Incorrect account number"),
    "AC04": ("Tài khoản đã đóng", "Closed account number"),
    "AC06": ("Tài khoản bị phong tỏa", "Blocked account"),
    "AM04": ("Không đủ số dư", "Insufficient funds"),
    "BE01": ("Tên không khớp với chủ tài khoản", "Name does not match the account holder"),
}


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    """One beneficiary's payment: the item's reference, amount, and the account it goes to."""

    end_to_end_id: str
    amount_vnd: int
    account_number: str
    holder_name: str
    remittance: str


@dataclass(frozen=True, slots=True)
class PayoutFile:
    """What one file says: who pays, from which account, to which bank, when, and each payment."""

    message_id: str  # also the PmtInfId: one PmtInf a file
    created_at: datetime
    execution_date: date
    debtor_name: str
    debtor_bank_bin: str
    debtor_account_number: str
    creditor_bank_bin: str
    transfers: Sequence[CreditTransfer]

    @property
    def total_vnd(self) -> int:
        return sum(transfer.amount_vnd for transfer in self.transfers)


def _add(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{PAIN_001}}}{tag}", attributes)
    if text is not None:
        child.text = text
    return child


def _path(parent: etree._Element, *tags: str, text: str) -> None:
    for tag in tags:
        parent = _add(parent, tag)
    parent.text = text


def _bank(parent: etree._Element, tag: str, bank_bin: str) -> None:
    member = _add(_add(_add(parent, tag), "FinInstnId"), "ClrSysMmbId")
    _path(member, "ClrSysId", "Prtry", text=CLEARING_SYSTEM)
    _add(member, "MmbId", bank_bin)


def _text(value: str, most: int) -> str:
    """ASCII upper case, one space between words, cut to the field's width (never empty: the XSD says 1..n).

    What folding leaves outside printable ASCII (a letter of another script, a symbol) is dropped: the
    interbank switch carries no more, and a bank refuses a file that has it.
    """
    printable = "".join(character for character in folded_name(value) if " " <= character <= "~")
    return (" ".join(printable.split()) or "-")[:most]


def write_pain001(payout: PayoutFile) -> bytes:
    """The file as UTF-8 XML, in the element order the XSD requires; refuses an empty file."""
    if not payout.transfers:
        raise ValueError("a payout file pays at least one item")
    count, total = str(len(payout.transfers)), str(payout.total_vnd)
    document = etree.Element(f"{{{PAIN_001}}}Document", nsmap={None: PAIN_001})  # type: ignore[dict-item]  # lxml: None is the default namespace
    initiation = _add(document, "CstmrCdtTrfInitn")
    header = _add(initiation, "GrpHdr")
    _add(header, "MsgId", payout.message_id)
    _add(header, "CreDtTm", payout.created_at.replace(microsecond=0).isoformat())
    _add(header, "NbOfTxs", count)
    _add(header, "CtrlSum", total)
    _add(_add(header, "InitgPty"), "Nm", _text(payout.debtor_name, 140))
    info = _add(initiation, "PmtInf")
    _add(info, "PmtInfId", payout.message_id)
    _add(info, "PmtMtd", "TRF")
    # Each beneficiary booked and reported on their own: one rejection must not hold back the rest.
    _add(info, "BtchBookg", "false")
    _add(info, "NbOfTxs", count)
    _add(info, "CtrlSum", total)
    _add(info, "ReqdExctnDt", payout.execution_date.isoformat())
    _add(_add(info, "Dbtr"), "Nm", _text(payout.debtor_name, 140))
    _path(info, "DbtrAcct", "Id", "Othr", "Id", text=payout.debtor_account_number)
    _bank(info, "DbtrAgt", payout.debtor_bank_bin)
    _add(info, "ChrgBr", "SLEV")
    for transfer in payout.transfers:
        item = _add(info, "CdtTrfTxInf")
        _path(item, "PmtId", "EndToEndId", text=transfer.end_to_end_id)
        _add(_add(item, "Amt"), "InstdAmt", str(transfer.amount_vnd), Ccy=CURRENCY)
        _bank(item, "CdtrAgt", payout.creditor_bank_bin)
        _add(_add(item, "Cdtr"), "Nm", _text(transfer.holder_name, 140))
        _path(item, "CdtrAcct", "Id", "Othr", "Id", text=transfer.account_number)
        _path(item, "RmtInf", "Ustrd", text=_text(transfer.remittance, 140))
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))


class UnreadableStatusReport(Exception):
    """The report cannot be taken as a whole; ``where`` names the element, ``why`` the problem."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    end_to_end_id: str
    status: str  # ACSC, RJCT, or an interim one
    reason_code: str | None
    reason_text: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    message_id: str
    original_message_id: str
    group_status: str | None
    # A group-level rejection (the whole file refused at once) carries its reason here.
    group_reason_code: str | None
    group_reason_text: str | None
    transactions: Sequence[TransactionStatus]


def _parser() -> etree.XMLParser:
    # No entities, no DTDs, no network: a report is data from outside, never instructions to the parser.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _one(parent: etree._Element, path: str) -> str | None:
    found = parent.find(path, {"p": PAIN_002})
    if found is None or not (found.text or "").strip():
        return None
    return (found.text or "").strip()


def _required(parent: etree._Element, path: str, within: str) -> str:
    value = _one(parent, path)
    if value is None:
        raise UnreadableStatusReport(f"{within}/{path.replace('p:', '')}", "missing")
    return value


def _reason(parent: etree._Element) -> tuple[str | None, str | None]:
    code = _one(parent, "p:StsRsnInf/p:Rsn/p:Cd") or _one(parent, "p:StsRsnInf/p:Rsn/p:Prtry")
    texts = [(node.text or "").strip() for node in parent.iterfind("p:StsRsnInf/p:AddtlInf", {"p": PAIN_002})]
    return code, " ".join(text for text in texts if text)[:140] or None


def _known(status: str, where: str, also: frozenset[str] = frozenset()) -> str:
    if status not in CONFIRMED | REJECTED | INTERIM | also:
        raise UnreadableStatusReport(where, f"unknown status {status[:8]!r}")
    return status


def read_pain002(data: bytes) -> StatusReport:
    """A ``pain.002.001.03`` report: its id, the file it answers, and each transaction's status."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise UnreadableStatusReport("Document", f"not XML ({error.msg})") from None
    if root.tag != f"{{{PAIN_002}}}Document":
        raise UnreadableStatusReport("Document", f"not a {PAIN_002.rsplit(':', 1)[-1]} document")
    report = root.find("p:CstmrPmtStsRpt", {"p": PAIN_002})
    if report is None:
        raise UnreadableStatusReport("CstmrPmtStsRpt", "missing")
    group = report.find("p:OrgnlGrpInfAndSts", {"p": PAIN_002})
    if group is None:
        raise UnreadableStatusReport("OrgnlGrpInfAndSts", "missing")
    original_name = _required(group, "p:OrgnlMsgNmId", "OrgnlGrpInfAndSts")
    if not original_name.startswith("pain.001"):
        raise UnreadableStatusReport("OrgnlGrpInfAndSts/OrgnlMsgNmId", "does not answer a pain.001")
    group_status = _one(group, "p:GrpSts")
    transactions: list[TransactionStatus] = []
    seen: set[str] = set()
    for number, node in enumerate(report.iterfind("p:OrgnlPmtInfAndSts/p:TxInfAndSts", {"p": PAIN_002}), 1):
        where = f"TxInfAndSts[{number}]"
        reference = _one(node, "p:OrgnlEndToEndId")
        status = _one(node, "p:TxSts")
        if reference is None or status is None:
            raise UnreadableStatusReport(where, "OrgnlEndToEndId and TxSts are required")
        if reference in seen:
            raise UnreadableStatusReport(where, f"{reference} reported twice")
        seen.add(reference)
        code, text = _reason(node)
        if _known(status, f"{where}/TxSts") in REJECTED and code is None:
            raise UnreadableStatusReport(f"{where}/StsRsnInf", "a rejection without a reason code")
        transactions.append(TransactionStatus(reference, status, code, text))
    group_code, group_text = _reason(group)
    if group_status is not None:
        # PART: some accepted, some not; only the transactions say which.
        _known(group_status, "OrgnlGrpInfAndSts/GrpSts", frozenset({"PART"}))
        if group_status in REJECTED and group_code is None and not transactions:
            raise UnreadableStatusReport("OrgnlGrpInfAndSts/StsRsnInf", "a rejection without a reason code")
    if not transactions and group_status not in CONFIRMED | REJECTED:
        raise UnreadableStatusReport("OrgnlPmtInfAndSts", "no transaction status and no final group status")
    return StatusReport(
        message_id=_required(report, "p:GrpHdr/p:MsgId", "CstmrPmtStsRpt"),
        original_message_id=_required(group, "p:OrgnlMsgId", "OrgnlGrpInfAndSts"),
        group_status=group_status,
        group_reason_code=group_code,
        group_reason_text=group_text,
        transactions=transactions,
    )


def write_pain002(
    message_id: str, created_at: datetime, original_message_id: str, statuses: Sequence[TransactionStatus]
) -> bytes:
    """A status report as a bank writes one (the sandbox's, and tests'): each transaction's status and reason."""
    n = f"{{{PAIN_002}}}"
    document = etree.Element(f"{n}Document", nsmap={None: PAIN_002})  # type: ignore[dict-item]  # lxml: None is the default namespace
    report = etree.SubElement(document, f"{n}CstmrPmtStsRpt")
    header = etree.SubElement(report, f"{n}GrpHdr")
    etree.SubElement(header, f"{n}MsgId").text = message_id
    etree.SubElement(header, f"{n}CreDtTm").text = created_at.replace(microsecond=0).isoformat()
    group = etree.SubElement(report, f"{n}OrgnlGrpInfAndSts")
    etree.SubElement(group, f"{n}OrgnlMsgId").text = original_message_id
    etree.SubElement(group, f"{n}OrgnlMsgNmId").text = "pain.001.001.03"
    finals = {status.status for status in statuses}
    etree.SubElement(group, f"{n}GrpSts").text = finals.pop() if len(finals) == 1 else "PART"
    payment = etree.SubElement(report, f"{n}OrgnlPmtInfAndSts")
    etree.SubElement(payment, f"{n}OrgnlPmtInfId").text = original_message_id
    for status in statuses:
        node = etree.SubElement(payment, f"{n}TxInfAndSts")
        etree.SubElement(node, f"{n}OrgnlEndToEndId").text = status.end_to_end_id
        etree.SubElement(node, f"{n}TxSts").text = status.status
        if status.reason_code:
            reason = etree.SubElement(node, f"{n}StsRsnInf")
            etree.SubElement(etree.SubElement(reason, f"{n}Rsn"), f"{n}Cd").text = status.reason_code
            if status.reason_text:
                etree.SubElement(reason, f"{n}AddtlInf").text = status.reason_text[:105]
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))
