"""Published VietQR payloads: the NAPAS specification's examples and codes made by real apps.

Test vectors (facts, not code) come from public libraries' tests and READMEs, named at each group.
Every CRC below was checked by those libraries against bank apps or the specification.
"""

from __future__ import annotations

import msgspec
import pytest

from qr.vietqr import ErrorCode, VietQr, VietQrError, crc16_ccitt_false, decode, encode

# NAPAS IBFT specification v1.5.2, section on examples, as reproduced in
# binhnguyenduc/vietqr-ts tests/compliance/napas-{static-account,static-card,dynamic-account}.test.ts.
NAPAS_STATIC_ACCOUNT = "00020101021138570010A00000072701270006970403011300110123456780208QRIBFTTA53037045802VN63049E6F"
NAPAS_STATIC_CARD = "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN63044F52"
NAPAS_DYNAMIC_ACCOUNT = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA530370454061800005802VN"
    "62340107NPS68690819thanh toan don hang63042E2E"
)
NAPAS_DYNAMIC_CARD = (
    "00020101021238600010A00000072701300006970403011697040311012345670208QRIBFTTC530370454061800005802VN"
    "62340107NPS68690819thanh toan don hang6304A203"
)
# The specification prints the static account example with length 12 for a 13-digit account (and
# CRC F4E5 for that text); vietqr-ts notes the erratum. A strict reader must refuse it.
NAPAS_STATIC_ACCOUNT_ERRATUM = (
    "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA53037045802VN6304F4E5"
)

ACCOUNT = VietQr(bin="970403", account="0011012345678")
CARD = VietQr(bin="970403", account="9704031101234567", service="card")
ORDER = {"initiation": "dynamic", "amount_vnd": 180_000, "bill": "NPS6869", "purpose": "thanh toan don hang"}
ACCOUNT_ORDER = msgspec.structs.replace(ACCOUNT, **ORDER)
CARD_ORDER = msgspec.structs.replace(CARD, **ORDER)


@pytest.mark.parametrize(
    ("code", "payload"),
    [
        (ACCOUNT, NAPAS_STATIC_ACCOUNT),
        (CARD, NAPAS_STATIC_CARD),
        (ACCOUNT_ORDER, NAPAS_DYNAMIC_ACCOUNT),
        (CARD_ORDER, NAPAS_DYNAMIC_CARD),
    ],
    ids=["static-account", "static-card", "dynamic-account", "dynamic-card"],
)
def test_the_specifications_examples_are_written_and_read_character_for_character(code: VietQr, payload: str) -> None:
    assert encode(code) == payload
    assert decode(payload) == msgspec.structs.replace(code, crc=payload[-4:])


def test_the_specifications_misprinted_length_is_refused_where_the_account_overruns() -> None:
    with pytest.raises(VietQrError) as refused:
        decode(NAPAS_STATIC_ACCOUNT_ERRATUM)
    assert refused.value.code == ErrorCode.BAD_LENGTH
    # 38.01's value is 12 characters from 48, leaving the account's last digit "8" at 60 as a stray.
    assert refused.value.position == 60
    assert NAPAS_STATIC_ACCOUNT_ERRATUM[60] == "8"


# xuannghia/vietnam-qr-pay README.md and test/test-vietqr.spec.ts: ACB account 257678859.
ACB_STATIC = "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F"
ACB_DYNAMIC = (
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA53037045405100005802VN"
    "62150811Chuyen tien630453E6"
)
ACB_DYNAMIC_1000 = (
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA5303704540410005802VN"
    "62150811Chuyen tien6304BBB8"
)
# subiz/vietqr vietqr_test.go: the diacritics of "chuyển khoản" are stripped before encoding.
SUBIZ_STATIC = "00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN6304CBB4"
SUBIZ_FOLDED = (
    "00020101021238570010A00000072701270006970422011300234579234420208QRIBFTTA53037045405401235802VN"
    "62160812chuyen khoan6304722F"
)


@pytest.mark.parametrize(
    ("code", "payload"),
    [
        (VietQr(bin="970416", account="257678859"), ACB_STATIC),
        (
            VietQr(bin="970416", account="257678859", initiation="dynamic", amount_vnd=10_000, purpose="Chuyen tien"),
            ACB_DYNAMIC,
        ),
        (
            VietQr(bin="970416", account="257678859", initiation="dynamic", amount_vnd=1_000, purpose="Chuyen tien"),
            ACB_DYNAMIC_1000,
        ),
        (VietQr(bin="970423", account="0099999999"), SUBIZ_STATIC),
        (
            VietQr(
                bin="970422", account="0023457923442", initiation="dynamic", amount_vnd=40_123, purpose="chuyển khoản"
            ),
            SUBIZ_FOLDED,
        ),
    ],
    ids=["acb-static", "acb-dynamic", "acb-1000", "subiz-static", "subiz-vietnamese-purpose"],
)
def test_other_libraries_payloads_are_written_the_same(code: VietQr, payload: str) -> None:
    assert encode(code) == payload


def test_a_vietnamese_purpose_reads_back_without_diacritics() -> None:
    assert decode(SUBIZ_FOLDED).purpose == "chuyen khoan"


# xuannghia/vietnam-qr-pay test/test-momo-zalopay.spec.ts: "QR Content generated from MoMo app";
# MoMo and ZaloPay wallets receive through BVBank (BIN 970454). MoMo adds 62.05 and an object 80.
MOMO = (
    "00020101021138620010A00000072701320006970454011899MM24011M348750800208QRIBFTTA53037045802VN"
    "62190515MOMOW2W3487508080030466304EBC8"
)
ZALOPAY = "00020101021138620010A00000072701320006970454011899ZP24009M072482670208QRIBFTTA53037045802VN6304073C"


def test_a_momo_wallet_code_reads_as_a_bvbank_account_with_its_reference() -> None:
    assert decode(MOMO) == VietQr(bin="970454", account="99MM24011M34875080", reference="MOMOW2W34875080", crc="EBC8")


def test_a_zalopay_wallet_code_is_a_plain_static_account_code() -> None:
    code = decode(ZALOPAY)
    assert (code.bin, code.account, code.service, code.initiation, code.amount_vnd) == (
        "970454",
        "99ZP24009M07248267",
        "account",
        "static",
        None,
    )
    assert encode(code) == ZALOPAY


def test_an_acb_dynamic_code_reads_amount_and_purpose() -> None:
    code = decode(ACB_DYNAMIC_1000)
    assert (code.bin, code.account, code.amount_vnd, code.purpose, code.crc) == (
        "970416",
        "257678859",
        1_000,
        "Chuyen tien",
        "BBB8",
    )


def test_a_lower_case_crc_is_accepted_as_some_bank_apps_write_it() -> None:
    lower = ACB_DYNAMIC_1000[:-4] + ACB_DYNAMIC_1000[-4:].lower()
    assert lower.endswith("bbb8")
    assert decode(lower) == decode(ACB_DYNAMIC_1000)


def test_a_misread_crc_is_refused() -> None:
    # vietnam-qr-pay test/test-vietqr.spec.ts "Invalid CRC VietQR": the last digit read as 5.
    with pytest.raises(VietQrError) as refused:
        decode(ACB_DYNAMIC_1000[:-1] + "5")
    assert refused.value.code == ErrorCode.BAD_CRC
    assert refused.value.position == len(ACB_DYNAMIC_1000) - 4
    assert "BBB8" in str(refused.value)


# Other schemes on the same EMVCo frame, from xuannghia/vietnam-qr-pay test/test-vnpay-qr.spec.ts,
# test/test-airpay-qr.spec.ts and test/test-evn-qr.spec.ts (an EVN electricity bill code).
VNPAY_SHOP = (
    "00020101021126280010A000000775011001087990425204597753037045802VN5909MYPHAMHER6005HANOI"
    "62260311MY PHAM HER0707MPHER0163041C50"
)
VNPAY_CELLPHONES = (
    "00020101021126280010A0000007750110010531314453037045408210900005802VN5910CELLPHONES"
    "62600312CPSHN ONLINE0517021908061613127850705ONLHN0810CellphoneS63047685"
)
AIRPAY = (
    "00020101021126610013vn.airpay.www014000000201010100064185noC4efDjGKq0or5GbeBz5204581253037045910RESTAURANT"
    "6009HOCHIMINH5802VN6304DA5C"
)
EVN = (
    "000201010211262400020001140100101114-0195204490053037045802VN5931EVN CONG TY DIEN LUC THANH XUAN"
    "6006Ha Noi62450302000613PD000000000000702000812TT tien dien6304DC30"
)


@pytest.mark.parametrize(
    ("payload", "scheme"),
    [
        (VNPAY_SHOP, "VNPAY-QR"),
        (VNPAY_CELLPHONES, "VNPAY-QR"),
        (AIRPAY, "ShopeePay"),
        (EVN, "unknown scheme (GUID '00')"),
    ],
    ids=["vnpay-shop", "vnpay-cellphones", "airpay", "evn"],
)
def test_other_schemes_are_recognised_and_named(payload: str, scheme: str) -> None:
    assert crc16_ccitt_false(payload[:-4].encode()) == int(payload[-4:], 16)  # well formed, just not ours
    with pytest.raises(VietQrError) as refused:
        decode(payload)
    assert refused.value.code == ErrorCode.NOT_NAPAS
    assert refused.value.position == 12  # their merchant account information, id 26
    assert scheme in str(refused.value)


def test_a_personal_vnpay_code_with_a_vietnamese_name_is_refused_at_the_first_non_ascii_letter() -> None:
    payload = (
        "00020101021002020103069084010411VNPayWallet071003933571580809Lê Anh Tú09051000010037041107content63042678"
    )
    with pytest.raises(VietQrError) as refused:
        decode(payload)
    assert refused.value.code == ErrorCode.NON_ASCII
    assert payload[refused.value.position] == "ê"


def test_a_library_fixture_whose_beneficiary_swallows_the_service_code_is_refused() -> None:
    # binhnguyenduc/vietqr-ts tests/fixtures/vietqr-samples.ts DYNAMIC_FULL: 38.01 declares 39
    # characters, which takes in "0208QRIBFTTA", so template 38 has no service code of its own.
    payload = (
        "00020101021238570010A00000072701390006970422011301234567890200208QRIBFTTA53037045405500005802VN"
        "62160812Test Payment630495B6"
    )
    with pytest.raises(VietQrError) as refused:
        decode(payload)
    assert refused.value.code == ErrorCode.MISSING_OBJECT
    assert "38.02" in str(refused.value)
    assert refused.value.position == 16 + 57  # the end of template 38's value
