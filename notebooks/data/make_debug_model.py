"""Write notebooks/data/debug_mlp.keras: a small MLP with two deliberately broken layers
(a ReLU layer whose bias kills every unit, a tanh layer whose weights saturate it), for the
"debugging a saved model" notebook. Run from the project root:
``python notebooks/data/make_debug_model.py``. The file loads in real Keras 3 too."""

from pathlib import Path

import engine


def dense(name, units, activation, kernel, bias="zeros"):
    return {"class_name": "Dense", "config": {
        "name": name, "units": units, "activation": activation,
        "kernel_initializer": kernel, "bias_initializer": bias}}


def seeded(class_name, seed, **config):
    return {"class_name": class_name, "config": {"seed": seed, **config}}


CONFIG = {"class_name": "Sequential", "config": {"name": "debug_mlp", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 32], "name": "features"}},
    dense("hidden_1", 64, "relu", seeded("HeNormal", 1)),
    dense("hidden_2", 64, "relu", seeded("HeNormal", 2),
          {"class_name": "Constant", "config": {"value": -8.0}}),
    dense("hidden_3", 64, "tanh", seeded("RandomNormal", 3, stddev=1.0)),
    dense("scores", 10, "softmax", seeded("GlorotUniform", 4)),
]}}

if __name__ == "__main__":
    model = engine.deserialize(CONFIG)
    model.build((None, 32))
    out = Path(__file__).parent / "debug_mlp.keras"
    engine.save(model, out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
