# The #9999 hotline call router: `hotline migrate`, then `hotline serve` on port 8000.
#
#   scripts/image                  # docker build, or podman build --format docker
#   docker build -t hotline .      # the same by hand (podman: add --format docker, or the
#                                  # HEALTHCHECK below is dropped from the image)
#   docker run -p 8000:8000 \
#     -e HOTLINE_DATABASE_URL=postgresql+asyncpg://user:password@db:5432/hotline \
#     -e HOTLINE_PUBLIC_URL=https://hotline.example.jp \
#     -e TWILIO_AUTH_TOKEN=... -e HOTLINE_CALLER_HASH_SECRET=... \
#     -e HOTLINE_RECORDS_KEYS=... -e HOTLINE_SESSION_SECRET=... \
#     -e HOTLINE_METRICS_TOKEN=... -e HOTLINE_LOG_FORMAT=json hotline
#
# HOTLINE_LOG_FORMAT=json: one JSON object per log line, for a log collector (the default,
# text, reads better in a terminal); see docs/configuration.md#logs.
#
# In production these MUST be set (the image runs with HOTLINE_ENV=production, which refuses
# to start without its secrets):
#   HOTLINE_PUBLIC_URL          the https URL Twilio requests; signatures are checked over it,
#                               so without it every webhook is refused (403)
#   TWILIO_AUTH_TOKEN           the Twilio account's auth token (checks X-Twilio-Signature)
#   HOTLINE_CALLER_HASH_SECRET  the secret callers' numbers are hashed with
# as well as every other setting production requires (HOTLINE_RECORDS_KEYS,
# HOTLINE_SESSION_SECRET, HOTLINE_METRICS_TOKEN, TWILIO_ACCOUNT_SID, HOTLINE_DATABASE_URL
# (PostgreSQL: the default is an SQLite file in the container), HOTLINE_FORWARDED_ALLOW_IPS
# (the TLS proxy's addresses), and a menus.yaml with `staffing.by_schedule: false` mounted
# at HOTLINE_CONFIG_PATH): `hotline` names everything missing in one message and exits
# (docs/configuration.md, "Production start"). To try the image locally: -e HOTLINE_ENV=development, which
# generates random secrets into /app/var/secrets on first start (no secret has a default).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# A non-root user with a numeric id (so Kubernetes' runAsNonRoot can verify it).
RUN groupadd --system --gid 10001 hotline \
    && useradd --system --uid 10001 --gid hotline --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin hotline

# The dependencies exactly as locked (versions and hashes: requirements.lock, made by
# scripts/lock from pyproject.toml: the service's and the charts extra, for the console's
# report charts), then the project itself without resolving anything again.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml ./
COPY hotline ./hotline
RUN pip install --no-deps . && rm -rf build ./*.egg-info

COPY config ./config
COPY migrations ./migrations
COPY alembic.ini ./

# hotline finds alembic.ini, migrations/ and config/ next to its package directory, and its
# console templates inside it; none of them is installed into site-packages by `pip install .`.
# So the package is imported from /app (PYTHONPATH); pip installed its dependencies.
# var/ holds the SQLite database when no HOTLINE_DATABASE_URL is given; only it is writable.
RUN mkdir -p /app/var && chown hotline:hotline /app/var
ENV PYTHONPATH=/app \
    HOTLINE_ENV=production \
    HOTLINE_CONFIG_PATH=/app/config/menus.yaml

USER 10001:10001
EXPOSE 8000

# Kept in every build: Docker's format has it; OCI's (podman's default) has no field for it,
# so scripts/image builds with podman's --format docker (tests/unit/test_dependencies.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# exec: `hotline serve` replaces the shell as PID 1 and gets SIGTERM for a clean shutdown.
CMD ["sh", "-c", "hotline migrate && exec hotline serve --host 0.0.0.0 --port 8000"]
