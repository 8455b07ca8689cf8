"""The package's public surface: what ``__all__`` promises, and what it imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import modelhooks_sdk

EXPECTED = {
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
}


def test_all_lists_exactly_the_public_names_in_sorted_order():
    assert set(modelhooks_sdk.__all__) == EXPECTED
    assert modelhooks_sdk.__all__ == sorted(modelhooks_sdk.__all__)


def test_every_name_in_all_is_importable():
    for name in modelhooks_sdk.__all__:
        assert getattr(modelhooks_sdk, name) is not None


def test_public_objects_are_defined_in_private_modules():
    for name in modelhooks_sdk.__all__:
        module = getattr(
            getattr(modelhooks_sdk, name), "__module__", "modelhooks_sdk._"
        )
        assert module.startswith("modelhooks_sdk._"), name


def test_implementation_modules_are_private():
    package = Path(modelhooks_sdk.__file__).parent
    public = [
        path.name for path in package.glob("*.py") if not path.name.startswith("_")
    ]

    assert public == []


def test_importing_the_sdk_does_not_import_flask():
    code = "import sys, modelhooks_sdk; print('flask' in sys.modules)"

    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output.strip() == "False"


def test_without_flask_the_sdk_imports_and_webhook_handler_says_what_to_install():
    code = (
        "import sys; sys.modules['flask'] = None\n"
        "import modelhooks_sdk\n"
        "try:\n"
        "    modelhooks_sdk.webhook_handler('whsec_c2VjcmV0')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )

    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output.strip() == (
        "webhook_handler needs Flask: pip install 'modelhooks-sdk[flask]'"
    )
