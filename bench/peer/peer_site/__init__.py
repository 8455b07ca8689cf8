"""The Django project of the benchmark's peer: django-webhook, sending with Celery.

The Celery application is made here so that the web processes, which only
publish ``fire_webhook`` tasks, publish them to the configured broker too.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
