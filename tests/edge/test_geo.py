"""Client countries from an IP table, X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from edge.errors import EdgeError
from edge.geo import Geo, IPTable

TABLE = IPTable.parse(
    """
    # cidr country
    10.0.0.0/8 FR
    10.1.0.0/16 DE      # more specific wins
    2001:db8::/32, US
    """
)


def test_longest_prefix_wins():
    geo = Geo.build(table=TABLE)
    assert TABLE.country(geo.client_address("10.2.3.4", None)) == "FR"
    assert TABLE.country(geo.client_address("10.1.3.4", None)) == "DE"
    assert TABLE.country(geo.client_address("2001:db8::1", None)) == "US"
    assert TABLE.country(geo.client_address("::ffff:10.1.0.1", None)) == "DE"
    assert TABLE.country(geo.client_address("192.0.2.1", None)) is None


def test_forwarded_for_is_honoured_only_from_trusted_proxies():
    geo = Geo.build(table=TABLE, titles={"film": ["DE"]}, trusted_proxies=["127.0.0.0/8", "192.168.0.0/16"])
    # Direct client claiming to be German: ignored.
    assert not geo.allowed("film", "10.2.0.1", "10.1.0.1")
    # Through a trusted proxy: the header counts.
    assert geo.allowed("film", "127.0.0.1", "10.1.0.1")
    # Chain: client, trusted hop, proxy. The right-most untrusted address is the client; a forged
    # left-most entry (client-supplied) is ignored.
    assert geo.allowed("film", "127.0.0.1", "10.2.0.9, 10.1.0.1, 192.168.1.1")
    assert not geo.allowed("film", "127.0.0.1", "10.1.0.1, 10.2.0.9")
    assert not geo.allowed("film", "127.0.0.1", "garbage")
    # Unrestricted titles are open to everyone.
    assert geo.allowed("other", "192.0.2.1", None)


def test_bad_table_lines_are_errors():
    with pytest.raises(EdgeError, match="line 1"):
        IPTable.parse("10.0.0.0/8")
    with pytest.raises(EdgeError, match="CIDR"):
        IPTable.parse("not-a-net FR")
