"""Which callback URLs may be saved, and where an attempt may connect.

Every name is answered by a fake resolver: nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from app.errors import DestinationNotAllowed
from app.targets import (
    MAX_URL_LENGTH,
    Destination,
    address_problem,
    check_url,
    resolve_destination,
    resolve_host,
)

PUBLIC = "93.184.216.34"
# Python 3.13 began printing IPv4-mapped addresses in dotted form.
MAPPED_LOOPBACK = str(ipaddress.ip_address("::ffff:127.0.0.1"))
ZONE = {
    "public.test": [PUBLIC],
    "v6public.test": ["2606:4700:4700::1111"],
    "both.test": ["2606:4700:4700::1111", PUBLIC],
    "mixed.test": [PUBLIC, "10.0.0.7"],
    "internal.test": ["192.168.1.20"],
    "metadata.test": ["169.254.169.254"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "xn--bcher-kva.test": [PUBLIC],
}


class FakeResolver:
    """Answers from ZONE and records every lookup."""

    def __init__(self, zone: dict[str, list[str]] | None = None) -> None:
        self.zone = ZONE if zone is None else zone
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.zone:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.zone[host])


def refusal(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(DestinationNotAllowed) as caught:
        check_url(url, allow_private=allow_private, resolve=FakeResolver())
    assert caught.value.url == url
    return caught.value.reason


def public(shown: str, kind: str) -> str:
    return f"URL host must be a public address, got {shown} ({kind})"


NOT_PUBLIC = [
    pytest.param(
        "http://127.0.0.1/", public("'127.0.0.1'", "loopback"), id="v4-loopback"
    ),
    pytest.param(
        "http://127.1/", public("'127.1', which is 127.0.0.1", "loopback"), id="short"
    ),
    pytest.param(
        "http://2130706433/",
        public("'2130706433', which is 127.0.0.1", "loopback"),
        id="decimal",
    ),
    pytest.param(
        "http://0x7f000001/",
        public("'0x7f000001', which is 127.0.0.1", "loopback"),
        id="hex",
    ),
    pytest.param(
        "http://0177.0.0.1/",
        public("'0177.0.0.1', which is 127.0.0.1", "loopback"),
        id="octal",
    ),
    pytest.param(
        "http://0x7f.1/",
        public("'0x7f.1', which is 127.0.0.1", "loopback"),
        id="hex-short",
    ),
    pytest.param(
        "http://127.0.0.1./",
        public("'127.0.0.1.', which is 127.0.0.1", "loopback"),
        id="trailing-dot",
    ),
    pytest.param(
        "http://127.0.0.1:8080/hook",
        public("'127.0.0.1'", "loopback"),
        id="loopback-port",
    ),
    pytest.param("http://[::1]/", public("'::1'", "loopback"), id="v6-loopback"),
    pytest.param(
        "http://[0:0:0:0:0:0:0:1]/",
        public("'0:0:0:0:0:0:0:1'", "loopback"),
        id="v6-long",
    ),
    pytest.param(
        "http://[::ffff:127.0.0.1]/",
        public("'::ffff:127.0.0.1'", "loopback, embedded as 127.0.0.1"),
        id="v4-mapped-dotted",
    ),
    pytest.param(
        "http://[::ffff:7f00:1]/",
        public("'::ffff:7f00:1'", "loopback, embedded as 127.0.0.1"),
        id="v4-mapped-hex",
    ),
    pytest.param(
        "http://[::127.0.0.1]/",
        public("'::127.0.0.1'", "loopback, embedded as 127.0.0.1"),
        id="v4-compatible",
    ),
    pytest.param(
        "http://[64:ff9b::a9fe:a9fe]/",
        public("'64:ff9b::a9fe:a9fe'", "link-local, embedded as 169.254.169.254"),
        id="nat64-metadata",
    ),
    pytest.param("http://10.0.0.1/", public("'10.0.0.1'", "private"), id="10/8"),
    pytest.param(
        "http://172.16.5.4/", public("'172.16.5.4'", "private"), id="172.16/12"
    ),
    pytest.param(
        "http://192.168.0.1/", public("'192.168.0.1'", "private"), id="192.168/16"
    ),
    pytest.param(
        "http://[fd00::1]/", public("'fd00::1'", "private, unique local"), id="v6-ula"
    ),
    pytest.param(
        "http://[::ffff:10.0.0.1]/",
        public("'::ffff:10.0.0.1'", "private, embedded as 10.0.0.1"),
        id="v4-mapped-private",
    ),
    pytest.param(
        "http://169.254.169.254/latest/meta-data/",
        public("'169.254.169.254'", "link-local"),
        id="metadata",
    ),
    pytest.param("http://[fe80::1]/", public("'fe80::1'", "link-local"), id="v6-link"),
    pytest.param(
        "http://[fe80::1%25eth0]/",
        public("'fe80::1%25eth0'", "link-local"),
        id="v6-link-zone",
    ),
    pytest.param(
        "http://224.0.0.1/", public("'224.0.0.1'", "multicast"), id="multicast"
    ),
    pytest.param(
        "http://[ff02::1]/", public("'ff02::1'", "multicast"), id="v6-multicast"
    ),
    pytest.param("http://240.0.0.1/", public("'240.0.0.1'", "reserved"), id="240/4"),
    pytest.param(
        "http://255.255.255.255/",
        public("'255.255.255.255'", "reserved"),
        id="broadcast",
    ),
    pytest.param(
        "http://192.0.2.1/",
        public("'192.0.2.1'", "reserved for documentation"),
        id="documentation",
    ),
    pytest.param(
        "http://[2001:db8::1]/",
        public("'2001:db8::1'", "reserved for documentation"),
        id="v6-documentation",
    ),
    pytest.param("http://0.0.0.0/", public("'0.0.0.0'", "unspecified"), id="0.0.0.0"),
    pytest.param(
        "http://0/", public("'0', which is 0.0.0.0", "unspecified"), id="zero"
    ),
    pytest.param("http://[::]/", public("'::'", "unspecified"), id="v6-unspecified"),
    pytest.param(
        "http://100.64.0.1/",
        public("'100.64.0.1'", "shared address space, carrier-grade NAT"),
        id="cgnat",
    ),
    pytest.param(
        "http://localhost/", public("'localhost'", "this machine"), id="localhost"
    ),
    pytest.param(
        "http://LOCALHOST.:8000/",
        public("'localhost'", "this machine"),
        id="localhost-dot",
    ),
    pytest.param(
        "http://api.localhost/",
        public("'api.localhost'", "this machine"),
        id="sub-local",
    ),
    pytest.param(
        "http://internal.test/",
        public("'internal.test', which resolves to 192.168.1.20", "private"),
        id="name-private",
    ),
    pytest.param(
        "http://metadata.test/",
        public("'metadata.test', which resolves to 169.254.169.254", "link-local"),
        id="name-metadata",
    ),
    pytest.param(
        "http://mixed.test/",
        public("'mixed.test', which resolves to 10.0.0.7", "private"),
        id="name-public-and-private",
    ),
    pytest.param(
        "http://mapped.test/",
        public(
            f"'mapped.test', which resolves to {MAPPED_LOOPBACK}",
            "loopback, embedded as 127.0.0.1",
        ),
        id="name-v4-mapped",
    ),
    pytest.param(
        "http://nowhere.test/",
        "URL host must resolve, got 'nowhere.test', which does not resolve",
        id="name-unresolvable",
    ),
]

MALFORMED = [
    pytest.param(
        "ftp://public.test/", "URL scheme must be http or https, got 'ftp'", id="ftp"
    ),
    pytest.param(
        "file:///etc/passwd", "URL scheme must be http or https, got 'file'", id="file"
    ),
    pytest.param(
        "javascript:alert(1)",
        "URL scheme must be http or https, got 'javascript'",
        id="javascript",
    ),
    pytest.param(
        "/relative/hook", "URL scheme must be http or https, got ''", id="relative"
    ),
    pytest.param(
        "http:///nohost", "URL must name a host, got 'http:///nohost'", id="hostless"
    ),
    pytest.param("https://", "URL must name a host, got 'https://'", id="empty"),
    pytest.param(
        "http://:8080/", "URL must name a host, got 'http://:8080/'", id="port-only"
    ),
    pytest.param(
        "http://public.test/a b",
        "URL must not contain spaces or control characters, "
        "got 'http://public.test/a b'",
        id="space",
    ),
    pytest.param(
        "http://public.test/\r\nX-Injected: 1",
        "URL must not contain spaces or control characters, "
        "got 'http://public.test/\\r\\nX-Injected: 1'",
        id="crlf",
    ),
    pytest.param(
        "http://user:secret@public.test/",
        "URL must not carry user:password credentials; signatures authenticate",
        id="credentials",
    ),
    pytest.param(
        "http://public.test:0/",
        "URL port must be a number from 1 to 65535, got 'public.test:0'",
        id="port-zero",
    ),
    pytest.param(
        "http://public.test:65536/",
        "URL port must be a number from 1 to 65535, got 'public.test:65536'",
        id="port-too-big",
    ),
    pytest.param(
        "http://256.1.1.1/",
        "URL host looks numeric but is no IPv4 address, got '256.1.1.1'",
        id="octet-too-big",
    ),
    pytest.param(
        "http://1.2.3.4.5/",
        "URL host looks numeric but is no IPv4 address, got '1.2.3.4.5'",
        id="five-parts",
    ),
    pytest.param(
        "http://089.1.1.1/",
        "URL host looks numeric but is no IPv4 address, got '089.1.1.1'",
        id="bad-octal",
    ),
    pytest.param(
        "http://[::1/",
        "URL must be well formed: Invalid IPv6 URL",
        id="unclosed-bracket",
    ),
    pytest.param(
        "http://[fe80::1::2]/",
        "URL must be well formed: 'fe80::1::2' does not appear to be an IPv4 or IPv6 "
        "address",
        id="bad-v6",
    ),
    pytest.param(
        "http://bad..name/",
        "URL host must be a domain name or an IP address, got 'bad..name'",
        id="empty-label",
    ),
    pytest.param(
        "http://bad_%41name.test/",
        "URL host must be a domain name or an IP address, got 'bad_%41name.test'",
        id="percent",
    ),
]


@pytest.mark.parametrize("url, reason", NOT_PUBLIC)
def test_non_public_destinations_are_refused(url: str, reason: str) -> None:
    assert refusal(url) == reason


@pytest.mark.parametrize("url, reason", MALFORMED)
@pytest.mark.parametrize("allow_private", [False, True], ids=["public", "private"])
def test_malformed_urls_are_refused_even_when_private_is_allowed(
    url: str, reason: str, allow_private: bool
) -> None:
    assert refusal(url, allow_private=allow_private) == reason


def test_a_url_longer_than_2048_characters_is_refused() -> None:
    url = "http://public.test/" + "a" * (MAX_URL_LENGTH - 18)

    assert len(url) == 2049
    assert refusal(url) == "URL must be at most 2048 characters, got 2049"


def test_a_url_of_exactly_2048_characters_is_accepted() -> None:
    url = "http://public.test/" + "a" * (MAX_URL_LENGTH - 19)

    check_url(url, allow_private=False, resolve=FakeResolver())


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://93.184.216.34/hook", id="v4-literal"),
        pytest.param("https://public.test/hook?token=1", id="name"),
        pytest.param("HTTPS://Public.Test./hook", id="case-and-dot"),
        pytest.param("http://[2606:4700:4700::1111]:8443/", id="v6-literal"),
        pytest.param("https://v6public.test/", id="v6-name"),
        pytest.param("https://both.test/", id="dual-stack-name"),
        pytest.param("http://bücher.test/", id="idn"),
        pytest.param("http://[::ffff:93.184.216.34]/", id="v4-mapped-public"),
    ],
)
def test_public_destinations_are_accepted(url: str) -> None:
    check_url(url, allow_private=False, resolve=FakeResolver())


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8000/hook", id="loopback"),
        pytest.param("http://127.1/", id="short-loopback"),
        pytest.param("http://localhost:8000/", id="localhost"),
        pytest.param("http://[::1]:8000/", id="v6-loopback"),
        pytest.param("http://10.0.0.1/", id="private"),
        pytest.param("http://mixed.test/", id="name-public-and-private"),
        pytest.param("http://nowhere.test/", id="name-unresolvable"),
    ],
)
def test_allow_private_accepts_any_host_without_looking_it_up(url: str) -> None:
    resolver = FakeResolver()

    check_url(url, allow_private=True, resolve=resolver)

    assert resolver.lookups == []


def test_a_name_is_looked_up_with_the_urls_port() -> None:
    resolver = FakeResolver()

    check_url("https://public.test:8443/", allow_private=False, resolve=resolver)

    assert resolver.lookups == [("public.test", 8443)]


def test_an_address_literal_is_not_looked_up() -> None:
    resolver = FakeResolver()

    check_url("http://93.184.216.34/", allow_private=False, resolve=resolver)

    assert resolver.lookups == []


def test_the_refusal_is_an_invalid_url_field() -> None:
    with pytest.raises(DestinationNotAllowed) as caught:
        check_url("ftp://public.test/", allow_private=False, resolve=FakeResolver())

    reason = "URL scheme must be http or https, got 'ftp'"
    assert caught.value.fields == {"url": [reason]}
    assert str(caught.value) == f"url: {reason}"


def test_destination_pins_the_one_checked_address() -> None:
    resolver = FakeResolver()

    destination = resolve_destination(
        "https://Public.Test:8443/hooks/a?x=1&y=%20#fragment",
        allow_private=False,
        resolve=resolver,
    )

    assert destination == Destination(
        scheme="https",
        host="public.test",
        port=8443,
        target="/hooks/a?x=1&y=%20",
        ip=PUBLIC,
    )
    assert resolver.lookups == [("public.test", 8443)]


@pytest.mark.parametrize(
    "url, expected",
    [
        pytest.param(
            "http://public.test",
            Destination("http", "public.test", 80, "/", PUBLIC),
            id="default-http-port-and-path",
        ),
        pytest.param(
            "https://both.test/x",
            Destination("https", "both.test", 443, "/x", "2606:4700:4700::1111"),
            id="first-answer",
        ),
        pytest.param(
            "http://bücher.test/é?q=ü",
            Destination("http", "xn--bcher-kva.test", 80, "/%C3%A9?q=%C3%BC", PUBLIC),
            id="idn-and-non-ascii-path",
        ),
        pytest.param(
            "http://[2606:4700:4700::1111]:8080/",
            Destination(
                "http", "2606:4700:4700::1111", 8080, "/", "2606:4700:4700::1111"
            ),
            id="v6-literal",
        ),
    ],
)
def test_destination_parts(url: str, expected: Destination) -> None:
    assert resolve_destination(url, allow_private=False, resolve=FakeResolver()) == (
        expected
    )


@pytest.mark.parametrize(
    "url, ip",
    [
        pytest.param("http://127.1:9000/", "127.0.0.1", id="short-loopback"),
        pytest.param("http://[::1]:9000/", "::1", id="v6-loopback"),
        pytest.param("http://mixed.test/", PUBLIC, id="name"),
    ],
)
def test_destination_with_private_allowed_keeps_the_address(url: str, ip: str) -> None:
    destination = resolve_destination(url, allow_private=True, resolve=FakeResolver())

    assert destination.ip == ip


def test_destination_refused_when_the_name_now_resolves_to_loopback() -> None:
    answers = [[PUBLIC], ["127.0.0.1"]]

    def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    check_url("http://rebind.test/", allow_private=False, resolve=rebinding)
    with pytest.raises(DestinationNotAllowed) as caught:
        resolve_destination(
            "http://rebind.test/", allow_private=False, resolve=rebinding
        )

    assert caught.value.reason == (
        "destination not allowed: URL host must be a public address, "
        "got 'rebind.test', which resolves to 127.0.0.1 (loopback)"
    )
    assert answers == []


@pytest.mark.parametrize(
    "url, reason",
    [
        pytest.param(
            "ftp://public.test/",
            "URL scheme must be http or https, got 'ftp'",
            id="ftp",
        ),
        pytest.param(
            "http://0x7f000001/",
            public("'0x7f000001', which is 127.0.0.1", "loopback"),
            id="hex",
        ),
        pytest.param(
            "http://mixed.test/",
            public("'mixed.test', which resolves to 10.0.0.7", "private"),
            id="mixed",
        ),
    ],
)
def test_destination_refusals_say_destination_not_allowed(
    url: str, reason: str
) -> None:
    with pytest.raises(DestinationNotAllowed) as caught:
        resolve_destination(url, allow_private=False, resolve=FakeResolver())

    assert caught.value.reason == f"destination not allowed: {reason}"


def test_destination_of_an_unresolvable_name_raises_the_lookup_error() -> None:
    with pytest.raises(socket.gaierror):
        resolve_destination(
            "http://nowhere.test/", allow_private=False, resolve=FakeResolver()
        )


def test_destination_of_a_name_without_answers_raises_a_lookup_error() -> None:
    resolver = FakeResolver(zone={"empty.test": []})

    with pytest.raises(socket.gaierror):
        resolve_destination("http://empty.test/", allow_private=True, resolve=resolver)


def test_a_resolver_answer_that_is_no_address_is_refused() -> None:
    resolver = FakeResolver(zone={"odd.test": ["not-an-address"]})

    with pytest.raises(DestinationNotAllowed) as caught:
        check_url("http://odd.test/", allow_private=False, resolve=resolver)

    assert caught.value.reason == (
        "URL host must resolve to IP addresses, got 'odd.test' -> 'not-an-address'"
    )


@pytest.mark.parametrize(
    "address, problem",
    [
        pytest.param("8.8.8.8", None, id="public-v4"),
        pytest.param("2606:4700:4700::1111", None, id="public-v6"),
        pytest.param("::ffff:8.8.8.8", None, id="mapped-public"),
        pytest.param("127.255.255.254", "loopback", id="loopback-range"),
        pytest.param("172.31.255.255", "private", id="172-top"),
        pytest.param("172.32.0.1", None, id="172-outside"),
        pytest.param("100.128.0.1", None, id="cgnat-outside"),
        pytest.param("198.18.0.1", "reserved for benchmarking", id="benchmark"),
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


def test_resolve_host_reads_an_address_without_a_lookup() -> None:
    assert resolve_host("127.0.0.1", 80) == ["127.0.0.1"]
