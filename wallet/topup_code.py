"""Top-up codes: the reference a citizen types into a bank transfer's description to fill their wallet.

``NAP`` + the wallet id in six base-36 characters + a check character (``civicpay.reference_codes``),
for example ``NAP00001YA``. A random word decodes to a wallet id far beyond any that exists.
"""

from __future__ import annotations

from civicpay.reference_codes import ReferenceScheme

TOPUP = ReferenceScheme("NAP", 6)
encode = TOPUP.encode
decode = TOPUP.decode
find = TOPUP.find
