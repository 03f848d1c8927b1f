"""Where a connection comes from: its client address (behind trusted proxies) and its browser origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``--trusted-proxy`` values (addresses or CIDR ranges) as networks.

    Raises:
        ValueError: a value is neither.
    """
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_ip(remote: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: ``remote``, unless ``remote`` is a trusted proxy.

    Then ``X-Forwarded-For`` is walked from the right (each proxy appends the address it saw) past every
    trusted proxy; the first address not trusted is the client. Anything left of it could be forged by
    the client and is ignored; a malformed entry stops the walk at the last trusted hop.
    """
    address = _ip(remote)
    if address is None or not trusted or not _trusted(address, trusted) or not forwarded_for:
        return str(address) if address is not None else remote
    hop = address
    for entry in reversed(forwarded_for.split(",")):
        candidate = _ip(entry)
        if candidate is None:
            break
        hop = candidate
        if not _trusted(candidate, trusted):
            break
    return str(hop)


def origins_of(url: str) -> set[str]:
    """The browser origins a URL stands for (a protocol-relative ``//host`` means both schemes)."""
    if not url:
        return set()
    parts = urlsplit(url if "//" in url else "//" + url)
    if not parts.netloc:
        return set()
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    schemes = [parts.scheme.lower()] if parts.scheme else ["http", "https"]
    out = set()
    for scheme in schemes:
        default_port = {"http": ":80", "https": ":443"}.get(scheme)
        out.add(f"{scheme}://{host.removesuffix(default_port) if default_port else host}")
    return out


def origin_of(url: str) -> str:
    """The origin (``scheme://host[:port]``) of a URL, as given; empty when it has no host."""
    parts = urlsplit(url if "//" in url else "//" + url)
    if not parts.netloc:
        return ""
    return f"{parts.scheme or 'http'}://{parts.netloc}"


_ORIGIN_VERDICT: Final = "collab.origin_allowed"


class OriginPolicy:
    """Which browser origins may open a connection (against cross-site WebSocket hijacking).

    A browser always sends ``Origin`` on a WebSocket handshake; a page on another site that opens a
    socket to us would ride on the user's wiki cookies. Allowed: the configured origins (always
    including the wiki's own), and this server itself (``Origin`` equal to the ``Host`` the browser
    connected to). A handshake without ``Origin`` comes from a non-browser client, which holds no
    victim's cookies: allowed. ``*`` allows every origin (never do this with cookie sessions).
    """

    def __init__(self, origins: Iterable[str] = (), on_refused: Callable[[str], None] | None = None) -> None:
        self.allowed: set[str] = set()
        self.any = False
        self.on_refused = on_refused
        self.add(*origins)

    def add(self, *urls: str) -> None:
        for url in urls:
            if url.strip() == "*":
                self.any = True
            else:
                self.allowed |= origins_of(url.strip().rstrip("/"))

    def allows(self, origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        """The ``cors_allowed_origins`` callable of python-engineio: ``(origin, environ) -> bool``."""
        if not origin or self.any:
            return True
        environ = environ if environ is not None else {}
        if isinstance(cached := environ.get(_ORIGIN_VERDICT), bool):
            return cached  # python-engineio asks again for the response's CORS headers: count once
        normal = origin.strip().lower().rstrip("/")
        found = normal in self.allowed or normal in own_origins(environ)
        if isinstance(environ, dict):
            environ[_ORIGIN_VERDICT] = found
        if not found and self.on_refused is not None:
            self.on_refused(origin)
        return found


def own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The origins of this server itself, as the browser addressed it (its ``Host`` header)."""
    host = str(environ.get("HTTP_HOST", "")).strip().lower()
    if not host or "/" in host or "@" in host:
        return set()
    return {f"http://{host}".removesuffix(":80"), f"https://{host}".removesuffix(":443")}


def same_origin(environ: Mapping[str, Any]) -> bool:
    """Whether a browser's ``Origin`` (when sent) names this server itself: a cookie sent with the request
    may then be used (a request without ``Origin`` is not a cross-site browser request)."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return True
    return str(origin).strip().lower().rstrip("/") in own_origins(environ)
