"""Where webhooks may go, and going there without being redirected by DNS.

An endpoint's host is resolved once per attempt; every address it resolves to must be
public (not private, loopback, link-local, multicast, reserved, shared or unspecified —
IPv4-mapped IPv6 judged as the IPv4 it maps) unless it lies in a network that
settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS allows. The request then connects to the
address that was checked (the URL's host replaced by it, `Host` and TLS SNI keeping the
name, certificates verified against the name), so a DNS answer that changes between
the check and the connection (rebinding) cannot send it elsewhere. Redirects are not
followed, and no proxy from the environment is used.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message says why (shown to the project's admins)."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL  # with the checked address in place of the host
    host: str  # the name, for Host and SNI
    address: str


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the tests replace this)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve ({exc}).") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@cache
def _allowed(raw: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in raw)


def address_refusal(address: str, *, name: str = "") -> str | None:
    """Why webhooks may not go to `address` (which `name` resolved to, if given), or None
    when they may."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # no IPv6 zone
    except ValueError:
        return f"{address} is not an IP address."
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _allowed(tuple(settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS))):
        return None
    if ip.is_loopback:
        kind = "a loopback"
    elif ip.is_link_local:
        kind = "a link-local"
    elif ip.is_private:
        kind = "a private"
    elif ip.is_multicast:
        kind = "a multicast"
    elif ip.is_unspecified or ip.is_reserved or not ip.is_global:
        kind = "a reserved (non-public)"
    else:
        return None
    what = f"{name} resolves to {ip}, {kind} address" if name else f"{ip} is {kind} address"
    return (
        f"{what}: webhooks go only to public addresses "
        "(STUDIO_WEBHOOK_ALLOWED_NETWORKS can allow a network)."
    )


def url_refusal(url: str) -> str | None:
    """What is wrong with an endpoint URL before any lookup (scheme, host, literal
    address), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Use an http:// or https:// URL."
    if not parts.hostname:
        return "The URL has no host."
    if parts.username or parts.password:
        return "Put no user name or password in the URL."
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "The URL's port is not a number from 0 to 65535."
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None  # a name: checked when it is resolved
    return address_refusal(parts.hostname)


def target(url: str) -> Target:
    """Resolve the URL's host now and check every address; Refused if any may not be
    reached. The Target connects to the first one."""
    why = url_refusal(url)
    if why:
        raise Refused(why)
    parsed = httpx.URL(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not addresses:
        raise Refused(f"{host} resolves to no address.")
    for address in addresses:
        why = address_refusal(address, name="" if address == host else host)
        if why:
            raise Refused(why)
    return Target(url=parsed.copy_with(host=addresses[0]), host=host, address=addresses[0])


def pinned_request(
    client: httpx.Client, to: Target, *, body: bytes, headers: dict[str, str], timeout_s: float
) -> httpx.Request:
    """A POST to the checked address that still names the host (Host header, TLS SNI and
    certificate check)."""
    name = f"[{to.host}]" if ":" in to.host else to.host
    host_header = name if to.url.port is None else f"{name}:{to.url.port}"
    return client.build_request(
        "POST",
        to.url,
        content=body,
        headers={**headers, "host": host_header},
        timeout=httpx.Timeout(timeout_s),
        extensions={"sni_hostname": to.host} if to.url.scheme == "https" else {},
    )


def new_client() -> httpx.Client:
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would connect by name, unchecked
        headers={"user-agent": "proof-studio-webhooks/0.1"},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=0),
    )
