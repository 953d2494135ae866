"""Geo restriction: a client's country from a configured IP-range table, and per-title allowed countries.

The client address is the TCP peer, unless the peer is a trusted proxy: then ``X-Forwarded-For`` is read
from the right, skipping trusted proxies, and the first untrusted address is the client. A header from
anyone else is ignored, so a viewer cannot claim another country by sending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from edge.errors import EdgeError

__all__ = ["Geo", "IPTable"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _net(text: str) -> _Net:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise EdgeError(f"{text!r} is not an IP network (CIDR)") from None


def _addr(text: str) -> _Addr | None:
    try:
        a = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return a.ipv4_mapped or a if isinstance(a, ipaddress.IPv6Address) else a


class IPTable:
    """CIDR -> country code; the longest matching prefix wins."""

    def __init__(self, ranges: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = ranges.items() if isinstance(ranges, Mapping) else ranges
        rows = [(_net(cidr), country.strip().upper()) for cidr, country in items]
        self._rows = sorted(rows, key=lambda r: r[0].prefixlen, reverse=True)

    @classmethod
    def parse(cls, text: str) -> IPTable:
        """A table from text lines ``CIDR COUNTRY`` (or ``CIDR,COUNTRY``); ``#`` starts a comment."""
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].replace(",", " ").strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise EdgeError(f"IP table line {n}: expected 'CIDR COUNTRY', got {line!r}")
            rows.append((parts[0], parts[1]))
        return cls(rows)

    def country(self, addr: _Addr | None) -> str | None:
        if addr is None:
            return None
        for net, country in self._rows:
            if addr.version == net.version and addr in net:
                return country
        return None


@dataclass
class Geo:
    """Which titles are limited to which countries, and how to find a client's address and country."""

    table: IPTable = field(default_factory=IPTable)
    titles: dict[str, frozenset[str]] = field(default_factory=dict)
    trusted_proxies: tuple[_Net, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        table: IPTable | None = None,
        titles: Mapping[str, Iterable[str]] | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> Geo:
        return cls(
            table=table or IPTable(),
            titles={t: frozenset(c.upper() for c in cs) for t, cs in (titles or {}).items()},
            trusted_proxies=tuple(_net(p) for p in trusted_proxies),
        )

    def _trusted(self, addr: _Addr | None) -> bool:
        return addr is not None and any(addr.version == n.version and addr in n for n in self.trusted_proxies)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> _Addr | None:
        """The viewer's address: the peer, or the right-most untrusted hop of X-Forwarded-For when the peer
        is a trusted proxy."""
        addr = _addr(peer) if peer else None
        if not forwarded_for or not self._trusted(addr):
            return addr
        for hop in reversed(forwarded_for.split(",")):
            hop_addr = _addr(hop)
            if hop_addr is None:
                return addr  # garbage in the chain: stop at the last address we could trust
            if not self._trusted(hop_addr):
                return hop_addr
            addr = hop_addr
        return addr

    def allowed(self, title: str, peer: str | None, forwarded_for: str | None) -> bool:
        """True when ``title`` is unrestricted or the client's country is one it may be shown in."""
        countries = self.titles.get(title)
        if countries is None:
            return True
        return self.table.country(self.client_address(peer, forwarded_for)) in countries
