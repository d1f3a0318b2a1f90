"""The Layer base class: Keras's layer API on NumPy arrays.

A layer's constructor arguments are its config keys (declared as ``fields``). Weights are
declared in ``build(input_shape)`` with :meth:`Layer.add_weight`; they are counted against
the size budget before any is allocated. ``call(inputs, ...)`` is the forward pass.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from .. import serialization
from ..budget import Budget, active_budget, current_budget, itemsize, set_budget
from ..budget import reset_budget as _reset_budget
from ..configurable import Configurable, to_snake_case
from ..errors import BudgetError, ConfigError, InputError, WeightsError, describe, key_text
from ..fields import KERAS2, KERAS3, Bool, DType, Field, Name, Regularizer, Shape
from . import call_budget
from .shapes import (
    InputSpec,
    ShapeT,
    dtype_text,
    normalize_shape,
    shape_from_json,
    shape_text,
    shape_to_json,
    shapes_of,
)
from .weights import Variable, activity_regularizer_field, kernel_bias_fields

__all__ = ["Layer", "Variable", "InputSpec", "ShapeT", "normalize_shape", "shape_from_json",
           "build_without_initializers", "unique_name", "activity_regularizer_field",
           "kernel_bias_fields"]

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)
#: the float compute dtypes (NumPy's dtype objects of native byte order are singletons)
FLOAT_DTYPES = {n: np.dtype(n) for n in ("float16", "float32", "float64")}

#: set by build_without_initializers(): weights are declared but not filled
_skip_initializers: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "skip_initializers", default=False)


@contextlib.contextmanager
def build_without_initializers() -> Iterator[None]:
    """Layers built inside the block declare their weights (shapes, dtypes, paths) without
    running the initializers; the caller fills every weight (engine.files reads them from
    a file, lazily)."""
    token = _skip_initializers.set(True)
    try:
        yield
    finally:
        _skip_initializers.reset(token)


def unique_name(base: str) -> str:
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


class Layer(Configurable):
    """Base of every layer. Subclasses declare ``fields`` and implement ``build``/``call``.

    Class attributes a subclass may set: ``supports_masking`` (forward the mask),
    ``autocast`` (cast float inputs to the compute dtype; False for integer inputs),
    ``multi_input`` (``call`` takes a list of arrays).
    """

    registry_kind: ClassVar[str] = "layer"
    keras_module: ClassVar[str] = "keras.layers"
    abstract = True
    supports_masking: ClassVar[bool] = False
    autocast: ClassVar[bool] = True
    multi_input: ClassVar[bool] = False
    #: Keras 3 marks this layer built at construction, so it writes no build_config
    keras_builds_at_init: ClassVar[bool] = False
    #: seed field name used by training-mode randomness
    fields: ClassVar[tuple[Field, ...]] = (
        Name("name", None, "The layer's name (unique within a model)."),
        Bool("trainable", True, "Whether the weights are updated in training."),
        DType("dtype", "float32", "Compute/weight dtype policy."),
        Regularizer("activity_regularizer", None, "Penalty on the layer's output.",
                    formats=(KERAS3,), omit_default=(KERAS3,)),
        Shape("batch_input_shape", None, "Keras 2: the input shape, batch included.",
              formats=(KERAS2,), omit_default=(KERAS2,)),
    )

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _budgeted_build(cls.__dict__["build"])
        call = cls.__dict__.get("call")
        if call is not None:
            params = inspect.signature(call).parameters
            cls._call_accepts = frozenset(params)
            cls._call_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
            cls._call_training = "training" in params or cls._call_var_kw
            cls._call_mask = "mask" in params or cls._call_var_kw
        cls._budget_memo_ok = call_budget.memo_allowed(cls)
        if call is not None and "_call_owned" not in cls.__dict__:
            cls._call_owned = None  # its own call: the parent's in-place variant is not it

    _call_accepts: ClassVar[frozenset[str]] = frozenset()
    _call_var_kw: ClassVar[bool] = False
    _call_training: ClassVar[bool] = False  # call takes training= (or **kwargs)
    _call_mask: ClassVar[bool] = False
    _budget_memo_ok: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any):
        for key in ("input_shape", "input_dim") if (
                "input_shape" in kwargs or "input_dim" in kwargs or "batch_size" in kwargs) else ():
            if key == "input_dim" and any(f.name == key for f in self.all_fields()):
                continue  # a real config key of this class (Embedding)
            if key in kwargs and "batch_input_shape" not in kwargs:
                v = kwargs.pop(key)
                if v is not None:
                    v = [v] if key == "input_dim" else v
                    kwargs["batch_input_shape"] = [kwargs.get("batch_size")] + list(v)
            else:
                kwargs.pop(key, None)
        kwargs.pop("batch_size", None)
        self.built = False
        self._weights: list[Variable] = []
        self._pending: list[Variable] | None = None
        self._sublayers: list[Layer] = []
        self._build_shape: Any = None
        self._activity_losses: list[float] = []
        self._budget_obj = current_budget()
        super().__init__(*args, **kwargs)
        self._values = call_budget.ValueStore(self._values)  # stamped writes: cheap memos
        if self._values.get("name") is None:
            self._values["name"] = unique_name(to_snake_case(type(self).__name__))
        self.input_spec: InputSpec | None = None

    @property
    def budget(self) -> Budget:
        """The budget this layer's weights and calls count against: the one of the
        deserialize/load/build in progress, else the one it was made under."""
        return active_budget() or self._budget_obj

    @property
    def _budget(self) -> int:
        """Deprecated element count (code that sizes tables in elements reads it)."""
        return self.budget.element_limit

    @property
    def _rng(self) -> np.random.Generator:
        """The layer's generator, seeded by its ``seed`` field; created on first use
        (creating an unseeded Generator costs ~25 us, most layers never need one)."""
        rng = self.__dict__.get("_rng_generator")
        if rng is None:
            seed = self._values.get("seed")
            rng = np.random.default_rng(seed if isinstance(seed, int) else None)
            self.__dict__["_rng_generator"] = rng
        return rng

    @_rng.setter
    def _rng(self, value: np.random.Generator) -> None:
        self.__dict__["_rng_generator"] = value

    def _memo(self, name: str) -> dict:
        """The dict named ``name`` the layer keeps between calls for what its kernels work
        out from the shapes (plans, folded weights), created on first use; what is kept
        there carries the key it was made for."""
        memo = self.__dict__.get(name)
        if memo is None:
            memo = self.__dict__[name] = {}
        return memo

    def _tolerate_key(self, key: str, value: Any) -> bool:
        # Keras 2 writes 'dynamic' (False) and some files 'autocast'; both are harmless.
        return key in ("dynamic", "autocast") and isinstance(value, bool) and not value or \
            key == "autocast"

    # -- base attributes -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._values["name"]

    @name.setter
    def name(self, value: str) -> None:
        self._values["name"] = Name("name").validate(value, "name")

    @property
    def trainable(self) -> bool:
        return self._values["trainable"]

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._values["trainable"] = Bool("trainable").validate(value, "trainable")

    @property
    def dtype_policy(self):
        return self._values["dtype"]

    @property
    def dtype(self) -> str:
        """The weights' dtype (``'float32'``), as Keras's ``layer.dtype``."""
        return self._values["dtype"].variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self._values["dtype"].compute_dtype

    # -- weights ---------------------------------------------------------------------
    def add_weight(self, name: str, shape: Sequence[int], initializer: Any = "zeros",
                   *, trainable: bool = True, regularizer: Any = None, constraint: Any = None,
                   dtype: str | None = None, field: str | None = None) -> Variable:
        """Declare a weight; it is allocated once ``build`` returns and the budget allows."""
        if isinstance(initializer, str):
            initializer = serialization.get_object("initializer", initializer, name,
                                                   self.source_format)
        var = Variable(name, f"{self.name}/{name}", tuple(shape), dtype or self.dtype,
                       trainable, initializer, regularizer, constraint, field)
        for d in var.shape:
            if d < 0:
                raise ConfigError(self._path or self.name, f"weight {name!r} would have a "
                                  f"negative dimension: {tuple(shape)}")
        if self._pending is not None:
            self._pending.append(var)
        else:
            charged = self._check_budget([var])
            try:
                self._materialize([var])
            except BaseException:
                self.budget.refund(*charged)
                raise
        self._weights.append(var)
        return var

    def _check_budget(self, variables: list[Variable]) -> tuple[int, int]:
        """Charge ``variables`` to the model's budget; (bytes, elements) charged."""
        if not variables:
            return 0, 0
        total = sum([v.size for v in variables])
        nbytes = sum([v.size * itemsize(v.dtype) for v in variables])

        def what() -> str:
            sizes = ", ".join(f"{v.name} {v.shape}" for v in variables[:6])
            if len(variables) > 6:
                sizes += f", ... ({len(variables)} weights)"
            return (f"{type(self).__name__} {self.name!r} would allocate {total:,} weight "
                    f"elements ({sizes}), which")

        self.budget.charge(nbytes, self._path or self.name, what, elements=total)
        return nbytes, total

    def _materialize(self, variables: list[Variable]) -> None:
        if _skip_initializers.get():  # engine.files fills these from a file, lazily
            return
        if variables and self.budget.defer(lambda: self._initialize(variables)):
            return  # filled once the whole model was counted (Budget.deferring)
        self._initialize(variables)

    def _initialize(self, variables: list[Variable]) -> None:
        for v in variables:
            if v._value is not None or v._loader is not None:
                continue  # set meanwhile (set_weights, a file)
            try:
                v.value = np.asarray(v.initializer(v.shape, dtype=v.dtype), dtype=v.dtype)
            except ConfigError as e:
                field = v.field or f"{v.name}_initializer"
                base = f"{self._path}.{field}" if self._path else field
                raise type(e)(base, e.reason) from None

    def add_bias(self, shape: Sequence[int]) -> Variable | None:
        """The ``bias`` weight from the ``bias_*`` fields, or None when ``use_bias`` is off."""
        if not self.use_bias:
            return None
        return self.add_weight("bias", shape, self.bias_initializer,
                               regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint, field="bias_initializer")

    def set_weight_paths(self, prefix: str = "") -> None:
        """Keras 3 weight paths: the chain of layer names, e.g. ``lstm/lstm_cell/kernel``."""
        base = f"{prefix}{self.name}"
        for w in self._weights:
            w.path = f"{base}/{w.name}"
        for sub in self._sublayers:
            sub.set_weight_paths(base + "/")

    @property
    def own_weights(self) -> list[Variable]:
        """The weights this layer declared itself (not its sublayers'), in order."""
        return list(self._weights)

    @property
    def sublayers(self) -> list[Layer]:
        """The layers this layer holds (a wrapper's inner layer, a model's cells...)."""
        return list(self._sublayers)

    @property
    def build_shape(self) -> Any:
        """The input shape the layer was built for (None before build)."""
        return self._build_shape

    @property
    def weights(self) -> list[Variable]:
        own_t = [w for w in self._weights if w.trainable]
        own_n = [w for w in self._weights if not w.trainable]
        out = own_t + own_n
        for layer in self._sublayers:
            out.extend(layer.weights)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [w for w in self.weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(w.value) for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set every weight, in ``get_weights()`` order; shapes must match exactly."""
        params = self.weights
        if not self.built and not params:
            raise WeightsError(f"set_weights: layer {self.name!r} is not built yet; call "
                               f"build(input_shape) or call it on data first")
        weights = list(weights)
        if len(weights) != len(params):
            want = ", ".join(f"{p.name} {p.shape}" for p in params) or "none"
            raise WeightsError(f"set_weights: layer {self.name!r} expects {len(params)} arrays "
                               f"({want}), got {len(weights)}")
        arrays = []
        for i, (p, w) in enumerate(zip(params, weights)):
            arr = np.asarray(w)
            if arr.shape != p.shape:
                raise WeightsError(f"set_weights: weight {i} ({p.path}) of layer {self.name!r} "
                                   f"has shape {p.shape}, got an array of shape {arr.shape}")
            arrays.append(arr.astype(p.dtype, copy=True))
        for p, arr in zip(params, arrays):
            p.value = arr

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"count_params: layer {self.name!r} is not built yet; call "
                             f"build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self) -> list[float]:
        out = [w.regularizer(w.value) for w in self._weights if w.regularizer is not None]
        for layer in self._sublayers:
            out.extend(layer.losses)
        return out + list(self._activity_losses)

    # -- building --------------------------------------------------------------------
    def build(self, input_shape: Any = None) -> None:
        """Create the weights for inputs of ``input_shape`` (batch dimension included)."""

    def build_from_config(self, build_config: dict[str, Any], path: str = "build_config"):
        """Build as Keras 3 does from a ``build_config``: ``{'input_shape': shape}``, or
        ``{'shapes_dict': {'query_shape': ..., 'value_shape': ...}}`` for layers built
        with several tensors (the shapes are passed to ``build`` in that order)."""
        shapes = build_config.get("shapes_dict")
        shape = build_config.get("input_shape")
        if shape is None and isinstance(shapes, dict):
            self.build(*[shape_from_json(v, f"{path}.shapes_dict.{key_text(k)}")
                         for k, v in shapes.items()])
            return
        if shape is None:
            return
        self.build(shape_from_json(shape, f"{path}.input_shape"))

    def get_build_config(self) -> dict[str, Any] | None:
        if not self.built or self._build_shape is None or self.keras_builds_at_init:
            return None
        return {"input_shape": shape_to_json(self._build_shape)}

    # -- calling ---------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, training: bool = False, mask: Any = None,
                 **kwargs: Any) -> Any:
        """Run the layer: builds it on first use, then ``call``. ``training=False`` is
        inference (dropout and noise off, BatchNormalization on moving statistics).

        Raises:
            InputError: the inputs do not fit (rank, sizes, complex or string values...).
            BudgetError: the output would pass the activation budget; checked from the
                shapes before the layer runs.
        """
        x = self._convert_inputs(inputs)
        extra = [None if a is None else self._cast(a) for a in args] if args else []
        if kwargs and not self._call_var_kw:
            unknown = set(kwargs) - set(self._call_accepts)
            if unknown:
                raise TypeError(f"{type(self).__name__}.__call__ got unexpected arguments "
                                f"{sorted(unknown)}")
        if not self.built:
            self._auto_build(x, extra, kwargs)
        self._check_inputs(x)
        extra_shapes = [shapes_of(a) for a in extra
                        if isinstance(a, (np.ndarray, list))] if extra else ()
        self.check_call_budget(x.shape if type(x) is np.ndarray else shapes_of(x),
                               extra_shapes)
        call_kwargs = dict(kwargs) if kwargs else {}
        if self._call_training:
            call_kwargs["training"] = bool(training)
        if self._call_mask:
            call_kwargs["mask"] = mask
        return self._invoke(x, extra, call_kwargs)

    def _invoke(self, x: Any, extra: Sequence[Any], call_kwargs: dict[str, Any],
                owned: Any = None) -> Any:
        """``call(x, *extra, **call_kwargs)``, budget active, errors named, activity
        regularizer applied: ``__call__`` after its checks (models/calls.py run_layer calls
        it when they are known to pass). With ``owned`` (what the run loop lends: True, or
        one bool per input of a list), ``_call_owned(x, owned, **call_kwargs)`` instead."""
        token = set_budget(active_budget() or self._budget_obj)  # self.budget
        try:
            if owned is None:
                out = self.call(x, *extra, **call_kwargs) if extra or call_kwargs else \
                    self.call(x)
            else:
                out = self._call_owned(x, owned, **call_kwargs)
        except (ConfigError, WeightsError):
            raise
        except MemoryError as e:
            raise BudgetError(self._where_call(), f"out of memory while running "
                              f"{type(self).__name__} {self.name!r} on inputs of shape "
                              f"{shape_text(x)}") from e
        except RecursionError as e:
            raise ConfigError(self._where_call(), "layers nested too deeply to run") from e
        except (ValueError, TypeError, IndexError, ArithmeticError, KeyError) as e:
            raise InputError(self._where_call(), f"{type(self).__name__} {self.name!r} "
                             f"cannot run on inputs of shape {shape_text(x)} and dtype "
                             f"{dtype_text(x)}: {type(e).__name__}: {e}") from e
        finally:
            _reset_budget(token)
        reg = self._values.get("activity_regularizer")
        if reg is not None:
            self._activity_losses = [
                reg(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
        elif self._activity_losses:
            self._activity_losses = []
        return out

    def _where_call(self) -> str:
        return f"{self._path or self.name}: call"

    def check_call_budget(self, input_shape: Any, extra_shapes: Sequence[Any] = ()) -> int:
        """Refuse, before it runs, a call whose output (from ``compute_output_shape``) or
        declared intermediates (:meth:`call_intermediate_bytes`) would pass the activation
        budget; the output's bytes (0 when unknown). The models code calls it too."""
        budget = self.budget
        if self._budget_memo_ok and self.built:  # remembered (engine/layers/call_budget.py)
            return call_budget.remembered(self, budget, input_shape, extra_shapes)
        return call_budget.check(self, budget, input_shape, extra_shapes)

    def call_intermediate_bytes(self, input_shape: Any) -> int:
        """Bytes of the largest array ``call`` makes besides its output for inputs of
        ``input_shape`` (padded inputs, patches); 0 when nothing is bigger than the output.
        Layers whose intermediates can outgrow their output override it."""
        return 0

    def _auto_build(self, x: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Build from the first call's inputs (layers with several inputs override)."""
        self.build(shapes_of(x))

    def call(self, inputs: Any) -> Any:
        return inputs

    #: ``call`` allowed to write into the inputs marked owned (:meth:`_invoke`), the same
    #: result; None: never. ``compute_mask`` must not read input values (it runs after).
    #: A subclass overriding ``call`` without its own ``_call_owned`` gets None.
    _call_owned: ClassVar[Callable[..., Any] | None] = None

    def _convert_inputs(self, inputs: Any) -> Any:
        if self.multi_input:
            if not isinstance(inputs, (list, tuple)):
                raise InputError(self._where_input(), f"{type(self).__name__} {self.name!r} "
                                 f"expects a list of inputs, got {describe(inputs)}")
            return [self._cast(i) for i in inputs]
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], np.ndarray):
            if len(inputs) == 1:
                return self._cast(inputs[0])
        return self._cast(inputs)

    def _cast(self, x: Any) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.dtype is FLOAT_DTYPES.get(self._values["dtype"]
                                                             .compute_dtype):
            return x  # already a float array of the compute dtype: nothing to check
        if isinstance(x, np.ndarray):
            arr = x
        else:
            try:
                arr = np.asarray(x)
            except (ValueError, TypeError) as e:  # ragged lists, odd objects
                raise InputError(self._where_input(), f"{type(self).__name__} "
                                 f"{self.name!r} expects an array, got {describe(x)}: "
                                 f"{e}") from e
        kind = arr.dtype.kind
        if kind == "c":
            raise InputError(self._where_input(), f"{type(self).__name__} {self.name!r} "
                             f"takes real numbers, got a complex array of shape {arr.shape}; "
                             f"pass x.real (or split real and imaginary parts) yourself")
        if kind in "OV" or kind in "US" and self.autocast:
            raise InputError(self._where_input(), f"{type(self).__name__} {self.name!r} "
                             f"takes numbers, got an array of dtype {arr.dtype} "
                             f"(shape {arr.shape})")
        if self.autocast and (np.issubdtype(arr.dtype, np.floating) or
                              np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            if arr.dtype != self.compute_dtype and np.issubdtype(
                    np.dtype(self.compute_dtype), np.floating):
                arr = arr.astype(self.compute_dtype)
        return arr

    def _where_input(self) -> str:
        return f"{self._path or self.name}: inputs"

    def _check_inputs(self, x: Any) -> None:
        spec = self.input_spec
        if spec is None or isinstance(x, list):
            return
        who = f"{type(self).__name__} {self.name!r}"
        where = self._where_input()
        if spec.ndim is not None and x.ndim != spec.ndim:
            raise InputError(where, f"{who} expects inputs of rank {spec.ndim}, got shape "
                             f"{x.shape}")
        if spec.min_ndim is not None and x.ndim < spec.min_ndim:
            raise InputError(where, f"{who} expects inputs of rank >= {spec.min_ndim}, got "
                             f"shape {x.shape}")
        for axis, size in (spec.axes or {}).items():
            if not -x.ndim <= axis < x.ndim or x.shape[axis] != size:
                raise InputError(where, f"{who} was built for inputs with size {size} on "
                                 f"axis {axis}, got shape {x.shape}")

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for ``input_shape`` without running data (None = unknown)."""
        return normalize_shape(input_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.supports_masking else None

    # -- config ----------------------------------------------------------------------
    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS3 and cfg.get("activity_regularizer") is not None and \
                "dtype" in cfg:
            # Keras 3's base Layer puts a set activity_regularizer right after dtype.
            items = list(cfg.items())
            reg = cfg["activity_regularizer"]
            items = [(k, v) for k, v in items if k != "activity_regularizer"]
            at = [k for k, _ in items].index("dtype") + 1
            items.insert(at, ("activity_regularizer", reg))
            cfg = dict(items)
        return cfg

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _budgeted_build(fn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(fn)
    def build(self: Layer, input_shape: Any = None, *args: Any, **kwargs: Any) -> None:
        if self._pending is not None:  # a subclass calling super().build()
            return fn(self, input_shape, *args, **kwargs)
        if self.built:
            return None
        shape = normalize_shape(input_shape) if input_shape is not None else None
        budget = self.budget
        token = set_budget(budget)  # sub-layers built inside count against the same budget
        self._pending = []
        charged = (0, 0)
        try:
            try:
                fn(self, shape, *args, **kwargs)
                pending = self._pending
                charged = self._check_budget(pending)
            except BaseException:
                self._weights = [w for w in self._weights if w not in (self._pending or [])]
                raise
            finally:
                self._pending = None
            try:
                self._materialize(pending)
            except BaseException:
                budget.refund(*charged)
                self._weights = [w for w in self._weights if w not in pending]
                raise
        except MemoryError as e:
            raise BudgetError(self._path or self.name, f"{type(self).__name__} "
                              f"{self.name!r}: out of memory while building it "
                              f"({e or 'MemoryError'})") from e
        except RecursionError as e:
            raise ConfigError(self._path or self.name, f"{type(self).__name__} "
                              f"{self.name!r}: layers nested too deeply to build") from e
        finally:
            _reset_budget(token)
        self.built = True
        self._build_shape = shape
        return None

    return build


Layer.build = _budgeted_build(Layer.build)  # type: ignore[method-assign]
