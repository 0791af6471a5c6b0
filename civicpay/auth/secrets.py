"""Passwords (argon2id), access tokens (JWT), TOTP codes (pyotp) and API keys.

Everything secret is compared in constant time, and nothing here logs a secret.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt
import pyotp
import qrcode
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from civicpay.settings import Settings

TOTP_ISSUER = "civicpay"
TOTP_STEP_SECONDS = 30


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Argon2 costs tens of milliseconds by design; it runs in a worker thread (argon2-cffi releases the
# GIL) so that one sign-in does not stall every other request on the event loop.
async def hash_password(hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def password_matches(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, hasher, stored_hash, password)


async def spend_like_a_verification(hasher: PasswordHasher, password: str) -> None:
    """Verify against a decoy, so a login for an unknown phone takes as long as a wrong password."""
    await password_matches(hasher, _decoy_hash(hasher.time_cost, hasher.memory_cost), password)


@functools.cache
def _decoy_hash(time_cost: int, memory_cost: int) -> str:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost).hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


def issue_access_token(settings: Settings, *, subject: int, role: str, now: datetime) -> AccessToken:
    claims = {
        "sub": str(subject),
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
        "iss": TOTP_ISSUER,
    }
    return AccessToken(jwt.encode(claims, settings.secret_key, algorithm="HS256"), settings.access_token_ttl_seconds)


def decode_access_token(settings: Settings, token: str, *, now: datetime) -> Mapping[str, Any] | None:
    """The token's claims, or None if it is forged, expired or malformed."""
    if len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        claims = _verified_claims(settings.secret_key, token)
    except jwt.PyJWTError:
        return None
    # Time is judged by the injected clock, not the machine's: tests move it, and PyJWT's own
    # "issued in the future" check would refuse tokens from a server whose clock runs ahead.
    return claims if claims["exp"] > now.timestamp() else None


# Ours are about 200 characters; anything much longer is not one of ours and is not worth decoding.
MAX_TOKEN_CHARS = 1024


# A signed-in app sends the same token with every request for its whole life; checking its
# signature and shape once per process (keyed by the signing key too) saves PyJWT's work, about a
# tenth of a transfer's CPU. Expiry is still judged on every request, above. Only verified tokens
# are kept (lru_cache does not keep a call that raised), so forged ones cannot crowd them out.
@functools.lru_cache(maxsize=16_384)
def _verified_claims(secret_key: str, token: str) -> Mapping[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        secret_key,
        algorithms=["HS256"],
        issuer=TOTP_ISSUER,
        options={"require": ["sub", "role", "exp", "iat"], "verify_exp": False, "verify_iat": False},
    )
    return MappingProxyType(claims)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=TOTP_ISSUER)


def totp_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_STEP_SECONDS


def matching_totp_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step whose code this is, allowing one step of clock drift either way."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp_step(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def qr_png(data: str) -> bytes:
    image = qrcode.make(data, error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


API_KEY_PREFIX = "cpk"


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    secret_sha256: str
    plaintext: str


def new_api_key() -> NewApiKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key_id, _sha256(secret), f"{API_KEY_PREFIX}_{key_id}_{secret}")


def split_api_key(presented: str) -> tuple[str, str] | None:
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def api_secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(_sha256(secret), stored_sha256)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sign_body(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of a webhook body, hex: what a sender puts in ``X-Signature``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, presented: str | None) -> bool:
    # compare_digest refuses non-ASCII str with a TypeError: such a header is simply not a signature.
    return (
        presented is not None
        and presented.isascii()
        and hmac.compare_digest(sign_body(secret, body), presented.strip().lower())
    )
