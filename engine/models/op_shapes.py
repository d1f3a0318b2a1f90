"""Output shapes of graph operations before any data (broadcasting rules and friends).

A rule takes the operation's positional arguments (a :class:`Sym` for each tensor, the value
itself for a constant) and its config params, and returns the output shape, or None when it
cannot tell (the caller then uses the shape Keras recorded). A shape that cannot work
(``(None, 3) + (None, 4)``) is a ValueError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Shape = tuple[Any, ...]


class Sym:
    """A symbolic tensor: its shape (a tuple, None sizes unknown) or None when unknown."""

    __slots__ = ("shape",)

    def __init__(self, shape: Any):
        self.shape = tuple(shape) if isinstance(shape, (list, tuple)) else None

    def __repr__(self) -> str:
        return f"Sym{self.shape}"


def shape_of(v: Any) -> Shape | None:
    """The shape of an argument: a tensor's (maybe unknown) or a constant's."""
    if isinstance(v, Sym):
        return v.shape
    if isinstance(v, (bool, int, float, complex)) or v is None:
        return ()
    try:
        return tuple(np.shape(v))
    except ValueError:  # ragged nested lists
        return None


def broadcast(*shapes: Shape | None) -> Shape | None:
    """NumPy broadcasting with unknown (None) sizes."""
    if any(s is None for s in shapes):
        return None
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dims = [s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {', '.join(_fmt(s) for s in shapes)} do not broadcast "
                             f"(axis {i - ndim}: sizes {sorted(known)})")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _fmt(s: Shape | None) -> str:
    return "unknown" if s is None else "(" + ", ".join("None" if d is None else str(d)
                                                      for d in s) + ")"


def _axis(a: int, ndim: int) -> int:
    if not isinstance(a, int) or not -ndim <= a < ndim:
        raise ValueError(f"axis {a!r} is out of range for rank {ndim}")
    return a % ndim


def elementwise(args: list[Any], params: dict[str, Any]) -> Shape | None:
    return broadcast(*(shape_of(a) for a in args))


def same(args: list[Any], params: dict[str, Any]) -> Shape | None:
    return shape_of(args[0]) if args else None


def reduce(args: list[Any], params: dict[str, Any]) -> Shape | None:
    s = shape_of(args[0])
    if s is None:
        return None
    axis = params.get("axis")
    keep = bool(params.get("keepdims", False))
    axes = set(range(len(s))) if axis is None else \
        {_axis(a, len(s)) for a in (axis if isinstance(axis, (list, tuple)) else [axis])}
    return tuple((1 if i in axes else d) for i, d in enumerate(s) if keep or i not in axes)


def reshape(args: list[Any], params: dict[str, Any]) -> Shape | None:
    s = shape_of(args[0])
    new = params.get("newshape")
    if s is None or not isinstance(new, (list, tuple)):
        return None
    new = tuple(None if d is None else int(d) for d in new)
    if -1 in new:
        rest = [d for d in new if d != -1]
        if None in s[1:] or None in rest or s[0] is None and rest[:1] != [None]:
            return tuple(None if d == -1 else d for d in new)
        total = int(np.prod([d for d in s if d is not None]))
        part = int(np.prod([d for d in rest if d is not None])) or 1
        if total % part:
            raise ValueError(f"cannot reshape {_fmt(s)} to {new}")
        return tuple(total // part if d == -1 else d for d in new)
    return new


def transpose(args: list[Any], params: dict[str, Any]) -> Shape | None:
    s = shape_of(args[0])
    if s is None:
        return None
    axes = params.get("axes")
    if axes is None:
        return tuple(reversed(s))
    if sorted(_axis(a, len(s)) for a in axes) != list(range(len(s))):
        raise ValueError(f"axes {axes} are not a permutation for rank {len(s)}")
    return tuple(s[_axis(a, len(s))] for a in axes)


def expand_dims(args: list[Any], params: dict[str, Any]) -> Shape | None:
    s = shape_of(args[0])
    if s is None:
        return None
    axis = params.get("axis")
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    out: list[Any] = list(s)
    ndim = len(s) + len(axes)
    for a in sorted(_axis(a, ndim) for a in axes):
        out.insert(a, 1)
    return tuple(out)


def squeeze(args: list[Any], params: dict[str, Any]) -> Shape | None:
    s = shape_of(args[0])
    if s is None:
        return None
    axis = params.get("axis")
    if axis is None:
        if None in s:
            return None
        return tuple(d for d in s if d != 1)
    axes = {_axis(a, len(s)) for a in (axis if isinstance(axis, (list, tuple)) else [axis])}
    for a in axes:
        if s[a] not in (1, None):
            raise ValueError(f"cannot squeeze axis {a} of size {s[a]}")
    return tuple(d for i, d in enumerate(s) if i not in axes)


def _many(args: list[Any]) -> list[Shape | None]:
    first = args[0] if args else []
    items = first if isinstance(first, (list, tuple)) else args
    return [shape_of(a) for a in items]


def concatenate(args: list[Any], params: dict[str, Any]) -> Shape | None:
    shapes = _many(args)
    if not shapes or any(s is None for s in shapes):
        return None
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes):
        raise ValueError(f"cannot concatenate shapes of different ranks: "
                         f"{', '.join(_fmt(s) for s in shapes)}")
    axis = _axis(params.get("axis", 0), ndim)
    out = []
    for i in range(ndim):
        dims = [s[i] for s in shapes]
        if i == axis:
            out.append(None if None in dims else sum(dims))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ValueError(f"cannot concatenate {', '.join(_fmt(s) for s in shapes)} on "
                             f"axis {axis}: axis {i} differs")
        out.append(known.pop() if known else None)
    return tuple(out)


def stack(args: list[Any], params: dict[str, Any]) -> Shape | None:
    shapes = _many(args)
    if not shapes or any(s is None for s in shapes):
        return None
    base = broadcast(*shapes)
    if base is None or any(len(s) != len(base) for s in shapes):
        raise ValueError(f"cannot stack shapes {', '.join(_fmt(s) for s in shapes)}")
    axis = _axis(params.get("axis", 0), len(base) + 1)
    return base[:axis] + (len(shapes),) + base[axis:]


def matmul(args: list[Any], params: dict[str, Any]) -> Shape | None:
    a, b = shape_of(args[0]), shape_of(args[1]) if len(args) > 1 else None
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise ValueError(f"matmul of {_fmt(a)} and {_fmt(b)}: inner sizes differ")
    batch = broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])


def where(args: list[Any], params: dict[str, Any]) -> Shape | None:
    if len(args) != 3:
        return None
    return broadcast(*(shape_of(a) for a in args))


def getitem(args: list[Any], params: dict[str, Any]) -> Shape | None:
    """``x[key]`` for ints, slices, ``...`` and None (new axis); fancy indexing: unknown."""
    s = shape_of(args[0]) if args else None
    if s is None or len(args) < 2:
        return None
    key = args[1]
    key = list(key) if isinstance(key, (list, tuple)) else [key]
    if any(not (k is None or k is Ellipsis or isinstance(k, slice) or
                (isinstance(k, int) and not isinstance(k, bool))) for k in key):
        return None
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if used > len(s):
        raise ValueError(f"too many indices ({used}) for rank {len(s)}")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + [slice(None)] * (len(s) - used) + key[i + 1:]
    key += [slice(None)] * (len(s) - sum(1 for k in key if k is not None))
    out: list[Any] = []
    dims = iter(s)
    for k in key:
        if k is None:
            out.append(1)
            continue
        d = next(dims)
        if isinstance(k, int):
            if d is not None and not -d <= k < d:
                raise ValueError(f"index {k} is out of range for size {d}")
        elif d is not None:
            out.append(len(range(*k.indices(d))))
        else:
            out.append(None if (k.start, k.stop, k.step) != (None, None, None) else d)
    return tuple(out)


Rule = Callable[[list[Any], dict[str, Any]], "Shape | None"]
