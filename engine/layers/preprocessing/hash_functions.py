"""TensorFlow's string hashes, in pure Python/NumPy.

* :func:`fingerprint64`: FarmHash ``Fingerprint64`` (``farmhashna::Hash64``), the hash of
  ``tf.strings.to_hash_bucket_fast`` and of ``tf.sparse.cross_hashed``'s features.
* :func:`siphash24`: keyed SipHash-2-4 (highwayhash's ``SipHash``), the hash of
  ``tf.strings.to_hash_bucket_strong(key=[k0, k1])``.
* :func:`fingerprint_cat64`: TF's ``FingerprintCat64``, which ``cross_hashed`` uses to combine
  the features of a cross.

Strings are hashed as their UTF-8 bytes; integers as their decimal string, as
``tf.strings.as_string`` writes them. Bucket ``b`` of ``n`` is ``hash % n`` (unsigned).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["fingerprint64", "fingerprint64_short", "siphash24", "fingerprint_cat64",
           "hash_buckets", "as_bytes", "CROSS_HASH_KEY"]

_M = 0xFFFFFFFFFFFFFFFF
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_KMUL = 0xC6A4A7935BD1E995
#: the default ``hash_key`` of ``tf.sparse.cross_hashed`` (Keras passes none)
CROSS_HASH_KEY = 0xDECAFCAFFE


def _rot(v: int, s: int) -> int:
    return v if s == 0 else ((v >> s) | (v << (64 - s))) & _M


def _mix(v: int) -> int:
    return v ^ (v >> 47)


def _f64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _f32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _len16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _len0to16(s: bytes, n: int) -> int:
    if n >= 8:
        mul = _K2 + n * 2
        a = (_f64(s, 0) + _K2) & _M
        b = _f64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        a = _f32(s, 0)
        return _len16((n + (a << 3)) & _M, _f32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _len17to32(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_f64(s, 0) * _K1) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    return _len16((_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M,
                  (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)


def _len33to64(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_f64(s, 0) * _K2) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    y = (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M
    z = _len16(y, (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_f64(s, 16) * mul) & _M
    f = _f64(s, 24)
    g = ((y + _f64(s, n - 32)) * mul) & _M
    h = ((z + _f64(s, n - 24)) * mul) & _M
    return _len16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M,
                  (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(data: bytes) -> int:
    """FarmHash ``Fingerprint64`` of ``data`` (an unsigned 64-bit int)."""
    s = bytes(data)
    n = len(s)
    if n <= 16:
        return _len0to16(s, n)
    if n <= 32:
        return _len17to32(s, n)
    if n <= 64:
        return _len33to64(s, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _f64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _f64(s, i + 40)) & _M
        z = (_rot((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak32(s, i, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _f64(s, i + 40)) & _M
    z = (_rot((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak32(s, i, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
    z, x = x, z
    return _len16((_len16(v0, w0, mul) + _mix(y) * _K0 + z) & _M,
                  (_len16(v1, w1, mul) + x) & _M, mul)


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _M
    v1 = _rot(v1, 51) ^ v0  # rotate left 13
    v0 = _rot(v0, 32)
    v2 = (v2 + v3) & _M
    v3 = _rot(v3, 48) ^ v2  # rotate left 16
    v0 = (v0 + v3) & _M
    v3 = _rot(v3, 43) ^ v0  # rotate left 21
    v2 = (v2 + v1) & _M
    v1 = _rot(v1, 47) ^ v2  # rotate left 17
    v2 = _rot(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of ``data`` with the 128-bit key ``(k0, k1)`` (two uint64)."""
    k0, k1 = key[0] & _M, key[1] & _M
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    s = bytes(data)
    n = len(s)
    full = n - n % 8
    for (m,) in struct.iter_unpack("<Q", s[:full]):
        v3 ^= m
        v0, v1, v2, v3 = _sipround(*_sipround(v0, v1, v2, v3))
        v0 ^= m
    m = int.from_bytes(s[full:], "little") | ((n & 0xFF) << 56)
    v3 ^= m
    v0, v1, v2, v3 = _sipround(*_sipround(v0, v1, v2, v3))
    v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TF's ``FingerprintCat64``: combine two fingerprints (order matters)."""
    result = fp1 ^ _KMUL
    result ^= (_mix((fp2 * _KMUL) & _M) * _KMUL) & _M
    result = (result * _KMUL) & _M
    result = (_mix(result) * _KMUL) & _M
    return _mix(result)


def as_bytes(value: Any, encoding: str = "utf-8") -> bytes:
    """The bytes TF hashes for one value: a string's encoding, an integer's decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode(encoding)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)).encode()
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("booleans cannot be hashed (TensorFlow refuses them too)")
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


_U64 = np.uint64


def _np_rot(v: np.ndarray, s: int) -> np.ndarray:
    return (v >> _U64(s)) | (v << _U64(64 - s))


def _np_mix(v: np.ndarray) -> np.ndarray:
    return v ^ (v >> _U64(47))


def _np_len16(u: np.ndarray, v: np.ndarray, mul: np.ndarray) -> np.ndarray:
    a = (u ^ v) * mul
    a ^= a >> _U64(47)
    b = (v ^ a) * mul
    b ^= b >> _U64(47)
    return b * mul


def _fetch(buf: np.ndarray, off: np.ndarray, width: int) -> np.ndarray:
    """Little-endian ``width``-byte words of each row of ``buf`` at per-row offsets."""
    cols = off[:, None] + np.arange(width)
    raw = np.ascontiguousarray(np.take_along_axis(buf, cols, axis=1))
    return raw.view(f"<u{width}")[:, 0].astype(_U64)


def fingerprint64_short(data: np.ndarray) -> np.ndarray:
    """:func:`fingerprint64` of every element of a bytes array (dtype ``S``) whose elements
    are at most 16 bytes long, vectorised with uint64 arithmetic."""
    flat = np.ascontiguousarray(np.asarray(data).reshape(-1))
    n = flat.shape[0]
    width = max(flat.dtype.itemsize, 16)
    buf = np.zeros((n, width), np.uint8)
    if flat.dtype.itemsize:
        buf[:, :flat.dtype.itemsize] = flat.view(np.uint8).reshape(n, flat.dtype.itemsize)
    lens = np.char.str_len(flat).astype(np.int64)
    if lens.size and lens.max() > 16:
        raise ValueError("fingerprint64_short takes strings of at most 16 bytes")
    out = np.full(n, _K2, _U64)
    ln = lens.astype(_U64)
    mul = _U64(_K2) + ln * _U64(2)
    with np.errstate(over="ignore"):
        sel = lens >= 8
        if sel.any():
            b8 = buf[sel]
            m = mul[sel]
            a = _fetch(b8, np.zeros(b8.shape[0], np.int64), 8) + _U64(_K2)
            b = _fetch(b8, lens[sel] - 8, 8)
            c = _np_rot(b, 37) * m + a
            d = (_np_rot(a, 25) + b) * m
            out[sel] = _np_len16(c, d, m)
        sel = (lens >= 4) & (lens < 8)
        if sel.any():
            b4 = buf[sel]
            a = _fetch(b4, np.zeros(b4.shape[0], np.int64), 4)
            b = _fetch(b4, lens[sel] - 4, 4)
            out[sel] = _np_len16(ln[sel] + (a << _U64(3)), b, mul[sel])
        sel = (lens > 0) & (lens < 4)
        if sel.any():
            b1 = buf[sel].astype(_U64)
            ls = lens[sel]
            rows = np.arange(b1.shape[0])
            y = (b1[:, 0] + (b1[rows, ls >> 1] << _U64(8))) & _U64(0xFFFFFFFF)
            z = (ls.astype(_U64) + (b1[rows, ls - 1] << _U64(2))) & _U64(0xFFFFFFFF)
            out[sel] = _np_mix((y * _U64(_K2)) ^ (z * _U64(_K0))) * _U64(_K2)
    return out.reshape(np.shape(data))


def hash_buckets(values: np.ndarray | Iterable[Any], num_buckets: int,
                 key: tuple[int, int] | None = None) -> np.ndarray:
    """``to_hash_bucket_fast`` (``key`` None) or ``to_hash_bucket_strong(key=key)`` of every
    element of ``values`` (str, bytes or integers), as an int64 array of the same shape.
    Integers hash as their decimal string."""
    arr = np.asarray(values)
    flat = arr.reshape(-1)
    if flat.size == 0:
        return np.zeros(arr.shape, np.int64)
    if flat.dtype.kind == "O":  # str and bytes mixed: compare as bytes
        flat = np.fromiter((as_bytes(v) for v in flat.tolist()), object, flat.size)
    uniq, inv = np.unique(flat, return_inverse=True)
    if np.issubdtype(uniq.dtype, np.integer):
        items = [str(v).encode() for v in uniq.tolist()]
    else:
        items = [as_bytes(v) for v in uniq.tolist()]
    hashes = np.empty(len(items), _U64)
    if key is None:
        # (NumPy's S arrays drop trailing NULs: such strings take the scalar path)
        short = np.fromiter((len(b) <= 16 and not b.endswith(b"\x00") for b in items), bool,
                            len(items))
        if short.any():
            hashes[short] = fingerprint64_short(np.array([b for b, s in zip(items, short)
                                                          if s], dtype="S"))
        for i in np.flatnonzero(~short):
            hashes[i] = fingerprint64(items[i])
    else:
        for i, b in enumerate(items):
            hashes[i] = siphash24(key, b)
    bins = (hashes % _U64(num_buckets)).astype(np.int64)
    return bins[inv.reshape(-1)].reshape(arr.shape)
