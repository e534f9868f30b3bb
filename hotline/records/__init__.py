"""Consultation records (共通の相談記録票), linkage cases (つなぎ支援), who may see them, and
the audit of every access.

    endpoints.py, case_endpoints.py   HTTP (thin); http.py: shared route class, deps, errors
    service.py, cases.py              the rules: roles, organisations, consent, lists
    store.py, audit.py                SQL (flush only); audit.py also the acting principal
    crypto.py                         the Fernet box for free text; export.py, cells.py: exports
    models.py, schemas.py             ORM tables; API models
    cli.py                            `hotline export`, `hotline records rotate-key`
"""
