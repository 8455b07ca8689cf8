"""Where a callback may send its POST: the server-side request forgery guard.

A callback URL is checked twice. ``check_url`` runs when the callback is saved
and tells the user at once that an address is refused. ``resolve_destination``
runs when an attempt connects: it resolves the name again, refuses it if any
address is not allowed, and hands back the one checked address to connect to,
so that a DNS answer cannot change between the check and the connection.

Unless private targets are allowed by configuration, only public unicast
addresses are accepted. The decision is made by the tables below rather than
by ``ipaddress``'s ``is_private`` and friends, whose answers differ between
Python versions. Everything here is pure but for ``resolve_host``, which the
callers may replace (the tests always do).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import string
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

from app.errors import DestinationNotAllowed

MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = {"http": 80, "https": 443}
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_HOST_CHARACTERS = re.compile(r"[a-z0-9_.-]+")
# One part of a numeric IPv4 spelling as inet_aton reads it: 0x hex, 0 octal,
# else decimal. Browsers read hosts the same way, so "0x7f.1" is 127.0.0.1.
_NUMBER_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")

_V4_REFUSED = [
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "reserved, 'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space, carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved for IETF protocol assignments"),
    ("192.0.2.0/24", "reserved for documentation"),
    ("192.88.99.0/24", "reserved, 6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved for benchmarking"),
    ("198.51.100.0/24", "reserved for documentation"),
    ("203.0.113.0/24", "reserved for documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
]
_V6_REFUSED = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private, local-use NAT64"),
    ("100::/64", "reserved, discard-only"),
    ("2001::/23", "reserved for IETF protocol assignments"),
    ("2001:db8::/32", "reserved for documentation"),
    ("2002::/16", "reserved, 6to4"),
    ("3fff::/20", "reserved for documentation"),
    ("fc00::/7", "private, unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "reserved, site-local"),
    ("ff00::/8", "multicast"),
]
_REFUSED = [
    (ipaddress.ip_network(network), kind) for network, kind in _V4_REFUSED + _V6_REFUSED
]
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet really goes
# to: IPv4-mapped, IPv4-compatible and well-known NAT64.
_EMBEDDING_V4 = [
    ipaddress.ip_network(network)
    for network in ("::ffff:0:0/96", "::/96", "64:ff9b::/96")
]


@dataclass(frozen=True)
class Destination:
    """Where one attempt connects: ``ip`` is the checked address to dial.

    ``host`` is what the Host header and TLS (SNI, certificate check) name;
    ``target`` is the path with its query, as sent on the request line.
    """

    scheme: str
    host: str
    port: int
    target: str
    ip: str


def resolve_host(host: str, port: int) -> list[str]:
    """Return the addresses ``host`` resolves to, in the resolver's order.

    Raises ``OSError`` (``socket.gaierror``) when the name does not resolve.
    """
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def check_url(
    url: str, *, allow_private: bool, resolve: Resolver = resolve_host
) -> None:
    """Refuse, with ``DestinationNotAllowed``, a URL a callback may not use.

    The URL must be http or https, name a host and be at most 2048 characters,
    without spaces, control characters or user:password credentials. Unless
    ``allow_private``, its host must be a public address or a name all of whose
    addresses are public. A name that does not resolve is refused too, as
    nothing shows it is public; with ``allow_private`` nothing is looked up,
    so a receiver whose name does not exist yet may be registered, and the
    check is left to ``resolve_destination`` at connect time.
    """
    _, host, port, _ = _split(url)
    if allow_private:
        return

    _refuse_private(url, host, port, resolve)


def resolve_destination(
    url: str,
    *,
    allow_private: bool,
    resolve: Resolver = resolve_host,
    checked: MutableMapping[tuple[str, int], str] | None = None,
) -> Destination:
    """Check ``url`` again at connect time and pin the address to connect to.

    Every address the host resolves to must be allowed, else
    ``DestinationNotAllowed`` with a reason starting "destination not
    allowed:". The first address is returned; nothing is looked up later.
    ``OSError`` from ``resolve`` (the name does not resolve) propagates.

    ``checked``, if given, remembers the address pinned for each allowed
    (host, port) and is read before looking up and checking again. Whether a
    host is allowed depends on nothing but the host (in its canonical form),
    its port, ``allow_private`` and ``resolve``'s answer, so a caller may keep
    it exactly as long as it would keep that answer, and no longer; only
    allowed hosts are remembered, so a refusal is always worked out afresh.
    """
    try:
        scheme, host, port, target = _split(url)
        ip = checked.get((host, port)) if checked is not None else None
        if ip is None:
            ip = str(_addresses(url, host, port, resolve, allow_private)[0])
    except DestinationNotAllowed as refusal:
        reason = f"destination not allowed: {refusal.reason}"
        raise DestinationNotAllowed(url, reason) from None

    if checked is not None:
        checked[(host, port)] = ip
    return Destination(scheme, host, port, target, ip)


def address_problem(address: IPAddress) -> str | None:
    """Say why ``address`` is not public, or return None when it is."""
    for network in _EMBEDDING_V4:
        if address.version == 6 and address in network and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            problem = address_problem(embedded)
            return problem and f"{problem}, embedded as {embedded}"

    for network, kind in _REFUSED:
        if address.version == network.version and address in network:
            return kind
    return None


def _split(url: str) -> tuple[str, str, int, str]:
    """Check the URL's shape and return its scheme, host, port and target."""
    if len(url) > MAX_URL_LENGTH:
        reason = f"URL must be at most {MAX_URL_LENGTH} characters, got {len(url)}"
        raise DestinationNotAllowed(url, reason)
    if any(character <= " " or character == "\x7f" for character in url):
        reason = "URL must not contain spaces or control characters"
        raise DestinationNotAllowed(url, f"{reason}, got {url!r}")

    parts = _parse(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        reason = f"URL scheme must be http or https, got {parts.scheme!r}"
        raise DestinationNotAllowed(url, reason)
    if parts.username is not None or parts.password is not None:
        reason = "URL must not carry user:password credentials; signatures authenticate"
        raise DestinationNotAllowed(url, reason)

    host = _host(url, parts)
    port = _port(url, parts) or _SCHEMES[scheme]
    target = quote(parts.path or "/", safe=string.punctuation)
    if parts.query:
        target += "?" + quote(parts.query, safe=string.punctuation)
    return scheme, host, port, target


def _parse(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as error:
        raise DestinationNotAllowed(url, f"URL must be well formed: {error}") from None


def _host(url: str, parts: SplitResult) -> str:
    """Return the host in canonical form: an IP address as text, or an ASCII name."""
    raw = parts.hostname or ""
    if not raw:
        raise DestinationNotAllowed(url, f"URL must name a host, got {url!r}")

    literal = _literal_address(url, raw)
    if literal is not None:
        return str(literal)

    try:
        name = raw.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    if not _HOST_CHARACTERS.fullmatch(name) or ".." in name:
        reason = f"URL host must be a domain name or an IP address, got {raw!r}"
        raise DestinationNotAllowed(url, reason)
    return name


def _port(url: str, parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        reason = f"URL port must be a number from 1 to 65535, got {parts.netloc!r}"
        raise DestinationNotAllowed(url, reason)
    return port


def _literal_address(url: str, host: str) -> IPAddress | None:
    """Read ``host`` as an IP address the way libc and browsers would, if it is one."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            reason = f"URL host must be a valid IPv6 address, got {host!r}"
            raise DestinationNotAllowed(url, reason) from None

    numbers = host.removesuffix(".").split(".")
    if not all(_NUMBER_PART.fullmatch(number) for number in numbers):
        return None

    value = _inet_aton(numbers)
    if value is None:
        reason = f"URL host looks numeric but is no IPv4 address, got {host!r}"
        raise DestinationNotAllowed(url, reason)
    return ipaddress.IPv4Address(value)


def _inet_aton(numbers: list[str]) -> int | None:
    """Combine 1 to 4 numeric parts as inet_aton does: the last fills the rest."""
    try:
        values = [_c_number(number) for number in numbers]
    except ValueError:
        return None
    if len(values) > 4:
        return None

    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    value = 0
    for part in leading:
        value = value << 8 | part
    return value << (8 * (5 - len(values))) | last


def _c_number(number: str) -> int:
    """Read one part as C does: "0x" starts hex, a leading "0" octal."""
    if number[:2].lower() == "0x":
        return int(number[2:] or "0", 16)
    if number[:1] == "0":
        return int(number, 8)
    return int(number)


def _addresses(
    url: str, host: str, port: int, resolve: Resolver, allow_private: bool
) -> list[IPAddress]:
    """Resolve ``host`` (unless it is an address) and refuse what is not allowed."""
    if not allow_private:
        _refuse_local_name(url, host)

    literal = _try_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        answers = resolve(host, port)
        addresses = [_address_or_refuse(url, host, answer) for answer in answers]
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} resolved to nothing")

    if not allow_private:
        for address in addresses:
            _refuse_address(url, host, address)
    return addresses


def _refuse_private(url: str, host: str, port: int, resolve: Resolver) -> None:
    try:
        _addresses(url, host, port, resolve, allow_private=False)
    except OSError:
        reason = f"URL host must resolve, got {host!r}, which does not resolve"
        raise DestinationNotAllowed(url, reason) from None


def _refuse_local_name(url: str, host: str) -> None:
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        reason = f"URL host must be a public address, got {host!r} (this machine)"
        raise DestinationNotAllowed(url, reason)


def _refuse_address(url: str, host: str, address: IPAddress) -> None:
    problem = address_problem(address)
    if problem is None:
        return

    spelled = urlsplit(url).hostname
    if _try_address(host) is None:
        shown = f"{host!r}, which resolves to {address}"
    elif address.version == 6 or spelled == str(address):
        shown = repr(spelled)
    else:
        shown = f"{spelled!r}, which is {address}"
    reason = f"URL host must be a public address, got {shown} ({problem})"
    raise DestinationNotAllowed(url, reason)


def _try_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _address_or_refuse(url: str, host: str, answer: str) -> IPAddress:
    """Parse one resolver answer; a scoped IPv6 answer keeps only its address."""
    address = _try_address(answer.split("%", 1)[0])
    if address is None:
        reason = f"URL host must resolve to IP addresses, got {host!r} -> {answer!r}"
        raise DestinationNotAllowed(url, reason)
    return address
