"""VietQR payloads encoded and decoded per second on one core: the codec behind pay-by-scan.

Every scan at a counter decodes one payload and every fee collection encodes one, in the request
path; batch jobs (printing a ward's static codes, re-reading a day's scans) do thousands. The aim
is at least 100,000 a second each way on one core, so the codec never shows in a request's time.

What one run does: pins the process to one CPU, builds a fixed, seeded mix of codes (static and
dynamic, account and card, a quarter with Vietnamese text to fold, some with merchant name, city
and additional data), checks that each reads back as written, then times ``--runs`` rounds of
``--operations`` encodes and as many decodes and prints the median rate of each with its spread.

Images (``qr.render``) are timed the same way on ``--renders`` distinct payloads: a PNG at the
default 8 pixels a module with a caption, as the pay screen and receipts show it, and an SVG. The
aim there is 300 PNGs a second, so a ward office can print its day's codes in seconds. Each round
starts with qr.render's symbol cache cleared, so the figure is for codes drawn for the first time
(what stays warm is what a running server keeps too: fonts, and qr.masks' layout of each QR version,
the same for every payload of that size); one more line shows a repeat of one static code, the
counter-poster case the cache serves.

Run: ``.venv/bin/python bench/qr.py [--runs R] [--operations N] [--renders N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's own name would
# hide the ``qr`` package it measures: look from the project root instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(_ROOT), *(entry for entry in sys.path if Path(entry or ".").resolve() != _ROOT / "bench")]

import msgspec  # noqa: E402 - after the sys.path fix above

from qr.render import Caption, clear_cache, png, svg  # noqa: E402 - after the sys.path fix above
from qr.vietqr import VietQr, decode, encode  # noqa: E402 - after the sys.path fix above

BINS = ("970436", "970415", "970418", "970405", "970407", "970422", "970416", "970403", "970432")
PURPOSES = ("Nộp phí hộ tịch", "Lệ phí trước bạ", "Tiền nước tháng 11", "Học phí học kỳ 1", "Viện phí")
WARDS = ("UBND PHUONG THUAN HOA", "UBND PHUONG PHU XUAN", "TRUNG TAM PHUC VU HANH CHINH CONG", "BENH VIEN TW HUE")


def _reference(rng: random.Random) -> str:
    return "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=10))


def corpus(size: int, seed: int = 704) -> list[VietQr]:
    """A fixed mix of the codes the product writes and reads, the same on every run."""
    rng = random.Random(seed)
    codes = []
    for _ in range(size):
        card = rng.random() < 0.2
        dynamic = rng.random() < 0.7
        reference = _reference(rng)
        vietnamese = rng.random() < 0.25
        purpose = f"{reference} {rng.choice(PURPOSES)}"[:25] if vietnamese else f"{reference} PHI HANH CHINH"
        codes.append(
            VietQr(
                bin=rng.choice(BINS),
                account="9704" + "".join(rng.choices("0123456789", k=12))
                if card
                else "".join(rng.choices("0123456789", k=rng.randint(8, 14))),
                service="card" if card else "account",
                initiation="dynamic" if dynamic else "static",
                amount_vnd=rng.randrange(1_000, 50_000_000, 1_000) if dynamic else None,
                purpose=purpose if dynamic or rng.random() < 0.3 else None,
                reference=reference if rng.random() < 0.3 else None,
                bill=f"HS{rng.randint(10**6, 10**7 - 1)}" if rng.random() < 0.3 else None,
                merchant_name=rng.choice(WARDS)[:25] if rng.random() < 0.5 else None,
                city="HUE" if rng.random() < 0.5 else None,
                mcc="9399" if rng.random() < 0.3 else None,
            )
        )
    return codes


def pin_to_one_core() -> str:
    """Keep the measurement on one CPU, so the figure is a one-core figure on any machine."""
    if not hasattr(os, "sched_setaffinity"):
        return "unpinned (no sched_setaffinity here)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"CPU {cpu}"


def rate(operation: Callable[[], None], operations: int) -> float:
    started = time.perf_counter()
    operation()
    return operations / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--operations", type=int, default=200_000)
    parser.add_argument("--renders", type=int, default=300)
    args = parser.parse_args(argv)

    cpu = pin_to_one_core()
    codes = corpus(1_000)
    payloads = [encode(code) for code in codes]
    for code, payload in zip(codes, payloads, strict=True):
        decoded = msgspec.structs.replace(decode(payload), crc=None)
        if decoded.amount_vnd != code.amount_vnd or decoded.account != code.account:
            raise SystemExit(f"{payload} does not read back as written")
    rounds, leftover = divmod(args.operations, len(codes))
    code_work = codes * rounds + codes[:leftover]
    payload_work = payloads * rounds + payloads[:leftover]

    def encode_all() -> None:
        for code in code_work:
            encode(code)

    def decode_all() -> None:
        for payload in payload_work:
            decode(payload)

    encode_all()  # warm up
    decode_all()
    encodes = [rate(encode_all, len(code_work)) for _ in range(args.runs)]
    decodes = [rate(decode_all, len(payload_work)) for _ in range(args.runs)]

    mean_chars = statistics.fmean(len(payload) for payload in payloads)
    print(f"VietQR codec, Python {sys.version.split()[0]}, one core ({cpu})")
    print(
        f"{len(code_work):,} operations per run, {args.runs} runs; payloads of {mean_chars:.0f} characters on average"
    )
    for name, rates in (("encode", encodes), ("decode", decodes)):
        verdict = "meets" if statistics.median(rates) >= 100_000 else "misses"
        print(
            f"  {name}: {statistics.median(rates):>9,.0f}/s median"
            f"  (min {min(rates):,.0f}, max {max(rates):,.0f}; {verdict} the 100,000/s aim)"
        )
    render_rates(codes, payloads, args.runs, args.renders)


def render_rates(codes: Sequence[VietQr], payloads: Sequence[str], runs: int, renders: int) -> None:
    """PNGs and SVGs drawn per second, each round on codes not drawn before (layout cache cleared)."""
    work = [
        (payload, Caption(payee=code.merchant_name or "UBND Phường Thuận Hóa", amount_vnd=code.amount_vnd))
        for code, payload in zip(codes, payloads, strict=True)
    ][:renders]

    def png_all() -> None:
        for payload, caption in work:
            png(payload, caption=caption)

    def svg_all() -> None:
        for payload, caption in work:
            svg(payload, caption=caption)

    static_payload, static_caption = next((p, c) for p, c in work if c.amount_vnd is None)

    def png_repeat() -> None:
        for _ in work:
            png(static_payload, caption=static_caption)

    def cold(operation: Callable[[], None]) -> float:
        clear_cache()
        return rate(operation, len(work))

    png_all()  # warm up: fonts loaded, code paths imported
    svg_all()
    measured = (
        ("PNG", [cold(png_all) for _ in range(runs)], 300),
        ("SVG", [cold(svg_all) for _ in range(runs)], 300),
        ("PNG, one static code repeated", [rate(png_repeat, len(work)) for _ in range(runs)], 300),
    )
    print(f"Images: {len(work):,} distinct payloads per run, {runs} runs, box size 8, captioned")
    for name, rates, aim in measured:
        verdict = "meets" if statistics.median(rates) >= aim else "misses"
        print(
            f"  {name}: {statistics.median(rates):>7,.0f}/s median"
            f"  (min {min(rates):,.0f}, max {max(rates):,.0f}; {verdict} the {aim}/s aim)"
        )


if __name__ == "__main__":
    main()
