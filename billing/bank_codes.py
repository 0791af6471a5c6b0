"""What a bank app needs to pay a bill: its reference and its dynamic VietQR to our collection account.

Bills are paid into the wallets' pooled bank account (``Settings.wallet_pool_*``), not a dedicated
billing account: a biller's payable is already backed by money in that account whenever a wallet pays
a bill, so one account holds every đồng owed to billers and their daily settlement leaves from one
place. Bank references keep the two kinds of arrival apart: a bill's ``HDON…`` reference is claimed by
the billing room before top-up codes (``NAP…``) are looked for.

The reference is the bill's id under the ``HDON`` prefix (hóa đơn) with a check character: sixteen
characters, so it survives bank apps and MT940. It is derived, not stored, and it does not need to be
secret: whoever pays a bill with it pays that bill, which is what its holder asked for.
"""

from __future__ import annotations

import qr
from billing.models import Bill
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings

# "HDON" + the bill's id in eleven base-36 characters + a check character: sixteen characters.
BILL_REFERENCE = ReferenceScheme("HDON", 11)


def reference(bill: Bill) -> str:
    return BILL_REFERENCE.encode(bill.id)


def is_collection_account(settings: Settings, bank_bin: str, account_number: str) -> bool:
    """Whether a transfer reached the account bills are paid into (see the module's docstring)."""
    return (bank_bin, account_number) == (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)


def vietqr(settings: Settings, bill: Bill, due_vnd: int) -> str:
    """The dynamic VietQR for what is still due: the reference where banks copy it into the description."""
    code = reference(bill)
    return qr.encode_vietqr(
        qr.VietQr(
            bin=settings.wallet_pool_bank_bin,
            account=settings.wallet_pool_account_number,
            initiation="dynamic",
            amount_vnd=due_vnd,
            purpose=code,
            reference=code,
            bill=qr.fit_for_qr(bill.external_id, 25),
            customer=qr.fit_for_qr(bill.customer_code, 25),
            merchant_name=qr.fit_for_qr(settings.operator_account_name, 25),
        )
    )


def png(payload: str) -> bytes:
    return qr.qr_png(payload)
