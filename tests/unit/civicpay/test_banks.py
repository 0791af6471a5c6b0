"""The NAPAS bank directory: facts from DOMAIN.md and the pitfalls of the public lists."""

from __future__ import annotations

import pytest

from civicpay.banks import VietQrSupport, by_bin, directory


@pytest.mark.parametrize(
    ("bin_", "short_name"),
    [
        ("970436", "Vietcombank"),
        ("970415", "VietinBank"),
        ("970418", "BIDV"),
        ("970405", "Agribank"),
        ("970407", "Techcombank"),
        ("970422", "MBBank"),
        ("970416", "ACB"),
        ("970403", "Sacombank"),
        ("970432", "VPBank"),
    ],
)
def test_the_banks_domain_md_names_have_their_bins(bin_: str, short_name: str) -> None:
    bank = by_bin(bin_)
    assert bank is not None
    assert bank.short_name == short_name
    assert bank.can_receive


def test_a_wrong_bin_some_libraries_carry_is_not_a_bank() -> None:
    assert by_bin("970488") is None  # BIDV is 970418


def test_banks_whose_short_codes_clash_are_two_banks() -> None:
    bao_viet, ban_viet = by_bin("970438"), by_bin("970454")
    assert bao_viet is not None
    assert ban_viet is not None
    assert "Bảo Việt" in bao_viet.legal_name
    assert "Bản Việt" in ban_viet.legal_name


def test_renamed_banks_keep_their_bin() -> None:
    renamed = {"970406": "Vikki", "970414": "MBV", "970449": "LPBank"}
    assert {bin_: by_bin(bin_).short_name for bin_ in renamed if by_bin(bin_)} == renamed  # type: ignore[union-attr]


def test_the_directory_is_whole_and_well_formed() -> None:
    banks = directory()
    assert len(banks) == 66
    assert all(len(bin_) == 6 and bin_.isdigit() for bin_ in banks)
    assert {bank.vietqr for bank in banks.values()} == set(VietQrSupport)
    receive_only = [bank for bank in banks.values() if bank.vietqr == VietQrSupport.RECEIVE_ONLY]
    assert receive_only
    assert all(bank.can_receive and not bank.can_send for bank in receive_only)
