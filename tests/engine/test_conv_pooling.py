"""Convolution and pooling layers beyond the generic oracle tests: a table of bad configs
with the field each error must name, shape inference with unknown (None) dimensions, the
padding arithmetic against every Keras case on disk, the math against a direct reference
(and the transpose as the adjoint of the convolution), and the memory of a convolution."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from oracle import all_cases

import engine
from engine import ConfigError
from engine.layers.conv import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Conv3DTranspose,
    DepthwiseConv2D,
    SeparableConv1D,
    conv_nd,
    conv_output_length,
    conv_paddings,
    conv_transpose_nd,
    depthwise_conv_nd,
    transpose_output_length,
    transpose_pad_before,
)
from engine.layers.conv import ops as convmod
from engine.layers.pooling import AveragePooling2D, GlobalAveragePooling1D, MaxPooling2D


def k3(class_name: str, config: dict) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def k2(class_name: str, config: dict) -> dict:
    return {"class_name": class_name, "config": config}


# -- bad configs --------------------------------------------------------------------------

BAD = [
    # (class, config, path the message must start with)
    ("Conv2D", {"filters": 0, "kernel_size": 3}, "config.filters"),
    ("Conv2D", {"filters": -2, "kernel_size": 3}, "config.filters"),
    ("Conv2D", {"filters": 2.5, "kernel_size": 3}, "config.filters"),
    ("Conv2D", {"filters": 4}, "config.kernel_size"),
    ("Conv2D", {"filters": 4, "kernel_size": 0}, "config.kernel_size[0]"),
    ("Conv2D", {"filters": 4, "kernel_size": [3, -1]}, "config.kernel_size[1]"),
    ("Conv2D", {"filters": 4, "kernel_size": [3, 3, 3]}, "config.kernel_size"),
    ("Conv2D", {"filters": 4, "kernel_size": "3"}, "config.kernel_size"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 0}, "config.strides[0]"),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": -1}, "config.strides[0]"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": [1, 0]},
     "config.dilation_rate[1]"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     "config.dilation_rate"),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     "config.dilation_rate"),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     "config.dilation_rate"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 3}, "config.groups"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 0}, "config.groups"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "full"}, "config.padding"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, "config.padding"),
    ("Conv3D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, "config.padding"),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "padding": "causal"},
     "config.padding"),
    ("DepthwiseConv1D", {"kernel_size": 3, "padding": "causal"}, "config.padding"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "data_format": "NHWC"},
     "config.data_format"),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 2},
     "config.output_padding"),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 4, "strides": 3, "padding": "same",
                         "output_padding": 0}, "config.output_padding"),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "output_padding": -1},
     "config.output_padding[0]"),
    ("Conv3DTranspose", {"filters": 0, "kernel_size": 3}, "config.filters"),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 0}, "config.depth_multiplier"),
    ("DepthwiseConv2D", {"kernel_size": [3, 0]}, "config.kernel_size[1]"),
    ("SeparableConv2D", {"filters": 0, "kernel_size": 3}, "config.filters"),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "padding": "causal"},
     "config.padding"),
    ("MaxPooling2D", {"pool_size": 0}, "config.pool_size[0]"),
    ("MaxPooling2D", {"pool_size": 2, "strides": 0}, "config.strides[0]"),
    ("MaxPooling1D", {"pool_size": 2, "padding": "causal"}, "config.padding"),
    ("AveragePooling3D", {"pool_size": [2, 2]}, "config.pool_size"),
    ("AveragePooling2D", {"pool_size": 2, "data_format": "channels_middle"},
     "config.data_format"),
    ("GlobalAveragePooling2D", {"data_format": "NCHW"}, "config.data_format"),
    ("GlobalMaxPooling1D", {"keepdims": "yes"}, "config.keepdims"),
    ("AdaptiveAveragePooling2D", {"output_size": 0}, "config.output_size[0]"),
    ("AdaptiveMaxPooling1D", {}, "config.output_size"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "valid", "kernel_sise": 3},
     "config.kernel_sise"),
]


@pytest.mark.parametrize("fmt", ["k3", "k2"])
@pytest.mark.parametrize("class_name,config,path", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_config_names_the_field(fmt, class_name, config, path):
    wrap = k3 if fmt == "k3" else k2
    with pytest.raises(ConfigError) as info:
        engine.deserialize(wrap(class_name, config))
    assert str(info.value).startswith(path), str(info.value)
    assert info.value.path == path


def test_average_pooling_pool_size_required_in_keras3_default_2_in_keras2():
    with pytest.raises(ConfigError, match=r"^config\.pool_size: required"):
        engine.deserialize(k3("AveragePooling2D", {}))
    layer = engine.deserialize(k2("AveragePooling2D", {}))
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2)
    assert engine.deserialize(k2("AveragePooling1D", {})).get_config("keras2")["pool_size"] == [2]


def test_groups_not_dividing_input_channels_fails_at_build_naming_groups():
    layer = Conv2D(4, 3, groups=2)
    with pytest.raises(ConfigError, match=r"^groups: .*3 channels.*groups=2"):
        layer.build((None, 8, 8, 3))
    assert not layer.built and layer.weights == []


@pytest.mark.parametrize("make,shape,field", [
    (lambda: Conv2D(2, 5), (None, 3, 8, 1), "kernel_size"),
    (lambda: Conv2D(2, 3, dilation_rate=3), (None, 6, 6, 1), "kernel_size"),
    (lambda: Conv1D(2, 4, data_format="channels_first"), (2, 1, 3), "kernel_size"),
    (lambda: DepthwiseConv2D((1, 4)), (1, 5, 3, 2), "kernel_size"),
    (lambda: SeparableConv1D(2, 6), (1, 5, 2), "kernel_size"),
    (lambda: MaxPooling2D(4), (None, 3, 3, 2), "pool_size"),
])
def test_window_larger_than_valid_input_is_a_clear_error(make, shape, field):
    layer = make()
    for fn in (layer.compute_output_shape, layer.build):
        with pytest.raises(ValueError) as info:
            fn(shape)
        msg = str(info.value)
        assert msg.startswith(field) and layer.name in msg and "larger than the input" in msg
        assert str(tuple(d for d in (shape[1:-1] if "channels_first" not in repr(
            layer.values) else shape[2:]))) in msg


def test_window_check_also_at_call_when_built_with_unknown_sizes():
    layer = Conv2D(2, 4)
    layer.build((None, None, None, 1))
    assert layer(np.zeros((1, 4, 5, 1), "float32")).shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"kernel_size .*\(3, 5\)"):
        layer(np.zeros((1, 3, 5, 1), "float32"))
    pool = MaxPooling2D(3)
    with pytest.raises(ValueError, match="pool_size"):
        pool(np.zeros((1, 2, 5, 1), "float32"))


def test_runtime_input_errors_name_the_layer():
    layer = Conv2D(2, 3, name="c")
    with pytest.raises(ValueError, match="'c'.*channel dimension"):
        layer.build((None, 8, 8, None))
    layer.build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="'c'"):
        layer(np.zeros((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match="'c'.*rank 4"):
        layer.compute_output_shape((None, 8, 3))


# -- shapes with None ---------------------------------------------------------------------

SHAPES = [
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
     (None, None, 10, 3), (None, None, 5, 4)),
    ("Conv2D", {"filters": 4, "kernel_size": 3}, (None, 7, None, 3), (None, 5, None, 4)),
    ("Conv1D", {"filters": 2, "kernel_size": 5, "padding": "causal", "strides": 2},
     (None, None, 3), (None, None, 2)),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"},
     (None, 3, None, 4, None), (None, 2, None, 3, None)),
    ("Conv2DTranspose", {"filters": 5, "kernel_size": 3, "strides": 2},
     (None, None, 4, 3), (None, None, 9, 5)),
    ("Conv1DTranspose", {"filters": 5, "kernel_size": 3, "strides": 2, "padding": "same",
                         "output_padding": 0}, (None, None, 3), (None, None, 5)),
    ("Conv3DTranspose", {"filters": 1, "kernel_size": 2, "strides": 2, "padding": "same"},
     (None, 2, None, 3, 4), (None, 4, None, 6, 1)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
     (None, None, None, 3), (None, None, None, 6)),
    ("SeparableConv2D", {"filters": 7, "kernel_size": 2, "data_format": "channels_first"},
     (None, 3, None, 5), (None, 7, None, 4)),
    ("MaxPooling2D", {"pool_size": 2, "padding": "same"}, (None, None, 7, 2),
     (None, None, 4, 2)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (None, None, 2), (None, None, 2)),
    ("MaxPooling3D", {"data_format": "channels_first"}, (None, 2, None, 5, 4),
     (None, 2, None, 2, 2)),
    ("GlobalAveragePooling2D", {"keepdims": True, "data_format": "channels_first"},
     (None, 3, None, None), (None, 3, 1, 1)),
    ("GlobalMaxPooling1D", {}, (None, None, 4), (None, 4)),
    ("GlobalMaxPooling3D", {"keepdims": True}, (None, None, 2, None, 5), (None, 1, 1, 1, 5)),
    ("AdaptiveAveragePooling2D", {"output_size": [2, 3]}, (None, None, None, 3),
     (None, 2, 3, 3)),
    ("AdaptiveMaxPooling1D", {"output_size": 4, "data_format": "channels_first"},
     (None, 3, None), (None, 3, 4)),
]


@pytest.mark.parametrize("class_name,config,shape,want", SHAPES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SHAPES)])
def test_compute_output_shape_with_none_dims_and_real_call(class_name, config, shape, want):
    layer = engine.deserialize(k3(class_name, config))
    assert layer.compute_output_shape(shape) == want
    layer.build(shape)  # unknown spatial sizes build fine (weights need channels only)
    concrete = tuple(5 if d is None else d for d in shape)
    concrete = (2,) + concrete[1:]
    y = layer(np.random.default_rng(0).standard_normal(concrete).astype("float32"))
    assert y.shape == layer.compute_output_shape(concrete)
    assert all(w is None or w == g for w, g in zip(want[1:], y.shape[1:]))


# -- padding arithmetic vs every Keras case on disk ---------------------------------------

_WINDOWED = {"Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D",
             "SeparableConv1D", "SeparableConv2D", "MaxPooling1D", "MaxPooling2D",
             "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D"}
_TRANSPOSED = {"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_ALIAS = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
          "Convolution1DTranspose": "Conv1DTranspose",
          "Convolution2DTranspose": "Conv2DTranspose",
          "Convolution3DTranspose": "Conv3DTranspose", "MaxPool1D": "MaxPooling1D",
          "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
          "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D",
          "AvgPool3D": "AveragePooling3D", "SeparableConvolution1D": "SeparableConv1D",
          "SeparableConvolution2D": "SeparableConv2D"}
WINDOW_CASES = [c for c in all_cases() if _ALIAS.get(c.class_name, c.class_name) in
                _WINDOWED | _TRANSPOSED]


def _spatial(shape, cfg):
    return shape[2:] if cfg.get("data_format") == "channels_first" else shape[1:-1]


@pytest.mark.parametrize("case", WINDOW_CASES, ids=lambda c: c.id)
def test_padding_arithmetic_predicts_keras_output_sizes(case):
    """The module's formulas alone (no layer) give Keras's output size on every axis."""
    cfg = case.meta["config"]
    sizes = _spatial(case.meta["inputs"][0]["shape"], cfg)
    want = _spatial(case.meta["outputs"][0]["shape"], cfg)
    rank = len(sizes)
    k = cfg.get("kernel_size") or cfg.get("pool_size")
    s = cfg.get("strides") or k
    d = cfg.get("dilation_rate") or [1] * rank
    if case.meta["format"] == "k2" and _ALIAS.get(case.class_name,
                                                  case.class_name) == "Conv3DTranspose":
        d = [1] * rank  # tf.keras ignores it there
    if _ALIAS.get(case.class_name, case.class_name) in _TRANSPOSED:
        op = cfg.get("output_padding") or [None] * rank
        got = [transpose_output_length(n, *a, cfg["padding"], o)
               for n, a, o in zip(sizes, zip(k, s, d), op)]
    else:
        got = [conv_output_length(n, *a, cfg["padding"]) for n, a in zip(sizes, zip(k, s, d))]
        if cfg["padding"] != "valid":
            # and the padded input has exactly the size a 'valid' window needs
            pads = conv_paddings(sizes, k, s, d, cfg["padding"])
            assert [conv_output_length(n + b + a, kk, ss, dd, "valid") for n, (b, a), kk, ss,
                    dd in zip(sizes, pads, k, s, d)] == got
    assert got == list(want)


@pytest.mark.parametrize("n,k,s,d,want", [
    (7, 4, 3, 1, (1, 1)),    # out 3: (3-1)*3 + 4 - 7 = 3 -> 1 before, 2 after? no: 3//2
    (8, 3, 2, 1, (0, 1)),    # even input, odd kernel, stride 2: extra pad at the end
    (8, 4, 2, 1, (1, 1)),
    (5, 1, 2, 1, (0, 0)),
    (6, 3, 1, 3, (3, 3)),    # dilated kernel 7
    (2, 5, 1, 1, (2, 2)),    # kernel larger than input is fine with 'same'
    (9, 2, 4, 1, (0, 1)),
])
def test_same_padding_rule(n, k, s, d, want):
    (b, a), = conv_paddings([n], [k], [s], [d], "same")
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    assert (b, a) == (total // 2, total - total // 2)
    if (n, k, s) != (7, 4, 3):
        assert (b, a) == want


def test_causal_padding_is_left_only():
    assert conv_paddings([7], [3], [1], [2], "causal") == [(4, 0)]
    x = np.arange(6, dtype="float32").reshape(1, 6, 1)
    layer = Conv1D(1, 2, padding="causal", use_bias=False)
    layer.build(x.shape)
    layer.set_weights([np.array([[[0.0]], [[1.0]]], "float32")])  # picks x[t]
    np.testing.assert_array_equal(layer(x), x)
    layer.set_weights([np.array([[[1.0]], [[0.0]]], "float32")])  # picks x[t-1]
    np.testing.assert_array_equal(layer(x)[0, :, 0], [0, 0, 1, 2, 3, 4])


@pytest.mark.parametrize("n,k,s,d,padding,op,want", [
    (4, 3, 2, 1, "valid", None, 9), (4, 2, 3, 1, "valid", None, 12),
    (4, 3, 2, 1, "valid", 1, 10), (4, 3, 2, 1, "same", None, 8),
    (4, 3, 2, 1, "same", 0, 7), (4, 4, 3, 1, "same", 2, 11), (5, 3, 1, 2, "same", None, 5),
    (3, 3, 1, 2, "valid", None, 7), (1, 1, 1, 1, "valid", None, 1),
])
def test_transpose_output_length(n, k, s, d, padding, op, want):
    assert transpose_output_length(n, k, s, d, padding, op) == want


# -- math against a direct reference ------------------------------------------------------


def direct_conv(x, w, strides, dilation, pads, groups=1):
    """Textbook cross-correlation, one output position at a time (tiny inputs only)."""
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)]).astype(np.float64)
    ks = w.shape[:-2]
    cg, f = w.shape[-2:]
    fg = f // groups
    out = tuple((n - (k - 1) * d - 1) // s + 1
                for n, k, s, d in zip(xp.shape[1:-1], ks, strides, dilation))
    y = np.zeros((x.shape[0],) + out + (f,))
    for pos in itertools.product(*(range(o) for o in out)):
        for tap in itertools.product(*(range(k) for k in ks)):
            at = tuple(p * s + t * d for p, s, t, d in zip(pos, strides, tap, dilation))
            v = xp[(slice(None),) + at]  # (N, C)
            for g in range(groups):
                y[(slice(None),) + pos + (slice(g * fg, (g + 1) * fg),)] += \
                    v[:, g * cg:(g + 1) * cg] @ w[tap][:, g * fg:(g + 1) * fg]
    return y


CONFIGS = [  # spatial, kernel, strides, dilation, padding, channels, filters, groups
    ((9,), (3,), (1,), (1,), "valid", 2, 3, 1),
    ((9,), (4,), (2,), (1,), "same", 4, 6, 2),
    ((10,), (3,), (1,), (3,), "causal", 3, 2, 1),
    ((7, 6), (3, 3), (1, 1), (1, 1), "same", 3, 4, 1),
    ((7, 6), (3, 2), (2, 3), (1, 1), "same", 4, 4, 4),
    ((8, 7), (2, 3), (1, 1), (2, 1), "valid", 2, 3, 1),
    ((6, 5), (1, 1), (2, 2), (1, 1), "valid", 3, 2, 1),
    ((4, 5, 6), (2, 3, 2), (1, 1, 1), (1, 1, 2), "same", 2, 3, 1),
    ((5, 4, 6), (3, 2, 2), (2, 1, 2), (1, 1, 1), "valid", 4, 2, 2),
    ((9, 8), (3, 3), (2, 2), (1, 1), "same", 3, 4, 1),
    ((11,), (5,), (3,), (1,), "valid", 2, 3, 1),
    ((7, 9), (2, 3), (2, 2), (1, 1), "valid", 3, 2, 1),
]


@pytest.mark.parametrize("spatial,k,s,d,padding,c,f,g", CONFIGS)
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_nd_equals_direct_reference(spatial, k, s, d, padding, c, f, g, threads,
                                         monkeypatch):
    monkeypatch.setattr(convmod, "THREADS", threads)
    monkeypatch.setattr(convmod, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(convmod, "BLOCK_ELEMENTS", 256)  # many blocks, also partial ones
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3,) + spatial + (c,)).astype("float32")
    w = rng.standard_normal(k + (c // g, f)).astype("float32")
    pads = conv_paddings(spatial, k, s, d, padding)
    got = conv_nd(x, w, s, d, pads, g)
    np.testing.assert_allclose(got, direct_conv(x, w, s, d, pads, g), atol=1e-4, rtol=1e-5)


WIDE_CONFIGS = [  # spatial, kernel, strides, dilation, padding, channels, filters, kernel run
    ((40, 40), (3, 3), (1, 1), (1, 1), "same", 64, 8, "grid_taps"),
    ((200,), (3,), (1,), (2,), "same", 65, 5, "grid_taps"),
    ((60,), (5,), (1,), (1,), "valid", 64, 4, "grid_taps"),
    ((12, 40), (3, 2), (1, 1), (2, 3), "valid", 64, 6, "gather_taps"),
    ((9, 11), (3, 3), (2, 2), (1, 1), "same", 72, 7, "gather_taps"),
    ((6, 5, 7), (2, 3, 2), (1, 1, 1), (1, 1, 1), "same", 64, 3, "gather_taps"),
    ((4, 4), (3, 3), (1, 1), (1, 1), "same", 64, 5, "im2col"),
    ((10, 9), (1, 1), (1, 1), (1, 1), "valid", 36, 6, "pointwise"),
    ((10, 9), (3, 3), (1, 1), (1, 1), "same", 40, 6, "grid_im2col"),
    ((9, 11), (3, 3), (2, 2), (1, 1), "same", 40, 6, "im2col"),
    ((10, 9), (1, 1), (2, 2), (1, 1), "valid", 64, 6, "gather_taps"),
]


@pytest.mark.parametrize("spatial,k,s,d,padding,c,f,kind", WIDE_CONFIGS)
@pytest.mark.parametrize("threads", [1, 2])
def test_every_conv_kernel_equals_direct_reference(spatial, k, s, d, padding, c, f, kind,
                                                   threads, monkeypatch):
    """Each kernel conv_nd picks (channels >= 64: one GEMM per tap), with small row blocks so
    that there are many, partial ones too, on one and two worker threads."""
    monkeypatch.setattr(convmod, "THREADS", threads)
    monkeypatch.setattr(convmod, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(convmod, "TAP_ACC_ELEMENTS", 64)
    monkeypatch.setattr(convmod, "TAP_ROWS_MIN", 7)
    monkeypatch.setattr(convmod, "IM2COL_MAX_ELEMENTS", 0)   # not the one-GEMM im2col
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3,) + spatial + (c,)).astype("float32")
    w = (rng.standard_normal(k + (c, f)) / np.sqrt(np.prod(k) * c)).astype("float32")
    pads = conv_paddings(spatial, k, s, d, padding)
    padded = (3,) + tuple(n + a + b for n, (a, b) in zip(spatial, pads)) + (c,)
    out = tuple(conv_output_length(n, kk, ss, dd, padding)
                for n, kk, ss, dd in zip(spatial, k, s, d))
    assert convmod.conv_kernel(padded, w.shape, s, out, 1) == kind
    got = conv_nd(x, w, s, d, pads)
    assert got.shape == (3,) + out + (f,)
    np.testing.assert_allclose(got, direct_conv(x, w, s, d, pads), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("spatial,k,s,d,padding,c,_f,_g", CONFIGS)
def test_depthwise_equals_grouped_conv(spatial, k, s, d, padding, c, _f, _g):
    rng = np.random.default_rng(2)
    mult = 2
    x = rng.standard_normal((2,) + spatial + (c,)).astype("float32")
    w = rng.standard_normal(k + (c, mult)).astype("float32")
    pads = conv_paddings(spatial, k, s, d, padding)
    want = direct_conv(x, w.reshape(k + (1, c * mult)), s, d, pads, groups=c)
    np.testing.assert_allclose(depthwise_conv_nd(x, w, s, d, pads), want, atol=1e-4)


@pytest.mark.parametrize("n,k,s,d,padding,op", [
    (4, 3, 2, 1, "valid", None), (4, 3, 2, 1, "same", None), (4, 4, 2, 1, "same", 1),
    (5, 2, 3, 1, "valid", 2), (3, 3, 1, 2, "same", None), (4, 5, 1, 1, "same", None),
    (3, 4, 3, 1, "same", 1), (3, 3, 3, 1, "same", 0), (4, 2, 2, 2, "same", 1),
])
def test_transpose_is_the_adjoint_of_the_convolution(n, k, s, d, padding, op):
    """<conv(y), x> == <y, conv_transpose(x)> for the TF padding of each mode."""
    rng = np.random.default_rng(3)
    cin, cout = 2, 3  # of the transposed layer
    out = transpose_output_length(n, k, s, d, padding, op)
    x = rng.standard_normal((2, n, n + 1, cin))
    sizes = (n, n + 1)
    outs = tuple(transpose_output_length(m, k, s, d, padding, op) for m in sizes)
    w = rng.standard_normal((k, k, cout, cin))  # transposed layout (k, k, filters, in)
    before = transpose_pad_before(sizes, (k, k), (s, s), (d, d), outs, padding)
    t = conv_transpose_nd(x, w, (s, s), (d, d), outs, before)
    assert t.shape == (2,) + outs + (cout,) and outs[0] == out
    y = rng.standard_normal(t.shape)
    # forward conv from the transposed output back to the input size, same padding rule
    pads = conv_paddings(outs, (k, k), (s, s), (d, d), padding)
    fwd = conv_nd(y, w, (s, s), (d, d), pads)  # (k, k, in=cout, filters=cin)
    fwd = fwd[:, :n, :n + 1]  # 'valid' + output_padding can leave extra forward rows
    np.testing.assert_allclose(np.vdot(fwd, x), np.vdot(y, t), rtol=1e-9)


def test_average_pooling_same_divides_by_real_elements():
    x = np.ones((1, 5, 4, 1), "float32")
    y = AveragePooling2D(3, strides=2, padding="same")(x)
    np.testing.assert_allclose(y, np.ones_like(y))  # padding never dilutes the mean
    x = np.arange(5, dtype="float32").reshape(1, 5, 1, 1)
    y = AveragePooling2D((2, 1), padding="same")(x)
    np.testing.assert_allclose(y[0, :, 0, 0], [0.5, 2.5, 4.0])


def test_max_pooling_same_ignores_padding_for_negative_inputs():
    x = -np.ones((1, 3, 3, 1), "float32")
    assert np.all(MaxPooling2D(2, padding="same")(x) == -1)


def test_global_average_pooling1d_mask_averages_unmasked_steps():
    x = np.array([[[1.0], [2.0], [3.0], [4.0]]], "float32")
    layer = GlobalAveragePooling1D()
    np.testing.assert_allclose(layer(x, mask=np.array([[1, 1, 0, 0]], bool)), [[1.5]])
    assert layer.compute_mask(x, np.ones((1, 4), bool)) is None
    assert Conv1D(1, 1).compute_mask(x, np.ones((1, 4), bool)) is None


# -- formats ------------------------------------------------------------------------------


def test_keras2_conv3d_transpose_ignores_dilation_as_tf_keras():
    layer = engine.deserialize(k2("Conv3DTranspose", {"filters": 1, "kernel_size": 2,
                                                      "dilation_rate": 2}))
    assert layer.dilation_rate == (1, 1, 1)
    assert "dilation_rate" not in layer.get_config("keras2")
    k3_layer = engine.deserialize(k3("Conv3DTranspose", {"filters": 1, "kernel_size": 2,
                                                         "dilation_rate": 2}))
    assert k3_layer.get_config("keras3")["dilation_rate"] == [2, 2, 2]


def test_keras2_only_keys_round_trip():
    cfg = {"filters": 2, "kernel_size": 3, "groups": 1,
           "kernel_initializer": {"class_name": "Ones", "config": {}}}
    layer = engine.deserialize(k2("SeparableConv2D", cfg))
    assert layer.get_config("keras2")["kernel_initializer"] == {"class_name": "Ones",
                                                                "config": {}}
    assert "kernel_initializer" not in layer.get_config("keras3")
    t = engine.deserialize(k2("Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                  "groups": 2}))
    assert t.get_config("keras2")["groups"] == 2 and "groups" not in t.get_config("keras3")


def test_adaptive_pooling_is_keras3_only():
    layer = engine.deserialize(k3("AdaptiveMaxPooling2D", {"output_size": 2}))
    with pytest.raises(Exception, match="keras3|Keras 3"):
        engine.serialize(layer, format="keras2")


def test_channels_first_equals_channels_last_transposed():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    for make in (lambda f: Conv2D(4, 3, strides=2, padding="same", data_format=f),
                 lambda f: Conv2DTranspose(4, 3, strides=2, data_format=f),
                 lambda f: DepthwiseConv2D(3, depth_multiplier=2, data_format=f),
                 lambda f: MaxPooling2D(3, strides=1, padding="same", data_format=f)):
        a, b = make("channels_last"), make("channels_first")
        ya = a(x)
        b.build((None, 3, 6, 7))
        if a.weights:
            b.set_weights(a.get_weights())
        yb = b(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        np.testing.assert_allclose(yb, np.moveaxis(ya, -1, 1), atol=1e-5)


# -- memory -------------------------------------------------------------------------------

#: peak traced memory of one call / (input bytes + output bytes)
MEMORY_MULTIPLE = 2.5


@pytest.mark.parametrize("class_name,config,shape", [
    ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}, (4, 48, 48, 32)),
    ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}, (4, 32, 32, 8)),
    ("Conv2D", {"filters": 8, "kernel_size": 5, "strides": 2, "padding": "same"},
     (4, 32, 32, 8)),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 4,
                "data_format": "channels_first"}, (4, 8, 32, 32)),
    ("Conv1D", {"filters": 8, "kernel_size": 5, "padding": "causal"}, (4, 256, 8)),
    ("Conv3D", {"filters": 8, "kernel_size": 3, "padding": "same"}, (2, 16, 16, 16, 4)),
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
     (4, 16, 16, 8)),
    ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2},
     (4, 32, 32, 8)),
    ("SeparableConv2D", {"filters": 16, "kernel_size": 3, "padding": "same"},
     (4, 32, 32, 8)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (4, 32, 32, 8)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (4, 32, 32, 8)),
])
def test_peak_memory_is_a_small_multiple_of_input_plus_output(class_name, config, shape):
    x = np.random.default_rng(5).standard_normal(shape).astype("float32")
    layer = engine.deserialize(k3(class_name, config))
    io = x.nbytes + layer(x).nbytes
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        layer(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_MULTIPLE * io, f"peak {peak / io:.2f}x input+output"


def test_no_weights_are_allocated_for_a_refused_build():
    layer = Conv3DTranspose(2, 3)
    with pytest.raises(ValueError):
        layer.build((None, 4, 4, 4, None))
    assert layer.weights == []


@pytest.mark.parametrize("class_name,config", [
    ("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"}),
    ("Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2}),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}),
    ("DepthwiseConv2D", {"kernel_size": 3}),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3}),
    ("MaxPooling2D", {}),
    ("AveragePooling2D", {"pool_size": 2, "padding": "same"}),
    ("AdaptiveAveragePooling2D", {"output_size": 2}),
])
def test_empty_batch_and_mixed_float16(class_name, config):
    layer = engine.deserialize(k3(class_name, config))
    y = layer(np.ones((0, 5, 5, 3), "float32"))
    assert y.shape == layer.compute_output_shape((0, 5, 5, 3))
    half = engine.deserialize(k3(class_name, {**config, "dtype": "mixed_float16"}))
    y16 = half(np.ones((2, 5, 5, 3), "float32"))
    assert y16.dtype == np.float16
    assert all(w.value.dtype == np.float32 for w in half.weights)
