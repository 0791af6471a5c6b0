"""The everyday bill payment from a wallet in one database call, on PostgreSQL (migration 0022).

The portable path (``payments.pay_bills`` inside ``idempotency.Once``) takes about 22 statements per
payment and 10-12 ms of the app's CPU; ``bench/billing.py`` found PostgreSQL's connections idle in
their transactions most of the time, waiting for the app's next statement, and paid 0.03 of pgbench's
TPC-B rate. Here the same payment is one statement, ``SELECT billing_pay_bills(...)``, built as the
wallet's transfer is (``wallet.fast_path``, whose call, refusal code and pieces it shares).

The function pays only what the portable path would pay without a word: every bill on the payer's
links and open, each paid all that is due or (``bills`` with amounts) less where its biller allows part
payment, enough money, within the monthly cap on what the cap does not exempt, no step-up. For anything
else (a replayed or reused key, a bill it cannot pay, a refusal, a step-up, a body the portable path
refuses) it writes nothing and the caller takes the portable path, which alone words every refusal.
Both paths claim the key, then lock the bills in id order, then the payer, and keep the answer in the
same row, so they can run side by side. What the portable path writes, the function writes: the
entry (the biller's payable credited beside its row, never locked), the payment and its allocations,
the bills' paid amounts and states, and each biller's webhook in the outbox. The values Python owns
(the periods, the categories, the limits, the formatted times, the webhook's names) are passed in.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import schemas as s
from billing import webhooks
from billing.allocations import CATEGORIES
from billing.models import PAYMENT_REFERENCE
from billing.payments import asked_amounts
from civicpay.clock import BusinessCalendar
from civicpay.errors import DomainError
from civicpay.settings import Settings
from wallet.fast_path import CAP_EXEMPT_VALUES, call_once, periods

_PAY = f"SELECT billing_pay_bills({', '.join(f'${number}' for number in range(1, 24))})"
# billing.allocations.CATEGORIES as two arrays: a biller's category, and its movements' category.
_BILLER_CATEGORIES = [biller.value for biller in CATEGORIES]
_LEDGER_CATEGORIES = [CATEGORIES[biller].value for biller in CATEGORIES]


async def try_pay(
    engine: AsyncEngine,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    principal: str,
    key: str,
    fingerprint: str,
    user_id: int,
    data: s.BillPaymentCreate,
    now: datetime,
) -> bytes | None:
    """Pay the bills and keep the answer under the key, returning it; or change nothing, None."""
    try:
        asked = asked_amounts(data)
    except DomainError:
        return None  # a body the portable path refuses, in its words
    bill_ids = sorted(asked)
    arguments = (
        principal,
        key,
        fingerprint,
        user_id,
        bill_ids,
        [asked[bill_id] for bill_id in bill_ids],
        now,
        *periods(calendar, now),
        _BILLER_CATEGORIES,
        _LEDGER_CATEGORIES,
        CAP_EXEMPT_VALUES,
        settings.monthly_cap_vnd,
        settings.stepup_single_vnd,
        settings.stepup_daily_vnd,
        msgspec.to_builtins(now),  # the time exactly as msgspec writes it in the portable path's answer
        webhooks.local_iso(now),
        webhooks.KIND,
        webhooks.BILLS_PAID,
        PAYMENT_REFERENCE.prefix,
        PAYMENT_REFERENCE.body_width,
    )
    return await call_once(engine, _PAY, arguments)
