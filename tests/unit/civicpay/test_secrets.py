"""Properties of TOTP codes, access tokens and API keys."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from civicpay.auth.models import Role
from civicpay.auth.secrets import (
    API_KEY_PREFIX,
    TOTP_STEP_SECONDS,
    api_secret_matches,
    decode_access_token,
    issue_access_token,
    matching_totp_step,
    new_api_key,
    new_totp_secret,
    split_api_key,
)
from civicpay.settings import Settings

KEY = "unit-test-secret-key-long-enough-for-hs256"
# 160-bit seeds, as authenticator apps use (pyotp refuses fewer than 112 bits).
TOTP_SECRET = st.binary(min_size=20, max_size=20).map(lambda raw: base64.b32encode(raw).decode())
# Hypothesis takes naive bounds and attaches the time zone itself.
NOW = st.datetimes(
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def _code_at(secret: str, instant: datetime) -> str:
    """What an authenticator app shows at ``instant`` (pyotp's own clock arithmetic, not ours)."""
    return pyotp.TOTP(secret).at(instant)


def _step_of(instant: datetime) -> int:
    return int(instant.timestamp()) // TOTP_STEP_SECONDS


# ---------------------------------------------------------------- TOTP


@given(secret=TOTP_SECRET, now=NOW, drift=st.sampled_from([-1, 0, 1]))
def test_a_code_from_the_current_step_or_one_either_side_is_accepted(secret: str, now: datetime, drift: int) -> None:
    code = _code_at(secret, now + timedelta(seconds=drift * TOTP_STEP_SECONDS))
    step = matching_totp_step(secret, code, now=now)
    assert step is not None
    assert abs(step - _step_of(now)) <= 1
    # The step returned is one whose code this is (two steps can share a code, one time in a million).
    assert _code_at(secret, datetime.fromtimestamp(step * TOTP_STEP_SECONDS, UTC)) == code


@given(secret=TOTP_SECRET, now=NOW, drift=st.integers(2, 10_000), earlier=st.booleans())
def test_a_code_two_or_more_steps_away_is_refused(secret: str, now: datetime, drift: int, earlier: bool) -> None:
    offset = timedelta(seconds=(-drift if earlier else drift) * TOTP_STEP_SECONDS)
    code = _code_at(secret, now + offset)
    accepted_now = {_code_at(secret, now + timedelta(seconds=d * TOTP_STEP_SECONDS)) for d in (-1, 0, 1)}
    assume(code not in accepted_now)
    assert matching_totp_step(secret, code, now=now) is None


def test_drift_is_measured_in_whole_steps() -> None:
    secret = new_totp_secret()
    start_of_step = datetime.fromtimestamp(_step_of(datetime(2026, 11, 23, 3, tzinfo=UTC)) * 30, UTC)
    last_second = start_of_step + timedelta(seconds=29)
    previous = _code_at(secret, start_of_step - timedelta(seconds=1))
    # One second before the step began is still "one step back", even at the step's last second.
    assert matching_totp_step(secret, previous, now=last_second) == _step_of(start_of_step) - 1


@given(secret=TOTP_SECRET, now=NOW, code=st.text(max_size=10))
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code="12345")
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code="1234567")
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code="12345a")
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code=" 12345")
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code="")
def test_anything_but_six_ascii_digits_is_not_a_code(secret: str, now: datetime, code: str) -> None:
    assume(not re.fullmatch(r"[0-9]{6}", code))
    assert matching_totp_step(secret, code, now=now) is None


# str.isdigit() is true for these, and hmac.compare_digest refuses non-ASCII str: None, not an error.
@given(secret=TOTP_SECRET, now=NOW, code=st.from_regex(r"\d{6}", fullmatch=True).filter(lambda c: not c.isascii()))
@example(secret="JBSWY3DPEHPK3PXPJBSWY3DP", now=datetime(2026, 1, 1, tzinfo=UTC), code="²²²²²²")
@settings(max_examples=10)
def test_six_non_ascii_digits_are_not_a_code(secret: str, now: datetime, code: str) -> None:
    assert matching_totp_step(secret, code, now=now) is None


# ---------------------------------------------------------------- access tokens

SUBJECT = st.integers(1, 2**63 - 1)
ROLE = st.sampled_from(list(Role))
TTL = st.integers(1, 30 * 24 * 3600)


def _settings(ttl: int = 3600, key: str = KEY) -> Settings:
    return Settings(
        env="test",
        secret_key=key,
        bank_webhook_secret="unused",
        bank_api_secret="unused",
        card_secret_key="unused",
        card_webhook_secret="unused",
        access_token_ttl_seconds=ttl,
    )


def _forge(claims: dict[str, Any], *, key: str = KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@given(subject=SUBJECT, role=ROLE, now=NOW, ttl=TTL)
def test_a_token_decodes_to_the_subject_and_role_it_was_issued_for(
    subject: int, role: Role, now: datetime, ttl: int
) -> None:
    issued = issue_access_token(_settings(ttl), subject=subject, role=role.value, now=now)
    claims = decode_access_token(_settings(ttl), issued.token, now=now)
    assert claims is not None
    assert (claims["sub"], claims["role"]) == (str(subject), role.value)
    assert issued.expires_in == ttl


@given(subject=SUBJECT, role=ROLE, now=NOW, ttl=TTL, data=st.data())
def test_a_token_is_valid_until_its_time_to_live_has_passed_by_the_given_clock(
    subject: int, role: Role, now: datetime, ttl: int, data: st.DataObject
) -> None:
    token = issue_access_token(_settings(ttl), subject=subject, role=role.value, now=now).token
    within = data.draw(st.integers(0, ttl - 1), label="seconds after issue")
    after = data.draw(st.integers(ttl, ttl + 10 * 365 * 24 * 3600), label="seconds after issue")
    assert decode_access_token(_settings(ttl), token, now=now + timedelta(seconds=within)) is not None
    assert decode_access_token(_settings(ttl), token, now=now + timedelta(seconds=after)) is None


@given(subject=SUBJECT, role=ROLE, now=NOW, other_key=st.text(min_size=32, max_size=64).filter(lambda k: k != KEY))
def test_a_token_signed_with_another_key_is_refused(subject: int, role: Role, now: datetime, other_key: str) -> None:
    token = issue_access_token(_settings(key=other_key), subject=subject, role=role.value, now=now).token
    assert decode_access_token(_settings(), token, now=now) is None


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _with_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{header}.{body}.{signature}"


@given(subject=SUBJECT, now=NOW, claim=st.sampled_from(["sub", "role", "exp", "iat", "iss"]), data=st.data())
def test_a_token_whose_claims_were_changed_is_refused(
    subject: int, now: datetime, claim: str, data: st.DataObject
) -> None:
    token = issue_access_token(_settings(), subject=subject, role=Role.CITIZEN.value, now=now).token
    payload = _payload(token)
    changed = {
        "sub": str(subject + 1),
        "role": Role.ADMIN.value,
        "exp": payload["exp"] + 3600,
        "iat": payload["iat"] - 1,
        "iss": "someone-else",
    }[claim]
    tampered = _with_payload(token, {**payload, claim: changed})
    assert decode_access_token(_settings(), tampered, now=now) is None
    # Flipping the signature's first character always changes its bytes (it carries 6 whole bits).
    header, body, signature = token.split(".")
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    assume(replacement != signature[0])
    assert decode_access_token(_settings(), f"{header}.{body}.{replacement}{signature[1:]}", now=now) is None


@given(subject=SUBJECT, role=ROLE, now=NOW)
def test_unsigned_or_incomplete_tokens_are_refused(subject: int, role: Role, now: datetime) -> None:
    exp = int(now.timestamp()) + 3600
    claims = {"sub": str(subject), "role": role.value, "iat": int(now.timestamp()), "exp": exp, "iss": "civicpay"}
    assert decode_access_token(_settings(), _forge(claims), now=now) is not None  # the control
    assert decode_access_token(_settings(), _forge(claims, algorithm="none", key=""), now=now) is None
    for missing in ("sub", "role", "exp", "iat", "iss"):
        incomplete = {name: value for name, value in claims.items() if name != missing}
        assert decode_access_token(_settings(), _forge(incomplete), now=now) is None


@given(st.text() | st.from_regex(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*", fullmatch=True))
@example("")
@example("..")
@example("Bearer x.y.z")
def test_garbage_is_not_a_token_and_does_not_raise(token: str) -> None:
    assert decode_access_token(_settings(), token, now=datetime(2026, 11, 23, tzinfo=UTC)) is None


# ---------------------------------------------------------------- API keys

KEY_ID = st.text(st.characters(blacklist_characters="_"), min_size=1, max_size=20)
KEY_SECRET = st.text(min_size=1, max_size=60)


def test_a_new_api_key_splits_into_its_id_and_a_secret_that_matches_its_hash() -> None:
    for _ in range(50):  # token_urlsafe secrets often contain "_" themselves
        key = new_api_key()
        assert key.plaintext.startswith(f"{API_KEY_PREFIX}_{key.key_id}_")
        parts = split_api_key(key.plaintext)
        assert parts is not None
        key_id, secret = parts
        assert key_id == key.key_id
        assert api_secret_matches(secret, key.secret_sha256)
        assert key.secret_sha256 != secret


@given(key_id=KEY_ID, secret=KEY_SECRET)
@example(key_id="a1b2c3", secret="with_underscores_inside")
def test_splitting_finds_the_id_and_the_secret_again(key_id: str, secret: str) -> None:
    assert split_api_key(f"{API_KEY_PREFIX}_{key_id}_{secret}") == (key_id, secret)


@given(st.text())
@example("cpk__secret")
@example("cpk_id_")
@example("cpk_id")
@example("CPK_id_secret")
@example("xcpk_id_secret")
def test_a_presented_key_without_the_prefix_an_id_and_a_secret_is_not_split(presented: str) -> None:
    parts = split_api_key(presented)
    well_formed = re.fullmatch(rf"{API_KEY_PREFIX}_([^_]+)_(.+)", presented, flags=re.DOTALL)
    assert parts == ((well_formed[1], well_formed[2]) if well_formed else None)


@given(other=KEY_SECRET)
def test_only_the_issued_secret_matches(other: str) -> None:
    key = new_api_key()
    _, secret = split_api_key(key.plaintext) or ("", "")
    assume(other != secret)
    assert not api_secret_matches(other, key.secret_sha256)
