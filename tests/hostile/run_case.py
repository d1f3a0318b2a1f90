"""Run one hostile case in this process, under a memory cap; print one JSON line.

Usage: ``python -m tests.hostile.run_case CASE.json [CASE.json ...] [--max-mb N]``

The case (written by ``tests.hostile.generate``) says what to do with the engine:
``deserialize`` a config (``kwargs`` go to ``engine.deserialize``; ``deep`` and ``cycle``
nest a list or the config itself where JSON cannot), optionally ``build`` it, then call it
on an input of ones made from ``input`` (``shape``, ``dtype``); or ``engine.load`` the file
``load`` (under the case's folder ``files/``, or an absolute path; ``fifo``: a named pipe
made now) with ``load_kwargs``, after lowering the ``engine.files.safety`` limits named in
``limits``. Several cases run one after the other in the same process (one line each; the
peak is reset before each case where Linux allows it).
The printed line holds the outcome: ``error`` (the exception's class name,
or null), ``family`` (whether it is one of the documented errors), ``message`` (cut),
``peak_mb`` (peak resident memory) and ``seconds``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

#: the documented error family: what a user's input may raise
FAMILY = ("ConfigError", "BudgetError", "WeightsError", "FileError", "UnsafeFileError",
          "UnsafeConfigError", "InputError", "MultipleConfigErrors")


def _cap_memory(max_mb: int) -> None:
    limit = max_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _reset_peak() -> None:
    """Start the next case's peak from the current memory (Linux: clear_refs 5 resets
    VmHWM); elsewhere the peak stays the process's so far, an upper bound."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss would include the parent's
    peak, which Linux carries across fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_input(spec: dict):
    import numpy as np

    arr = np.ones(tuple(spec["shape"]), dtype=spec.get("dtype", "float32"))
    if arr.dtype.kind == "c":
        arr = arr * (1 + 2j)  # a real imaginary part, which Dense used to drop
    return arr


def _load(case: dict, folder: str) -> None:
    import tempfile

    import engine
    from engine.files import safety

    saved = {k: getattr(safety, k) for k in case.get("limits", {})}
    try:
        for k, v in case.get("limits", {}).items():
            setattr(safety, k, v)
        with tempfile.TemporaryDirectory() as tmp:
            if case.get("fifo"):
                target = os.path.join(tmp, "model.keras")
                os.mkfifo(target)
            elif os.path.isabs(case["load"]):
                target = case["load"]
            else:
                target = os.path.normpath(os.path.join(folder, "files", case["load"]))
            model = engine.load(target, **case.get("load_kwargs", {}))
            model.close()
    finally:
        for k, v in saved.items():
            setattr(safety, k, v)


def run(case: dict, folder: str = ".") -> None:
    import engine

    if "load" in case:
        _load(case, folder)
        return
    kwargs = case.get("kwargs", {})
    config = case["config"]
    if "deep" in case:  # lists nested deeper than JSON text can carry
        v: object = 1.0
        for _ in range(case["deep"]["depth"]):
            v = [v]
        config["config"][case["deep"]["key"]] = v
    if "cycle" in case:  # a config that contains itself
        config["config"][case["cycle"]] = config
    obj = engine.deserialize(config, **kwargs)
    if "build" in case:
        obj.build(tuple(case["build"]))
    if "input" in case:
        x = _make_input(case["input"])
        obj(x)


def main(argv: list[str]) -> int:
    max_mb = int(argv[argv.index("--max-mb") + 1]) if "--max-mb" in argv else 1536
    paths = [a for i, a in enumerate(argv) if not a.startswith("--") and
             (i == 0 or argv[i - 1] != "--max-mb")]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _cap_memory(max_mb)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            case = json.load(fh)
        _reset_peak()
        start = time.perf_counter()
        error, message = None, ""
        try:
            run(case, os.path.dirname(os.path.abspath(path)))
        except BaseException as e:  # the outcome is what we report, whatever it is
            error, message = type(e).__name__, str(e)
        seconds = time.perf_counter() - start
        peak_mb = _peak_rss_mb()
        print(json.dumps({"name": case.get("name"), "error": error,
                          "family": error in FAMILY, "message": message[:500],
                          "message_chars": len(message), "peak_mb": round(peak_mb, 1),
                          "seconds": round(seconds, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
