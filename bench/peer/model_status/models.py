from django.db import models

STATUSES = ["generating", "training", "complete", "error"]


class ModelVersion(models.Model):
    """One version of a model and its last reported status.

    django-webhook sends every save of a row (``create`` and ``update``
    topics) to the webhooks subscribed to it.
    """

    project_name = models.CharField(max_length=128)
    name = models.CharField(max_length=128)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=[(s, s) for s in STATUSES])
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project_name", "name", "version"],
                                    name="one_row_per_model_version"),
        ]
