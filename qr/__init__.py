"""VietQR: the NAPAS codec, and (later) counter fee collections, merchants and pay-by-scan."""
