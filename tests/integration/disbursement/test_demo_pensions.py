"""The demo's pensions (README walkthrough): seeded once, its batch file validated into the report the walkthrough
shows, and the approver's written-down TOTP seed the one the server checks."""

from __future__ import annotations

from pathlib import Path

import pyotp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import User
from civicpay.bootstrap import Services
from civicpay.demo import DEMO_CHECKER, DEMO_PENSION, seed_demo, seed_pensions, write_demo_files
from disbursement import batches, programmes
from disbursement.models import Programme


async def test_the_demo_seeds_a_funded_pension_programme_once_and_its_file_validates_as_the_walkthrough_says(
    services: Services, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    settings, clock = services.settings, services.clock
    async with sessions.begin() as session:
        assert await seed_demo(session, settings, services.hasher, clock)
        assert await seed_pensions(session, settings, services.hasher, clock)
    async with sessions.begin() as session:
        again = await seed_pensions(session, settings, services.hasher, clock)
        people = await session.scalar(select(func.count()).select_from(User))
    files = write_demo_files(settings, tmp_path)
    written = {path: path.read_bytes() for path in files}
    write_demo_files(settings, tmp_path)

    async with sessions.begin() as session:
        programme = await session.scalar(select(Programme).where(Programme.name == DEMO_PENSION.name))
        assert programme is not None
        (listed,) = await programmes.list_all(session)
        rows = batches.read_file(files[0].read_bytes(), files[0].name, programme.max_amount_vnd)
        batch = await batches.validate(
            session, programme, rows, file_name=files[0].name, officer_id=programme.created_by, now=clock.now()
        )
        report = await batches.view(session, batch)
        checker = await session.scalar(select(User).where(User.phone == f"+84{DEMO_CHECKER.phone[1:]}"))
    uri = (tmp_path / f"totp-{DEMO_CHECKER.phone}.txt").read_text().strip()

    assert not again
    assert people == 8 + 2 + 27  # the demo's people and merchant, the two approvers, the pensioners: none twice
    assert {path: path.read_bytes() for path in files} == written
    assert (listed.kind, listed.funded_vnd, listed.available_vnd) == ("pension", 5_000_000_000, 5_000_000_000)
    assert (report.rows, report.valid, report.invalid) == (31, 29, 2)
    assert [(row.row, [problem.code for problem in row.problems]) for row in report.report] == [
        (9, ["amount_malformed"]),
        (32, ["citizen_unknown"]),
    ]
    assert checker is not None
    assert pyotp.parse_uri(uri).secret == checker.totp_secret
