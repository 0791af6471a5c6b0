"""A bill payment's receipt as a PDF (biên lai điện tử): one A4 page to print or keep, drawn with fpdf2.

The text is set in DejaVu Sans, shipped with the package (``civicpay.web.FONTS``), embedded as a subset
with its Unicode map, so the Vietnamese on it prints right and can be copied or searched out of the file
intact, on a server with no fonts installed. fpdf2 places glyphs one code point at a time (no shaping
engine), so text is put in NFC first: a name a biller sent decomposed (``e`` + U+0302 + U+0301) would
otherwise print its marks beside the letter instead of on it.

Drawing one takes about a tenth of a second of CPU (the fonts are read each time), so the route runs it
in a worker thread, away from the event loop.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace

from billing.receipts import BillReceipt
from civicpay.web import FONTS

FAMILY = "DejaVuSans"
_GREY = (91, 107, 123)
_BLUE = (11, 83, 148)
# Millimetres of the A4 page's text width (210 less two 15 mm margins), by column of the bills' table.
_COLUMNS = (10, 60, 46, 28, 36)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _label(pdf: FPDF, vietnamese: str, english: str) -> None:
    pdf.set_font(FAMILY, "", 10)
    pdf.set_text_color(*_GREY)
    pdf.cell(55, 6.5, f"{vietnamese} / {english}:")
    pdf.set_text_color(0)


def _field(pdf: FPDF, vietnamese: str, english: str, value: str, *, bold: bool = False) -> None:
    _label(pdf, vietnamese, english)
    pdf.set_font(FAMILY, "B" if bold else "", 10)
    pdf.multi_cell(0, 6.5, _nfc(value), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _bills(pdf: FPDF, receipt: BillReceipt) -> None:
    pdf.set_font(FAMILY, "", 9)
    headings = FontFace(emphasis="BOLD", fill_color=(232, 240, 254))
    with pdf.table(
        col_widths=_COLUMNS,
        text_align=(Align.C, Align.L, Align.L, Align.C, Align.R),
        headings_style=headings,
        line_height=5,
        padding=1.5,
    ) as table:
        table.row(["STT", "Đơn vị thu / Biller", "Khách hàng / Customer", "Kỳ / Period", "Số tiền / Amount"])
        for number, bill in enumerate(receipt.bills, start=1):
            table.row(
                [
                    str(number),
                    _nfc(f"{bill.biller_name}\n{bill.category_label}"),
                    _nfc(f"{bill.customer_code}\n{bill.customer_name}"),
                    _nfc(bill.period),
                    bill.amount_display,
                ]
            )


def render(receipt: BillReceipt) -> bytes:
    """The receipt as a one-page PDF (more pages only for a payment of very many bills)."""
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(FAMILY, "", FONTS / "DejaVuSans.ttf")
    pdf.add_font(FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_title(f"{receipt.title} {receipt.receipt_number}")
    pdf.set_lang("vi")
    pdf.set_creator("civicpay")
    pdf.add_page()

    pdf.set_font(FAMILY, "B", 11)
    pdf.set_text_color(*_BLUE)
    pdf.cell(0, 6, "civicpay · Ví điện tử / E-wallet", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_text_color(0)
    pdf.set_font(FAMILY, "B", 16)
    pdf.cell(0, 9, receipt.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 10)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 6, "Bill payment receipt", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.cell(0, 6, f"Số biên lai / Receipt no.: {receipt.receipt_number}", align=Align.C)
    pdf.ln(12)

    _field(pdf, "Người nộp tiền", "Payer", receipt.payer_name, bold=True)
    _field(pdf, "Số điện thoại", "Phone", receipt.payer_phone)
    _field(
        pdf,
        "Thời gian",
        "Time",
        f"{receipt.paid_at_local} (UTC{receipt.utc_offset}, {receipt.zone_name})",
    )
    _field(pdf, "Nguồn tiền", "Paid from", receipt.paid_from)
    _field(pdf, "Mã giao dịch", "Payment id", str(receipt.payment_id))
    _field(pdf, "Bút toán sổ cái", "Ledger entry", str(receipt.entry_id))
    pdf.ln(4)

    _bills(pdf, receipt)
    pdf.ln(4)
    _field(pdf, "Tổng cộng", "Total", receipt.total_display, bold=True)
    _field(pdf, "Bằng chữ", "In words", receipt.total_in_words)
    pdf.ln(8)
    pdf.set_font(FAMILY, "", 8.5)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(
        0,
        4.5,
        "Biên lai điện tử do civicpay lập từ sổ cái. Xin giữ lại để đối chiếu.\n"
        "An electronic receipt made by civicpay from its ledger. Keep it for your records.",
        align=Align.L,
    )
    return bytes(pdf.output())
