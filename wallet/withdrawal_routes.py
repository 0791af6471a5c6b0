"""Thin HTTP controllers for linked bank accounts, withdrawals and the bank's payout callbacks."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import unit_of_work
from civicpay.idempotency import IdempotencyKey, answer_once
from civicpay.outbox import Dispatcher
from civicpay.settings import Settings
from wallet import withdrawals
from wallet.bank_payouts import BankPayouts, PayoutResult
from wallet.routes import OtpHeader, RowId, bank_signature_required


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

    @post(
        "/",
        operation_id="withdraw",
        status_code=201,
        responses={201: ResponseSpec(data_container=withdrawals.WithdrawalView, description="Held and queued")},
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[withdrawals.WithdrawalCreate],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        outbox: NamedDependency[Dispatcher],
        clock: NamedDependency[Clock],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Withdraw to a linked account: the amount is held at once and paid out when the bank confirms.

        Needs ``X-OTP`` above the step-up thresholds, like a transfer. The answer says ``queued``;
        follow it with ``GET /withdrawals/{id}``. A rejected payout gives the money back to the wallet.
        """
        now = clock.now()
        sessions = request.app.state.session_factory
        async with unit_of_work(sessions) as session:
            answer = await answer_once(
                request,
                session,
                caller=principal.idempotency_scope,
                key=idempotency_key,
                body=data,
                now=now,
                status=201,
                use_case=lambda: withdrawals.withdraw(
                    session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=now
                ),
            )
        # Committed: the payout is in the outbox; hand it to the bank now (the dispatcher retries what fails).
        if answer.status_code == 201 and "idempotent-replayed" not in answer.headers:
            made = msgspec.json.decode(answer.content, type=withdrawals.WithdrawalView)
            await outbox.deliver([withdrawals.send_key(made.payout_id)])
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
