"""Settings of the peer: django-webhook on PostgreSQL and Redis, both loopback.

``bench.services`` gives the peer its own database in the benchmark's
PostgreSQL cluster (``DATABASE_URL``) and its own database number in the
benchmark's Redis (``REDIS_URL``), and sets ``PYTHONPATH`` to ``bench/peer``.
The values below are those of a deployment that wants speed: no debug, no
middleware that the API has no use for, database connections kept.
"""

import os
from urllib.parse import urlsplit

_database = urlsplit(os.environ["DATABASE_URL"])

SECRET_KEY = "bench-peer-only-on-loopback"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["django_webhook", "model_status"]
# A JSON API for machines: no sessions, users, CSRF tokens or redirects.
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "peer_site.urls"
WSGI_APPLICATION = "peer_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _database.path.lstrip("/"),
        "USER": _database.username,
        "HOST": _database.hostname,
        "PORT": _database.port,
        # Each thread keeps its connection from request to request.
        "CONN_MAX_AGE": 60,
    },
}

DJANGO_WEBHOOK = {"MODELS": ["model_status.ModelVersion"]}

CELERY_BROKER_URL = os.environ["REDIS_URL"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes a thread's database connections before and
# after every task unless this is set. A PostgreSQL session per delivery cost
# the peer about a quarter of its rate (1,000 W1 events, psycopg 3: 86-90/s
# against 106-141/s); Django's own pool (psycopg 3) gave 109-117/s, with more
# CPU per request in both processes than connections kept.
CELERY_DB_REUSE_MAX = 1000
