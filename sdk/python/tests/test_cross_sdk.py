"""The Python SDK, the JS SDK and the standardwebhooks package agree on signatures."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from modelhooks_sdk import sign_webhook, verify_webhook
from standardwebhooks.webhooks import Webhook

JS_SDK = Path(__file__).resolve().parents[2] / "js" / "src" / "index.js"
SECRET = "whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE="
# Non-ASCII on purpose: the signature covers bytes, not characters.
BODY = (
    '{"name":"café_prices","version":3,"active":true,"predictor_id":8,'
    '"project_name":"müller","predictor_created_at":null,"old_status":"training",'
    '"new_status":"complete","changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}'
).encode()


def run_js(source: str, payload: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the JS SDK needs Node 18 or later")
    program = (
        f"import {{ signWebhook, verifyWebhook }} from {json.dumps(JS_SDK.as_uri())};\n"
        "let text = '';\n"
        "for await (const chunk of process.stdin) text += chunk;\n"
        "const input = JSON.parse(text);\n"
        "const body = Buffer.from(input.body, 'base64');\n"
        f"{source}\n"
    )
    finished = subprocess.run(
        [node, "--input-type=module", "-e", program],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def b64(body: bytes) -> str:
    return base64.b64encode(body).decode()


def test_a_request_signed_by_the_python_sdk_verifies_in_the_js_sdk():
    headers = sign_webhook(BODY, SECRET, webhook_id="msg_fromPython")

    result = run_js(
        "const change = verifyWebhook(body, input.headers, input.secret);\n"
        "console.log(JSON.stringify(change));",
        {"body": b64(BODY), "headers": headers, "secret": SECRET},
    )

    assert result["webhookId"] == "msg_fromPython"
    assert (result["name"], result["projectName"]) == ("café_prices", "müller")


def test_the_js_sdk_rejects_a_python_signed_request_under_another_secret():
    headers = sign_webhook(BODY, SECRET)

    result = run_js(
        "try { verifyWebhook(body, input.headers, input.secret);"
        " console.log('{\"verified\": true}'); }"
        " catch (error) { console.log(JSON.stringify({ error: error.name })); }",
        {
            "body": b64(BODY),
            "headers": headers,
            "secret": "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==",
        },
    )

    assert result == {"error": "WebhookVerificationError"}


def test_a_request_signed_by_the_python_sdk_verifies_in_standardwebhooks():
    headers = sign_webhook(BODY, SECRET)

    document = Webhook(SECRET).verify(BODY, headers)

    assert document["project_name"] == "müller"


def test_a_request_signed_by_the_js_sdk_verifies_in_python_and_standardwebhooks():
    headers = run_js(
        "console.log(JSON.stringify(signWebhook(body, input.secret,"
        " { webhookId: 'msg_fromJs' })));",
        {"body": b64(BODY), "secret": SECRET},
    )

    change = verify_webhook(BODY, headers, SECRET)
    document = Webhook(SECRET).verify(BODY, headers)

    assert change.webhook_id == "msg_fromJs"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 30
    assert document["name"] == "café_prices"


def test_a_request_signed_by_standardwebhooks_verifies_in_both_sdks():
    moment = datetime.now(timezone.utc).replace(microsecond=0)
    signature = Webhook(SECRET).sign("msg_fromStandard", moment, BODY.decode())
    headers = {
        "webhook-id": "msg_fromStandard",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }

    result = run_js(
        "const change = verifyWebhook(body, input.headers, input.secret);\n"
        "console.log(JSON.stringify(change));",
        {"body": b64(BODY), "headers": headers, "secret": SECRET},
    )

    assert verify_webhook(BODY, headers, SECRET).webhook_id == "msg_fromStandard"
    assert result["webhookId"] == "msg_fromStandard"
