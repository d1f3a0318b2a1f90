"""The run loop's memo of a layer's call checks (engine/models/calls.py run_layer) and
BatchNormalization's folded weights are keyed on cheap stamps (engine/layers/call_budget.py
ValueStore); every way of changing what they depend on must still be seen."""

import copy
import pickle

import numpy as np
import pytest

import engine
from engine.errors import BudgetError, InputError
from engine.layers.call_budget import ValueStore
from engine.models import calls


def _bn():
    layer = engine.deserialize({"class_name": "BatchNormalization", "config": {}})
    layer.build((None, 3, 3, 4))
    rng = np.random.default_rng(0)
    layer.set_weights([rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(4)])
    return layer


@pytest.mark.parametrize("write", [
    lambda s: s.__setitem__("a", 2), lambda s: s.update(a=2), lambda s: s.setdefault("b", 1),
    lambda s: s.pop("a"), lambda s: s.popitem(), lambda s: s.clear(),
    lambda s: s.__delitem__("a"), lambda s: s.__ior__({"a": 3})])
def test_every_write_to_a_value_store_gives_a_new_stamp(write):
    store = ValueStore(a=1)
    stamp = store.stamp
    write(store)
    assert store.stamp != stamp


def test_a_value_store_copies_and_pickles_as_a_value_store():
    store = ValueStore(a=[1])
    for other in (copy.copy(store), copy.deepcopy(store), pickle.loads(pickle.dumps(store))):
        assert type(other) is ValueStore and other == store
        other["a"] = 2
        assert store["a"] == [1]


def test_layers_keep_their_values_in_a_value_store():
    layer = engine.layers.Dense(3)
    assert type(layer._values) is ValueStore
    stamp = layer._values.stamp
    layer.units = 4
    assert layer._values.stamp != stamp


def test_a_remembered_call_sees_field_writes_weights_and_specs():
    layer = _bn()
    x = np.random.default_rng(1).standard_normal((2, 3, 3, 4)).astype(np.float32)
    for _ in range(2):
        first = calls.run_layer(layer, x, False, None)
    assert calls._memo_hit(layer, x)
    layer._values["epsilon"] = 0.5  # a written value: checked and computed again
    assert not calls._memo_hit(layer, x)
    again = calls.run_layer(layer, x, False, None)
    assert not np.array_equal(again, first)
    np.testing.assert_array_equal(again, layer(x))
    layer.gamma.value[...] = 0  # in place: the fold sees it
    np.testing.assert_array_equal(calls.run_layer(layer, x, False, None),
                                  np.broadcast_to(layer.beta.value, x.shape))
    calls.run_layer(layer, x, False, None)
    layer.input_spec.axes[3] = 5  # the spec's content changed in place: checked again
    with pytest.raises(InputError):
        calls.run_layer(layer, x, False, None)


def test_a_remembered_call_sees_a_lower_budget_limit():
    layer = _bn()
    x = np.zeros((2, 3, 3, 4), np.float32)
    for _ in range(2):
        calls.run_layer(layer, x, False, None)
    layer._budget_obj.max_activation_bytes = 16
    with pytest.raises(BudgetError):
        calls.run_layer(layer, x, False, None)


def test_a_plain_dict_of_values_falls_back_to_comparing_every_value():
    layer = _bn()
    layer._values = dict(layer._values)  # made some other way: no stamp
    x = np.zeros((2, 3, 3, 4), np.float32)
    for _ in range(2):
        calls.run_layer(layer, x, False, None)
    assert calls._memo_hit(layer, x)
    layer._values["epsilon"] = 0.25
    assert not calls._memo_hit(layer, x)


def test_batch_normalization_folds_again_for_strided_weights_written_in_place():
    layer = _bn()
    x = np.random.default_rng(2).standard_normal((2, 3, 3, 4)).astype(np.float32)
    layer.gamma.value = np.arange(1, 9, dtype=np.float32)[::2]  # not contiguous

    def fresh():
        g, b = layer.gamma.value, layer.beta.value
        inv = (1 / np.sqrt(layer.moving_variance.value + np.float32(layer.epsilon))) * g
        return x * inv.astype(np.float32) + (b - layer.moving_mean.value * inv)

    np.testing.assert_allclose(layer(x), fresh(), rtol=1e-6, atol=1e-6)
    layer.gamma.value[1] = 10  # in place, through the strided view
    np.testing.assert_allclose(layer(x), fresh(), rtol=1e-6, atol=1e-6)
    assert np.allclose(layer(x)[..., 1], fresh()[..., 1])
