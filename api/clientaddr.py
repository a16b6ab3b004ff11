"""The real client address, trusting forwarded headers only from known proxies.

``CASESTORE_TRUSTED_PROXIES`` lists addresses or networks (``10.0.0.5,10.1.0.0/16``) of
the reverse proxies in front of the API. A request whose socket peer is one of them is
attributed to the rightmost ``X-Forwarded-For`` entry that is not itself a trusted
proxy; from anyone else the header is ignored, since anyone can send one. Empty (the
default) trusts no one, loopback included — uvicorn's own proxy handling is switched
off (it would trust ``127.0.0.1``), so the guessing limits of ``/public`` key on the
address that really connected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from starlette.requests import Request

from casestore.identity import BadConfiguration

PROXIES_ENV: Final = "CASESTORE_TRUSTED_PROXIES"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Which peers may tell us who the client is."""

    def __init__(self, setting: str | Iterable[str | Network] = "") -> None:
        """``setting``: the networks (as the settings hold them), or their text form."""
        self.networks: list[Network] = []
        for part in setting.split(",") if isinstance(setting, str) else setting:
            if not isinstance(part, str):
                self.networks.append(part)
                continue
            part = part.strip()
            if not part:
                continue
            try:
                self.networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise BadConfiguration(f"{PROXIES_ENV}: {part!r} is not an address") from None

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, request: Request) -> str:
        """The address the guessing limits and logs attribute a request to."""
        peer = request.client.host if request.client else "unknown"
        if not self.networks or not self.trusts(peer):
            return peer
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a malformed entry: fall back to the proxy itself
        return peer
