"""The depthwise kernel of DepthwiseConv1D/2D and SeparableConv1D/2D
(engine/layers/conv/depthwise_kernels.py): the bits of the sequential float sum of the
window's products in row-major tap order (TensorFlow's order) on a zero-padded input, its
error against float64, NaN and +-inf as that sum gives them, and the plan it keeps per
layer between calls."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

import engine
from engine.layers.conv import depthwise_kernels, ops
from engine.layers.conv.depthwise_kernels import depthwise_conv


def sequential(x: np.ndarray, kernel: np.ndarray, strides, dilation, pads) -> np.ndarray:
    """The depthwise convolution as the running sum of each tap's products in row-major
    order, rounded to x's dtype at every step (the reference)."""
    rank = x.ndim - 2
    xp = np.pad(x, [(0, 0)] + [tuple(p) for p in pads] + [(0, 0)])
    mult = kernel.shape[-1]
    xp = np.repeat(xp, mult, axis=-1)
    w = kernel.reshape(kernel.shape[:rank] + (-1,))
    out = [(n - (k - 1) * d - 1) // s + 1 for n, k, s, d in
           zip(xp.shape[1:-1], kernel.shape[:rank], strides, dilation)]
    acc = np.zeros((x.shape[0],) + tuple(out) + (w.shape[-1],), x.dtype)
    for tap in itertools.product(*(range(k) for k in kernel.shape[:rank])):
        idx = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, s, o in zip(tap, dilation, strides, out))
        acc = (acc + xp[(slice(None),) + idx] * w[tap]).astype(x.dtype)
    return acc


def cases(seed: int, count: int):
    """Random (x, kernel, strides, dilation, pads) of rank 1 and 2: kernels 1-4, strides
    1-3, dilations 1-2, 'valid', 'same' and 'causal' (rank 1) padding, multipliers 1-3,
    1-9 channels, odd sizes; the window always fits."""
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        rank = int(rng.integers(1, 3))
        sizes = tuple(int(v) for v in rng.integers(1, 12, rank))
        k = tuple(int(v) for v in rng.integers(1, 5, rank))
        s = tuple(int(v) for v in rng.integers(1, 4, rank))
        d = tuple(int(v) for v in rng.integers(1, 3, rank))
        padding = ("valid", "same", "causal")[int(rng.integers(3 if rank == 1 else 2))]
        pads = ops.conv_paddings(sizes, k, s, d, padding)
        if any(n + a + b < (kk - 1) * dd + 1 for n, (a, b), kk, dd in zip(sizes, pads, k, d)):
            continue
        chans, mult = int(rng.integers(1, 10)), int(rng.integers(1, 4))
        x = rng.standard_normal((int(rng.integers(1, 4)),) + sizes + (chans,))
        kernel = rng.standard_normal(k + (chans, mult))
        made += 1
        yield x.astype(np.float32), kernel.astype(np.float32), s, d, pads


@pytest.fixture(params=["as rows", "border zeroed", "per position"])
def kernel_variant(request, monkeypatch):
    """Each way of making the padded input (a zeroed buffer, or only its border zeroed:
    inputs past ZERO_ALL_BYTES) and of running the einsum (over output rows, or each
    position's channels: ROW_MAX_CHANNELS channels and more)."""
    if request.param == "border zeroed":
        monkeypatch.setattr(depthwise_kernels, "ZERO_ALL_BYTES", 0)
    if request.param == "per position":
        monkeypatch.setattr(depthwise_kernels, "ROW_MAX_CHANNELS", 0)
    return request.param


@pytest.mark.parametrize("seed", range(4))
def test_bits_of_the_sequential_sum_and_its_error_against_float64(seed, kernel_variant):
    for x, kernel, s, d, pads in cases(seed, 60):
        keep = x.copy()
        got = depthwise_conv(x, kernel, s, d, pads, {})
        want = sequential(x, kernel, s, d, pads)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(x, keep)   # the input is never written
        # a sum of K rounded products is within (K + 1) * eps * sum |x * w| of the truth
        exact = sequential(x.astype(np.float64), kernel.astype(np.float64), s, d, pads)
        bound = sequential(np.abs(x.astype(np.float64)), np.abs(kernel.astype(np.float64)),
                           s, d, pads)
        taps = np.prod(kernel.shape[:-2])
        assert np.all(np.abs(got - exact) <= (taps + 1) * 2.0 ** -23 * bound + 1e-30)


def test_float64_and_float16_inputs(kernel_variant):
    for x, kernel, s, d, pads in cases(11, 20):
        x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
        np.testing.assert_array_equal(depthwise_conv(x64, k64, s, d, pads, {}),
                                      sequential(x64, k64, s, d, pads))
        x16, k16 = x.astype(np.float16), kernel.astype(np.float16)
        got = depthwise_conv(x16, k16, s, d, pads, {})
        assert got.dtype == np.float16
        want = sequential(x16.astype(np.float64), k16.astype(np.float64), s, d, pads)
        scale = sequential(np.abs(x16.astype(np.float64)), np.abs(k16.astype(np.float64)),
                           s, d, pads)
        taps = np.prod(kernel.shape[:-2])
        assert np.all(np.abs(got - want) <= (taps + 1) * 2.0 ** -10 * scale + 1e-7)


def test_the_generic_kernel_gives_the_same_values():
    for x, kernel, s, d, pads in cases(21, 40):
        np.testing.assert_allclose(depthwise_conv(x, kernel, s, d, pads, {}),
                                   ops.depthwise_conv_nd(x, kernel, s, d, pads),
                                   rtol=2e-6, atol=2e-6)


def test_nan_and_inf_as_the_sequential_sum_gives_them(kernel_variant):
    rng = np.random.default_rng(3)
    for x, kernel, s, d, pads in cases(31, 40):
        x = x.copy()
        flat = x.reshape(-1)
        for value in (np.nan, np.inf, -np.inf):
            flat[rng.integers(flat.size)] = value
        k = kernel.copy()
        if rng.random() < 0.3:   # a non-finite weight times the zero padding is NaN
            k.reshape(-1)[rng.integers(k.size)] = (np.inf, np.nan)[int(rng.integers(2))]
        with np.errstate(all="ignore"):
            got = depthwise_conv(x, k, s, d, pads, {})
            want = sequential(x, k, s, d, pads)
        np.testing.assert_array_equal(got, want)   # equal NaN places and infinities


def test_the_plan_follows_shapes_kernels_and_threads():
    rng = np.random.default_rng(5)
    memo: dict = {}
    kernel = rng.standard_normal((3, 3, 4, 1)).astype(np.float32)
    shapes = [(2, 7, 9, 4), (1, 5, 5, 4), (2, 7, 9, 4)]
    for shape in shapes:   # another shape between two calls of one shape
        x = rng.standard_normal(shape).astype(np.float32)
        pads = ops.conv_paddings(shape[1:3], (3, 3), (1, 1), (1, 1), "same")
        np.testing.assert_array_equal(depthwise_conv(x, kernel, (1, 1), (1, 1), pads, memo),
                                      sequential(x, kernel, (1, 1), (1, 1), pads))
    kernel[1, 1] *= -3.0   # written in place between calls
    np.testing.assert_array_equal(depthwise_conv(x, kernel, (1, 1), (1, 1), pads, memo),
                                  sequential(x, kernel, (1, 1), (1, 1), pads))
    # a non-contiguous input (a channels-first array moved to channels-last)
    xt = np.moveaxis(rng.standard_normal((2, 4, 7, 9)).astype(np.float32), 1, -1)
    np.testing.assert_array_equal(depthwise_conv(xt, kernel, (1, 1), (1, 1), pads, memo),
                                  sequential(np.ascontiguousarray(xt), kernel, (1, 1), (1, 1),
                                             pads))
    # two threads calling with one memo, each with its own shapes
    inputs = [rng.standard_normal(s).astype(np.float32) for s in [(2, 8, 8, 4), (1, 6, 11, 4)]]
    errors: list = []

    def work(x):
        p = ops.conv_paddings(x.shape[1:3], (3, 3), (2, 1), (1, 1), "same")
        want = sequential(x, kernel, (2, 1), (1, 1), p)
        for _ in range(200):
            if not np.array_equal(depthwise_conv(x, kernel, (2, 1), (1, 1), p, memo), want):
                errors.append(x.shape)

    threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


LAYERS = [
    ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2},
     (2, 7, 6, 3)),
    ("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "padding": "valid"},
     (2, 9, 8, 5)),
    ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2, "padding": "same",
                         "data_format": "channels_first"}, (2, 4, 9, 9)),
    ("DepthwiseConv1D", {"kernel_size": 4, "strides": 2, "padding": "same",
                         "depth_multiplier": 3}, (2, 11, 3)),
    ("SeparableConv2D", {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same",
                         "activation": "relu"}, (2, 9, 9, 4)),
    ("SeparableConv1D", {"filters": 5, "kernel_size": 3, "padding": "causal",
                         "depth_multiplier": 2}, (2, 10, 3)),
]


@pytest.mark.parametrize("name, config, shape", LAYERS)
def test_layers_give_the_sequential_sum(name, config, shape):
    layer = engine.deserialize({"class_name": name, "config": config})
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    layer.build(shape)
    rng = np.random.default_rng(8)
    for var in layer.weights:   # a non-zero bias too
        var.assign(rng.standard_normal(var.shape).astype(np.float32))
    got = layer(x)
    first = layer.data_format == "channels_first"
    xl = np.moveaxis(x, 1, -1) if first else x
    rank = xl.ndim - 2
    pads = ops.conv_paddings(xl.shape[1:-1], layer.kernel_size, layer.strides,
                             layer.dilation_rate, layer.padding)
    kernel = (layer.depthwise_kernel if name.startswith("Separable") else layer.kernel).value
    y = sequential(xl, kernel, layer.strides, layer.dilation_rate, pads)
    if name.startswith("Separable"):
        pw = layer.pointwise_kernel.value.reshape(y.shape[-1], -1)
        y = (y.reshape(-1, y.shape[-1]) @ pw).reshape(y.shape[:-1] + pw.shape[-1:])
    y = y + layer.bias.value
    if config.get("activation") == "relu":
        y = np.maximum(y, 0)
    want = np.moveaxis(y, -1, 1) if first else y
    assert got.shape == want.shape == layer.compute_output_shape(shape)
    tol = 0 if not name.startswith("Separable") else 1e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert got.shape[1 if first else -1] == want.shape[1 if first else -1]
    assert rank in (1, 2)


def test_declared_intermediate_bytes():
    same = engine.deserialize({"class_name": "DepthwiseConv2D",
                               "config": {"kernel_size": 3, "padding": "same"}})
    assert same.call_intermediate_bytes((2, 6, 6, 8)) == 2 * 8 * 8 * 8 * 4   # padded input
    # no padding: the kernel repeated along an output row (9 taps x 2 columns x 8 channels)
    valid = engine.deserialize({"class_name": "DepthwiseConv2D",
                                "config": {"kernel_size": 3}})
    assert valid.call_intermediate_bytes((1, 4, 4, 8)) == 9 * 2 * 8 * 4
    mult = engine.deserialize({"class_name": "DepthwiseConv2D",
                               "config": {"kernel_size": 3, "depth_multiplier": 3}})
    assert mult.call_intermediate_bytes((2, 10, 10, 8)) == 2 * 10 * 10 * 24 * 4
    sep = engine.deserialize({"class_name": "SeparableConv2D",
                              "config": {"filters": 2, "kernel_size": 3}})
    # the depthwise output (the pointwise GEMM's input), larger than the output
    assert sep.call_intermediate_bytes((2, 20, 20, 8)) == 2 * 18 * 18 * 8 * 4
    assert sep.call_intermediate_bytes((None, 20, 20, 8)) == 0
