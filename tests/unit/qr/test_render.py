"""Images of a VietQR payload: the sizes a layout relies on, and captions a Vietnamese reader can read."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import qrcode
import qrcode.constants
import qrcode.image.svg
from PIL import Image

from qr.masks import symbol
from qr.render import BORDER, POSTER_SIZE, Caption, clear_cache, png, poster, svg
from qr.vietqr import VietQrError
from tests.unit.qr.payloads import vietqr_payloads

# NAPAS IBFT specification v1.5.2 examples (see test_vietqr_examples.py).
STATIC = "00020101021138570010A00000072701270006970403011300110123456780208QRIBFTTA53037045802VN63049E6F"
DYNAMIC = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA530370454061800005802VN"
    "62340107NPS68690819thanh toan don hang63042E2E"
)
CAPTION = Caption(payee="UBND Phường Thuận Hóa", amount_vnd=1_234_567)
SVG = "{http://www.w3.org/2000/svg}"


def qrcode_of(payload: str, box_size: int = 10, image_factory: type | None = None) -> qrcode.QRCode:
    """The code as qrcode itself builds it, mask choice and all: the reference for what we draw."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=BORDER, image_factory=image_factory
    )
    code.add_data(payload)
    code.make(fit=True)
    return code


def modules(payload: str) -> int:
    return int(qrcode_of(payload).modules_count)


def image(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


@pytest.mark.parametrize("box_size", [1, 4, 8, 10])
def test_png_is_the_code_and_its_quiet_zone_at_box_size_pixels_a_module(box_size: int) -> None:
    picture = image(png(DYNAMIC, box_size=box_size))
    side = (modules(DYNAMIC) + 2 * BORDER) * box_size
    assert picture.format == "PNG"
    assert picture.size == (side, side)


def test_png_quiet_zone_is_white_and_the_finder_pattern_is_black() -> None:
    picture = image(png(STATIC, box_size=8)).convert("L")
    assert picture.getpixel((0, 0)) == 255
    assert picture.getpixel((BORDER * 8 - 1, BORDER * 8 - 1)) == 255
    assert picture.getpixel((BORDER * 8, BORDER * 8)) == 0


@pytest.mark.parametrize("box_size", [1, 3, 8])
def test_png_is_pixel_for_pixel_qrcodes_own_image(box_size: int) -> None:
    """The PNG is drawn from our module matrix, not by qrcode's image factory, and must not differ."""
    clear_cache()
    for payload in [STATIC, DYNAMIC, *vietqr_payloads(25, seed=box_size)]:
        expected = qrcode_of(payload, box_size).make_image().get_image().convert("L")
        drawn = image(png(payload, box_size=box_size)).convert("L")
        assert drawn.size == expected.size, payload
        assert drawn.tobytes() == expected.tobytes(), payload


@pytest.mark.parametrize("box_size", [1, 3, 8, 10])
def test_svg_path_is_the_one_qrcodes_svg_path_image_writes(box_size: int) -> None:
    clear_cache()
    for payload in [STATIC, DYNAMIC, *vietqr_payloads(10, seed=box_size)]:
        expected = qrcode_of(payload, box_size, qrcode.image.svg.SvgPathImage).make_image().path
        path = ET.fromstring(svg(payload, box_size=box_size)).find(f"{SVG}path")  # noqa: S314 - our own output
        assert path is not None
        assert path.attrib == expected.attrib, payload


def test_caption_adds_lines_under_the_code_without_changing_its_width() -> None:
    plain = image(png(DYNAMIC))
    payee_only = image(png(DYNAMIC, caption=Caption(payee="UBND Phường Thuận Hóa")))
    with_amount = image(png(DYNAMIC, caption=CAPTION))
    assert plain.width == payee_only.width == with_amount.width
    assert plain.height < payee_only.height < with_amount.height
    # The code's own pixels are unchanged above the caption, quiet zone included.
    assert with_amount.convert("L").crop((0, 0, *plain.size)).tobytes() == plain.convert("L").tobytes()


def test_caption_draws_dark_text_under_the_quiet_zone() -> None:
    plain = image(png(DYNAMIC))
    with_amount = image(png(DYNAMIC, caption=CAPTION)).convert("L")
    strip = with_amount.crop((0, plain.height, with_amount.width, with_amount.height))
    darkest, _ = strip.getextrema()
    assert isinstance(darkest, int)
    assert darkest < 64


def test_a_long_payee_is_fitted_inside_the_image() -> None:
    long_name = "Trung tâm Phục vụ Hành chính công tỉnh Thừa Thiên Huế, chi nhánh phường Phú Xuân"
    picture = image(png(STATIC, caption=Caption(payee=long_name))).convert("L")
    plain = image(png(STATIC))
    strip = picture.crop((0, plain.height, picture.width, picture.height))
    # The first and last columns stay white: no text runs off the edge.
    assert strip.crop((0, 0, 1, strip.height)).getextrema() == (255, 255)
    assert strip.crop((strip.width - 1, 0, strip.width, strip.height)).getextrema() == (255, 255)


def test_svg_is_well_formed_and_carries_the_caption_with_diacritics_and_dong_sign() -> None:
    document = svg(DYNAMIC, caption=CAPTION)
    root = ET.fromstring(document)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert texts == ["UBND Phường Thuận Hóa", "1.234.567 ₫"]
    assert root.find(f"{SVG}path") is not None


def test_svg_size_follows_box_size_and_caption_makes_it_taller() -> None:
    side_mm = (modules(DYNAMIC) + 2 * BORDER) * 10 / 10
    plain = ET.fromstring(svg(DYNAMIC, box_size=10))  # noqa: S314 - our own output
    captioned = ET.fromstring(svg(DYNAMIC, box_size=10, caption=CAPTION))  # noqa: S314 - our own output
    assert plain.get("width") == plain.get("height") == f"{side_mm:g}mm"
    assert captioned.get("width") == plain.get("width")
    assert float(captioned.get("height", "0").removesuffix("mm")) > side_mm


def test_poster_is_a6_at_300_dpi_on_white() -> None:
    picture = image(poster(STATIC, payee="UBND Phường Thuận Hóa", city="Huế"))
    assert picture.format == "PNG"
    assert picture.size == POSTER_SIZE
    dpi = picture.info["dpi"]
    assert round(dpi[0]) == round(dpi[1]) == 300
    assert picture.convert("L").getpixel((5, 5)) == 255


def test_a_malformed_payload_is_refused_not_drawn() -> None:
    corrupted = STATIC[:-4] + "0000"
    with pytest.raises(VietQrError):
        png(corrupted)
    with pytest.raises(VietQrError):
        svg(corrupted)
    with pytest.raises(VietQrError):
        poster(corrupted, payee="X")


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg is not installed")
def test_png_scans_back_to_the_payload(tmp_path: Path) -> None:
    path = tmp_path / "code.png"
    path.write_bytes(png(DYNAMIC, caption=CAPTION))
    zbarimg = shutil.which("zbarimg")
    assert zbarimg is not None
    scanned = subprocess.run([zbarimg, "--raw", "-q", str(path)], capture_output=True, text=True, check=True)  # noqa: S603
    assert scanned.stdout.strip() == DYNAMIC


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg is not installed")
@pytest.mark.parametrize("box_size", [2, 8])
def test_new_codes_of_every_mask_scan_back(tmp_path: Path, box_size: int) -> None:
    """Codes whose mask was chosen by ``qr.masks`` read back; the payloads are picked so all eight masks occur."""
    zbarimg = shutil.which("zbarimg")
    assert zbarimg is not None
    by_mask: dict[int, str] = {}
    for payload in vietqr_payloads(200, seed=2015):
        by_mask.setdefault(symbol(payload).mask, payload)
    assert sorted(by_mask) == list(range(8))
    for mask, payload in by_mask.items():
        path = tmp_path / f"mask{mask}.png"
        path.write_bytes(png(payload, box_size=box_size))
        scanned = subprocess.run([zbarimg, "--raw", "-q", str(path)], capture_output=True, text=True, check=True)  # noqa: S603
        assert scanned.stdout.strip() == payload, mask
