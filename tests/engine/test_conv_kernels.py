"""The convolution kernels of engine/layers/conv (Winograd F(2x2, 3x3) and the GEMM kernels
it sits beside) against a straightforward reference: one float64 product per kernel tap,
summed; the layers on each kernel; repeated calls with other batch sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine
from engine.layers.conv import im2col, winograd
from engine.layers.conv import ops as convmod
from engine.layers.conv.ops import conv_nd, conv_paddings
from engine.layers.pooling import pool_nd


def reference(x, w, strides, dilation, pads, groups=1):
    """Cross-correlation in float64: for every tap, the strided view of the zero-padded
    input times that tap's (channels, filters) matrix, group by group."""
    xp = np.pad(x.astype(np.float64), [(0, 0)] + list(pads) + [(0, 0)])
    ks = w.shape[:-2]
    cg, f = w.shape[-2:]
    fg = f // groups
    out = tuple((n - (k - 1) * d - 1) // s + 1
                for n, k, s, d in zip(xp.shape[1:-1], ks, strides, dilation))
    y = np.zeros((x.shape[0],) + out + (f,))
    for tap in itertools.product(*(range(k) for k in ks)):
        view = xp[(slice(None),) + tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                                         for t, d, o, s in zip(tap, dilation, out, strides))]
        for g in range(groups):
            y[..., g * fg:(g + 1) * fg] += view[..., g * cg:(g + 1) * cg] @ \
                w[tap][:, g * fg:(g + 1) * fg].astype(np.float64)
    return y


def _case(rng, batch, spatial, c, f, k=(3, 3), dtype="float32"):
    x = rng.standard_normal((batch,) + spatial + (c,)).astype(dtype)
    w = (rng.standard_normal(k + (c, f)) / np.sqrt(np.prod(k) * c)).astype(dtype)
    return x, w


def _kind(x, w, strides, dilation, pads, groups=1):
    sizes = tuple(n + a + b for n, (a, b) in zip(x.shape[1:-1], pads))
    out = tuple((n - (k - 1) * d - 1) // s + 1
                for n, k, s, d in zip(sizes, w.shape[:-2], strides, dilation))
    return convmod.conv_kernel((x.shape[0],) + sizes + x.shape[-1:], w.shape, strides, out,
                               groups, dilation, np.result_type(x.dtype, w.dtype))


# -- Winograd F(2x2, 3x3) ------------------------------------------------------------------


WINOGRAD_CASES = [  # batch, spatial, channels, filters, padding
    (2, (12, 12), 64, 64, "same"),
    (1, (17, 15), 64, 72, "same"),      # batch 1, odd sizes: partial tiles on both axes
    (3, (9, 14), 80, 64, "valid"),      # odd output rows (7), even columns (12)
    (2, (16, 16), 128, 96, "same"),
    (1, (3, 40), 64, 64, "valid"),      # one row of tiles
    (2, (12, 12), 128, 32, "same"),     # DenseNet's 3x3 convolutions: few filters
    (1, (11, 13), 160, 40, "valid"),    # few filters, odd sizes
    (5, (4, 4), 64, 64, "same"),        # blocks of whole images, the last one partial
]


@pytest.mark.parametrize("batch,spatial,c,f,padding", WINOGRAD_CASES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("blocks", ["one", "many"])
def test_winograd_equals_the_reference(batch, spatial, c, f, padding, threads, blocks,
                                       monkeypatch):
    monkeypatch.setattr(winograd, "MIN_TILES", 1)
    monkeypatch.setattr(convmod, "ONE_GEMM_MAX_TILES", 0)   # few filters: Winograd too
    monkeypatch.setattr(convmod, "THREADS", threads)
    monkeypatch.setattr(convmod, "PARALLEL_FLOPS", 0)
    if blocks == "many":  # blocks of a few tile rows, and of whole images, partial ones too
        monkeypatch.setattr(winograd, "BLOCK_FLOATS", 16 * (c + f) * 5)
        monkeypatch.setattr(winograd, "BLOCK_MIN_TILES", 5)
        monkeypatch.setattr(winograd, "LARGE_BLOCK_MIN_TILES", 5)
    rng = np.random.default_rng(11)
    x, w = _case(rng, batch, spatial, c, f)
    pads = conv_paddings(spatial, (3, 3), (1, 1), (1, 1), padding)
    assert _kind(x, w, (1, 1), (1, 1), pads) == "winograd"
    got = conv_nd(x, w, (1, 1), (1, 1), pads)
    want = reference(x, w, (1, 1), (1, 1), pads)
    assert got.shape == want.shape and got.dtype == np.float32
    # the rounding of a float32 sum of 9 * C products, about twice the direct GEMM's
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=1e-5)


def test_winograd_error_is_close_to_the_direct_gemms():
    """Against float64, Winograd's error stays within a small multiple of the direct
    kernel's (both far inside the 1e-5 oracle tolerance), on a VGG-like layer."""
    rng = np.random.default_rng(5)
    x, w = _case(rng, 2, (24, 24), 256, 128)
    pads = conv_paddings((24, 24), (3, 3), (1, 1), (1, 1), "same")
    assert _kind(x, w, (1, 1), (1, 1), pads) == "winograd"
    want = reference(x, w, (1, 1), (1, 1), pads)
    scale = np.max(np.abs(want))
    wino = np.max(np.abs(conv_nd(x, w, (1, 1), (1, 1), pads) - want)) / scale
    old = winograd.MIN_TILES
    try:
        winograd.MIN_TILES = 10 ** 12
        assert _kind(x, w, (1, 1), (1, 1), pads) != "winograd"
        direct = np.max(np.abs(conv_nd(x, w, (1, 1), (1, 1), pads) - want)) / scale
    finally:
        winograd.MIN_TILES = old
    assert wino < 2e-6 and wino < 4 * direct


def test_winograd_kernel_transform_halved_on_either_side_gives_the_same_bits():
    """The factors 1/2 of G go to the kernel or to the input (a power of two): the same
    products, so the same result bit for bit; and U is G g G^T."""
    rng = np.random.default_rng(2)
    x, w = _case(rng, 2, (10, 10), 64, 64)
    pads = conv_paddings((10, 10), (3, 3), (1, 1), (1, 1), "same")
    xp = convmod.pad_spatial(x, pads)
    a = winograd.conv_winograd(xp, w, (10, 10), convmod._run_blocks, halve_kernel=True)
    b = winograd.conv_winograd(xp, w, (10, 10), convmod._run_blocks, halve_kernel=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, reference(x, w, (1, 1), (1, 1), pads), atol=2e-6)
    u = winograd.kernel_transform(w, np.float32, True)
    g = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
    want = np.einsum("ai,bj,ijcf->abcf", g, g, w.astype(np.float64)).reshape(16, 64, 64)
    np.testing.assert_allclose(u, want, rtol=1e-6, atol=1e-7)
    doubled = winograd.kernel_transform(w, np.float32, False).reshape(4, 4, 64, 64)
    scale = np.array([1, 2, 2, 1])[:, None, None, None] * np.array([1, 2, 2, 1])[:, None, None]
    np.testing.assert_array_equal(doubled, u.reshape(4, 4, 64, 64) * scale)


@pytest.mark.parametrize("what,change", [
    ("float64", {"dtype": "float64"}), ("few filters", {"f": 32}), ("few channels", {"c": 32}),
    ("few filters, many channels", {"c": 128, "f": 16}),
    ("few tiles", {"spatial": (4, 4)}), ("stride 2", {"strides": (2, 2)}),
    ("dilation 2", {"dilation": (2, 2)}), ("groups 2", {"groups": 2}), ("5x5", {"k": (5, 5)}),
])
def test_winograd_is_used_only_where_it_pays_and_is_exact_enough(what, change):
    p = {"dtype": "float32", "f": 64, "c": 64, "spatial": (24, 24), "strides": (1, 1),
         "dilation": (1, 1), "groups": 1, "k": (3, 3)}
    assert _kind(*_case(np.random.default_rng(0), 2, p["spatial"], p["c"], p["f"]),
                 (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    p.update(change)
    x, w = _case(np.random.default_rng(0), 2, p["spatial"], p["c"], p["f"], p["k"],
                 p["dtype"])
    w = w[..., :p["c"] // p["groups"], :]
    pads = conv_paddings(p["spatial"], p["k"], p["strides"], p["dilation"], "same")
    assert _kind(x, w, p["strides"], p["dilation"], pads, p["groups"]) != "winograd", what


@pytest.mark.parametrize("spatial,c,f,kind,one_thread", [   # kind with worker threads on
    ((24, 24), 128, 32, "winograd", "im2col_one"),                        # DenseNet121
    ((12, 12), 128, 32, "im2col_one", "im2col_one"),                      # at 96x96
    ((6, 6), 128, 32, "im2col_one", "im2col_one"),
    ((3, 3), 128, 32, "im2col_one", "im2col_one"),
    ((48, 48), 128, 32, "winograd", "winograd"),                          # many tiles
    ((24, 24), 64, 32, "gather_taps", "im2col_one"),
    ((24, 24), 127, 63, "gather_taps", "im2col_one"),
    ((24, 24), 64, 64, "winograd", "winograd"),
    ((24, 24), 32, 256, "grid_im2col", "im2col_one"),
    ((12, 12), 128, 128, "winograd", "winograd"),                         # ResNet50
    ((6, 6), 256, 256, "gather_taps", "gather_taps"),
])
def test_winograd_rule_for_channels_and_filters(spatial, c, f, kind, one_thread,
                                                monkeypatch):
    """32 or more filters suffice with twice MIN_CHANNELS channels; fewer filters than
    MIN_CHANNELS with fewer channels keep the direct kernels (measured slower); with few
    filters on at most ONE_GEMM_MAX_TILES tiles the window-copy im2col is faster still,
    unless the convolution is large enough for the worker threads (when they are on)."""
    x, w = _case(np.random.default_rng(0), 2, spatial, c, f)
    for threads, want in ((2, kind), (1, one_thread)):
        monkeypatch.setattr(convmod, "THREADS", threads)
        assert _kind(x, w, (1, 1), (1, 1), [(1, 1), (1, 1)]) == want, threads


def test_a_kernel_changed_in_place_is_used_at_the_next_call():
    """The kernel transform is remembered per kernel array only while the array holds the
    same bits: an in-place edit of the weights (as the finite-difference gradient checks
    do), set_weights (which writes into the array or replaces it) and Variable.assign (a
    new array) all change the next output; an unchanged kernel reuses its transform."""
    layer = engine.deserialize({"class_name": "Conv2D", "config": {
        "filters": 64, "kernel_size": 3, "padding": "same"}})
    x = np.random.default_rng(4).standard_normal((2, 24, 24, 64)).astype(np.float32)
    layer.build(x.shape)
    assert _kind(x, layer.kernel.value, (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"
    first = layer(x).copy()
    entry = winograd.prepared(layer.kernel.value)
    assert winograd.prepared(layer.kernel.value) is entry     # remembered
    np.testing.assert_array_equal(layer(x), first)
    layer.kernel.value[1, 1, 3, 5] += 1.0
    second = layer(x)
    delta = second - first
    np.testing.assert_allclose(delta[..., 5], x[..., 3], atol=1e-5)
    assert np.max(np.abs(np.delete(delta, 5, axis=-1))) == 0
    assert winograd.prepared(layer.kernel.value) is not entry
    # a one-bit change (-0.0 for 0.0) is a change too
    layer.kernel.value[0, 0, 0, 0] = 0.0
    entry = winograd.prepared(layer.kernel.value)
    layer.kernel.value[0, 0, 0, 0] = -0.0
    assert winograd.prepared(layer.kernel.value) is not entry
    # set_weights and assign: the result is the reference of the new kernel
    rng = np.random.default_rng(5)
    for how in ("set_weights", "assign", "assign same values"):
        k = (rng.standard_normal(layer.kernel.shape) / 24).astype(np.float32)
        if how == "set_weights":
            layer.set_weights([k, layer.bias.value])
        else:
            layer.kernel.assign(k)
        want = reference(x, k, (1, 1), (1, 1), [(1, 1), (1, 1)]) + layer.bias.value
        np.testing.assert_allclose(layer(x), want, atol=2e-6, rtol=1e-5, err_msg=how)
        if how == "assign same values":   # a new array with the old bits: same result
            old = layer(x).copy()
            layer.kernel.assign(k.copy())
            np.testing.assert_array_equal(layer(x), old)


def test_the_kernel_cache_is_bounded_and_forgets_dead_kernels(monkeypatch):
    """At most CACHE_BYTES of transforms are kept (least recently used go first), and the
    entry of a kernel array that no longer exists is dropped, never reused for a new
    array that happens to get the same id."""
    winograd.clear_cache()
    rng = np.random.default_rng(6)
    kernels = [rng.standard_normal((3, 3, 64, 64)).astype(np.float32) for _ in range(4)]
    one = winograd.prepared(kernels[0]).nbytes
    monkeypatch.setattr(winograd, "CACHE_BYTES", 2 * one)
    for kern in kernels:
        winograd.prepared(kern)
    del kern
    assert len(winograd._cache) == 2
    assert set(winograd._cache) == {id(kernels[2]), id(kernels[3])}
    del kernels[3]
    fresh = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    entry = winograd.prepared(fresh)
    np.testing.assert_array_equal(entry.u, winograd.kernel_transform(fresh, np.float32,
                                                                       True))
    assert all(e.ref() is not None for e in winograd._cache.values())
    winograd.clear_cache()


# -- the layers on every kernel -----------------------------------------------------------


LAYER_CASES = [  # class, config, input shape, kernel run by conv_nd
    ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}, (2, 14, 13, 64),
     "winograd"),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, (2, 40, 40, 64),
     "grid_taps"),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"},
     (3, 9, 11, 72), "gather_taps"),
    ("Conv2D", {"filters": 6, "kernel_size": 1}, (1, 10, 9, 36), "pointwise"),
    # few rows: conv_nd's one-GEMM 1x1 path (the output is a new array, biased in place)
    ("Conv2D", {"filters": 6, "kernel_size": 1, "padding": "same"}, (1, 3, 2, 36),
     "pointwise"),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "padding": "same"}, (3, 10, 9, 5),
     "grid_im2col"),
    ("Conv2D", {"filters": 6, "kernel_size": (3, 2), "strides": (2, 3), "groups": 2},
     (2, 9, 11, 4), "im2col"),
    ("Conv2D", {"filters": 5, "kernel_size": 3, "dilation_rate": 2}, (1, 12, 40, 64),
     "gather_taps"),
    ("Conv1D", {"filters": 5, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
     (2, 200, 65), "grid_taps"),
    ("Conv1D", {"filters": 4, "kernel_size": 5, "strides": 3}, (1, 17, 3), "im2col"),
    ("Conv3D", {"filters": 3, "kernel_size": 2, "padding": "same"}, (1, 5, 4, 6, 64),
     "gather_taps"),
    # one window copy and one GEMM (im2col.py): DenseNet's small 3x3 convolutions, the
    # 7x7 stride-2 stem, a dilated last axis, Conv1D and Conv3D
    ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"}, (2, 3, 3, 128),
     "im2col_one"),
    ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"}, (2, 6, 5, 128),
     "im2col_one"),
    ("Conv2D", {"filters": 16, "kernel_size": 7, "strides": 2}, (2, 21, 20, 3),
     "im2col_one"),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "dilation_rate": (1, 2), "padding": "same"},
     (2, 7, 9, 5), "im2col_one"),
    ("Conv1D", {"filters": 4, "kernel_size": 5, "strides": 2, "padding": "same"},
     (2, 17, 3), "im2col_one"),
    ("Conv3D", {"filters": 5, "kernel_size": 3, "strides": (1, 2, 1)}, (1, 5, 6, 4, 7),
     "im2col_one"),
]


@pytest.mark.parametrize("cls,cfg,shape,kind", LAYER_CASES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_layer_on_every_kernel_equals_the_reference(cls, cfg, shape, kind, activation,
                                                    data_format, monkeypatch):
    """Conv1D/2D/3D (bias, activation, both data formats) on each kernel conv_nd picks,
    with small blocks (many, partial ones too), on two worker threads where used."""
    monkeypatch.setattr(winograd, "MIN_TILES", 1)
    monkeypatch.setattr(winograd, "BLOCK_FLOATS", 16 * 128 * 3)
    monkeypatch.setattr(winograd, "BLOCK_MIN_TILES", 3)
    monkeypatch.setattr(winograd, "LARGE_BLOCK_MIN_TILES", 3)
    if kind == "im2col_one":   # small blocks: many, partial ones too
        monkeypatch.setattr(im2col, "BLOCK_ELEMENTS", 200)
    else:   # the other kernels, in small blocks on two worker threads
        monkeypatch.setattr(convmod, "IM2COL_MAX_ELEMENTS", 0)
        monkeypatch.setattr(convmod, "THREADS", 2)
        monkeypatch.setattr(convmod, "PARALLEL_FLOPS", 0)
        monkeypatch.setattr(convmod, "TAP_ACC_ELEMENTS", 64)
        monkeypatch.setattr(convmod, "TAP_ROWS_MIN", 7)
        monkeypatch.setattr(convmod, "BLOCK_ELEMENTS", 256)
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = engine.deserialize({"class_name": cls, "config": dict(
        cfg, activation=activation, data_format=data_format,
        bias_initializer={"class_name": "RandomNormal", "config": {"seed": 3}})})
    xin = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if data_format == "channels_first" \
        else x
    layer.build(xin.shape)
    pads = conv_paddings(shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate,
                         layer.padding)
    assert _kind(x, layer.kernel.value, layer.strides, layer.dilation_rate, pads,
                 layer.groups) == kind
    keep = xin.copy()
    got = layer(xin)
    np.testing.assert_array_equal(xin, keep)  # the input is never written
    ref = reference(x, layer.kernel.value, layer.strides, layer.dilation_rate, pads,
                    layer.groups) + layer.bias.value
    ref = convmod.from_channels_last(
        np.asarray(layer.activation(ref.astype(np.float32)), np.float32), data_format)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)


# -- repeated calls, batch sizes, no aliasing ----------------------------------------------


@pytest.mark.parametrize("cls,cfg,shape,kind", LAYER_CASES)
def test_repeated_calls_with_other_batch_sizes_never_share_or_leak(cls, cfg, shape, kind,
                                                                   monkeypatch):
    """Outputs of earlier calls keep their values and share no memory with later ones or
    with the input, whatever the batch size (1, 3, back to the first)."""
    monkeypatch.setattr(winograd, "MIN_TILES", 1)
    if kind != "im2col_one":
        monkeypatch.setattr(convmod, "IM2COL_MAX_ELEMENTS", 0)
    rng = np.random.default_rng(6)
    layer = engine.deserialize({"class_name": cls, "config": dict(cfg, activation="relu")})
    layer.build((None,) + shape[1:])
    outs, copies, inputs = [], [], []
    for batch in (shape[0], 1, 3, shape[0]):
        x = rng.standard_normal((batch,) + shape[1:]).astype(np.float32)
        y = layer(x)
        assert not np.shares_memory(x, y)
        for old in outs:
            assert not np.shares_memory(old, y)
        outs.append(y)
        copies.append(y.copy())
        inputs.append(x)
    for x, y, c in zip(inputs, outs, copies):
        np.testing.assert_array_equal(y, c)   # never overwritten by a later call
        pads = conv_paddings(shape[1:-1], layer.kernel_size, layer.strides,
                             layer.dilation_rate, layer.padding)
        want = np.maximum(reference(x, layer.kernel.value, layer.strides,
                                    layer.dilation_rate, pads, layer.groups) +
                          layer.bias.value, 0)
        np.testing.assert_allclose(y, want, atol=1e-5, rtol=1e-5)



@pytest.mark.parametrize("spatial,strides,padding,c", [
    ((10, 9), (2, 2), "valid", 64), ((11, 7), (3, 2), "same", 8), ((9,), (4,), "valid", 70),
    ((5, 6, 7), (2, 1, 3), "same", 3), ((1, 1), (2, 2), "valid", 64)])
def test_strided_1x1_convolution_equals_the_reference(spatial, strides, padding, c):
    rng = np.random.default_rng(8)
    rank = len(spatial)
    x, w = _case(rng, 2, spatial, c, 5, (1,) * rank)
    pads = conv_paddings(spatial, (1,) * rank, strides, (1,) * rank, padding)
    got = conv_nd(x, w, strides, (1,) * rank, pads)
    want = reference(x, w, strides, (1,) * rank, pads)
    assert got.shape == want.shape and not np.shares_memory(got, x)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch,spatial,c,f,dtype,threads", [
    (2, (12, 12), 192, 32, "float32", 1), (1, (3, 3), 960, 160, "float32", 2),
    (2, (48, 48), 16, 96, "float32", 1), (2, (48, 48), 16, 96, "float32", 2),
    (3, (7,), 5, 4, "float64", 1), (2, (2, 3, 4), 6, 7, "float16", 2),
    (1, (1, 1), 1, 1, "float32", 1)])
def test_1x1_convolution_equals_the_reference_and_the_blocked_gemms(batch, spatial, c, f,
                                                                    dtype, threads,
                                                                    monkeypatch):
    """1x1 stride-1 unpadded convolutions (MobileNetV2's expand/project layers) run as one
    GEMM on the input when _conv_pointwise would: the same bits as _conv_pointwise, every
    value of the reference; never the input's memory; NaN and inf kept."""
    monkeypatch.setattr(convmod, "THREADS", threads)
    monkeypatch.setattr(convmod, "PARALLEL_FLOPS", 0)
    rank = len(spatial)
    x, w = _case(np.random.default_rng(4), batch, spatial, c, f, (1,) * rank, dtype)
    x.reshape(-1)[:3] = [np.nan, np.inf, -np.inf][:x.size]
    pads = [(0, 0)] * rank
    got = conv_nd(x, w, (1,) * rank, (1,) * rank, pads)
    blocked = convmod._conv_pointwise(x, w, (1,) * rank, (1,) * rank, spatial)
    np.testing.assert_array_equal(got, blocked)
    assert got.shape == (batch,) + spatial + (f,) and got.dtype == np.dtype(dtype)
    assert not np.shares_memory(got, x)
    want = reference(x, w, (1,) * rank, (1,) * rank, pads)
    tol = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(got, want, atol=tol, rtol=tol)
    # a non-contiguous input (the general path) gives the same bits
    xs = np.ascontiguousarray(np.repeat(x, 2, axis=-1))[..., ::2]
    np.testing.assert_array_equal(conv_nd(xs, w, (1,) * rank, (1,) * rank, pads), got)


GATHER_CASES = [  # spatial, kernel, strides, dilation, padding, channels, filters
    ((3, 3), (3, 3), (1, 1), (1, 1), "same", 64, 64),      # tiny image: the ResNet50 tail
    ((6, 5), (3, 3), (1, 1), (1, 1), "same", 64, 70),
    ((9, 11), (3, 3), (2, 2), (1, 1), "same", 72, 7),
    ((7, 8), (5, 3), (2, 3), (1, 1), "same", 64, 64),
    ((5, 9), (3, 3), (1, 1), (2, 3), "same", 64, 64),       # taps reading only padding
    ((2, 2), (5, 5), (1, 1), (1, 1), "same", 64, 64),
    ((30,), (4,), (1,), (3,), "causal", 64, 5),
    ((4, 5, 3), (3, 3, 2), (1, 2, 1), (1, 1, 1), "same", 64, 3),
    ((2, 3), (1, 3), (1, 1), (1, 1), "same", 64, 64),
]


@pytest.mark.parametrize("spatial,k,s,d,padding,c,f", GATHER_CASES)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("skip_below", [convmod.TAP_SKIP_BELOW, 1.0])
def test_gather_taps_skipping_padding_equals_the_reference(spatial, k, s, d, padding, c, f,
                                                           batch, skip_below, monkeypatch):
    """One GEMM per tap, only over the outputs whose input is not padding (every tap that
    can, or only those with few such outputs): the same values as every tap over every
    output, in many small blocks too."""
    monkeypatch.setattr(convmod, "TAP_SKIP_BELOW", skip_below)
    monkeypatch.setattr(convmod, "TAP_ACC_ELEMENTS", 64)
    monkeypatch.setattr(convmod, "TAP_ROWS_MIN", 5)
    rng = np.random.default_rng(12)
    x, w = _case(rng, batch, spatial, c, f, k)
    pads = conv_paddings(spatial, k, s, d, padding)
    xp = convmod.pad_spatial(x, pads)
    out = tuple((n - (kk - 1) * dd - 1) // ss + 1
                for n, kk, ss, dd in zip(xp.shape[1:-1], k, s, d))
    skipping = convmod._conv_gather_taps(xp, w, s, d, out, 1, pads)
    every = convmod._conv_gather_taps(xp, w, s, d, out, 1)
    want = reference(x, w, s, d, pads)
    np.testing.assert_allclose(skipping, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(every, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(skipping, every, atol=1e-6, rtol=1e-6)
    if f >= 64 or batch * np.prod(out) >= convmod.TAP_MIN_POSITIONS:
        assert _kind(x, w, s, d, pads) in ("gather_taps", "winograd", "grid_taps",
                                           "im2col_one")
        np.testing.assert_allclose(conv_nd(x, w, s, d, pads), want, atol=1e-5, rtol=1e-5)


# -- max pooling over windows that tile the input ------------------------------------------


def _max_pool_reference(x, k):
    """Every window's maximum, one output position at a time (NaN if the window has one)."""
    out = tuple(n // kk for n, kk in zip(x.shape[1:-1], k))
    y = np.empty((x.shape[0],) + out + x.shape[-1:], x.dtype)
    for pos in itertools.product(*(range(o) for o in out)):
        window = x[(slice(None),) + tuple(slice(p * kk, (p + 1) * kk) for p, kk in zip(pos, k))]
        flat = window.reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + pos] = np.where(np.isnan(flat).any(axis=1), np.nan, flat.max(axis=1)) \
            if x.dtype.kind == "f" else flat.max(axis=1)
    return y


@pytest.mark.parametrize("cls,pool,shape,dtype", [
    ("MaxPooling2D", 2, (2, 8, 6, 5), "float32"),
    ("MaxPooling2D", (3, 2), (1, 9, 4, 3), "float64"),
    ("MaxPooling1D", 4, (3, 12, 2), "float32"),
    ("MaxPooling3D", (2, 1, 3), (1, 4, 3, 6, 2), "float32"),
    ("MaxPooling2D", 2, (2, 4, 4, 3), "int32"),
    ("MaxPooling2D", (1, 2), (1, 3, 4, 2), "float16"),
])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_max_pooling_with_tiling_windows_equals_the_reference(cls, pool, shape, dtype,
                                                              data_format):
    """pool_nd in the input's own dtype, and the layer (float32) in both data formats;
    NaN and -inf kept as a window's maximum."""
    rng = np.random.default_rng(13)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    if x.dtype.kind == "f":
        x.flat[::7] = np.nan
        x.flat[3::11] = -np.inf
    layer = engine.deserialize({"class_name": cls, "config": {
        "pool_size": pool, "data_format": data_format}})
    k = layer.pool_size
    got = pool_nd(x, k, k, "valid", "max")
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, _max_pool_reference(x, k))
    x32 = x.astype(np.float32)
    xin = np.ascontiguousarray(np.moveaxis(x32, -1, 1)) if data_format == "channels_first" \
        else x32
    keep = xin.copy()
    got = layer(xin)
    np.testing.assert_array_equal(xin, keep)
    want = convmod.from_channels_last(_max_pool_reference(x32, k), data_format)
    assert got.shape == want.shape and not np.shares_memory(got, xin)
    np.testing.assert_array_equal(got, want)   # NaN where the reference has NaN


def test_conv2d_declares_winograds_largest_array_to_the_budget():
    """The larger of the kernel transform (16 C F floats) and a block's GEMM output (16
    floats per tile and filter; a block has BLOCK_FLOATS / (16 C) tiles, at least
    tiles_per_block's least, less than twice that when it holds whole images) is declared
    for the budget check, and only where conv_nd runs Winograd."""
    layer = engine.deserialize({"class_name": "Conv2D", "config": {
        "filters": 128, "kernel_size": 3, "padding": "same"}})
    layer.build((None, 24, 24, 96))
    per_block = max(winograd.BLOCK_MIN_TILES, winograd.BLOCK_FLOATS // (16 * 96))
    assert winograd.tiles_per_block(96, 128) == per_block == 85
    assert layer.call_intermediate_bytes((2, 24, 24, 96)) == 16 * (2 * 85) * 128 * 4
    layer.build((None, 24, 24, 64))     # few channels: blocks of 256 tiles at least
    assert winograd.tiles_per_block(64, 128) == 256
    assert layer.call_intermediate_bytes((2, 24, 24, 64)) == 16 * 288 * 128 * 4
    layer.build((None, 12, 12, 512))
    assert layer.call_intermediate_bytes((2, 12, 12, 512)) == 16 * 512 * 128 * 4
    # 2 x 2 tiles: not Winograd: the padded input, or the window buffer of the one-GEMM
    # im2col that runs such small convolutions (16 windows of 9 * 96 floats)
    small = np.zeros((1, 4, 4, 96), np.float32)
    assert _kind(small, layer.kernel.value, (1, 1), (1, 1), [(1, 1), (1, 1)]) == "im2col_one"
    assert layer.call_intermediate_bytes((1, 4, 4, 96)) == max(1 * 6 * 6 * 96 * 4,
                                                                16 * 9 * 96 * 4)
    x = np.zeros((2, 24, 24, 96), np.float32)
    assert _kind(x, layer.kernel.value, (1, 1), (1, 1), [(1, 1), (1, 1)]) == "winograd"


def test_non_finite_inputs_keep_the_direct_kernels_inf_and_nan():
    """+-inf in Winograd's transforms would give inf - inf = NaN where the direct sum keeps
    +-inf (as Keras does): such inputs and kernels run on the direct kernels."""
    rng = np.random.default_rng(21)
    x, w = _case(rng, 2, (12, 12), 64, 64)
    w = np.abs(w)                          # every product of +inf is +inf
    pads = conv_paddings((12, 12), (3, 3), (1, 1), (1, 1), "same")
    assert _kind(x, w, (1, 1), (1, 1), pads) == "winograd"
    x[0, 5, 6, 3] = np.inf
    x[1, 2, 2, 7] = np.nan
    with np.errstate(invalid="ignore"):   # NaN in, NaN out
        got = conv_nd(x, w, (1, 1), (1, 1), pads)
    assert np.isposinf(got[0, 4:7, 5:8]).all() and np.isnan(got[1, 1:4, 1:4]).all()
    assert np.isfinite(np.delete(got[0], np.s_[4:7], axis=0)).all()
    finite = np.isfinite(got)
    want = reference(np.nan_to_num(x, posinf=0.0), w, (1, 1), (1, 1), pads)
    np.testing.assert_allclose(got[finite], want[finite], atol=1e-5, rtol=1e-5)
    w[0, 0, 0, 0] = -np.inf                # and a non-finite kernel
    x = np.nan_to_num(x, nan=0.0, posinf=0.0)
    with np.errstate(invalid="ignore"):   # -inf * 0 where an input is zero
        got = conv_nd(x, w, (1, 1), (1, 1), pads)
    assert np.isneginf(got[..., 0]).sum() + np.isposinf(got[..., 0]).sum() > 0
    assert np.isfinite(got[..., 1:]).all()
