"""Where an attempt connects: the checked address, never a second DNS answer.

These run the real ``Sender`` and ``BatchTransport`` in this process on
SQLite, with a fake resolver. What the transport dials with
(``open_connection``) is watched: every address is recorded, and any that is
not loopback is refused without dialling, so a test can never reach another
host even when the code under test is wrong.
"""

from __future__ import annotations

import ipaddress

import pytest

from app import accounts, callbacks, events
from app.config import Settings
from app.models import Attempt, Delivery
from app.schemas import CallbackCreate
from tests.hostile import servers
from tests.hostile.fakes import PUBLIC_ADDRESS, CountingListener, FakeResolver
from workers import connections as connections_module
from workers.batch_transport import BatchTransport
from workers.sender import Sender

TRIGGERS = frozenset({"complete", "error"})
NAME = "hooks.example.com"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'connect.db'}"


@pytest.fixture
def account(database):
    return accounts.create_account("acme").account


@pytest.fixture
def transport_class():
    return BatchTransport


@pytest.fixture
def dialled(monkeypatch) -> list[tuple[str, int]]:
    """Every (address, port) a transport dials; only loopback is really dialled."""
    calls: list[tuple[str, int]] = []
    real_open_connection = connections_module.open_connection

    def refuse_unless_loopback(ip: str, port: int) -> None:
        calls.append((ip, port))
        if not ipaddress.ip_address(ip).is_loopback:
            raise ConnectionRefusedError(f"the test refuses to dial {ip}")

    async def watched_connection(destination, ssl_context):
        refuse_unless_loopback(destination.ip, destination.port)
        return await real_open_connection(destination, ssl_context)

    monkeypatch.setattr(connections_module, "open_connection", watched_connection)
    return calls


@pytest.fixture
def listener():
    counting = CountingListener()
    yield counting
    counting.close()


def _save_callback(account, url: str, resolver: FakeResolver, *, allow_private: bool):
    settings = Settings(allow_private_targets=allow_private)
    data = CallbackCreate().load({"url": url, "attempt": {"count": 1}})
    return callbacks.create(account, data, settings, resolve=resolver)


def _deliver_once(
    settings: Settings,
    account,
    resolver: FakeResolver,
    transport_class,
    *,
    allow_private: bool,
) -> Attempt:
    """Report one completed model and make its first attempt; the attempt row."""
    report = {"project_name": "p", "name": "m", "version": 1, "status": "complete"}
    change = events.record(account, report, TRIGGERS)
    transport = transport_class(allow_private=allow_private, resolve=resolver)
    sender = Sender(settings, transport)
    try:
        sender.fan_out_waiting(1)
    finally:
        sender.close()

    [delivery] = Delivery.select().where(Delivery.event == change.event_id)
    [attempt] = Attempt.select().where(Attempt.delivery == delivery.id)
    return attempt


@pytest.mark.parametrize(
    ("at_delivery", "shown"),
    [
        (["127.0.0.1"], "127.0.0.1 (loopback)"),
        (
            ["::ffff:169.254.169.254"],
            "::ffff:a9fe:a9fe (link-local, embedded as 169.254.169.254)",
        ),
        ([PUBLIC_ADDRESS, "127.0.0.1"], "127.0.0.1 (loopback)"),
    ],
    ids=["now-loopback", "now-mapped-metadata", "public-and-loopback"],
)
def test_a_name_that_turned_private_after_saving_opens_no_socket(
    settings, account, dialled, listener, transport_class, at_delivery, shown
):
    resolver = FakeResolver({NAME: [PUBLIC_ADDRESS]})
    _save_callback(
        account, f"http://{NAME}:{listener.port}/h", resolver, allow_private=False
    )

    resolver.answers[NAME] = at_delivery
    attempt = _deliver_once(
        settings, account, resolver, transport_class, allow_private=False
    )

    assert attempt.error == (
        "DestinationNotAllowed: destination not allowed: URL host must be a public "
        f"address, got '{NAME}', which resolves to {shown}"
    )
    assert attempt.status_code is None
    assert dialled == []
    assert listener.connections == 0


def test_the_address_checked_is_the_address_dialled_without_a_second_lookup(
    settings, account, dialled, listener, transport_class
):
    resolver = FakeResolver({NAME: ["127.0.0.1"]}, later={NAME: ["10.0.0.5"]})
    _save_callback(
        account, f"http://{NAME}:{listener.port}/h", resolver, allow_private=True
    )

    _deliver_once(settings, account, resolver, transport_class, allow_private=True)

    assert resolver.questions == [NAME]
    assert dialled == [("127.0.0.1", listener.port)]
    assert listener.connections == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_its_target_leaves_no_trace(
    settings, account, dialled, transport_class, status
):
    target = servers.RawReceiver(servers.answer(200, b"TARGET-SECRET-BODY"))
    moved = servers.RawReceiver(
        servers.answer(status, b"moved", {"Location": target.url("/elsewhere")})
    )
    resolver = FakeResolver({})
    try:
        _save_callback(account, moved.url("/h"), resolver, allow_private=True)
        attempt = _deliver_once(
            settings, account, resolver, transport_class, allow_private=True
        )
    finally:
        moved.stop()
        target.stop()

    assert (attempt.status_code, attempt.error) == (status, None)
    assert attempt.response_excerpt == "moved"
    assert "TARGET" not in attempt.response_excerpt
    assert target.connections == 0
    assert dialled == [("127.0.0.1", moved.port)]
