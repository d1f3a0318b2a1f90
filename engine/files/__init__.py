"""Model files: ``.keras`` archives, legacy ``.h5`` models and weights, ``.json`` configs.

Where things live:

- ``api.py``: :func:`load`, :func:`load_weights`, :func:`save`, :func:`save_weights`;
- ``keras_zip.py``: ``.keras`` archives; ``keras3_weights.py``: the Keras 3 weights layout;
- ``h5.py``: legacy ``.h5`` models and weights (read and written); ``h5_store.py``: lazy,
  closeable HDF5 reads through the index the safety walk builds;
- ``h5_vlen.py``: variable-length attributes measured in the file's bytes before libhdf5
  reads them; ``h5_format.py``: the HDF5 file format as they need it (superblock, object
  headers, fractal heaps, v2 B-trees);
- ``json_config.py``: a config as JSON text -> the model; ``strict_json.py``: the one
  JSON parser (NaN/Infinity tokens and duplicate keys refused);
- ``safety.py``: limits, :class:`FileError`, :class:`UnsafeFileError` and the checks that
  refuse unsafe files (links, external storage, zip bombs, path-like names).
"""

from .api import load, load_weights, materialize, model_from_json, save, save_weights
from .safety import FileError, UnsafeFileError

__all__ = ["load", "model_from_json", "save", "load_weights", "save_weights", "materialize",
           "FileError", "UnsafeFileError"]
