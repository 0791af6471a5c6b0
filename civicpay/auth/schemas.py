"""The shapes of sign-in, TOTP and admin requests and answers."""

from __future__ import annotations

from typing import Annotated

import msgspec

from civicpay.auth.models import Role

PhoneText = Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["0912345678"])]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# Lengths as well as patterns: Python's `$` also matches before a final newline.
OtpCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", min_length=6, max_length=6, examples=["123456"])]


class LoginCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: PhoneText
    password: Password
    otp: OtpCode | None = None


class Token(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "bearer"


class Me(msgspec.Struct):
    id: int
    role: Role
    name: str
    phone: str | None
    totp_enabled: bool


class TotpEnrolmentCreate(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class TotpEnrolment(msgspec.Struct):
    provisioning_uri: str
    # Only in this answer, after the password was checked: the seed is never served again.
    qr_png_base64: Annotated[str, msgspec.Meta(description="PNG of the provisioning URI, base64")]


class TotpConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: OtpCode


class TotpStatus(msgspec.Struct):
    totp_enabled: bool


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: PhoneText
    full_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    password: Password
    role: Role
    citizen_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{12}$", min_length=12, max_length=12)] | None = None


class Staff(msgspec.Struct):
    id: int
    phone: str
    full_name: str
    role: Role


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ApiKeyIssued(msgspec.Struct):
    id: int
    name: str
    role: Role
    api_key: Annotated[str, msgspec.Meta(description="Shown once; send it as the X-API-Key header.")]
