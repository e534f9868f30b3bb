"""Test and benchmark support: not service code, never imported by it.

What `tests/` and `bench/` both need lives here once: fresh databases migrated with Alembic
(`databases`), `hotline serve` as a subprocess on a free port, waited for until ready
(`servers`), requests signed as Twilio signs them (`twilio_requests`), stored call rows
(`rows`), and the figures the benchmarks print (`measure`).

Why inside the installed package rather than beside the tests: the benchmarks are plain
scripts (`python bench/webhooks.py`), and the installed `hotline` package is the one import
path that they and pytest share without editing `sys.path` or packaging a second top-level
package. Service code never imports it (an import-linter contract in pyproject.toml), so the
service runs the same with or without it, and it depends only on the service's own
dependencies.
"""
