"""The status of model versions, which django-webhook watches."""
