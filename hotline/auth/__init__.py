"""Who is asking: organisation-scoped API keys and console accounts, each with a role.

    models.py     ApiKey (stored as SHA-256), ConsoleUser (password as argon2id); Role
    store.py      API keys: create, find, list, revoke
    accounts.py   console accounts: create, check a password, lock out after failures
    deps.py       the `Principal` dependency of the API (Bearer key)
    cli.py        `hotline keys ...`, `hotline users create`

The console's session cookie, and who is logged in with it, stay in `hotline.console.web`.
"""
