"""Write the hostile-input cases (issue 14) as JSON files into a folder.

Usage: ``python -m tests.hostile.generate FOLDER`` (the test suite writes them into a
temporary folder and runs each with ``tests.hostile.run_case`` in a subprocess). The cases
that load a hostile file (``tests.hostile.files``) find it in ``FOLDER/files``.

Every case is small on disk and would, without the engine's limits, exhaust memory, time
or the interpreter's stack, or leave the documented error family. ``expect`` is the error
class the engine must raise (``None``: the case must succeed); ``owner`` marks cases whose
fix lives in code outside the engine's layer/budget side (the models and files helpers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.hostile.files import file_cases, write_files
from tests.hostile.files_layouts import layout_cases, write_layout_files


def _k3(class_name: str, config: dict[str, Any], shape: list | None = None) -> dict:
    out: dict[str, Any] = {"module": "keras.layers", "class_name": class_name,
                           "config": config, "registered_name": None}
    if shape is not None:
        out["build_config"] = {"input_shape": shape}
    return out


def _call(name: str, class_name: str, config: dict, shape: list, expect: str = "BudgetError",
          dtype: str = "float32", **extra: Any) -> dict:
    return {"name": name, "config": _k3(class_name, config), "input": {"shape": shape,
            "dtype": dtype}, "expect": expect, **extra}


def _wrapped(depth: int) -> dict:
    """Bidirectional(LSTM) inside ``depth`` TimeDistributed wrappers."""
    cfg: dict[str, Any] = {"class_name": "Bidirectional", "config": {
        "layer": {"class_name": "LSTM", "config": {"units": 2}}}}
    for _ in range(depth):
        cfg = {"class_name": "TimeDistributed", "config": {"layer": cfg}}
    return cfg


_F64 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
        "registered_name": None}


def _sequential(layers: list[dict], shape: list) -> dict:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "seq", "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": shape, "dtype": "float32", "name": "in"}},
                *layers]},
            "build_config": {"input_shape": shape}}


def _functional(class_name: str, config: dict, args: list, module: str = "keras.layers",
                ) -> dict:
    """x (None, 4) -> one layer or operation called on ``args`` ("x" is the input)."""
    tensor = {"class_name": "__keras_tensor__", "config": {
        "shape": [None, 4], "dtype": "float32", "keras_history": ["x", 0, 0]}}
    node = {"args": [tensor if a == "x" else a for a in args], "kwargs": {}}
    name = config["name"]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": None, "config": {"name": "m", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "name": "x", "inbound_nodes": [], "config": {
                     "batch_shape": [None, 4], "dtype": "float32", "name": "x"}},
                {"module": module, "class_name": class_name, "config": config,
                 "registered_name": None if module == "keras.layers" else class_name,
                 "name": name, "inbound_nodes": [node]}],
                "input_layers": [["x", 0, 0]], "output_layers": [[name, 0, 0]]}}


def _many_nodes(n: int) -> dict:
    """A functional model whose Dense layer lists ``n`` calls (Keras 2 nodes)."""
    call = [["x", 0, 0, {}]]
    return {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 4], "name": "x"}},
        {"class_name": "Dense", "name": "d", "config": {"units": 1, "name": "d"},
         "inbound_nodes": [call] * n}],
        "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}}


def cases() -> list[dict]:
    """The hostile cases, as dicts (see the module docstring)."""
    out: list[dict] = [
        # 1. memory: outputs far larger than their inputs
        _call("repeat_vector", "RepeatVector", {"n": 300_000_000}, [2, 4]),
        _call("zero_padding", "ZeroPadding2D", {"padding": 15000}, [1, 4, 4, 1]),
        _call("center_crop", "CenterCrop", {"height": 40000, "width": 40000}, [1, 4, 4, 3]),
        _call("conv_transpose_strides", "Conv2DTranspose",
              {"filters": 1, "kernel_size": 3, "strides": 10000}, [1, 4, 4, 1]),
        _call("upsampling", "UpSampling2D", {"size": 5000}, [1, 4, 4, 1]),
        _call("category_encoding", "CategoryEncoding",
              {"num_tokens": 100_000_000, "output_mode": "one_hot"}, [8, 4], dtype="int64"),
        _call("resizing", "Resizing", {"height": 25000, "width": 25000}, [1, 4, 4, 3]),
        _call("conv_dilation_same", "Conv2D", {"filters": 1, "kernel_size": 3,
              "dilation_rate": 30000, "padding": "same"}, [1, 8, 8, 1], owner="conv"),
        _call("max_pool_same", "MaxPooling2D", {"pool_size": 40000, "strides": 1,
              "padding": "same"}, [1, 4, 4, 1]),
        _call("avg_pool_same", "AveragePooling2D", {"pool_size": 40000, "strides": 1,
              "padding": "same"}, [1, 4, 4, 1]),
        _call("adaptive_pool", "AdaptiveAveragePooling2D", {"output_size": 40000},
              [1, 4, 4, 1]),
        # scale (1, 1, 20000) and offset (1, 20000, 1) broadcast with (1, 4, 1, 1) to
        # (1, 4, 20000, 20000) float32: 6.4 GB from a 200 kB config
        _call("rescaling_broadcast", "Rescaling", {"scale": [[[1.0] * 20000]],
              "offset": [[[0.0]] * 20000]}, [1, 4, 1, 1]),
        {"name": "numpy_constant_unicode", "expect": "ConfigError", "owner": "models",
         "config": _functional("Add", {"name": "add"}, [
             "x", {"class_name": "__numpy__", "config": {"value": "a",
                                                         "dtype": "U100000000"}}])},
        {"name": "cast_unicode", "expect": "ConfigError", "owner": "models",
         "config": _functional("Cast", {"name": "cast", "dtype": "U200000000"}, ["x"],
                               module="keras.src.ops.core"),
         "input": {"shape": [2, 4], "dtype": "float32"}},
        {"name": "cast_void", "expect": "ConfigError", "owner": "models",
         "config": _functional("Cast", {"name": "cast", "dtype": "V"}, ["x"],
                               module="keras.src.ops.core"),
         "input": {"shape": [2, 4], "dtype": "float32"}},
        # weights: one budget for a whole model, in bytes
        {"name": "three_dense_float64", "expect": "BudgetError", "config": _sequential(
            [_k3("Dense", {"units": 7000, "dtype": _F64, "name": f"d{i}"})
             for i in range(3)], [None, 7000])},
        # four kernels of 537 MB each, every one under the budget on its own
        {"name": "mha_sublayers", "expect": "BudgetError", "config": {**_k3(
            "MultiHeadAttention", {"num_heads": 64, "key_dim": 2048}),
            "build_config": {"shapes_dict": {"query_shape": [None, 4, 1024],
                                             "value_shape": [None, 4, 1024]}}}},
        {"name": "dense_float64_doubles", "expect": "BudgetError", "config": _k3(
            "Dense", {"units": 12000, "dtype": _F64}, [None, 12000])},
        # 3. time: a QR of a big kernel; close names of thousands of unknown names
        {"name": "orthogonal_big", "expect": "BudgetError", "config": _k3(
            "Dense", {"units": 8192, "kernel_initializer": {
                "module": "keras.initializers", "class_name": "Orthogonal",
                "config": {"gain": 1.0, "seed": 1}, "registered_name": None}},
            [None, 8192])},
        # 5. names
        {"name": "name_nul", "expect": "ConfigError",
         "config": _k3("Dense", {"units": 2, "name": "a\x00b"})},
        {"name": "name_empty", "expect": "ConfigError",
         "config": _k3("Dense", {"units": 2, "name": ""})},
        {"name": "name_long", "expect": "ConfigError",
         "config": _k3("Dense", {"units": 2, "name": "x" * 300})},
        {"name": "name_surrogate", "expect": "ConfigError",
         "config": _k3("Dense", {"units": 2, "name": "a\udc80"})},
        {"name": "registered_name_elsewhere", "expect": "ConfigError",
         "config": {**_k3("Dense", {"units": 2}), "registered_name": "evil>Dense"}},
        # 6. errors outside the family: depth, cycles, NumPy errors in the forward pass
        {"name": "wrapper_chain_100", "expect": "ConfigError", "config": _wrapped(100)},
        # the deepest chain the depth limit lets through runs without a RecursionError
        {"name": "wrapper_chain_30", "expect": None, "config": _wrapped(30),
         "input": {"shape": [1] * 32 + [3], "dtype": "float32"}},
        # JSON cannot hold it (json itself recurses): run_case nests the list
        {"name": "nested_lists_5000", "expect": "ConfigError",
         "config": _k3("Rescaling", {"scale": 1.0}), "deep": {"key": "scale", "depth": 5000}},
        {"name": "cyclic_config", "expect": "ConfigError",
         "config": _k3("TimeDistributed", {"layer": None}), "cycle": "layer"},
        {"name": "einsum_repeated_output", "expect": "ConfigError", "config": _k3(
            "EinsumDense", {"equation": "ab,bc->acc", "output_shape": [4, 4]}, [None, 3])},
        _call("empty_batch_softmax", "Softmax", {}, [0, 4], expect=None),
        _call("zero_length_sequence", "LSTM", {"units": 2}, [1, 0, 3], expect="ANY"),
        _call("string_input_dense", "Dense", {"units": 2}, [1, 3], expect="InputError",
              dtype="U3"),
        _call("shape_mismatch_dense", "Dense", {"units": 2}, [2, 3], expect="InputError",
              build=[None, 5]),
        _call("global_pool_empty", "GlobalMaxPooling1D", {}, [1, 0, 3], expect="ANY"),
        # 7. complex inputs
        _call("complex_dense", "Dense", {"units": 2}, [1, 3], expect="InputError",
              dtype="complex64"),
        _call("complex_sigmoid", "Activation", {"activation": "sigmoid"}, [1, 3],
              expect="InputError", dtype="complex64"),
        _call("complex_relu", "ReLU", {}, [1, 3], expect="InputError", dtype="complex64"),
        # 5. layer and node counts (a documented cap of 10,000, raised by max_layers=N)
        {"name": "layers_10001", "expect": "BudgetError", "owner": "files", "config": {
            "class_name": "Sequential", "config": {"name": "s", "layers": [
                {"class_name": "Dense", "config": {"units": 1}}] * 10_001}}},
        {"name": "layers_over_max_layers", "expect": "BudgetError", "owner": "files",
         "kwargs": {"max_layers": 5}, "config": {"class_name": "Sequential", "config": {
             "name": "s", "layers": [{"class_name": "Dense", "config": {"units": 1}}] * 6}}},
        {"name": "nodes_10001", "expect": "BudgetError", "owner": "files",
         "config": _many_nodes(10_001)},
        *file_cases(),
        *layout_cases(),
    ]
    for case in out:
        if case["name"] == "rescaling_broadcast":
            # scale (1, 1, 2000) and offset (1, 2000, 1) broadcast with (1, 4, 1, 1) to
            # (1, 4, 2000, 2000)... times a batch: 1 GB per 62,500 rows; make it 8 GB
            case["config"]["config"] = {"scale": [[[1.0] * 20000]],
                                        "offset": [[[0.0]] * 20000]}
            case["input"]["shape"] = [1, 4, 1, 1]
    return out


def write_cases(folder: Path) -> list[Path]:
    """Write every case as ``folder/<name>.json``; the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_files(folder / "files")
    write_layout_files(folder / "files")
    paths = []
    for case in cases():
        path = folder / f"{case['name']}.json"
        path.write_text(json.dumps(case, ensure_ascii=True), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_cases(Path(sys.argv[1])):
        print(p)
