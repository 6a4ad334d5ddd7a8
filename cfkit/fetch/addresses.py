"""Which addresses a user-given URL may reach: public ones only, unless its host is allowed by name.

A host is checked when its name is resolved for a connection, and the connection goes to the very
addresses that were checked (:class:`PublicOnlyBackend`), so a resolver that answers a public address
to a first lookup and a private one to the next (DNS rebinding) never gets a request through.
Loopback, private, link-local, reserved, multicast and other non-global addresses are refused
(``private_address``), redirect hops included; ``allow_hosts`` names hosts exempt from the check
(``--allow-host``, e.g. an intranet mirror).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
import httpx

from cfkit.fetch.reasons import Reject


def non_public(address: str) -> bool:
    """Whether ``address`` (an IP literal) is not a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return not ip.is_global or ip.is_multicast


def public_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, or :class:`Reject` ``private_address`` naming the first that is
    not public (``network`` when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise Reject("network", f"cannot resolve {host}: {e}", retry=True) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if non_public(address):
            raise Reject("private_address", f"{host} resolves to {address}, not a public address")
    return addresses


def check_host(host: str, allow_hosts: tuple[str, ...]) -> None:
    """:class:`Reject` ``private_address`` where ``host`` (not in ``allow_hosts``) resolves to a non-public
    address (a name that does not resolve is left to the connection to fail)."""
    if host.lower() in allow_hosts:
        return
    try:
        public_addresses(host, 0)
    except Reject as e:
        if e.reason == "private_address":
            raise


def check_url(url: str, allow_hosts: tuple[str, ...]) -> None:
    """:func:`check_host` for ``url``'s host, before any request."""
    check_host(urlsplit(url).hostname or "", allow_hosts)


class PublicOnlyBackend(httpcore.SyncBackend):
    """httpcore's network backend that resolves each host once, refuses it unless every address is public
    (or the host is in ``allow_hosts``), and connects to those checked addresses only."""

    def __init__(self, allow_hosts: tuple[str, ...]):
        self.allow_hosts = allow_hosts

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        name = host.decode() if isinstance(host, bytes) else host
        if name.lower() in self.allow_hosts:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = public_addresses(name, port)
        for i, address in enumerate(addresses):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                if i == len(addresses) - 1:
                    raise
        raise httpcore.ConnectError(f"{name} has no address")


def public_transport(allow_hosts: tuple[str, ...], limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport (``limits`` as httpx would apply them) whose connections go through
    :class:`PublicOnlyBackend`; environment proxies are not used: the checked address is the one connected to."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(  # httpx takes no network backend; its pool does
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PublicOnlyBackend(allow_hosts),
    )
    return transport
