"""The notebook harness's shell channel (tests/notebook_kernel.py) wakes on a reply that landed
just before a send on the same socket; jupyter_client's own channel sleeps until its timeout
there (the five-minute stall of notebook 02's tests)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

zmq = pytest.importorskip("zmq")
pytest.importorskip("jupyter_client")

from jupyter_client.session import Session  # noqa: E402
from notebook_kernel import ShellChannel  # noqa: E402


async def _reply_seconds(timeout: float) -> float:
    """Seconds ``get_msg`` takes to return a reply that arrived while the event loop was busy,
    when a comm message (nbclient's Output widget) was sent on the shell socket meanwhile."""
    import zmq.asyncio

    ctx, session = zmq.asyncio.Context(), Session()
    kernel = zmq.Context.instance().socket(zmq.ROUTER)
    port = kernel.bind_to_random_port("tcp://127.0.0.1")
    shell = ctx.socket(zmq.DEALER)
    shell.connect(f"tcp://127.0.0.1:{port}")
    try:
        channel = ShellChannel(shell, session)
        channel.send(session.msg("execute_request", {}))
        ident = kernel.recv_multipart()[0]
        waiting = asyncio.ensure_future(channel.get_msg(timeout=timeout))
        await asyncio.sleep(0.05)  # the client waits for the reply
        session.send(kernel, "execute_reply", {"status": "ok"}, ident=ident)
        time.sleep(0.2)  # the loop is busy (an output being handled) as the reply lands
        channel.send(session.msg("comm_msg", {}))  # the Output widget syncs its state
        start = time.monotonic()
        msg = await waiting
        assert msg["msg_type"] == "execute_reply"
        return time.monotonic() - start
    finally:
        shell.close(0)
        kernel.close(0)
        ctx.term()


def test_a_send_on_the_shell_socket_does_not_hide_a_waiting_reply():
    # on a thread of its own: in the whole suite the browser tests' Playwright keeps an
    # event loop running on the main thread, where asyncio.run refuses to start
    with ThreadPoolExecutor(1) as pool:
        seconds = pool.submit(asyncio.run, _reply_seconds(timeout=10)).result()
    assert seconds < 2  # not the 10 s timeout
