"""url adapters are probed through the data plane's SSRF guard: a refused address is never connected to."""

from __future__ import annotations

import socket

from gateway.netguard import ConnectGuard
from gateway.netpolicy import AddressPolicy
from gateway.runtimes.remote_probe import RemoteProbes
from tests.support.ports import free_port
from tests.support.waiting import async_wait_for


async def _settled(probes: RemoteProbes, name: str, url: str) -> None:
    await async_wait_for(
        lambda: probes.status(name, url).phase != "Starting", timeout=2, interval=0.02, what=f"{name} to leave Starting"
    )


async def test_the_probe_goes_through_the_ssrf_guard_also_for_names() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    probes = RemoteProbes(ConnectGuard(AddressPolicy()), first_delay=0, retry_interval=10)
    targets = {"by-ip": f"http://127.0.0.1:{port}/mcp", "by-name": f"http://localhost:{port}/mcp"}
    try:
        probes.sync(targets)
        for name, url in targets.items():
            await _settled(probes, name, url)
            status = probes.status(name, url)
            assert status.phase == "Failing", status
            assert (status.last_error or "").startswith("address not allowed"), status.last_error
            assert status.public_error == "its address is not allowed by the SSRF policy"
            assert not probes.routable(name, url)
        try:
            listener.accept()
            raise AssertionError("the probe connected to a refused address")
        except BlockingIOError:
            pass  # nothing ever connected
    finally:
        await probes.close()
        listener.close()


async def test_routing_is_optimistic_until_a_probe_fails_and_forgets_removed_adapters() -> None:
    probes = RemoteProbes(ConnectGuard(AddressPolicy(allow_loopback=True)), first_delay=0.2, retry_interval=10)
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens on it
    try:
        probes.sync({"gone": url})
        assert probes.routable("gone", url) and probes.status("gone", url).phase == "Starting"
        await _settled(probes, "gone", url)
        assert not probes.routable("gone", url)
        assert probes.routable("gone", url.replace("/mcp", "/other"))  # a changed URL starts over
        probes.sync({})
        assert probes.routable("gone", url)
    finally:
        await probes.close()
