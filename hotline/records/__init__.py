"""Consultation records (共通の相談記録票), who may see them, and the audit of every access
(to records and linkage cases alike).

    endpoints.py     HTTP (thin), with the route class, deps and documented errors shared
                     with hotline.cases (hotline.common.http); http.py: the linkage cases
                     wired in, as a dependency
    service.py       the rules: roles, organisations, consent, lists
    store.py         SQL (flush only), and re-sealing every stored text on key rotation
    export.py, cells.py   exports
    linkage.py       what records need of linkage cases (a protocol, handed in)
    models.py, schemas.py   ORM tables; API models
    cli.py           `hotline export`, `hotline records rotate-key`

Linkage cases opened by a record live beside it, in `hotline.cases`, which imports records and
never the other way round: `create_app` and the `hotline` command hand records the cases'
`Linkage` (`hotline.cases.service.LINKAGE`).

The audit log and the acting principal (`hotline.common.audit`) and the Fernet box for free
text (`hotline.common.crypto`) are shared with other rooms and live in `hotline.common`.
"""
