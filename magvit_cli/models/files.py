"""The weights' files as files: names, config.json and a packed file's header, read without torch
(`magvit classes`, `weights info` and tab completion of --class read a config, not a model: torch's
import alone takes a second). io.py builds, loads and saves the models."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError

from ..errors import MagvitError, UsageError

MODEL_TYPE_NAMES = ("tokenizer", "transformer")
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
PICKLE_NAMES = ("model.ckpt", "model.pt", "model.pth", "model.bin", "pytorch_model.bin")
BUNDLE_KEY = "magvit"  # safetensors header metadata key of a single-file bundle


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise MagvitError(f"no {CONFIG_NAME} in {folder}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MagvitError(f"{path} is not valid JSON: {e}") from None
    if cfg.get("model_type") not in MODEL_TYPE_NAMES:
        raise MagvitError(f"{path}: model_type must be one of {', '.join(MODEL_TYPE_NAMES)}, got {cfg.get('model_type')!r}")
    return cfg


def bundle_configs(file: str | Path) -> dict:
    """{kind: config.json dict} of a single-file bundle; a clear error for other files."""
    from safetensors import safe_open
    try:
        with safe_open(str(file), "numpy") as f:  # the header alone: no torch
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise MagvitError(f"{file} is not a readable safetensors file ({e})") from None
    if meta.get("format") == "magvit-tokens-v1":
        raise UsageError(f"{file}: a token file from `magvit tokenize`, not weights (`magvit info` describes it)")
    if BUNDLE_KEY not in meta:
        raise MagvitError(f"{file}: a single weights file must be written by `magvit weights pack` (no '{BUNDLE_KEY}' "
                          f"header); pass a folder with config.json + model.safetensors instead")
    try:
        configs = json.loads(meta[BUNDLE_KEY])
    except json.JSONDecodeError as e:
        raise MagvitError(f"{file}: bad '{BUNDLE_KEY}' header ({e})") from None
    bad = [k for k, c in configs.items() if k not in MODEL_TYPE_NAMES or c.get("model_type") != k]
    if bad:
        raise MagvitError(f"{file}: '{BUNDLE_KEY}' header names unknown models {bad}")
    return configs
