"""The Celery application of the peer's worker, configured from Django's settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_site.settings")

app = Celery("peer_site")
# Every CELERY_* setting of settings.py, with the prefix taken off.
app.config_from_object("django.conf:settings", namespace="CELERY")
# django_webhook.tasks, where fire_webhook lives.
app.autodiscover_tasks()
