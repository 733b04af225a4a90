"""Models: the LFQ quantizer, the causal 3D-CNN tokenizer, the masked transformer, and their I/O."""
from .io import load_model, save_model
from .lfq import LFQ, codes_to_indices, indices_to_codes
from .tokenizer import TokenizerConfig, VideoTokenizer
from .transformer import MaskedTransformer, TransformerConfig

__all__ = ["LFQ", "codes_to_indices", "indices_to_codes", "TokenizerConfig", "VideoTokenizer",
           "MaskedTransformer", "TransformerConfig", "load_model", "save_model"]
