"""Oracle cases for the core layers: Dense, EinsumDense, Embedding, Identity, Masking.

InputLayer and Lambda are not callable on data in Keras 3 (InputLayer) or need code
(Lambda); tests/engine/test_core_layers.py covers them.
"""

from tests.oracle_gen.common import case

CASES = [
    case("dense_gen_linear_4d", "Dense", {"units": 5, "use_bias": True}, [(2, 3, 4, 6)]),
    # EinsumDense: the kernel and bias shapes come from the equation
    case("einsum_dense_ab_bc_bias", "EinsumDense",
         {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, [(3, 5)]),
    case("einsum_dense_abc_cd_tanh", "EinsumDense",
         {"equation": "abc,cd->abd", "output_shape": [None, 5], "bias_axes": "d",
          "activation": "tanh"}, [(2, 3, 4)]),
    case("einsum_dense_left_ellipsis", "EinsumDense",
         {"equation": "...b,bc->...c", "output_shape": 3, "bias_axes": "c"}, [(2, 3, 4)]),
    case("einsum_dense_right_ellipsis", "EinsumDense",
         {"equation": "ab...,bc->ac...", "output_shape": 5, "bias_axes": "c"}, [(2, 4, 3)]),
    case("einsum_dense_nobias_3heads", "EinsumDense",
         {"equation": "abc,cde->abde", "output_shape": [None, 3, 2],
          "kernel_initializer": "he_normal"}, [(2, 3, 4)]),
    case("einsum_dense_bias_de", "EinsumDense",
         {"equation": "abc,cde->abde", "output_shape": [None, 3, 2], "bias_axes": "e"},
         [(2, 3, 4)]),
    # Embedding
    case("embedding_plain", "Embedding", {"input_dim": 10, "output_dim": 3}, [(2, 5)],
         input_kind="int:10"),
    case("embedding_mask_zero_3d", "Embedding",
         {"input_dim": 6, "output_dim": 2, "mask_zero": True}, [(2, 3, 4)], input_kind="int:6"),
    case("embedding_input_length", "Embedding",
         {"input_dim": 8, "output_dim": 3, "input_length": 5, "mask_zero": True,
          "embeddings_regularizer": "l2", "embeddings_constraint": "non_neg"},
         [(2, 5)], input_kind="int:8"),
    # Identity, Masking
    case("identity_gen_4d", "Identity", {}, [(2, 3, 2, 2)]),
    # int ids give whole masked steps; tf_keras needs an int mask_value for int inputs
    case("masking_int_steps", "Masking", {"mask_value": 0.0}, [(2, 6, 1)], input_kind="int:2",
         k2_config={"mask_value": 0}),
    case("masking_value_one", "Masking", {"mask_value": 1.0}, [(3, 5, 2)], input_kind="int:2",
         k2_config={"mask_value": 1}),
]

CASES += [
    # ReversibleEmbedding (Keras 3 only): forward ids, and reverse to vocabulary logits
    case("reversible_embedding_forward", "ReversibleEmbedding",
         {"input_dim": 7, "output_dim": 3, "mask_zero": True}, [(2, 4)], input_kind="int:7",
         formats=("k3",)),
    case("reversible_embedding_reverse_untied_cap", "ReversibleEmbedding",
         {"input_dim": 7, "output_dim": 3, "tie_weights": False, "logit_soft_cap": 2.0},
         [(2, 4, 3)], call_kwargs={"reverse": True}, formats=("k3",)),
    case("reversible_embedding_reverse_tied", "ReversibleEmbedding",
         {"input_dim": 6, "output_dim": 4}, [(3, 4)], call_kwargs={"reverse": True},
         formats=("k3",)),
]
