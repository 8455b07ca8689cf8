"""A batch's destinations: each (host, port) looked up and checked once.

Nothing here connects anywhere: the names are answered by the fake resolver
of the hostile suite, and only ``Destination`` values are compared.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from app import targets
from app.errors import DestinationNotAllowed
from tests.hostile.fakes import PUBLIC_ADDRESS, FakeResolver
from workers.destinations import Destinations


def destinations_of(destinations: Destinations, urls: list[str]) -> list[object]:
    """Each URL's destination, or the exception it raised, checked in turn."""

    async def check_all() -> list[object]:
        found: list[object] = []
        for url in urls:
            try:
                found.append(destinations.known(url) or await destinations.of(url))
            except (DestinationNotAllowed, OSError) as error:
                found.append(error)
        return found

    return asyncio.run(check_all())


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address ``resolve_destination`` checks, in order."""
    checked: list[str] = []
    real_problem = targets.address_problem

    def counting_problem(address):
        checked.append(str(address))
        return real_problem(address)

    monkeypatch.setattr(targets, "address_problem", counting_problem)
    return checked


def test_urls_to_one_host_are_looked_up_and_checked_once_each_keeping_their_paths(
    checks: list[str],
) -> None:
    resolver = FakeResolver({"hooks.test": [PUBLIC_ADDRESS]})
    urls = [f"https://hooks.test/in/{n}?token=t{n}" for n in range(5)] * 2

    found = destinations_of(Destinations(resolver, allow_private=False), urls)

    assert [(d.host, d.port, d.ip) for d in found] == [
        ("hooks.test", 443, PUBLIC_ADDRESS)] * 10
    assert [d.target for d in found] == [f"/in/{n}?token=t{n}" for n in range(5)] * 2
    assert resolver.questions == ["hooks.test"]
    assert checks == [PUBLIC_ADDRESS]


def test_another_port_or_host_is_checked_on_its_own(checks: list[str]) -> None:
    resolver = FakeResolver({"a.test": [PUBLIC_ADDRESS], "b.test": [PUBLIC_ADDRESS]})
    urls = ["http://a.test/", "http://a.test:8080/", "http://b.test/",
            "http://a.test/again"]

    found = destinations_of(Destinations(resolver, allow_private=False), urls)

    assert [(d.host, d.port) for d in found] == [
        ("a.test", 80), ("a.test", 8080), ("b.test", 80), ("a.test", 80)]
    assert resolver.questions == ["a.test", "a.test", "b.test"]
    assert len(checks) == 3


def test_a_refused_host_fails_its_own_urls_only_each_time_with_its_own_url() -> None:
    resolver = FakeResolver({"inside.test": ["10.0.0.7"],
                             "outside.test": [PUBLIC_ADDRESS]})
    urls = ["http://inside.test/a", "http://outside.test/", "http://inside.test/b",
            "http://inside.test/a"]

    found = destinations_of(Destinations(resolver, allow_private=False), urls)

    refused = [found[0], found[2], found[3]]
    assert all(isinstance(error, DestinationNotAllowed) for error in refused)
    assert [error.url for error in refused] == [urls[0], urls[2], urls[3]]
    assert all("which resolves to 10.0.0.7 (private)" in error.reason
               for error in refused)
    assert found[1].ip == PUBLIC_ADDRESS
    # The refused name was looked up once all the same.
    assert resolver.questions == ["inside.test", "outside.test"]


def test_a_name_that_does_not_resolve_fails_its_own_urls_only() -> None:
    resolver = FakeResolver({"here.test": [PUBLIC_ADDRESS]})
    urls = ["http://gone.test/1", "http://here.test/", "http://gone.test/2"]

    found = destinations_of(Destinations(resolver, allow_private=False), urls)

    assert [type(item) for item in found] == [
        socket.gaierror, targets.Destination, socket.gaierror]
    assert found[0] is not found[2]  # each failure raised afresh
    assert resolver.questions == ["gone.test", "here.test"]


def test_the_next_batch_looks_up_and_checks_afresh() -> None:
    # The receiver's DNS turns to a private address between two batches.
    resolver = FakeResolver({"turning.test": [PUBLIC_ADDRESS]},
                            later={"turning.test": ["192.168.1.1"]})
    url = "http://turning.test/"

    [first] = destinations_of(Destinations(resolver, allow_private=False), [url])
    [second] = destinations_of(Destinations(resolver, allow_private=False), [url])

    assert first.ip == PUBLIC_ADDRESS
    assert isinstance(second, DestinationNotAllowed)
    assert resolver.questions == ["turning.test", "turning.test"]


def test_spellings_of_one_address_share_its_check(checks: list[str]) -> None:
    resolver = FakeResolver({})
    urls = ["http://93.184.216.34/", "http://1572395042/", "http://0x5d.184.216.34/"]

    found = destinations_of(Destinations(resolver, allow_private=False), urls)

    assert [d.ip for d in found] == [PUBLIC_ADDRESS] * 3
    assert checks == [PUBLIC_ADDRESS]
    assert resolver.questions == []
