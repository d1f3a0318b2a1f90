"""Keras's JSON API (``engine.model_from_json``, ``model.to_json``) and the strict JSON
parser shared by .json files, the config.json / metadata.json of .keras archives and the
model_config attribute of .h5 files: NaN / Infinity tokens and duplicate keys are
ConfigErrors naming the key."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import engine
from engine import ConfigError
from engine.files import FileError
from engine.files.strict_json import parse

EX = Path(__file__).resolve().parent.parent / "data" / "keras" / "examples"


def test_model_from_json_is_public():
    assert "model_from_json" in engine.__all__
    assert engine.model_from_json is engine.files.model_from_json


@pytest.mark.parametrize("fmt", ["k2", "k3"])
def test_to_json_model_from_json_round_trip(fmt):
    model = engine.load(EX / f"{fmt}_tiny_fn.keras" if fmt == "k3" else
                        EX / f"{fmt}_tiny_fn.h5", lazy=False)
    text = model.to_json()
    again = engine.model_from_json(text)
    assert json.loads(again.to_json()) == json.loads(text)
    again.set_weights(model.get_weights())
    x = np.load(EX / f"io_{fmt}.npz")["x"]
    np.testing.assert_array_equal(again(x), model(x))
    bytes_again = engine.model_from_json(text.encode())
    assert bytes_again.name == model.name


def test_model_from_json_custom_objects():
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2],
                                                "name": "i"}},
        {"class_name": "MyDense", "config": {"name": "d", "units": 3}}]}}
    with pytest.raises(ConfigError, match=r"engine\.model_from_json\(text, custom_objects"):
        engine.model_from_json(json.dumps(cfg))
    dense = engine.lookup("layer", "Dense")
    model = engine.model_from_json(json.dumps(cfg), custom_objects={"MyDense": dense})
    assert model(np.ones((1, 2), "float32")).shape == (1, 3)


def test_model_from_json_wants_text():
    with pytest.raises(TypeError, match="JSON text"):
        engine.model_from_json({"class_name": "Sequential"})
    with pytest.raises(FileError, match="not valid JSON"):
        engine.model_from_json("{")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_tokens_refused_with_path(token):
    text = '{"class_name": "Dense", "config": {"units": 2, "l": [1, ' + token + ']}}'
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert e.value.path == "config.config.l[1]"
    assert token.lstrip("-") in str(e.value) and "not valid JSON" in str(e.value)


def test_duplicate_keys_refused_with_path():
    with pytest.raises(ConfigError) as e:
        parse('{"config": {"layers": [{"a": 1}, {"units": 2, "units": 3}]}}')
    assert e.value.path == "config.config.layers[1].units"
    assert "duplicate key 'units'" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse('{"a": 1, "a": 1}')
    assert e.value.path == "config.a"


def test_strict_parse_keeps_valid_json():
    text = '{"a": [1, 2.5, -1e-3, null, true, "NaN"], "b": {"c": {}}}'
    assert parse(text) == json.loads(text)


def _dup_config(text: str) -> str:
    """The config with a duplicate 'units' key in its first Dense layer."""
    i = text.index('"units": ')
    return text[:i] + '"units": 7, ' + text[i:]


def test_json_file_is_parsed_strictly(tmp_path):
    text = (EX / "k3_tiny_seq.json").read_text()
    path = tmp_path / "dup.json"
    path.write_text(_dup_config(text))
    with pytest.raises(ConfigError, match="duplicate key 'units'") as e:
        engine.load(path)
    assert e.value.path.endswith(".units")
    path.write_text(text.replace('"units": ', '"units": NaN, "x": ', 1))
    with pytest.raises(ConfigError, match="NaN is not valid JSON"):
        engine.load(path)


@pytest.mark.parametrize("member", ["config.json", "metadata.json"])
def test_keras_archive_members_parsed_strictly(tmp_path, member):
    dst = tmp_path / "m.keras"
    with zipfile.ZipFile(EX / "k3_tiny_seq.keras") as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                text = data.decode()
                data = (_dup_config(text) if member == "config.json" else
                        text.replace("{", '{"date_saved": Infinity, ', 1)).encode()
            zout.writestr(info.filename, data)
    with pytest.raises(ConfigError) as e:
        engine.load(dst)
    assert member in str(e.value)
    if member == "metadata.json":
        assert e.value.path == "metadata.date_saved"


def test_h5_model_config_parsed_strictly(tmp_path):
    dst = tmp_path / "m.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        raw = f.attrs["model_config"]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        f.attrs["model_config"] = _dup_config(text)
    with pytest.raises(ConfigError, match="duplicate key 'units'") as e:
        engine.load(dst)
    assert "model_config" in str(e.value)


def test_json_nested_too_deep_is_a_file_error():
    with pytest.raises(FileError, match="nested too deeply"):
        engine.load(io.BytesIO(b"[" * 100_000 + b"]" * 100_000))
