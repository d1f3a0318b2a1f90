"""Oracle cases for the attention layers (tests/engine/test_oracle_layers.py runs them)."""

import copy

from tests.oracle_gen.common import case as _case


def case(name, class_name, config, inputs, **kw):
    """Each format gets its own copy; tf_keras's MHA.from_config needs the shape keys."""
    k2 = copy.deepcopy(config)
    if class_name == "MultiHeadAttention":
        k2 = {**k2, "query_shape": None, "key_shape": None, "value_shape": None}
    k2.pop("seed", None)  # tf_keras's attention layers take no seed
    kw.setdefault("k2_config", k2)
    return _case(name, class_name, copy.deepcopy(config), inputs, **kw)

_QV = [(2, 4, 6), (2, 5, 6)]
_QVK = [(2, 4, 6), (2, 5, 3), (2, 5, 7)]
_SCORES = {"return_attention_scores": True}
_CAUSAL = {"use_causal_mask": True}

CASES = [
    # MultiHeadAttention
    case("mha_self_basic", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
         [(2, 4, 6), (2, 4, 6)], call="args"),
    case("mha_qvk_dims", "MultiHeadAttention", {"num_heads": 3, "key_dim": 2}, _QVK,
         call="args"),
    case("mha_value_dim_output_int", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "value_dim": 5, "output_shape": 4}, _QV, call="args"),
    case("mha_output_shape_list_nobias", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "output_shape": [2, 3], "use_bias": False}, _QV,
         call="args"),
    case("mha_causal", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
         [(2, 5, 6), (2, 5, 6)], call="args", call_kwargs=_CAUSAL),
    case("mha_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, _QV,
         call="args", call_kwargs=_SCORES),
    case("mha_scores_causal_key", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2},
         [(2, 5, 6), (2, 5, 4), (2, 5, 3)], call="args",
         call_kwargs={**_SCORES, **_CAUSAL}),
    case("mha_axes_neg2_4d_scores", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "attention_axes": -2}, [(2, 3, 4, 5), (2, 3, 4, 5)],
         call="args", call_kwargs=_SCORES),
    case("mha_axes_1_4d", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "attention_axes": [1]}, [(2, 3, 4, 5), (2, 3, 4, 5)],
         call="args"),
    case("mha_axes_default_5d_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2},
         [(1, 2, 3, 2, 4), (1, 2, 3, 2, 4)], call="args", call_kwargs=_SCORES),
    case("mha_dropout_inference", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "dropout": 0.3, "seed": 3}, _QV, call="args"),
    case("mha_gate", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "use_gate": True},
         _QV, call="args", formats=("k3",)),
    case("mha_sliding_window_scores", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)],
         call="args", call_kwargs=_SCORES, formats=("k3",)),
    case("mha_sliding_window_causal", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)],
         call="args", call_kwargs=_CAUSAL, formats=("k3",)),
    # GroupedQueryAttention (Keras 3 only)
    case("gqa_basic", "GroupQueryAttention",
         {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, _QV, call="args",
         formats=("k3",)),
    case("gqa_key_scores_causal", "GroupQueryAttention",
         {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1},
         [(2, 5, 6), (2, 5, 6), (2, 5, 4)], call="args",
         call_kwargs={**_SCORES, **_CAUSAL}, formats=("k3",)),
    case("gqa_gate_nobias_window", "GroupQueryAttention",
         {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 4, "use_gate": True,
          "use_bias": False, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)], call="args",
         formats=("k3",)),
    # Attention / AdditiveAttention
    case("attention_causal", "Attention", {}, [(2, 5, 6), (2, 5, 6)], call="list",
         call_kwargs=_CAUSAL),
    case("attention_scores", "Attention", {"use_scale": True}, _QV, call="list",
         call_kwargs=_SCORES),
    case("attention_concat_scale_qvk", "Attention", {"use_scale": True,
                                                     "score_mode": "concat"},
         [(2, 4, 6), (2, 5, 6), (2, 5, 6)], call="list"),
    case("attention_dropout_inference", "Attention", {"dropout": 0.4, "seed": 1}, _QV,
         call="list", formats=("k3",)),
    case("additive_attention_scale", "AdditiveAttention", {}, _QV, call="list"),
    case("additive_attention_qvk_causal_scores", "AdditiveAttention", {},
         [(2, 5, 6), (2, 5, 6), (2, 5, 6)], call="list",
         call_kwargs={**_SCORES, **_CAUSAL}),
]
