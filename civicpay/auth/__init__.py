"""People, roles, passwords, tokens, TOTP and API keys; domains use it to know who is calling."""
