"""Running a notebook top to bottom in a real kernel (nbclient), as a user runs it.

Use ``run`` (or ``client``), not a bare ``nbclient.NotebookClient``: its shell channel cannot
sit on an ``execute_reply`` until the cell timeout runs out (below).

Why: nbclient waits for a cell's reply with ``await shell_socket.poll(timeout)`` on a
zmq.asyncio socket, which wakes on the socket's edge-triggered ZMQ_FD. While it waits,
nbclient's stand-in for an Output widget (``interact`` makes one) answers every output the
kernel sends into it with a ``comm_msg`` on the *same* shell socket, and jupyter_client's
``Session.send`` sends it through a blocking shadow of that socket
(``zmq.Socket.shadow(stream.underlying)``), past zmq.asyncio's bookkeeping. When the
``execute_reply`` has just arrived, that send takes the socket's pending "readable" edge and
nothing re-reads ``zmq.EVENTS``, so the poll sleeps the whole cell timeout (300 s) and then,
polling once more, finds the reply and goes on: the five-minute stall of notebook 02
(measured: reply sent by the kernel at t, received at t + timeout, ``zmq_poll(0)`` on the
socket saying "ready" all along). Known upstream, open: jupyter/nbclient#312 and PR #311,
jupyter/jupyter_client PR #1059 (the shadow send in ``Session.send``). The mend is the one
pyzmq applies after its own short-circuited sends (zeromq/pyzmq#1208): after each send on
the shell channel, read ``zmq.EVENTS`` through the asyncio socket, whose ``get`` schedules
the waiting poll when a message is pending.
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type, default

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


class ShellChannel(AsyncZMQSocketChannel):
    """A shell channel whose sends cannot swallow the wake-up of a waiting receive."""

    def send(self, msg):
        super().send(msg)
        self.socket.get(zmq.EVENTS)  # zmq.asyncio: schedules the waiting poll if readable


class KernelClient(AsyncKernelClient):
    shell_channel_class = Type(ShellChannel)


class KernelManager(AsyncKernelManager):
    @default("client_factory")
    def _client_factory_default(self):
        return KernelClient


def client(nb, timeout=180, **kw):
    """A NotebookClient for ``nb`` on the python3 kernel, with the project on the path."""
    import nbclient

    kw.setdefault("resources", {"metadata": {"path": str(NOTEBOOKS)}})
    return nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                                   kernel_manager_class=KernelManager, **kw)


def kernel_env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def run(nb, timeout=180):
    """Execute ``nb`` in place (widget state stored), with the project on the path."""
    client(nb, timeout, store_widget_state=True).execute(env=kernel_env())
    return nb


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
