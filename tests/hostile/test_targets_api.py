"""Where a callback may POST, as the API decides when a URL is saved.

The app is built for production (private targets refused) with a fake resolver,
so names resolve from a table and nothing is looked up or connected to.
"""

from __future__ import annotations

import ipaddress

import pytest

from app import targets
from app.api import build_app
from tests.conftest import with_settings
from tests.hostile.fakes import PUBLIC_ADDRESS, FakeResolver

BASE = "/cloud/callback/model_status"

RESOLVER_TABLE = {
    "hooks.example.com": [PUBLIC_ADDRESS],
    "inside.example.com": ["172.18.0.5"],
}

REFUSED_PRIVATE = [
    ("http://127.0.0.1:8080/h", "got '127.0.0.1' (loopback)"),
    ("http://127.1/h", "got '127.1', which is 127.0.0.1 (loopback)"),
    ("http://2130706433/h", "got '2130706433', which is 127.0.0.1 (loopback)"),
    ("http://0x7f000001/h", "got '0x7f000001', which is 127.0.0.1 (loopback)"),
    ("http://0177.0.0.1/h", "got '0177.0.0.1', which is 127.0.0.1 (loopback)"),
    ("http://10.0.0.5/h", "got '10.0.0.5' (private)"),
    ("http://169.254.169.254/latest/meta-data/", "got '169.254.169.254' (link-local)"),
    ("http://0.0.0.0/h", "got '0.0.0.0' (unspecified)"),
    ("http://[::1]/h", "got '::1' (loopback)"),
    (
        "http://[::ffff:127.0.0.1]/h",
        "got '::ffff:127.0.0.1' (loopback, embedded as 127.0.0.1)",
    ),
    (
        "http://[::ffff:7f00:1]/h",
        "got '::ffff:7f00:1' (loopback, embedded as 127.0.0.1)",
    ),
    ("http://localhost/h", "got 'localhost' (this machine)"),
    (
        "http://inside.example.com/h",
        "got 'inside.example.com', which resolves to 172.18.0.5 (private)",
    ),
]
# Beyond the list: spellings that normalise to a refused host.
REFUSED_PRIVATE += [
    (
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/h",
        "got 'localhost' (this machine)",
    ),
    ("http://localhost./h", "got 'localhost' (this machine)"),
    (
        "http://\u2460\u2461\u2466.0.0.1/h",
        "got '\u2460\u2461\u2466.0.0.1', which is 127.0.0.1 (loopback)",
    ),
    ("http://[::ffff:a00:5]/h", "got '::ffff:a00:5' (private, embedded as 10.0.0.5)"),
    ("http://[fe80::1%25lo]/h", "got 'fe80::1%25lo' (link-local)"),
    (
        "http://100.64.1.1/h",
        "got '100.64.1.1' (shared address space, carrier-grade NAT)",
    ),
]
REFUSED_ALWAYS = [
    ("ftp://hooks.example.com/h", "URL scheme must be http or https, got 'ftp'"),
    ("http:///nohost", "URL must name a host, got 'http:///nohost'"),
]


def _client(settings, broker, *, allow_private: bool):
    production = with_settings(settings, allow_private_targets=allow_private)
    resolver = FakeResolver(RESOLVER_TABLE)
    return build_app(production, broker=broker, resolve=resolver).test_client()


@pytest.fixture
def production(settings, database, broker):
    return _client(settings, broker, allow_private=False)


@pytest.fixture
def permissive(settings, database, broker):
    return _client(settings, broker, allow_private=True)


def _url_refusal(answer) -> str:
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["fields"]) == ["url"]
    [reason] = error["fields"]["url"]
    return reason


@pytest.mark.parametrize(
    ("url", "shown"), REFUSED_PRIVATE, ids=[url for url, _ in REFUSED_PRIVATE]
)
def test_production_refuses_a_private_destination_naming_url_and_the_reason(
    production, auth, url, shown
):
    answer = production.post(BASE, json={"url": url}, headers=auth)

    reason = _url_refusal(answer)
    assert reason == f"URL host must be a public address, {shown}"


@pytest.mark.parametrize(("url", "expected"), REFUSED_ALWAYS, ids=["ftp", "hostless"])
def test_production_refuses_a_url_of_the_wrong_shape(production, auth, url, expected):
    answer = production.post(BASE, json={"url": url}, headers=auth)

    assert _url_refusal(answer) == expected


def test_production_accepts_a_name_that_resolves_to_a_public_address(production, auth):
    answer = production.post(
        BASE, json={"url": "http://hooks.example.com/h"}, headers=auth
    )

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["url"] == "http://hooks.example.com/h"


def test_production_refuses_an_edit_to_a_private_destination(production, auth):
    created = production.post(
        BASE, json={"url": "http://hooks.example.com/h"}, headers=auth
    ).get_json()

    answer = production.put(
        f"{BASE}/{created['id']}",
        json={"url": "http://inside.example.com/h"},
        headers=auth,
    )

    assert _url_refusal(answer).endswith("which resolves to 172.18.0.5 (private)")


@pytest.mark.parametrize(
    "url", [url for url, _ in REFUSED_PRIVATE], ids=[url for url, _ in REFUSED_PRIVATE]
)
def test_with_private_targets_allowed_a_private_destination_is_accepted(
    permissive, auth, url
):
    answer = permissive.post(BASE, json={"url": url}, headers=auth)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["url"] == url


@pytest.mark.parametrize(("url", "expected"), REFUSED_ALWAYS, ids=["ftp", "hostless"])
def test_with_private_targets_allowed_a_url_of_the_wrong_shape_is_still_refused(
    permissive, auth, url, expected
):
    answer = permissive.post(BASE, json={"url": url}, headers=auth)

    assert _url_refusal(answer) == expected


def test_the_checker_unwraps_an_ipv4_mapped_ipv6_address_itself():
    mapped = ipaddress.IPv6Address("::ffff:127.0.0.1")

    assert targets.address_problem(mapped) == "loopback, embedded as 127.0.0.1"
