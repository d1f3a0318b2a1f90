"""The lean window-copy im2col of engine/layers/conv/im2col.py (conv_nd's 'im2col_one'
kernel: DenseNet's small 3x3 convolutions, the 3-channel stems) against the float64
reference of test_conv_kernels, its NaN/inf behaviour against the blocked im2col, and the
zero padding it runs on."""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers.conv import im2col
from engine.layers.conv import ops as convmod
from engine.layers.conv.ops import conv_nd, conv_paddings
from tests.engine.test_conv_kernels import _case, _kind, reference

ONE_GEMM_CASES = [  # batch, spatial, kernel, strides, dilation, padding, channels, filters
    (2, (3, 3), (3, 3), (1, 1), (1, 1), "same", 128, 32),    # DenseNet121 at 96x96
    (2, (6, 6), (3, 3), (1, 1), (1, 1), "same", 128, 32),
    (2, (12, 12), (3, 3), (1, 1), (1, 1), "same", 128, 32),
    (2, (102, 102), (7, 7), (2, 2), (1, 1), "valid", 3, 64),  # the ResNet/DenseNet stem
    (2, (97, 97), (3, 3), (2, 2), (1, 1), "valid", 3, 32),    # MobileNetV2's stem
    (1, (9, 11), (3, 3), (2, 2), (1, 1), "same", 72, 7),
    (3, (7, 9), (2, 3), (1, 1), (2, 2), "same", 5, 6),       # dilated last axis
    (2, (30,), (4,), (1,), (3,), "causal", 64, 5),
    (1, (4, 5, 3), (3, 3, 2), (1, 2, 1), (1, 1, 1), "same", 64, 3),
]


@pytest.mark.parametrize("batch,spatial,k,s,d,padding,c,f", ONE_GEMM_CASES)
@pytest.mark.parametrize("block", [im2col.BLOCK_ELEMENTS, 1000])
def test_one_gemm_im2col_equals_the_reference(batch, spatial, k, s, d, padding, c, f, block,
                                              monkeypatch):
    """conv_nd picks the window-copy im2col for these (one thread: the stem is large
    enough for the worker threads otherwise); against float64 its error is that of one
    float32 dot product per output (within 2e-6 of the output's scale, the Winograd bound
    above), and within a small multiple of the blocked kernels' error."""
    monkeypatch.setattr(convmod, "THREADS", 1)
    monkeypatch.setattr(im2col, "BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(14)
    x, w = _case(rng, batch, spatial, c, f, k)
    pads = conv_paddings(spatial, k, s, d, padding)
    assert _kind(x, w, s, d, pads) == "im2col_one"
    got = conv_nd(x, w, s, d, pads)
    want = reference(x, w, s, d, pads)
    assert got.shape == want.shape and got.dtype == np.float32
    assert not np.shares_memory(got, x)
    scale = np.max(np.abs(want))
    err = np.max(np.abs(got - want)) / scale
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    old = convmod.IM2COL_MAX_ELEMENTS
    try:
        convmod.IM2COL_MAX_ELEMENTS = 0
        assert _kind(x, w, s, d, pads) != "im2col_one"
        blocked = np.max(np.abs(conv_nd(x, w, s, d, pads) - want)) / scale
    finally:
        convmod.IM2COL_MAX_ELEMENTS = old
    assert err < 2e-6 and err <= 8 * blocked + 2e-7


def test_one_gemm_im2col_keeps_inf_and_nan_as_the_blocked_im2col():
    """NaN and +-inf inputs spread to every output whose window holds them, as in the
    blocked kernels (the same products, zero padding's included)."""
    rng = np.random.default_rng(15)
    x, w = _case(rng, 2, (6, 6), 128, 32)
    w = np.abs(w)
    x[0, 2, 3, 5] = np.inf
    x[1, 4, 4, 0] = np.nan
    pads = [(1, 1), (1, 1)]
    assert _kind(x, w, (1, 1), (1, 1), pads) == "im2col_one"
    with np.errstate(invalid="ignore"):
        got = conv_nd(x, w, (1, 1), (1, 1), pads)
        old = convmod.IM2COL_MAX_ELEMENTS
        try:
            convmod.IM2COL_MAX_ELEMENTS = 0
            blocked = conv_nd(x, w, (1, 1), (1, 1), pads)
        finally:
            convmod.IM2COL_MAX_ELEMENTS = old
    assert np.isposinf(got[0, 1:4, 2:5]).all() and np.isnan(got[1, 3:6, 3:6]).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(blocked))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(blocked))
    finite = np.isfinite(got)
    np.testing.assert_allclose(got[finite], blocked[finite], atol=1e-5, rtol=1e-5)


def test_pad_spatial_with_zeros_and_with_a_fill_value():
    """Zero padding (calloc'd buffer) and -inf padding (max pooling) around the input."""
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2) + 1
    for fill in (0.0, -np.inf):
        got = convmod.pad_spatial(x, [(1, 2), (0, 3)], fill)
        want = np.pad(x, [(0, 0), (1, 2), (0, 3), (0, 0)], constant_values=fill)
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous and not np.shares_memory(got, x)


@pytest.mark.parametrize("batch,spatial,k,s,d,padding,c,f", ONE_GEMM_CASES)
def test_a_kept_plan_gives_the_same_bits_as_a_fresh_call(batch, spatial, k, s, d, padding,
                                                         c, f, monkeypatch):
    """conv_nd with a ``memo`` (a layer's) keeps what the shapes decide and gives the bits
    of the call without one, on the first call and on later ones with new values; a call
    with other shapes or settings makes a new plan instead of using the kept one."""
    monkeypatch.setattr(convmod, "THREADS", 1)
    rng = np.random.default_rng(16)
    x, w = _case(rng, batch, spatial, c, f, k)
    pads = conv_paddings(spatial, k, s, d, padding)
    memo: dict = {}
    for _ in range(2):
        np.testing.assert_array_equal(conv_nd(x, w, s, d, pads, memo=memo),
                                      conv_nd(x, w, s, d, pads))
        assert memo["conv_plan"][1] == "im2col_one"
        x, w = _case(rng, batch, spatial, c, f, k)
    smaller = x[:1]
    np.testing.assert_array_equal(conv_nd(smaller, w, s, d, pads, memo=memo),
                                  conv_nd(smaller, w, s, d, pads))
    assert memo["conv_plan"][0][0] == smaller.shape
    if padding == "same" and min(spatial) > max(k):   # other paddings, the same memo
        unpadded = [(0, 0)] * len(pads)
        np.testing.assert_array_equal(conv_nd(x, w, s, d, unpadded, memo=memo),
                                      conv_nd(x, w, s, d, unpadded))


def test_the_window_buffer_counts_in_the_activation_budget(monkeypatch):
    """A Conv2D's declared intermediate bytes hold the im2col window buffer where conv_nd
    runs one (small 3x3 convolutions with few filters), and that buffer stays within the
    input and output together (or BLOCK_FLOOR floats, or BLOCK_MIN_ROWS windows)."""
    import engine

    monkeypatch.setattr(convmod, "THREADS", 1)
    layer = engine.deserialize({"class_name": "Conv2D", "config": {
        "filters": 32, "kernel_size": 3, "padding": "same", "use_bias": False}})
    for shape in [(2, 3, 3, 128), (2, 12, 12, 128), (2, 24, 24, 128), (1, 9, 11, 72)]:
        layer.build(shape)
        k = (3, 3, shape[-1], 32)
        buffer = convmod.im2col_buffer_bytes(shape, k, (1, 1), (1, 1), "same", 1, np.float32)
        io = 4 * (np.prod(shape) + np.prod(shape[:-1]) * 32)
        least = 4 * max(im2col.BLOCK_FLOOR, im2col.BLOCK_MIN_ROWS * 9 * shape[-1])
        assert 0 < buffer <= max(io, least)
        assert layer.call_intermediate_bytes(shape) >= buffer
    # Winograd's or the tap kernels' shapes have no window buffer
    assert convmod.im2col_buffer_bytes((2, 48, 48, 128), (3, 3, 128, 128), (1, 1), (1, 1),
                                       "same", 1, np.float32) == 0
