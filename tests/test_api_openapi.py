"""``/openapi.json`` describes every endpoint with its schemas."""

from __future__ import annotations

EXPECTED = {
    "/cloud/callback/model_status": {"get", "post"},
    "/cloud/callback/model_status/{callback_id}": {"get", "put", "delete"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}


def test_every_endpoint_is_listed_with_its_methods(client):
    spec = client.get("/openapi.json").get_json()

    for path, methods in EXPECTED.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), path


def test_bodies_and_answers_have_schemas(client):
    spec = client.get("/openapi.json").get_json()
    collection = spec["paths"]["/cloud/callback/model_status"]
    item = spec["paths"]["/cloud/callback/model_status/{callback_id}"]

    assert "schema" in collection["post"]["requestBody"]["content"]["application/json"]
    assert "schema" in item["put"]["requestBody"]["content"]["application/json"]
    for operation in (collection["get"], collection["post"], item["get"], item["put"],
                      item["delete"]):
        assert "schema" in operation["responses"]["200"]["content"]["application/json"]
        assert "401" in operation["responses"]


def test_the_create_schema_carries_the_input_bounds(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    attempt = schemas["AttemptIn"]["properties"]
    assert attempt["count"]["minimum"] == 1 and attempt["count"]["maximum"] == 25
    assert attempt["interval"]["maximum"] == 3600
    assert attempt["http_timeout"]["minimum"] == 0.1
    assert schemas["CallbackCreate"]["required"] == ["url"]
    assert schemas["CallbackCreate"]["properties"]["url"]["maxLength"] == 2048
