"""Thin HTTP controllers for linked bank accounts, withdrawals and the bank's callbacks on instructions."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.idempotency import Once, idempotent
from civicpay.settings import Settings
from wallet import bank_instructions, withdrawals
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
        """The bank accounts the caller has linked, to withdraw to."""
        return await withdrawals.linked_accounts(session, user_id=principal.user_id)


class WithdrawalController(Controller):
    path = "/withdrawals"
    tags = ["withdrawals"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="withdraw", **idempotent(201, withdrawals.WithdrawalView, "Held and queued"))
    async def create(
        self,
        data: JSONBody[withdrawals.WithdrawalCreate],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Withdraw to a linked account: the amount is held at once and paid out when the bank confirms.

        Needs ``X-OTP`` above the step-up thresholds, like a transfer. The answer says ``queued``: the
        payout goes to the bank through the outbox right after the commit, before the answer leaves;
        follow it with ``GET /withdrawals/{id}``. A rejected payout gives the money back to the wallet.
        """
        return await once(
            data,
            lambda: withdrawals.withdraw(
                session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=once.now
            ),
        )

    @get("/{withdrawal_id:int}", operation_id="getWithdrawal")
    async def one(
        self, withdrawal_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> withdrawals.WithdrawalView:
        """A withdrawal of the caller's: queued, sent, confirmed by the bank, or rejected (money back)."""
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
        instructions: NamedDependency[Sequence[bank_instructions.InstructionKind]],
    ) -> bank_instructions.PayoutReceipt:
        """The bank's outcome of an instruction, signed like its notifications (HMAC-SHA256 in ``X-Signature``).

        Found by its id whatever its kind (withdrawal, settlement, suspense return, Treasury remittance).
        Confirmed posts the held money out of our bank account; rejected gives it back where it was. A
        repeat changes nothing; the opposite of an earlier outcome is a 409.
        """
        return await bank_instructions.receive_result(session, instructions, data, now=clock.now())
