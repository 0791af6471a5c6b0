"""TLS for the clients of outside parties: the card acquirer, the bank, the billers' look-ups and webhooks."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    """httpx's own verification (its CA bundle, nothing from the environment), built once per process.

    A client given none builds its own from the CA bundle, 25 ms of CPU; the services have four clients and
    are built by every command and every test, so they share this one (a context is safe to share).
    """
    return httpx.create_ssl_context(trust_env=False)
