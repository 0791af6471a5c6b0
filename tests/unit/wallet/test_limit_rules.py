"""Properties of the wallet's limit rules (Circular 40/2024 monthly cap, Decision 2345 step-up).

Every boundary is inclusive: a transfer that brings the total exactly to a limit is allowed, one
đồng more is refused or needs the OTP.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from civicpay.money import CAP_EXEMPT, Category
from civicpay.settings import Settings
from wallet.errors import MonthlyLimitExceeded
from wallet.limits import LimitPolicy, Spending

DEFAULTS = LimitPolicy.from_settings(
    Settings(
        secret_key="unit-test",
        bank_webhook_secret="unused",
        bank_api_secret="unused",
        card_secret_key="unused",
        card_webhook_secret="unused",
    )
)
CAP, SINGLE, DAILY = DEFAULTS.monthly_cap_vnd, DEFAULTS.stepup_single_vnd, DEFAULTS.stepup_daily_vnd

VND = st.integers(0, 10 * CAP)
AMOUNT = st.integers(1, 10 * CAP)
EXEMPT = st.sampled_from(sorted(CAP_EXEMPT))
COUNTED = st.sampled_from(sorted(set(Category) - CAP_EXEMPT))
POLICY = st.builds(
    LimitPolicy,
    monthly_cap_vnd=st.integers(1, 10**12),
    stepup_single_vnd=st.integers(1, 10**11),
    stepup_daily_vnd=st.integers(1, 10**11),
)


def _refused(policy: LimitPolicy, spent: Spending, amount_vnd: int, category: Category) -> bool:
    try:
        policy.check_monthly_cap(spent, amount_vnd, category)
    except MonthlyLimitExceeded:
        return True
    return False


def test_the_defaults_are_the_figures_of_the_circular_and_the_decision() -> None:
    assert (CAP, SINGLE, DAILY) == (100_000_000, 10_000_000, 20_000_000)


@given(policy=POLICY, month=VND, day=VND, amount=AMOUNT, category=EXEMPT)
@example(policy=DEFAULTS, month=CAP, day=0, amount=CAP, category=Category.ELECTRICITY)
@example(policy=DEFAULTS, month=10 * CAP, day=0, amount=1, category=Category.TUITION)
def test_exempt_categories_are_never_refused_by_the_cap(
    policy: LimitPolicy, month: int, day: int, amount: int, category: Category
) -> None:
    policy.check_monthly_cap(Spending(month, day), amount, category)


@given(policy=POLICY, month=VND, day=VND, category=COUNTED)
def test_the_cap_allows_exactly_what_is_left_and_refuses_one_dong_more(
    policy: LimitPolicy, month: int, day: int, category: Category
) -> None:
    spent = Spending(month, day)
    left = policy.monthly_cap_vnd - month
    if left >= 1:
        assert not _refused(policy, spent, left, category)
    assert _refused(policy, spent, max(left, 0) + 1, category)


@pytest.mark.parametrize(
    ("month_vnd", "amount_vnd", "refused"),
    [
        (0, CAP, False),
        (0, CAP + 1, True),
        (CAP - 1, 1, False),
        (CAP - 1, 2, True),
        (CAP, 1, True),
        (60_000_000, 40_000_000, False),
        (60_000_000, 40_000_001, True),
    ],
)
def test_the_monthly_cap_of_one_hundred_million(month_vnd: int, amount_vnd: int, refused: bool) -> None:
    assert _refused(DEFAULTS, Spending(month_vnd, 0), amount_vnd, Category.P2P) == refused


@given(policy=POLICY, month=VND, amount=AMOUNT, category=COUNTED)
def test_a_refusal_says_the_cap_and_what_is_left(
    policy: LimitPolicy, month: int, amount: int, category: Category
) -> None:
    if not _refused(policy, Spending(month, 0), amount, category):
        return
    with pytest.raises(MonthlyLimitExceeded) as refusal:
        policy.check_monthly_cap(Spending(month, 0), amount, category)
    assert refusal.value.extra["limit_vnd"] == policy.monthly_cap_vnd
    assert refusal.value.extra["remaining_vnd"] == max(policy.monthly_cap_vnd - month, 0)
    assert refusal.value.extra["remaining_vnd"] < amount
    assert refusal.value.field == "amount_vnd"


@given(policy=POLICY, month=VND, day=VND, amount=st.integers(2, 10 * CAP), category=COUNTED)
def test_if_an_amount_passes_the_cap_every_smaller_one_does(
    policy: LimitPolicy, month: int, day: int, amount: int, category: Category
) -> None:
    spent = Spending(month, day)
    if not _refused(policy, spent, amount, category):
        assert not _refused(policy, spent, amount - 1, category)


@given(policy=POLICY, day=VND)
def test_a_single_transfer_needs_an_otp_only_above_the_single_threshold(policy: LimitPolicy, day: int) -> None:
    # With no spending today, only the single-transfer rule can apply below the daily threshold.
    roomy = Spending(0, 0)
    at = policy.stepup_single_vnd
    if at <= policy.stepup_daily_vnd:
        assert policy.step_up_reason(roomy, at) is None
    over = policy.step_up_reason(Spending(0, day), at + 1)
    assert over is not None
    assert over.extra["limit"] == "single_transfer"
    assert over.extra["limit_vnd"] == policy.stepup_single_vnd


@given(policy=POLICY, day=VND)
def test_the_days_total_may_reach_the_daily_threshold_but_not_pass_it(policy: LimitPolicy, day: int) -> None:
    left = policy.stepup_daily_vnd - day
    if 1 <= left <= policy.stepup_single_vnd:
        assert policy.step_up_reason(Spending(0, day), left) is None
    one_more = max(left, 0) + 1
    if one_more <= policy.stepup_single_vnd:
        reason = policy.step_up_reason(Spending(0, day), one_more)
        assert reason is not None
        assert reason.extra["limit"] == "daily_total"
        assert reason.extra["remaining_vnd"] == max(left, 0)


@pytest.mark.parametrize(
    ("day_vnd", "amount_vnd", "limit"),
    [
        (0, SINGLE, None),
        (0, SINGLE + 1, "single_transfer"),
        (DAILY - SINGLE, SINGLE, None),  # 10M today, 10M more: exactly 20M
        (DAILY - SINGLE, SINGLE + 1, "single_transfer"),
        (DAILY - SINGLE + 1, SINGLE, "daily_total"),
        (DAILY, 1, "daily_total"),
        (DAILY - 1, 1, None),
        (3 * DAILY, 1, "daily_total"),
    ],
)
def test_the_step_up_thresholds_of_ten_and_twenty_million(day_vnd: int, amount_vnd: int, limit: str | None) -> None:
    reason = DEFAULTS.step_up_reason(Spending(0, day_vnd), amount_vnd)
    assert (reason.extra["limit"] if reason is not None else None) == limit


@given(policy=POLICY, month=VND, day=VND, amount=st.integers(2, 10 * CAP))
def test_if_an_amount_needs_no_otp_neither_does_a_smaller_one(
    policy: LimitPolicy, month: int, day: int, amount: int
) -> None:
    spent = Spending(month, day)
    if policy.step_up_reason(spent, amount) is None:
        assert policy.step_up_reason(spent, amount - 1) is None


@given(policy=POLICY, month=VND, day=VND, amount=AMOUNT)
def test_step_up_depends_on_today_not_on_the_month(policy: LimitPolicy, month: int, day: int, amount: int) -> None:
    with_month = policy.step_up_reason(Spending(month, day), amount)
    without = policy.step_up_reason(Spending(0, day), amount)
    assert (with_month is None) == (without is None)


@given(policy=POLICY, month=VND, day=VND)
def test_what_is_left_is_never_negative_and_spending_it_reaches_the_limit(
    policy: LimitPolicy, month: int, day: int
) -> None:
    spent = Spending(month, day)
    month_left, day_left = policy.month_remaining_vnd(spent), policy.day_remaining_before_step_up_vnd(spent)
    assert month_left >= 0
    assert day_left >= 0
    assert month + month_left == max(month, policy.monthly_cap_vnd)
    assert day + day_left == max(day, policy.stepup_daily_vnd)
