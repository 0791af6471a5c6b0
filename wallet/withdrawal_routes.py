"""Thin HTTP controllers for linked bank accounts, withdrawals and the bank's payout callbacks."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import UnitsOfWork
from civicpay.idempotency import IdempotencyKey, Once, idempotent
from civicpay.settings import Settings
from wallet import withdrawals
from wallet.bank_payouts import BankPayouts, PayoutResult
from wallet.routes import OtpHeader, RowId, bank_signature_required

logger = logging.getLogger(__name__)


class BankAccountController(Controller):
    path = "/bank-accounts"
    tags = ["withdrawals"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="linkBankAccount", status_code=201)
    async def link(
        self,
        data: JSONBody[withdrawals.BankAccountCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        bank: NamedDependency[BankPayouts],
        clock: NamedDependency[Clock],
    ) -> withdrawals.BankAccountView:
        """Link an account of your own: the bank's holder name must be yours (diacritics and case aside)."""
        return await withdrawals.link_account(session, bank, user_id=principal.user_id, data=data, now=clock.now())

    @get("/", operation_id="listBankAccounts")
    async def mine(
        self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> list[withdrawals.BankAccountView]:
        return await withdrawals.linked_accounts(session, user_id=principal.user_id)


class WithdrawalController(Controller):
    path = "/withdrawals"
    tags = ["withdrawals"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="withdraw", **idempotent(201, withdrawals.WithdrawalView, "Held and queued"))
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[withdrawals.WithdrawalCreate],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        bank: NamedDependency[BankPayouts],
        clock: NamedDependency[Clock],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Withdraw to a linked account: the amount is held at once and paid out when the bank confirms.

        Needs ``X-OTP`` above the step-up thresholds, like a transfer. The answer says ``queued``;
        follow it with ``GET /withdrawals/{id}``. A rejected payout gives the money back to the wallet.
        """
        now = clock.now()
        units: UnitsOfWork = request.app.state.units
        async with units() as unit:
            once = Once(request, unit.session, caller=principal.idempotency_scope, key=idempotency_key, now=now)
            answer = await once(
                data,
                lambda: withdrawals.withdraw(
                    unit.session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=now
                ),
            )
        # Committed: only now may the payout reach the bank (it is queued if the bank cannot take it).
        if answer.status_code == 201:
            made = msgspec.json.decode(answer.content, type=withdrawals.WithdrawalView)
            try:
                await withdrawals.dispatch(units, bank, now=now, only=made.id)
            except Exception:
                # The withdrawal is committed and its answer kept: the periodic dispatch sends it.
                logger.exception("withdrawal %s stays queued", made.id)
        return answer

    @get("/{withdrawal_id:int}", operation_id="getWithdrawal")
    async def one(
        self, withdrawal_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> withdrawals.WithdrawalView:
        return await withdrawals.get(session, user_id=principal.user_id, withdrawal_id=withdrawal_id)


class PayoutWebhookController(Controller):
    path = "/webhooks/bank/payouts"
    tags = ["withdrawals"]

    @post(
        "/",
        operation_id="receivePayoutResult",
        exclude_from_auth=True,
        before_request=bank_signature_required,
        status_code=200,
    )
    async def receive(
        self,
        data: JSONBody[PayoutResult],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> withdrawals.PayoutReceipt:
        """The bank's outcome of a payout, signed like its notifications (HMAC-SHA256 in ``X-Signature``).

        Confirmed posts the held money out of the wallet; rejected gives it back. A repeat changes nothing.
        """
        return await withdrawals.receive_payout_result(session, data, now=clock.now())
