"""Each exception class, mapped from a real answer or a real failure to connect."""

from __future__ import annotations

import inspect
import json
import time

import pytest
import requests
from conftest import free_port
from modelhooks_sdk import (
    APIError,
    AuthenticationError,
    Client,
    ModelhooksError,
    NetworkError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from modelhooks_sdk._client import translate_error

UNAVAILABLE = json.dumps(
    {
        "error": {
            "code": "service_unavailable",
            "message": "a dependency is down",
            "fields": {},
        }
    }
).encode()


def no_sleep_client(base_url: str, **kwargs) -> Client:
    client = Client(base_url, "mh_test", **kwargs)
    client._sleep = lambda seconds: None
    return client


def test_a_bad_api_key_raises_authentication_error_from_the_401(dev_server):
    client = Client(dev_server.base_url, "mh_not_a_real_key")

    with pytest.raises(AuthenticationError) as raised:
        client.list_callbacks()

    assert raised.value.status_code == 401
    assert raised.value.code == "unauthorized"
    assert raised.value.message == "the API key is unknown or revoked"
    assert str(raised.value) == (
        f"GET {dev_server.base_url}/cloud/callback/model_status answered 401: "
        "the API key is unknown or revoked"
    )


def test_an_unknown_id_raises_not_found_error_from_the_404(client):
    with pytest.raises(NotFoundError) as raised:
        client.get_callback(987654)

    assert raised.value.status_code == 404
    assert raised.value.message == "no callback with id 987654"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.edit_callback(987654, enabled=False),
        lambda c: c.delete_callback(987654),
        lambda c: c.list_deliveries(987654),
    ],
    ids=["edit", "delete", "deliveries"],
)
def test_every_call_on_an_unknown_id_raises_not_found_error(client, call):
    with pytest.raises(NotFoundError):
        call(client)


def test_invalid_input_raises_validation_error_with_each_field_named(client):
    with pytest.raises(ValidationError) as raised:
        client.add_callback("ftp://example.org/hooks", count=0, interval=4000)

    fields = raised.value.fields
    assert raised.value.status_code == 400
    assert raised.value.code == "invalid_input"
    assert set(fields) == {"attempt.count", "attempt.interval"}
    assert fields["attempt.count"] == [
        "Must be greater than or equal to 1 and less than or equal to 25."
    ]


def test_a_url_the_service_refuses_names_the_url_field(client):
    with pytest.raises(ValidationError) as raised:
        client.add_callback("ftp://example.org/hooks")

    assert list(raised.value.fields) == ["url"]


def test_a_bad_report_names_the_version_field(client):
    with pytest.raises(ValidationError) as raised:
        client.report_status("p", "m", -1, "complete")

    assert list(raised.value.fields) == ["version"]


def test_a_503_raises_server_error_after_two_retries_of_a_get(stub_server):
    stub = stub_server(
        lambda captured: (503, {"Content-Type": "application/json"}, UNAVAILABLE)
    )
    client = no_sleep_client(stub.url)

    with pytest.raises(ServerError) as raised:
        client.list_callbacks()

    assert raised.value.status_code == 503
    assert raised.value.message == "a dependency is down"
    assert [r.method for r in stub.requests] == ["GET", "GET", "GET"]


def test_a_get_that_meets_a_503_then_a_200_succeeds(stub_server):
    answers = iter([(503, {}, b"{}"), (200, {}, b"[]")])
    stub = stub_server(lambda captured: next(answers))
    client = no_sleep_client(stub.url)

    assert client.list_callbacks() == []
    assert len(stub.requests) == 2


def test_put_and_delete_are_retried_on_502_and_504(stub_server):
    stub = stub_server(
        lambda captured: (502 if captured.method == "PUT" else 504, {}, b"bad gateway")
    )
    client = no_sleep_client(stub.url, max_retries=1)

    with pytest.raises(ServerError):
        client.edit_callback(1, enabled=True)
    with pytest.raises(ServerError):
        client.delete_callback(1)

    assert [r.method for r in stub.requests] == ["PUT", "PUT", "DELETE", "DELETE"]


def test_a_post_is_sent_once_with_an_idempotency_key_and_never_retried(stub_server):
    stub = stub_server(lambda captured: (503, {}, UNAVAILABLE))
    client = no_sleep_client(stub.url)

    with pytest.raises(ServerError):
        client.add_callback("http://127.0.0.1:9/hooks")

    assert len(stub.requests) == 1
    assert len(stub.requests[0].headers["Idempotency-Key"]) == 36


def test_each_post_gets_its_own_idempotency_key(stub_server):
    stub = stub_server(
        lambda captured: (
            202,
            {},
            json.dumps(
                {
                    "event_id": "evt_1",
                    "old_status": None,
                    "new_status": "complete",
                    "triggered": True,
                }
            ).encode(),
        )
    )
    client = Client(stub.url, "mh_test")

    client.report_status("p", "m", 1, "complete")
    client.report_status("p", "m", 2, "complete")

    keys = {r.headers["Idempotency-Key"] for r in stub.requests}
    assert len(keys) == 2


def test_a_500_is_not_retried(stub_server):
    stub = stub_server(lambda captured: (500, {}, b"oops"))
    client = no_sleep_client(stub.url)

    with pytest.raises(ServerError) as raised:
        client.list_callbacks()

    assert len(stub.requests) == 1
    assert raised.value.message == "Internal Server Error"


def test_a_closed_port_raises_network_error_after_the_retries(monkeypatch):
    client = no_sleep_client(f"http://127.0.0.1:{free_port()}")
    sent = []
    real_send = client._send
    monkeypatch.setattr(
        client,
        "_send",
        lambda *args, **kwargs: sent.append(args) or real_send(*args, **kwargs),
    )

    with pytest.raises(NetworkError) as raised:
        client.list_callbacks()

    assert len(sent) == 3
    assert raised.value.method == "GET"
    assert "failed" in str(raised.value)


def test_a_closed_port_raises_network_error_for_a_post_at_once():
    client = no_sleep_client(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(NetworkError):
        client.report_status("p", "m", 1, "complete")


def test_an_answer_slower_than_the_timeout_raises_network_error(stub_server):
    stub = stub_server(lambda captured: time.sleep(0.5) or (200, {}, b"[]"))
    client = no_sleep_client(stub.url, timeout=0.1, max_retries=0)

    with pytest.raises(NetworkError, match="timed out"):
        client.list_callbacks()


def test_an_answer_that_is_not_json_raises_api_error(stub_server):
    stub = stub_server(lambda captured: (200, {"Content-Type": "text/html"}, b"<html>"))
    client = Client(stub.url, "mh_test")

    with pytest.raises(APIError) as raised:
        client.list_callbacks()

    assert raised.value.code == "invalid_answer"


def test_a_redirect_is_not_followed_but_raised(stub_server):
    stub = stub_server(lambda captured: (301, {"Location": "https://elsewhere/"}, b""))
    client = Client(stub.url, "mh_test")

    with pytest.raises(APIError) as raised:
        client.list_callbacks()

    assert raised.value.status_code == 301
    assert len(stub.requests) == 1


def test_an_answer_of_the_wrong_shape_raises_modelhooks_error(stub_server):
    stub = stub_server(lambda captured: (200, {}, b'{"id": 1}'))
    client = Client(stub.url, "mh_test")

    with pytest.raises(ModelhooksError, match="documented shape"):
        client.get_callback(1)


def test_every_error_class_derives_from_modelhooks_error():
    for error_class in (
        APIError,
        AuthenticationError,
        NotFoundError,
        ValidationError,
        ServerError,
        NetworkError,
    ):
        assert issubclass(error_class, ModelhooksError)


def test_every_requests_exception_is_translated_into_a_modelhooks_error():
    classes = [
        value
        for value in vars(requests.exceptions).values()
        if inspect.isclass(value) and issubclass(value, requests.RequestException)
    ]

    for error_class in classes:
        # Built without __init__: some (JSONDecodeError) need more arguments.
        error = error_class.__new__(error_class)
        translated = translate_error(error, "GET", "http://127.0.0.1/")
        assert isinstance(translated, ModelhooksError), error_class
        no_answer = issubclass(
            error_class, (requests.ConnectionError, requests.Timeout)
        )
        assert isinstance(translated, NetworkError) or not no_answer, error_class


@pytest.mark.parametrize("base_url", ["127.0.0.1:5000", "ftp://host", "http://"])
def test_a_base_url_without_http_scheme_and_host_is_a_value_error(base_url):
    with pytest.raises(ValueError, match="base_url must be an http or https URL"):
        Client(base_url, "mh_test")


def test_a_callback_id_that_is_not_an_integer_is_a_value_error(client):
    with pytest.raises(ValueError, match="a callback id must be an integer; got '1/x'"):
        client.get_callback("1/x")
