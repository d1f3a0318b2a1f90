"""Attention layers: MultiHeadAttention (``multi_head``), GroupedQueryAttention
(``group_query``), Attention and AdditiveAttention (``dot_product``); the projections
the multi-head layers share are in ``base_heads``, the masks and softmax in ``ops``."""

from .dot_product import AdditiveAttention, Attention
from .group_query import GroupedQueryAttention
from .multi_head import MultiHeadAttention
from .ops import causal_mask, combine_masks, masked_softmax

__all__ = ["MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention",
           "masked_softmax", "combine_masks", "causal_mask"]
