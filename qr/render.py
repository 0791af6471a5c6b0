"""Images of a VietQR payload: a PNG or SVG for screens and receipts, and a printable poster for a counter.

The codec (``qr.vietqr``) decides what a code says; this module only draws it. Every image uses
error correction level M (about 15% of the code may be smudged or covered and it still scans, the
level bank apps print) and the 4-module quiet zone the QR standard requires, because a phone camera
finds a code by the light margin around it. The payload is read with ``qr.vietqr.decode`` before it
is drawn, so a malformed code is refused here rather than printed and pinned to a wall.

Captions are in Vietnamese (payee names carry diacritics, amounts end in "₫"), so text is drawn
with a TrueType font that has those glyphs: DejaVu Sans where the machine has it, else Pillow's
bundled scalable font.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import Final
from xml.etree import ElementTree as ET

import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from civicpay.money import format_vnd
from qr.masks import Symbol, symbol
from qr.vietqr import decode

BORDER: Final = 4  # modules of quiet zone on every side, the minimum ISO/IEC 18004 allows
POSTER_SIZE: Final = (1240, 1748)  # A6 (105 x 148 mm) at 300 dpi
POSTER_DPI: Final = 300
POSTER_TITLE: Final = ("Quét mã để thanh toán", "Scan to pay")
POSTER_FOOTER: Final = "VietQR · NAPAS 247"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_SVG_NS: Final = "http://www.w3.org/2000/svg"
_SVG_FONTS: Final = "DejaVu Sans, Noto Sans, Arial, sans-serif"
_DARK: Final = 0
_LIGHT: Final = 255
_CELLS_TO_PIXELS: Final = bytes.maketrans(b"\x00\x01", bytes((_LIGHT, _DARK)))
# qrcode's SvgPathImage style for the code's one path, kept so the SVG is the one qrcode drew.
_SVG_PATH_STYLE: Final = {
    "id": "qr-path",
    "fill": "#000000",
    "fill-opacity": "1",
    "fill-rule": "nonzero",
    "stroke": "none",
}
_FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)


@dataclass(frozen=True, slots=True)
class Caption:
    """What a person reads under the code before paying: whom the money goes to and, if fixed, how much."""

    payee: str
    amount_vnd: int | None = None

    def lines(self) -> tuple[str, ...]:
        """The payee, then the amount as screens and receipts show it ("1.234.567 ₫")."""
        if self.amount_vnd is None:
            return (self.payee,)
        return (self.payee, format_vnd(self.amount_vnd))


@lru_cache(maxsize=256)
def _matrix(payload: str) -> Symbol:
    """The modules of the code, without the quiet zone: module for module what qrcode would build.

    ``qr.masks`` builds it (qrcode's segments, codewords and layout, its mask choice scored with
    whole-matrix bit operations instead of module by module), which is most of what a new code
    costs; a counter's static code is drawn again and again, so the last few hundred are kept.
    """
    decode(payload)  # refuse, with the codec's explanation, anything that is not a valid VietQR payload
    return symbol(payload, qrcode.constants.ERROR_CORRECT_M)


def _code_image(payload: str, box_size: int) -> Image.Image:
    """A greyscale image of the code, ``box_size`` pixels a module, scaled without smoothing so edges stay sharp."""
    if box_size < 1:
        raise ValueError(f"box_size must be at least 1 pixel a module, not {box_size}")
    code = _matrix(payload)
    modules = Image.frombytes("L", (code.size, code.size), code.cells().translate(_CELLS_TO_PIXELS))
    side = code.size + 2 * BORDER
    image = Image.new("L", (side, side), _LIGHT)
    image.paste(modules, (BORDER, BORDER))
    return image.resize((side * box_size, side * box_size), Image.Resampling.NEAREST)


@lru_cache(maxsize=8)
def _svg_squares(size: int, box_size: int) -> tuple[str, ...]:
    """The path of every module's square, row by row, written as qrcode's SvgPathImage writes it.

    Its units are millimetres, a tenth of a pixel, as exact decimals ("0.8", "4"); the strings
    depend only on the symbol's size and ``box_size``, so a new code only picks its dark ones.
    """
    mm = [str(Decimal(index * box_size) / 10) for index in range(size + 2 * BORDER + 1)]
    return tuple(
        f"M{mm[left]},{mm[top]}H{mm[left + 1]}V{mm[top + 1]}H{mm[left]}z"
        for top in range(BORDER, BORDER + size)
        for left in range(BORDER, BORDER + size)
    )


def _find_font_file(name: str) -> Path | None:
    for folder in _FONT_DIRS:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=64)
def font(size: int, *, bold: bool = False) -> Font:
    """DejaVu Sans at ``size`` pixels (it covers Vietnamese and "₫"), or Pillow's scalable default if it is absent."""
    path = _find_font_file("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _text_width(draw: ImageDraw.ImageDraw, text: str, face: Font) -> float:
    left, _, right, _ = draw.textbbox((0, 0), text, font=face)
    return right - left


def _fitted(
    draw: ImageDraw.ImageDraw, text: str, width: int, size: int, *, bold: bool = False, smallest: int = 10
) -> tuple[str, Font]:
    """The text and a font that fit ``width``: smaller type first, then an ellipsis, never text cut off at the edge."""
    while size > smallest and _text_width(draw, text, font(size, bold=bold)) > width:
        size -= max(1, size // 10)
    face = font(max(size, smallest), bold=bold)
    if _text_width(draw, text, face) <= width:
        return text, face
    while len(text) > 1 and _text_width(draw, text + "…", face) > width:
        text = text[:-1]
    return text.rstrip() + "…", face


def _centred(draw: ImageDraw.ImageDraw, text: str, centre_x: float, top: float, face: Font) -> None:
    draw.text((centre_x, top), text, fill=_DARK, font=face, anchor="ma")


def _png_bytes(image: Image.Image, dpi: int | None = None) -> bytes:
    out = io.BytesIO()
    if dpi is None:
        image.save(out, format="PNG")
    else:
        image.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


def png(payload: str, *, box_size: int = 8, caption: Caption | None = None) -> bytes:
    """The code as a PNG, ``box_size`` pixels a module, with the caption (if any) in two lines under it.

    Without a caption the image is exactly the code and its quiet zone, (modules + 8) x box_size
    pixels square, black and white, so it can be placed in any layout; with one it is greyscale so
    the text is smooth.
    """
    code = _code_image(payload, box_size)
    if caption is None:
        return _png_bytes(code.convert("1", dither=Image.Dither.NONE))
    width = code.width
    size = max(12, 3 * box_size)
    line_height = round(size * 1.3)
    lines = caption.lines()
    # The quiet zone under the code stays clear: text starts below it, and a margin of one module
    # closes the image.
    image = Image.new("L", (width, code.height + line_height * len(lines) + box_size), _LIGHT)
    image.paste(code, (0, 0))
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        text, face = _fitted(draw, line, width - 2 * box_size, size, bold=index == 0)
        _centred(draw, text, width / 2, code.height + index * line_height, face)
    return _png_bytes(image)


def svg(payload: str, *, box_size: int = 8, caption: Caption | None = None) -> bytes:
    """The code as a standalone UTF-8 SVG document, with the caption (if any) as text under it.

    qrcode's SVG units are millimetres, a tenth of ``box_size`` a module; the code is one path so
    the file stays small, on a white rectangle so it scans on a dark page too. Caption text is
    real text (searchable, sharp at any size), and the viewer supplies the font.
    """
    if box_size < 1:
        raise ValueError(f"box_size must be at least 1 unit a module, not {box_size}")
    code = _matrix(payload)
    module = box_size / 10
    side = (code.size + 2 * BORDER) * module
    lines = caption.lines() if caption is not None else ()
    font_size = 3 * module
    line_height = font_size * 1.3
    height = side + (line_height * len(lines) + module if lines else 0)

    root = ET.Element(
        "svg",
        {
            "xmlns": _SVG_NS,
            "version": "1.1",
            "width": f"{side:g}mm",
            "height": f"{height:g}mm",
            "viewBox": f"0 0 {side:g} {height:g}",
        },
    )
    ET.SubElement(root, "rect", {"width": "100%", "height": "100%", "fill": "#ffffff"})
    squares = "".join(compress(_svg_squares(code.size, box_size), code.cells()))
    root.append(ET.Element("path", {"d": squares, **_SVG_PATH_STYLE}))
    for index, line in enumerate(lines):
        text = ET.SubElement(
            root,
            "text",
            {
                "x": f"{side / 2:g}",
                # Baseline of each line; the first sits one font size under the quiet zone.
                "y": f"{side + font_size + index * line_height:g}",
                "font-family": _SVG_FONTS,
                "font-size": f"{font_size:g}",
                "font-weight": "bold" if index == 0 else "normal",
                "text-anchor": "middle",
                "fill": "#000000",
            },
        )
        text.text = line
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def poster(payload: str, *, payee: str, city: str | None = None) -> bytes:
    """A printable A6 PNG (1240 x 1748 px at 300 dpi) of a merchant's static code, for the counter or the door.

    Bilingual title on top, the code large in the middle (a module of at least 4 pixels at 300 dpi
    scans from arm's length), whom the money goes to under it, and the scheme at the foot so a
    customer knows any banking app will read it.
    """
    width, height = POSTER_SIZE
    image = Image.new("L", POSTER_SIZE, _LIGHT)
    draw = ImageDraw.Draw(image)
    margin = 80
    usable = width - 2 * margin

    text, face = _fitted(draw, POSTER_TITLE[0], usable, 84, bold=True)
    _centred(draw, text, width / 2, 90, face)
    text, face = _fitted(draw, POSTER_TITLE[1], usable, 64)
    _centred(draw, text, width / 2, 200, face)

    side = _matrix(payload).size + 2 * BORDER
    box_size = max(1, (usable + 2 * BORDER * 8) // side)  # the quiet zone may run into the page margin
    code = _code_image(payload, box_size)
    code_top = 300
    image.paste(code, ((width - code.width) // 2, code_top))

    below = code_top + code.height + 10
    text, face = _fitted(draw, payee, usable, 72, bold=True)
    _centred(draw, text, width / 2, below, face)
    if city:
        text, face = _fitted(draw, city, usable, 56)
        _centred(draw, text, width / 2, below + 100, face)

    text, face = _fitted(draw, POSTER_FOOTER, usable, 48)
    _centred(draw, text, width / 2, height - 120, face)
    return _png_bytes(image, dpi=POSTER_DPI)


def clear_cache() -> None:
    """Forget the cached symbols, so a benchmark measures a first render, not a repeat.

    The per-version layouts in ``qr.masks`` and the SVG square strings stay: they are the same for
    every payload of a size, so a first render in production finds them too.
    """
    _matrix.cache_clear()
