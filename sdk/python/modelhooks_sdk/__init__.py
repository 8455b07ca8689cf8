"""Python SDK for modelhooks: manage callbacks and verify the requests they bring.

::

    from modelhooks_sdk import Client, verify_webhook

    client = Client("http://127.0.0.1:5000", api_key)
    callback = client.add_callback("https://example.org/hooks", model_name="home_.*")
"""

from modelhooks_sdk._client import Client
from modelhooks_sdk._errors import (
    APIError,
    AuthenticationError,
    ModelhooksError,
    NetworkError,
    NotFoundError,
    ServerError,
    ValidationError,
    WebhookVerificationError,
)
from modelhooks_sdk._flask import webhook_handler
from modelhooks_sdk._models import (
    Attempt,
    AttemptPolicy,
    Callback,
    Delivery,
    DeliveryPage,
    Filter,
    ModelStatusChange,
    StatusReport,
)
from modelhooks_sdk._version import __version__
from modelhooks_sdk._webhooks import sign_webhook, verify_webhook

__all__ = [
    "APIError",
    "Attempt",
    "AttemptPolicy",
    "AuthenticationError",
    "Callback",
    "Client",
    "Delivery",
    "DeliveryPage",
    "Filter",
    "ModelStatusChange",
    "ModelhooksError",
    "NetworkError",
    "NotFoundError",
    "ServerError",
    "StatusReport",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
    "sign_webhook",
    "verify_webhook",
    "webhook_handler",
]
