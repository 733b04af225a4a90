"""Models: the LFQ quantizer, the causal 3D-CNN tokenizer, the masked transformer, and their I/O.
Imported on first use (they import torch): `models.files` reads configs without it."""
import importlib

_WHERE = {"load_model": "io", "save_model": "io", "LFQ": "lfq", "codes_to_indices": "lfq", "indices_to_codes": "lfq",
          "TokenizerConfig": "tokenizer", "VideoTokenizer": "tokenizer", "MaskedTransformer": "transformer",
          "TransformerConfig": "transformer"}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
