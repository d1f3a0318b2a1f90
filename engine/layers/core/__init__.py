"""Core layers: Dense, EinsumDense, Embedding, InputLayer, Identity, Masking, Lambda."""

from .common import QUANTIZATION, check_not_quantized
from .dense import Dense, EinsumDense, EinsumPlan, parse_einsum, plan_einsum
from .embedding import Embedding, ReversibleEmbedding
from .input_layer import InputLayer
from .lambda_layer import Lambda, NamedFunction
from .masking import Identity, Masking

__all__ = ["Dense", "EinsumDense", "Embedding", "ReversibleEmbedding", "InputLayer", "Identity",
           "Masking", "Lambda", "NamedFunction", "parse_einsum", "plan_einsum", "EinsumPlan",
           "QUANTIZATION", "check_not_quantized"]
