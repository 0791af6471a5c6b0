"""The outside world, for development and tests: fakes of the parties civicpay talks to.

Our real client code runs against these over real sockets, as it would against the parties
themselves: the bank (``bank``: name inquiries, payouts and their callbacks, and the signed
incoming-transfer notifications of ``bank_notifications``) and the card acquirer (``card``:
localstripe, a stateful Stripe-API server) and the billers' systems (``billers``: an electricity
company, a water company and a school answering look-ups and receiving webhooks). The State Treasury
(KBNN) joins them here as its room is built.

``make run`` and the tests start them; ``civicpay-sandbox`` (or ``python -m sandbox``) is their
command line. The sandbox may use production code (to find a wallet's top-up code, say), but no
production room imports it: import-linter enforces that in ``make lint``. Every server here listens
on 127.0.0.1 only.
"""

# The only address a sandbox server binds: a fake bank or acquirer must never be reachable from the network.
LOOPBACK = "127.0.0.1"
