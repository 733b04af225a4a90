"""magvit: a command-line video editing toolkit built on MAGVIT (causal 3D-CNN + LFQ tokenizer,
masked transformer with COMMIT decoding)."""
__version__ = "0.1.0"
