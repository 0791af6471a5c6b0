"""Everything the service is made of, built once: the app, the command line, the worker and the tests take it from here.

Settings, the clock, the business calendar, the password hasher, the database engine and the one
factory of units of work, the live-announcement hub, the clients of outside parties (the card
acquirer, the bank, billers' webhooks), the outbox dispatcher with a handler for every kind of
message, and the periodic jobs. Nothing else constructs these, so the HTTP API, a command and a worker cannot
disagree about how a payout is sent or what a job does (the composition root of cosmicpython's
``bootstrap``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

import billing
import disbursement
import qr
import wallet
from civicpay import events, outbox, tls
from civicpay.auth import throttle
from civicpay.auth.secrets import password_hasher
from civicpay.clock import BusinessCalendar, Clock, SystemClock
from civicpay.db import UnitsOfWork, create_engine, create_session_factory
from civicpay.periodic import Job
from civicpay.settings import Settings
from civicpay.worker import Worker
from reconciliation.fee_book import FeeBook
from wallet import ledger


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """The service's long-lived parts. ``start`` opens what needs the event loop; ``close`` ends them all."""

    settings: Settings
    clock: Clock
    calendar: BusinessCalendar
    hasher: PasswordHasher
    engine: AsyncEngine
    events: events.Hub
    units: UnitsOfWork
    acquirer: wallet.CardAcquirer
    bank: wallet.BankPayouts
    # Sends billers their payment notifications (billing/webhooks.py), each to the biller's own URL.
    biller_webhooks: httpx.AsyncClient
    # Delivers what units of work write to the outbox: right after their commit, and in a worker's rounds.
    outbox: outbox.Dispatcher
    # Rooms that may claim an incoming bank transfer before top-up codes are looked for.
    claimants: Sequence[wallet.Claimant]
    # Every kind of instruction to the bank, the wallet's and the rooms' above it: the bank's callback
    # finds its instruction among them, and each is sent by its own outbox handler.
    instructions: Sequence[wallet.InstructionKind]
    # Asks billers that answer look-ups for a customer's bills; it keeps each biller's circuit breaker.
    bill_lookup: billing.BillLookup
    # What the QR room recorded of each fee's way to the Treasury, for reconciliation's three-way check.
    fee_book: FeeBook

    @property
    def jobs(self) -> list[Job]:
        """The periodic work a worker runs; a job whose interval is 0 is left to its command."""
        settings = self.settings
        return [
            Job("card top-up re-query", settings.card_requery_interval_seconds, self.requery_card_topups),
            Job("hold expiry", settings.hold_expiry_interval_seconds, self.expire_holds),
            Job("ledger fold", settings.ledger_fold_interval_seconds, self.fold_increases),
            Job("merchant settlement", settings.merchant_settlement_interval_seconds, self.settle_merchants),
            Job("biller settlement", settings.biller_settlement_interval_seconds, self.settle_billers),
            Job("treasury sweep", settings.treasury_sweep_interval_seconds, self.sweep_to_treasury),
            Job("sign-in locks", settings.login_lock_sweep_interval_seconds, self.sweep_sign_in_locks),
            Job("bill auto-pay", settings.bill_autopay_interval_seconds, self.pay_due_bills),
            Job("bill reminders", settings.bill_reminder_interval_seconds, self.remind_of_bills),
            Job("disbursement", settings.disbursement_interval_seconds, self.pay_disbursements),
            Job("disbursement unclaimed", settings.disbursement_unclaimed_interval_seconds, self.settle_unclaimed),
        ]

    def worker(self) -> Worker:
        """A worker on these services: the outbox dispatcher's rounds and every periodic job."""
        return Worker(self.settings, self.units, self.outbox, self.jobs, self.clock)

    async def requery_card_topups(self) -> Sequence[wallet.CardTopupView]:
        return await wallet.requery_card_topups(self.units, self.acquirer, self.settings, now=self.clock.now())

    async def sweep_sign_in_locks(self) -> int:
        return await throttle.sweep(self.units, self.settings, now=self.clock.now())

    async def expire_holds(self) -> list[int]:
        async with self.units() as unit:
            return await ledger.expire_holds(unit.session, now=self.clock.now())

    async def fold_increases(self) -> int:
        async with self.units() as unit:
            return await ledger.fold_increases(unit.session)

    async def sweep_to_treasury(self) -> qr.SweepReport:
        async with self.units() as unit:
            return await qr.sweep_and_report(unit.session, self.settings, now=self.clock.now())

    async def settle_merchants(self) -> list[qr.SettlementLine]:
        """Queue each merchant's payout for the day; each goes to the bank as its unit of work commits."""
        return await qr.settle_merchants(self.units, self.settings, self.calendar, now=self.clock.now())

    async def settle_billers(self, on_biller: Callable[[], None] | None = None) -> list[billing.Settlement]:
        """Queue each biller's payout for the business day; each goes to the bank as its unit of work commits."""
        return await billing.settle_billers(
            self.units, self.settings, self.calendar, now=self.clock.now(), on_biller=on_biller
        )

    async def pay_due_bills(self) -> list[billing.AutopayResult]:
        """Each bill due today on a link with auto-pay, paid once; one unit of work per bill and link."""
        return await billing.pay_due_bills(self.units, self.settings, self.calendar, now=self.clock.now())

    async def remind_of_bills(self) -> int:
        return await billing.send_reminders(self.units, self.settings, self.calendar, now=self.clock.now())

    async def pay_disbursements(self) -> disbursement.Executed:
        """Approved welfare and pension batches paid to wallets, a chunk per unit of work, safe in N workers."""
        most = self.settings.disbursement_chunks_per_run
        return await disbursement.run_disbursements(self.units, self.settings, self.clock, most_chunks=most or None)

    async def settle_unclaimed(self) -> disbursement.Settled:
        """Held welfare paid to wallets opened since; what nobody claimed in time back to its programme's funding."""
        return await disbursement.settle_unclaimed(self.units, self.settings, self.clock)

    async def start(self) -> None:
        """On PostgreSQL, listen for every process's announcements (live screens need them)."""
        if not self.settings.is_sqlite:
            await self.events.listen(self.settings.database_url)

    async def close(self) -> None:
        await self.events.close()
        await self.acquirer.aclose()
        await self.bank.aclose()
        await self.bill_lookup.aclose()
        await self.biller_webhooks.aclose()
        await self.engine.dispose()


def build(settings: Settings, clock: Clock | None = None) -> Services:
    """Build the service's parts; nothing is connected until first used (or ``start``)."""
    clock = clock or SystemClock()
    engine = create_engine(settings)
    hub = events.Hub()
    doorbell = outbox.Doorbell()
    calendar = BusinessCalendar(ZoneInfo(settings.business_timezone))
    info = {**events.session_info(hub), **outbox.session_info(doorbell), **ledger.session_info(calendar)}
    units = UnitsOfWork(create_session_factory(engine, info))
    acquirer = wallet.CardAcquirer(settings.card_api_base, settings.card_secret_key)
    bank = wallet.BankPayouts(settings.bank_api_base, settings.bank_api_secret)
    # No proxies from the environment and no redirects: a notification goes to the URL the biller registered.
    biller_webhooks = httpx.AsyncClient(
        timeout=settings.biller_webhook_timeout_seconds, trust_env=False, verify=tls.client_context()
    )
    instructions = [*wallet.INSTRUCTION_KINDS, *qr.INSTRUCTION_KINDS, *billing.INSTRUCTION_KINDS]
    handlers = {
        wallet.CARD_CONFIRMATION: wallet.card_confirmation_handler(units, acquirer, clock),
        billing.WEBHOOK_KIND: billing.webhook_handler(units, biller_webhooks, clock),
        disbursement.PAYOUT_FILE_SEND: disbursement.payout_file_handler(units, bank, clock),
        # A citizen's new wallet: what a welfare programme holds for their citizen ID is paid to it.
        wallet.WALLET_OPENED: disbursement.wallet_opened_handler(units, settings, clock),
        **{kind.message: wallet.instruction_handler(units, bank, clock, kind) for kind in instructions},
    }
    policy = outbox.RetryPolicy(
        max_attempts=settings.outbox_max_attempts,
        base_seconds=settings.outbox_backoff_base_seconds,
        cap_seconds=settings.outbox_backoff_cap_seconds,
        lease_seconds=settings.outbox_lease_seconds,
        prompt_seconds=settings.outbox_prompt_seconds,
    )
    return Services(
        settings=settings,
        clock=clock,
        calendar=calendar,
        hasher=password_hasher(settings),
        engine=engine,
        events=hub,
        units=units,
        acquirer=acquirer,
        bank=bank,
        biller_webhooks=biller_webhooks,
        outbox=outbox.Dispatcher(units, handlers, clock, policy=policy, doorbell=doorbell),
        # Fee collections first, then bills: each claims only the references of its own prefix.
        claimants=[*qr.NOTIFICATION_CLAIMANTS, billing.notification_claimant(settings)],
        instructions=instructions,
        bill_lookup=billing.BillLookup(units, settings, clock),
        fee_book=qr.FEE_BOOK,
    )


@asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Services]:
    """The service's parts for a command's or a test's lifetime, closed after."""
    services = build(settings, clock)
    try:
        yield services
    finally:
        await services.close()
