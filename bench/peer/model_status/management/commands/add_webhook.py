"""``django-admin add_webhook URL``: subscribe URL to every save of a ModelVersion.

What django-webhook's quick start does in a shell, plus a signing secret, as
modelhooks signs every delivery too. The topics exist once the app has
started after ``migrate`` (django_webhook's ``ready`` makes them).
"""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django_webhook.models import Webhook, WebhookSecret, WebhookTopic

TOPICS = ["model_status.ModelVersion/create", "model_status.ModelVersion/update"]


class Command(BaseCommand):
    help = "Subscribe a URL to the creation and update of model versions."

    def add_arguments(self, parser):
        parser.add_argument("url")

    def handle(self, *args, url, **options):
        topics = list(WebhookTopic.objects.filter(name__in=TOPICS))
        if len(topics) != len(TOPICS):
            raise CommandError(f"topics {TOPICS} must exist, found {topics}; "
                               "was DJANGO_WEBHOOK's MODELS changed?")
        webhook = Webhook.objects.create(url=url)
        webhook.topics.set(topics)
        WebhookSecret.objects.create(webhook=webhook, token=secrets.token_hex(16))
        self.stdout.write(f"webhook {webhook.uuid} -> {url}")
