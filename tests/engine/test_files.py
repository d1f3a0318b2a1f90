"""Model files: .keras / .h5 / .json read and written, lazily, and refused when unsafe."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import engine
from engine.errors import WeightsError
from engine.files import FileError, UnsafeFileError, safety

DATA = Path(__file__).resolve().parent.parent / "data"
EX = DATA / "keras" / "examples"
MODELS = DATA / "models"
CORPUS = DATA / "keras" / "corpus"


def _io(fmt: str):
    return np.load(EX / f"io_{fmt}.npz")


def _needs(*classes: str) -> None:
    from engine import registry

    missing = [c for c in classes if registry.lookup("layer", c) is None]
    if missing:
        pytest.xfail(f"layer {', '.join(missing)} is not implemented yet")


@pytest.mark.parametrize("fmt", ["k2", "k3"])
@pytest.mark.parametrize("kind", ["seq", "fn"])
@pytest.mark.parametrize("ext", [".keras", ".h5", ".json"])
def test_examples_load(fmt, kind, ext):
    if kind == "fn":
        _needs("Add", "BatchNormalization")
    io_ = _io(fmt)
    path = EX / f"{fmt}_tiny_{kind}{ext}"
    model = engine.load(path)
    if ext == ".json":
        model.load_weights(EX / f"{fmt}_tiny_{kind}.weights.h5")
    y = model(io_["x"])
    np.testing.assert_allclose(y, io_[f"{fmt}_tiny_{kind}_y"], atol=1e-6)


@pytest.mark.parametrize("fmt", ["k2", "k3"])
@pytest.mark.parametrize("kind", ["seq", "fn"])
def test_weights_files_onto_model(fmt, kind):
    if kind == "fn":
        _needs("Add", "BatchNormalization")
    io_ = _io(fmt)
    y_ref = io_[f"{fmt}_tiny_{kind}_y"]
    names = [EX / f"{fmt}_tiny_{kind}.weights.h5"]
    if fmt == "k2":
        names.append(EX / f"k2_tiny_{kind}_legacy_weights.h5")
    for wfile in names:
        model = engine.load(EX / f"{fmt}_tiny_{kind}.json")
        model.load_weights(wfile)
        np.testing.assert_allclose(model(io_["x"]), y_ref, atol=1e-6, err_msg=wfile.name)


def test_load_from_file_object_and_bytes():
    data = (EX / "k3_tiny_seq.keras").read_bytes()
    io_ = _io("k3")
    for src in (io.BytesIO(data), data):
        model = engine.load(src)
        np.testing.assert_allclose(model(io_["x"]), io_["k3_tiny_seq_y"], atol=1e-6)


# -- laziness -------------------------------------------------------------------------------


@pytest.fixture
def count_reads(monkeypatch):
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self, key):
        reads.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    return reads


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_weights_read_lazily(count_reads, ext):
    model = engine.load(CORPUS / "k3" / f"k3_model_mlp{ext}")
    assert count_reads == []  # opening reads no tensor
    layer = model.layers[0]
    _ = layer.get_config()
    assert count_reads == []
    w = layer.get_weights()
    assert len(count_reads) == len(w) == 2
    model.get_weights()
    n = len(model.weights)
    assert len(count_reads) == n  # every tensor read exactly once
    model.get_weights()
    assert len(count_reads) == n


def test_load_not_lazy(count_reads):
    model = engine.load(CORPUS / "k3" / "k3_model_mlp.keras", lazy=False)
    assert len(count_reads) == len(model.weights)


# -- save -------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["k3_model_mlp", "k3_model_two_branch"])
def test_save_then_load(tmp_path, stem):
    src = CORPUS / "k3" / f"{stem}.keras"
    meta = json.loads((CORPUS / "k3" / f"{stem}.json").read_text())
    arrays = np.load(CORPUS / "k3" / f"{stem}.npz")
    xs = [arrays[f"x{i}"] for i in range(len(meta["inputs"]))]
    x = xs if len(xs) > 1 else xs[0]
    model = engine.load(src)
    out = tmp_path / "m.keras"
    engine.save(model, out)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    again = engine.load(out)
    y1, y2 = model(x), again(x)
    for a, b in zip(y1 if isinstance(y1, list) else [y1], y2 if isinstance(y2, list) else [y2]):
        np.testing.assert_array_equal(a, b)
    for fmt in ("keras3", "keras2"):
        j = tmp_path / f"m_{fmt}.json"
        engine.save(model, j, format=fmt)
        third = engine.load(j)
        third.set_weights(model.get_weights())
        y3 = third(x)
        np.testing.assert_array_equal(y3 if not isinstance(y3, list) else y3[0],
                                      y1 if not isinstance(y1, list) else y1[0])


def test_save_a_layer(tmp_path):
    from engine.layers.core import Dense

    layer = Dense(3)
    layer.build((None, 4))
    engine.save(layer, tmp_path / "d.keras")
    model = engine.load(tmp_path / "d.keras")
    np.testing.assert_array_equal(model.get_weights()[0], layer.get_weights()[0])


def test_saved_by_layerlab_file_is_committed():
    path = MODELS / "saved_by_layerlab.keras"
    meta = json.loads(path.with_suffix(".json").read_text())
    model = engine.load(path)
    y = model(np.asarray(meta["x"], "float32"))
    np.testing.assert_allclose(y, np.asarray(meta["y_keras"]), atol=1e-5)


def _keras_python() -> str | None:
    """This Python if it has Keras, else $LAYERLAB_ORACLE_PYTHON (a Python with the oracle
    extra installed, e.g. a separate venv), else None."""
    for exe in (sys.executable, os.environ.get("LAYERLAB_ORACLE_PYTHON", "")):
        if exe and Path(exe).exists():
            try:
                r = subprocess.run([exe, "-c", "import keras"], capture_output=True,
                                   timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if r.returncode == 0:
                return exe
    return None


@pytest.mark.oracle
def test_save_loads_in_real_keras(tmp_path):
    """Every model case, loaded by layerlab and saved with engine.save, loads in real Keras 3
    (keras.models.load_model) and gives layerlab's outputs."""
    exe = _keras_python()
    if exe is None:
        pytest.skip("real Keras is not installed (pip install -e '.[oracle]')")
    from test_models import CASES, missing_layers

    jobs = []
    for case in CASES:
        if missing_layers(case.config):
            continue
        model = engine.load(case.path.with_suffix(".keras"))
        xs = case.inputs()
        xs = xs if isinstance(xs, list) else [xs]
        ys = model(xs if len(xs) > 1 else xs[0])
        ys = ys if isinstance(ys, list) else [ys]
        stem = case.path.stem
        engine.save(model, tmp_path / f"{stem}.keras")
        np.savez(tmp_path / f"{stem}.npz", *xs, *ys)
        jobs.append((stem, len(xs)))
    assert jobs
    script = (
        "import os, sys, json, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import keras\n"
        f"jobs = {jobs!r}\n"
        "out = {}\n"
        "for stem, n in jobs:\n"
        f"    m = keras.models.load_model(os.path.join(r'{tmp_path}', stem + '.keras'))\n"
        f"    d = np.load(os.path.join(r'{tmp_path}', stem + '.npz'))\n"
        "    xs = [d[f'arr_{i}'] for i in range(n)]\n"
        "    ys = m.predict(xs if n > 1 else xs[0], verbose=0)\n"
        "    ys = ys if isinstance(ys, list) else [ys]\n"
        "    out[stem] = max(float(np.abs(np.asarray(a) - d[f'arr_{n + i}']).max())\n"
        "                    for i, a in enumerate(ys))\n"
        "print('RESULT', json.dumps(out))\n"
    )
    r = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    errors = json.loads(r.stdout.split("RESULT", 1)[1])
    assert set(errors) == {stem for stem, _ in jobs}
    assert max(errors.values()) < 1e-5, errors


# -- malformed and unsafe files -----------------------------------------------------------


def test_truncated_archive(tmp_path):
    data = (EX / "k3_tiny_seq.keras").read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 100):
        p = tmp_path / f"cut{cut}.keras"
        p.write_bytes(data[:cut])
        with pytest.raises(FileError, match="truncated|corrupt|not a valid"):
            engine.load(p)


def _rewrite_keras(src: Path, dst: Path, weights: bytes | None = None,
                   config: bytes | None = None) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "model.weights.h5" and weights is not None:
                data = weights
            if info.filename == "config.json" and config is not None:
                data = config
            zout.writestr(info.filename, data)


def _h5_bytes(build) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _copy_h5(src: h5py.File, dst: h5py.File) -> None:
    for k in src:
        src.copy(src[k], dst, name=k)
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def _weights_of(path: Path) -> h5py.File:
    with zipfile.ZipFile(path) as zf:
        return h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")


def test_wrong_shape_in_weights_file(tmp_path):
    src = EX / "k3_tiny_seq.keras"
    orig = _weights_of(src)

    def build(f):
        _copy_h5(orig, f)
        del f["layers/dense_1/vars/0"]
        f["layers/dense_1/vars/0"] = np.zeros((5, 2), "float32")

    dst = tmp_path / "bad.keras"
    _rewrite_keras(src, dst, weights=_h5_bytes(build))
    with pytest.raises(WeightsError, match=r"layer 'probs'.*variable 'kernel'.*\(5, 2\).*"
                       r"\(4, 2\)"):
        engine.load(dst)


def test_wrong_shape_in_legacy_h5(tmp_path):
    dst = tmp_path / "bad.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        del f["model_weights/hidden/tiny_seq/hidden/kernel"]
        f["model_weights/hidden/tiny_seq/hidden/kernel"] = np.zeros((3, 7), "float32")
    with pytest.raises(WeightsError, match=r"layer 'hidden'.*variable 'kernel'.*\(3, 7\)"):
        engine.load(dst)


def test_missing_variable(tmp_path):
    src = EX / "k3_tiny_seq.keras"
    orig = _weights_of(src)

    def build(f):
        _copy_h5(orig, f)
        del f["layers/dense/vars/1"]

    dst = tmp_path / "bad.keras"
    _rewrite_keras(src, dst, weights=_h5_bytes(build))
    with pytest.raises(WeightsError, match="'hidden'.*1 variable.*has 2"):
        engine.load(dst)


def test_external_link_refused(tmp_path, count_reads):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(8, dtype="float32").reshape(4, 2)
    src = EX / "k3_tiny_seq.keras"
    orig = _weights_of(src)

    def build(f):
        _copy_h5(orig, f)
        del f["layers/dense_1/vars/0"]
        f["layers/dense_1/vars/0"] = h5py.ExternalLink(str(secret), "data")

    dst = tmp_path / "ext.keras"
    _rewrite_keras(src, dst, weights=_h5_bytes(build))
    with pytest.raises(UnsafeFileError, match="'/layers/dense_1/vars/0' is an external link"):
        engine.load(dst)
    assert count_reads == []


def test_soft_link_refused(tmp_path):
    dst = tmp_path / "soft.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        f["model_weights/alias"] = h5py.SoftLink("/model_weights/hidden")
    with pytest.raises(UnsafeFileError, match="'/model_weights/alias' is a soft link"):
        engine.load(dst)


def test_external_storage_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(8, "float32").tobytes())
    dst = tmp_path / "extstore.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        f.create_dataset("model_weights/extra", shape=(8,), dtype="float32",
                         external=[(str(raw), 0, 32)])
    with pytest.raises(UnsafeFileError, match="'/model_weights/extra' uses external storage"):
        engine.load(dst)


def test_virtual_dataset_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["d"] = np.zeros(4, "float32")
    dst = tmp_path / "vds.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
    layout[:] = h5py.VirtualSource(str(other), "d", shape=(4,))
    with h5py.File(dst, "a") as f:
        f.create_virtual_dataset("model_weights/virt", layout)
    with pytest.raises(UnsafeFileError, match="'/model_weights/virt' is a virtual dataset"):
        engine.load(dst)


def test_zip_bomb_member_refused(tmp_path):
    dst = tmp_path / "bomb.keras"
    src = EX / "k3_tiny_seq.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == "config.json":
                zout.writestr("config.json", b" " * (8 * 2**20) + b"{}",
                              compress_type=zipfile.ZIP_DEFLATED)
            else:
                zout.writestr(info.filename, zin.read(info))
    with pytest.raises(UnsafeFileError, match="member 'config.json' inflates .* zip bomb"):
        engine.load(dst)


def test_oversized_member_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(UnsafeFileError, match="member 'model.weights.h5' declares .* over "
                       "the limit"):
        engine.load(EX / "k3_tiny_seq.keras")


def test_missing_member(tmp_path):
    dst = tmp_path / "nocfg.keras"
    with zipfile.ZipFile(EX / "k3_tiny_seq.keras") as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != "config.json":
                zout.writestr(info.filename, zin.read(info))
    with pytest.raises(FileError, match="no member 'config.json'"):
        engine.load(dst)


@pytest.mark.parametrize("name", ["../hidden", "/hidden", "a//hidden", "a/./hidden",
                                  "a/../hidden", ".", "", "hidden/"])
def test_layer_names_never_paths(tmp_path, name):
    dst = tmp_path / "names.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        f["model_weights"].attrs["layer_names"] = [name, "probs"]
    with pytest.raises(UnsafeFileError, match="bad layer name"):
        engine.load(dst)


def test_layer_names_with_slashes_are_nested_groups(tmp_path):
    # tf_keras DenseNet121 writes 'conv1/conv': an HDF5 key with nested groups, as tf_keras
    dst = tmp_path / "slash.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        g = f["model_weights"]
        g.create_group("block1")
        g.move("hidden", "block1/hidden")
        g.attrs["layer_names"] = ["block1/hidden", "probs"]
    io_ = _io("k3")
    model = engine.load(dst, lazy=False)
    np.testing.assert_allclose(model(io_["x"]), io_["k3_tiny_seq_y"], atol=1e-6)


def test_weights_only_h5_has_clear_error():
    with pytest.raises(FileError, match="weights-only file.*load_weights"):
        engine.load(EX / "k2_tiny_seq_legacy_weights.h5")


def test_bad_json():
    with pytest.raises(FileError, match="not valid JSON"):
        engine.load(io.BytesIO(b"{not json"))


# -- closing a lazily loaded model ----------------------------------------------------------


def _open_fds(path: Path) -> list[str]:
    """The file descriptors of this process that point at ``path``."""
    target = os.path.realpath(path)
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                out.append(fd)
        except OSError:
            continue
    return out


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                                reason="needs /proc/self/fd")


@pytest.fixture(params=[".keras", ".h5"])
def model_file(request, tmp_path) -> Path:
    dst = tmp_path / f"m{request.param}"
    shutil.copy(CORPUS / "k3" / f"k3_model_mlp{request.param}", dst)
    return dst


@needs_proc
def test_close_releases_the_file(model_file):
    model = engine.load(model_file)
    assert _open_fds(model_file)  # lazy: open until the weights are read
    first = model.layers[0].get_weights()
    model.close()
    assert _open_fds(model_file) == []
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], first[0])  # kept
    with pytest.raises(WeightsError, match=r"file was closed.*before weight .* was read"
                       r".*lazy=False"):
        model.get_weights()
    model.close()  # idempotent


@needs_proc
def test_with_block_closes_the_file(model_file):
    with engine.load(model_file) as model:
        assert _open_fds(model_file)
        y = model(np.ones((2, 20), "float32"))
    assert y.shape[0] == 2
    assert _open_fds(model_file) == []


@needs_proc
def test_garbage_collection_closes_the_file(model_file):
    model = engine.load(model_file)
    assert _open_fds(model_file)
    del model
    gc.collect()
    assert _open_fds(model_file) == []


@needs_proc
def test_a_kept_layer_still_reads_after_the_model_is_dropped(model_file):
    layer = engine.load(model_file).layers[0]
    gc.collect()
    assert len(layer.get_weights()) == 2  # its file stays open while it may be read
    del layer
    gc.collect()
    assert _open_fds(model_file) == []


@needs_proc
def test_eager_load_closes_at_once(model_file, count_reads):
    model = engine.load(model_file, lazy=False)
    assert _open_fds(model_file) == []
    assert len(count_reads) == len(model.weights)
    model.close()
    assert len(model.get_weights()) == len(model.weights)


@needs_proc
def test_file_closed_after_the_last_read(model_file):
    model = engine.load(model_file)
    model.get_weights()
    assert _open_fds(model_file) == []


@needs_proc
def test_load_weights_lazy_then_close(tmp_path):
    wfile = tmp_path / "w.weights.h5"
    shutil.copy(EX / "k3_tiny_seq.weights.h5", wfile)
    model = engine.load(EX / "k3_tiny_seq.json")
    model.load_weights(wfile, lazy=True)
    assert _open_fds(wfile)
    model.close()
    assert _open_fds(wfile) == []
    with pytest.raises(WeightsError, match="file was closed"):
        model.get_weights()
    model.load_weights(wfile)  # eager by default: read at once, file closed
    assert _open_fds(wfile) == []
    np.testing.assert_allclose(model(_io("k3")["x"]), _io("k3")["k3_tiny_seq_y"], atol=1e-6)


def test_close_on_a_model_from_a_config_is_harmless():
    with engine.load(EX / "k3_tiny_seq.json") as model:
        assert len(model.get_weights()) == 4
    model.close()


@needs_proc
def test_failed_load_leaves_no_file_open(tmp_path):
    dst = tmp_path / "bad.h5"
    shutil.copy(EX / "k3_tiny_seq.h5", dst)
    with h5py.File(dst, "a") as f:
        del f["model_weights/hidden/tiny_seq/hidden/kernel"]
        f["model_weights/hidden/tiny_seq/hidden/kernel"] = np.zeros((3, 7), "float32")
    with pytest.raises(WeightsError):
        engine.load(dst)
    gc.collect()
    assert _open_fds(dst) == []
