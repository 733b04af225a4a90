"""Where weights come from: `--weights` takes a local folder, or a Hugging Face Hub id
`org/name[@revision]` resolved through huggingface_hub (its cache, HF_HOME, HF_HUB_OFFLINE).

A weights folder holds `tokenizer/` and `transformer/` sub-folders (each config.json +
model.safetensors), or is itself one model's folder (a tokenizer alone is enough for
`reconstruct` and `tokenize`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MagvitError, UsageError
from .models.io import CONFIG_NAME, read_config

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "default"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass
class WeightPaths:
    root: Path
    tokenizer: Path
    transformer: Path | None


def resolve(weights: str | Path | None) -> WeightPaths:
    """Local folder, or Hub id; default: the shipped weights."""
    if weights is None:
        root = DEFAULT_WEIGHTS
        if not root.exists():
            raise MagvitError(f"the shipped weights are missing ({root}); pass --weights")
    else:
        root = Path(weights).expanduser()
        if not root.exists():
            if HUB_ID.match(str(weights)) and not str(weights).startswith((".", "/")):
                root = _from_hub(str(weights))
            else:
                raise UsageError(f"--weights {weights}: no such folder (nor a Hub id org/name[@revision])")
    if root.is_file():
        raise UsageError(f"--weights {root}: expected a folder with config.json + model.safetensors")
    if (root / CONFIG_NAME).exists():
        kind = read_config(root)["model_type"]
        if kind != "tokenizer":
            raise UsageError(f"--weights {root} holds only a {kind}; a tokenizer is needed too")
        return WeightPaths(root, root, None)
    tok = root / "tokenizer"
    if not (tok / CONFIG_NAME).exists():
        raise MagvitError(f"--weights {root}: no tokenizer/{CONFIG_NAME} inside")
    tr = root / "transformer"
    return WeightPaths(root, tok, tr if (tr / CONFIG_NAME).exists() else None)


def _from_hub(spec: str) -> Path:
    repo, _, revision = spec.partition("@")
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(repo, revision=revision or None,
                                      allow_patterns=["*.json", "*.safetensors", "*.md"]))
    except Exception as e:  # network, auth, missing repo or cache miss in offline mode
        raise MagvitError(f"could not get {spec} from the Hugging Face Hub: {type(e).__name__}: {str(e).splitlines()[0]}") from None
