"""Text made fit for a QR field: folded to ASCII, cut at a word's end."""

from __future__ import annotations

import pytest

from qr import vietqr


@pytest.mark.parametrize(
    ("text", "limit", "fitted"),
    [
        ("Bộ phận Một cửa phường Phú Hội", 25, "Bo phan Mot cua phuong"),
        ("Huế", 15, "Hue"),
        ("Thành phố Hồ Chí Minh", 15, "Thanh pho Ho"),
        ("Đồngkhôngcókhoảngtrắngnàocả", 10, "Dongkhongc"),
        ("  Cà   phê  ", 25, "Ca phe"),
    ],
)
def test_names_are_folded_and_cut_at_a_word_end(text: str, limit: int, fitted: str) -> None:
    assert vietqr.fit_for_qr(text, limit) == fitted
