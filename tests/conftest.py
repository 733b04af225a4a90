"""Seeded tiny configurations shared by the tests."""
import pytest
import torch

from magvit_cli.models import MaskedTransformer, TokenizerConfig, TransformerConfig, VideoTokenizer

TINY_TOKENIZER = dict(channels=8, channel_mult=(1, 2, 2), num_res_blocks=1,
                      temporal_down=(True, True), bits=6, norm_groups=4)


def tiny_tokenizer(seed=0, **kw):
    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig(**{**TINY_TOKENIZER, **kw})).eval()


def tiny_transformer(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(bits=6, latent_shape=(5, 4, 4), num_classes=3, dim=32, layers=1, heads=2, dropout=0.0,
               class_names=("a", "b", "c"))
    return MaskedTransformer(TransformerConfig(**{**cfg, **kw})).eval()


@pytest.fixture
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture
def transformer():
    return tiny_transformer()
