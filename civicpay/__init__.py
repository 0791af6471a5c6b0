"""civicpay: the service shell and the leaf modules every domain stands on."""
