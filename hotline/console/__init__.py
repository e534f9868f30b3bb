"""The web console: server-rendered pages for counsellors, coordinators and operators.

Accounts and their passwords are `hotline.auth`'s; here are the pages, forms, templates and the
signed session cookie that says who is logged in.
"""
