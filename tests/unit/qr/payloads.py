"""Random VietQR payloads for the image tests, shaped like the product's and the same on every run."""

from __future__ import annotations

import random
from collections.abc import Iterator

from qr.vietqr import VietQr, encode

BINS = ("970436", "970415", "970418", "970405", "970407", "970422", "970416", "970403", "970432")
NAMES = ("UBND PHUONG THUAN HOA", "TRUNG TAM PHUC VU HCC", "BENH VIEN TW HUE", "Cửa hàng Hoà Bình")


def vietqr_payloads(count: int, seed: int) -> Iterator[str]:
    """Payloads shaped like the product's: static and dynamic, account and card, optional fields."""
    rng = random.Random(seed)
    for _ in range(count):
        dynamic = rng.random() < 0.7
        card = rng.random() < 0.2
        reference = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=10))
        yield encode(
            VietQr(
                bin=rng.choice(BINS),
                account="9704" + "".join(rng.choices("0123456789", k=12))
                if card
                else "".join(rng.choices("0123456789", k=rng.randint(6, 19))),
                service="card" if card else "account",
                initiation="dynamic" if dynamic else "static",
                amount_vnd=rng.randrange(1_000, 500_000_000, 1_000) if dynamic else None,
                purpose=f"{reference} Nộp phí hộ tịch"[:25] if rng.random() < 0.5 else None,
                reference=reference if rng.random() < 0.3 else None,
                bill=f"HS{rng.randint(10**6, 10**7 - 1)}" if rng.random() < 0.3 else None,
                merchant_name=rng.choice(NAMES) if rng.random() < 0.5 else None,
                city="HUE" if rng.random() < 0.5 else None,
                mcc="9399" if rng.random() < 0.3 else None,
            )
        )
