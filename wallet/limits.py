"""Pure limit rules, so they can be tested on their own and explained in the error."""

from __future__ import annotations

from dataclasses import dataclass

from civicpay.errors import Text
from civicpay.money import CAP_EXEMPT, Category, format_vnd
from civicpay.settings import Settings
from wallet.errors import MonthlyLimitExceeded, StepUpRequired


@dataclass(frozen=True, slots=True)
class Spending:
    """What a wallet has already sent: this month (cap-counted only) and today (everything)."""

    month_capped_vnd: int
    day_total_vnd: int


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    monthly_cap_vnd: int
    stepup_single_vnd: int
    stepup_daily_vnd: int

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitPolicy:
        return cls(settings.monthly_cap_vnd, settings.stepup_single_vnd, settings.stepup_daily_vnd)

    def month_remaining_vnd(self, spent: Spending) -> int:
        return max(self.monthly_cap_vnd - spent.month_capped_vnd, 0)

    def day_remaining_before_step_up_vnd(self, spent: Spending) -> int:
        return max(self.stepup_daily_vnd - spent.day_total_vnd, 0)

    def check_monthly_cap(self, spent: Spending, amount_vnd: int, category: Category) -> None:
        if category in CAP_EXEMPT:
            return
        remaining = self.month_remaining_vnd(spent)
        if amount_vnd > remaining:
            raise MonthlyLimitExceeded(
                Text(
                    f"Hạn mức tháng {format_vnd(self.monthly_cap_vnd)}, còn lại {format_vnd(remaining)}.",
                    f"The monthly limit is {format_vnd(self.monthly_cap_vnd)}; {format_vnd(remaining)} is left.",
                ),
                field="amount_vnd",
                limit="monthly_cap",
                limit_vnd=self.monthly_cap_vnd,
                remaining_vnd=remaining,
            )

    def step_up_reason(self, spent: Spending, amount_vnd: int) -> StepUpRequired | None:
        """The reason this transfer needs an OTP, or None if it does not."""
        if amount_vnd > self.stepup_single_vnd:
            return StepUpRequired(
                Text(
                    f"Giao dịch trên {format_vnd(self.stepup_single_vnd)} cần mã OTP.",
                    f"A transfer above {format_vnd(self.stepup_single_vnd)} needs an OTP code.",
                ),
                field="header.X-OTP",
                limit="single_transfer",
                limit_vnd=self.stepup_single_vnd,
            )
        remaining = self.day_remaining_before_step_up_vnd(spent)
        if amount_vnd > remaining:
            return StepUpRequired(
                Text(
                    f"Tổng giao dịch trong ngày vượt {format_vnd(self.stepup_daily_vnd)} cần mã OTP;"
                    f" còn {format_vnd(remaining)} không cần OTP.",
                    f"Today's total above {format_vnd(self.stepup_daily_vnd)} needs an OTP code;"
                    f" {format_vnd(remaining)} can still go without one.",
                ),
                field="header.X-OTP",
                limit="daily_total",
                limit_vnd=self.stepup_daily_vnd,
                remaining_vnd=remaining,
            )
        return None
