"""Statement files the tests write: each format from a list of entries, so each break can be planted by hand."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from reconciliation.model import EXPONENTS, Direction
from reconciliation.parsers import BIDV, CsvMapping

DAY = date(2026, 12, 1)
ACCOUNT = "0071001234567"


@dataclass(frozen=True)
class Entry:
    amount: int
    direction: Direction = Direction.CREDIT
    booked: date = DAY
    narrative: str = ""
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    our_reference: str | None = None
    counterparty: str | None = None
    reversal: bool = False


def decimal(amount: int, currency: str, comma: bool = False) -> str:
    scale = EXPONENTS[currency]
    text = str(abs(amount)) if scale == 0 else f"{abs(amount) // 10**scale}.{abs(amount) % 10**scale:0{scale}d}"
    if comma:  # MT940 always writes the decimal comma, even with nothing after it (``100,``)
        return text.replace(".", ",") if scale else text + ","
    return text


def closing_of(opening: int, entries: list[Entry]) -> int:
    return opening + sum(e.amount if e.direction is Direction.CREDIT else -e.amount for e in entries)


_ROOTS = {
    "053": ("BkToCstmrStmt", "Stmt"),
    "052": ("BkToCstmrAcctRpt", "Rpt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}


def camt(
    entries: list[Entry],
    *,
    message: str = "053",
    version: str = "08",
    opening: int = 10_000_000,
    closing: int | None = None,
    currency: str = "VND",
    statement_id: str = "STMT-20261201",
    account: str = ACCOUNT,
    statements: int = 1,
) -> bytes:
    root, container = _ROOTS[message]
    closing = closing_of(opening, entries) if closing is None else closing
    v08 = version >= "08"
    open_code, close_code = ("PRCD", "ITBD") if message == "052" else ("OPBD", "CLBD")

    def balance(code: str, amount: int) -> str:
        side = "CRDT" if amount >= 0 else "DBIT"
        return (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="{currency}">{decimal(amount, currency)}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
            f"<Dt><Dt>{DAY.isoformat()}</Dt></Dt></Bal>"
        )

    def entry(item: Entry) -> str:
        credit = item.direction is Direction.CREDIT
        status = "<Sts><Cd>BOOK</Cd></Sts>" if v08 else "<Sts>BOOK</Sts>"
        party = "Dbtr" if credit else "Cdtr"
        name = escape(item.counterparty or "NGUYEN VAN A")
        party_xml = f"<{party}><Pty><Nm>{name}</Nm></Pty></{party}>" if v08 else f"<{party}><Nm>{name}</Nm></{party}>"
        refs = ""
        if item.end_to_end_id or item.our_reference:
            refs = "<Refs>"
            refs += f"<InstrId>{escape(item.our_reference)}</InstrId>" if item.our_reference else ""
            refs += f"<EndToEndId>{escape(item.end_to_end_id or 'NOTPROVIDED')}</EndToEndId></Refs>"
        return (
            f'<Ntry><Amt Ccy="{currency}">{decimal(item.amount, currency)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>"
            + ("<RvslInd>true</RvslInd>" if item.reversal else "")
            + f"{status}<BookgDt><Dt>{item.booked.isoformat()}</Dt></BookgDt>"
            + f"<ValDt><Dt>{item.booked.isoformat()}</Dt></ValDt>"
            + (f"<AcctSvcrRef>{escape(item.bank_reference)}</AcctSvcrRef>" if item.bank_reference else "")
            + f"<NtryDtls><TxDtls>{refs}<RltdPties>{party_xml}</RltdPties>"
            + (f"<RmtInf><Ustrd>{escape(item.narrative)}</Ustrd></RmtInf>" if item.narrative else "")
            + "</TxDtls></NtryDtls></Ntry>"
        )

    body = ""
    for number in range(statements):
        balances = "" if message == "054" else balance(open_code, opening) + balance(close_code, closing)
        body += (
            f"<{container}><Id>{statement_id}{'-' + str(number) if number else ''}</Id>"
            f"<CreDtTm>{DAY.isoformat()}T23:00:00+07:00</CreDtTm>"
            f"<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>{currency}</Ccy></Acct>"
            f"{balances}{''.join(entry(item) for item in entries)}</{container}>"
        )
    namespace = f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version}"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{namespace}"><{root}>'
        f"<GrpHdr><MsgId>MSG1</MsgId><CreDtTm>{DAY.isoformat()}T23:00:00+07:00</CreDtTm></GrpHdr>"
        f"{body}</{root}></Document>"
    ).encode()


def mt940_statement(
    entries: list[Entry],
    *,
    opening: int = 10_000_000,
    closing: int | None = None,
    currency: str = "VND",
    number: str = "1/1",
    closing_tag: str | None = "62F",
    opening_tag: str = "60F",
) -> str:
    closing = closing_of(opening, entries) if closing is None else closing

    def bal(tag: str, amount: int) -> str:
        side = "C" if amount >= 0 else "D"
        return f":{tag}:{side}{DAY:%y%m%d}{currency}{decimal(amount, currency, comma=True)}"

    parts = [":20:STMT", f":25:{ACCOUNT}", f":28C:{number}", bal(opening_tag, opening)]
    for item in entries:
        mark = ("R" if item.reversal else "") + ("C" if item.direction is Direction.CREDIT else "D")
        if item.reversal:
            # A reversal of a credit (RC) takes money out; of a debit (RD) puts it back.
            mark = "RD" if item.direction is Direction.CREDIT else "RC"
        bank = f"//{item.bank_reference}" if item.bank_reference else ""
        parts.append(
            f":61:{item.booked:%y%m%d}{item.booked:%m%d}{mark}{decimal(item.amount, currency, comma=True)}"
            f"NTRF{item.our_reference or 'NONREF'}{bank}"
        )
        if item.narrative:
            wrapped = textwrap.wrap(item.narrative, 65, break_long_words=True, drop_whitespace=False) or [""]
            parts.append(":86:" + "\n".join(wrapped))
    if closing_tag:
        parts.append(bal(closing_tag, closing))
    return "\n".join(parts) + "\n-\n"


def bank_csv(
    mapping: CsvMapping,
    entries: list[Entry],
    *,
    opening: int = 10_000_000,
    closing: int | None = None,
    currency: str = "VND",
    preamble_balances: bool = True,
) -> str:
    closing = closing_of(opening, entries) if closing is None else closing

    def money(amount: int) -> str:
        return f"{amount:,}".replace(",", ".") if currency == "VND" else decimal(amount, currency)

    rows = [
        "NGÂN HÀNG TMCP — SAO KÊ TÀI KHOẢN",
        f"Số tài khoản: {ACCOUNT}",
        f"Loại tiền: {currency}",
        f"Từ ngày: {DAY:%d/%m/%Y} đến ngày {DAY:%d/%m/%Y}",
    ]
    if preamble_balances:
        rows.append(f'Số dư đầu kỳ:,"{money(opening)}"')
    rows.append("")
    rows.append(",".join(["STT", *mapping.columns.values()]))
    running = opening
    for number, item in enumerate(entries, start=1):
        signed = item.amount if item.direction is Direction.CREDIT else -item.amount
        running += signed
        values = {
            "booking_date": f"{item.booked:%d/%m/%Y}",
            "value_date": f"{item.booked:%d/%m/%Y}",
            "bank_reference": item.bank_reference or "",
            "debit": money(item.amount) if signed < 0 else "",
            "credit": money(item.amount) if signed > 0 else "",
            "amount": ("-" if signed < 0 else "") + money(item.amount),
            "balance": money(running),
            "narrative": item.narrative,
            "counterparty": item.counterparty or "",
            "counterparty_account": "",
        }
        cells = [str(number), *(values[column] for column in mapping.columns)]
        rows.append(",".join(f'"{cell}"' for cell in cells))
    if mapping is not BIDV:
        rows.append(",Tổng cộng,,,,")
    if preamble_balances:
        rows.append(f'Số dư cuối kỳ:,"{money(closing)}"')
    return "\n".join(rows) + "\n"


def kbnn_csv(
    entries: list[Entry],
    *,
    opening: int = 0,
    closing: int | None = None,
    account: str = "3511.0.1234567",
    with_closing: bool = True,
) -> str:
    closing = closing_of(opening, entries) if closing is None else closing
    rows = [
        "loai_dong,so_tai_khoan,ngay_hach_toan,ngay_gia_tri,so_chung_tu,ma_tham_chieu,ma_dvqhns,no_co,so_tien,dien_giai"
    ]
    rows.append(f"SDDK,{account},{DAY},,SK-20261201,,,C,{opening},So du dau ky")
    for item in entries:
        side = "C" if item.direction is Direction.CREDIT else "N"
        rows.append(
            f"GD,{account},{item.booked},{item.booked},{item.bank_reference or ''},{item.our_reference or ''},"
            f'{item.counterparty or "1234567"},{side},{item.amount},"{item.narrative}"'
        )
    if with_closing:
        rows.append(f"SDCK,{account},{DAY},,,,,{'C' if closing >= 0 else 'N'},{abs(closing)},So du cuoi ky")
    return "\n".join(rows) + "\n"
