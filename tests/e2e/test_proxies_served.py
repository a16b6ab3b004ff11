"""Trusted proxies, by requests to the served process (SPEC §10 ``CASESTORE_TRUSTED_PROXIES``).

The applicant's view counts failed look-ups per client address (``api.ratelimit``:
``CLIENT_FAILURES`` = 100 in 15 minutes, then 429). A guesser who could choose the
address the count keys on by sending ``X-Forwarded-For`` would reset it at will, as
uvicorn's default (trusting forwarded headers from loopback) allowed. Here one
``casestore serve`` trusts only 127.0.0.2, the "proxy": the tests connect from
127.0.0.1 (anyone) and from 127.0.0.2 (the proxy), both loopback addresses of this
host, so what is tested is the server's own view of the socket peer.

Every look-up uses a case number of its own, so the per-case limit (10) never answers
for the per-address one.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from itertools import count

import httpx
import pytest

from tests.e2e.conftest import CASESTORE, _env, _free_port, _stop, cli

#: ``api.ratelimit.CLIENT_FAILURES``, written here by hand: the allowance per address.
ALLOWED = 100
PROXY = "127.0.0.2"
ANYONE = "127.0.0.1"
_numbers = count(1)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("proxies")
    db = f"sqlite:///{workdir / 'casestore.db'}"
    cli("catalogue", "--db", db)
    port = _free_port()
    log = workdir / "serve.log"
    env = _env(CASESTORE_TRUSTED_PROXIES=PROXY)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CASESTORE, "serve", "--db", db, "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


def _from(base: str, peer: str) -> httpx.Client:
    """A client whose connections leave from ``peer`` (a loopback address of this host)."""
    transport = httpx.HTTPTransport(local_address=peer)
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def _look_up(client: httpx.Client, forwarded: str | None = None) -> int:
    """One failed look-up (a case number nobody has); the status it got."""
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    number = f"NOPE-{next(_numbers)}"
    return client.get(f"/public/cases/{number}", params={"code": "000000"},
                      headers=headers).status_code  # fmt: skip


def test_a_forged_header_from_an_untrusted_peer_does_not_reset_the_guessing_limit(
    base: str,
) -> None:
    with _from(base, ANYONE) as anyone:
        statuses = [_look_up(anyone, f"203.0.113.{i % 250 + 1}") for i in range(ALLOWED)]
        assert statuses == [404] * ALLOWED  # each "from" a new address; all counted on one
        assert _look_up(anyone, "198.51.100.250") == 429  # yet another forged address
        assert _look_up(anyone) == 429
    with _from(base, PROXY) as proxy:
        # the forged addresses were never charged: through the proxy one of them is free
        assert _look_up(proxy, "203.0.113.1") == 404


def test_a_trusted_proxy_s_header_names_the_client_the_limit_keys_on(base: str) -> None:
    client, other = "192.0.2.7", "192.0.2.8"
    with _from(base, PROXY) as proxy:
        assert [_look_up(proxy, client) for _ in range(ALLOWED)] == [404] * ALLOWED
        assert _look_up(proxy, client) == 429
        # the rightmost address the proxy added is the client's; what the client itself
        # put in front of it does not change who it is
        assert _look_up(proxy, f"{other}, {client}") == 429
        assert _look_up(proxy, f"{client}, {PROXY}") == 429  # a chain of trusted proxies
        # another client behind the same proxy, and the proxy itself, are not locked out
        assert _look_up(proxy, other) == 404
        assert _look_up(proxy) == 404
