"""Why a sign-in, an OTP or an access check failed."""

from __future__ import annotations

from civicpay.errors import Conflict, DomainError, Text


class ProofNeeded(DomainError):
    """A refusal the caller can cure by proving who they are and sending the same request again."""

    replayable = False


class InvalidCredentials(ProofNeeded):
    code = "invalid_credentials"
    status = 401
    title = Text("Số điện thoại hoặc mật khẩu không đúng", "Wrong phone number or password")


class Locked(ProofNeeded):
    code = "locked"
    status = 429
    title = Text("Tạm khoá do nhập sai nhiều lần", "Temporarily locked after repeated failures")


class SlowedDown(Locked):
    """Not locked yet: after several wrong passwords the next try must wait a few seconds (Retry-After)."""

    code = "sign_in_slowed_down"
    title = Text("Đã nhập sai nhiều lần, vui lòng chờ rồi thử lại", "Several wrong attempts; wait, then try again")


class OtpRequired(ProofNeeded):
    code = "otp_required"
    status = 401
    title = Text("Cần mã OTP từ ứng dụng xác thực", "An OTP code from your authenticator app is required")


class OtpInvalid(ProofNeeded):
    code = "otp_invalid"
    status = 401
    title = Text("Mã OTP không đúng hoặc đã hết hạn", "The OTP code is wrong or expired")


class OtpReplayed(ProofNeeded):
    code = "otp_replayed"
    status = 401
    title = Text("Mã OTP này đã được dùng, hãy chờ mã mới", "This OTP code was already used; wait for the next one")


class TotpNotEnrolled(ProofNeeded):
    code = "totp_not_enrolled"
    status = 403
    title = Text("Chưa đăng ký xác thực OTP", "TOTP is not set up for this account")


class TotpAlreadyEnrolled(Conflict):
    code = "totp_already_enrolled"
    title = Text("Đã đăng ký xác thực OTP", "TOTP is already set up")


class TotpEnrolmentNotStarted(Conflict):
    code = "totp_enrolment_not_started"
    title = Text("Chưa bắt đầu đăng ký OTP", "TOTP enrolment has not been started")


class AlreadyRegistered(Conflict):
    code = "already_registered"
    title = Text("Đã được đăng ký", "Already registered")
