"""Linkage cases (つなぎ支援): opened by a record that needs linkage, worked by coordinators
across organisations.

    endpoints.py     HTTP (thin), with the route class and dependencies it shares with
                     records (hotline.common.http)
    service.py       the rules: who works cases, the configured lists, opening a case;
                     LINKAGE, what records ask of cases (`hotline.records.linkage`)
    store.py         SQL (flush only)
    models.py, schemas.py   ORM tables (`linkage_cases`, `linkage_actions`); API models

This package imports `hotline.records`, never the other way round. Reads and changes are
audited in the shared audit log (`hotline.common.audit`); notes are sealed with the records'
box (`hotline.common.crypto`).
"""
