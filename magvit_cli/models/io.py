"""Weights as `config.json` + `model.safetensors` per model (diffusers-style).

config.json holds {"model_type": "tokenizer" | "transformer", "config": {...dataclass fields}}
plus optional "metadata". Loading rebuilds the model from the config and is strict: missing,
unexpected or mis-shaped keys are named in the error. safetensors only; no pickle here.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import MagvitError
from .tokenizer import TokenizerConfig, VideoTokenizer
from .transformer import MaskedTransformer, TransformerConfig

MODEL_TYPES = {
    "tokenizer": (TokenizerConfig, VideoTokenizer),
    "transformer": (TransformerConfig, MaskedTransformer),
}
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
PICKLE_NAMES = ("model.ckpt", "model.pt", "model.pth", "model.bin", "pytorch_model.bin")


def model_type_of(model) -> str:
    for name, (_, cls) in MODEL_TYPES.items():
        if isinstance(model, cls):
            return name
    raise TypeError(f"not a magvit model: {type(model).__name__}")


def save_model(model, folder: str | Path, metadata: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write folder/config.json and folder/model.safetensors (float tensors stored as `dtype`:
    fp32, or fp16 to halve a release; loading casts them into the model's fp32 parameters)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_type": model_type_of(model), "config": dataclasses.asdict(model.config)}
    if metadata:
        cfg["metadata"] = metadata
    state = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; weights are meant to be shared
    tmp.replace(folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(cfg, indent=2) + "\n")
    return folder


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise MagvitError(f"no {CONFIG_NAME} in {folder}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MagvitError(f"{path} is not valid JSON: {e}") from None
    if cfg.get("model_type") not in MODEL_TYPES:
        raise MagvitError(f"{path}: model_type must be one of {', '.join(MODEL_TYPES)}, got {cfg.get('model_type')!r}")
    return cfg


def build_model(cfg: dict):
    config_cls, model_cls = MODEL_TYPES[cfg["model_type"]]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(cfg["config"]) - fields
    if unknown:
        raise MagvitError(f"config has unknown {cfg['model_type']} fields: {', '.join(sorted(unknown))}")
    try:
        return model_cls(config_cls(**cfg["config"]))
    except (TypeError, ValueError) as e:
        raise MagvitError(f"bad {cfg['model_type']} config: {e}") from None


def check_state(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else ""))
    for k in sorted(set(expected) & set(state)):
        if tuple(state[k].shape) != tuple(expected[k].shape):
            problems.append(f"{k} has shape {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}")
        elif not state[k].is_floating_point() and expected[k].is_floating_point():
            problems.append(f"{k} has dtype {state[k].dtype}, expected a float tensor")
    if problems:
        raise MagvitError(f"{source} does not fit the config: " + "; ".join(problems))


def load_pickle_state(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """A pickled checkpoint: refused unless allowed, then torch.load(weights_only=True) only."""
    if not allow_pickle:
        raise MagvitError(f"{path} is a pickle checkpoint: loading one can run code stored in the file. "
                          f"Convert it to safetensors, or pass --allow-pickle to load it with torch.load(weights_only=True)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for custom classes, and any corrupt file
        raise MagvitError(f"{path}: refused by torch.load(weights_only=True), which loads plain tensors only "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MagvitError(f"{path}: expected a dict of tensors")
    return state


def load_model(folder: str | Path, expect: str | None = None, device: str | torch.device = "cpu",
               allow_pickle: bool = False):
    """Rebuild from config.json and load model.safetensors strictly; eval mode. A folder with a
    pickled checkpoint instead (model.pt, .ckpt, .bin) loads only with allow_pickle."""
    folder = Path(folder)
    cfg = read_config(folder)
    if expect and cfg["model_type"] != expect:
        raise MagvitError(f"{folder} holds a {cfg['model_type']}, expected a {expect}")
    model = build_model(cfg)
    path = folder / WEIGHTS_NAME
    pickled = [folder / n for n in PICKLE_NAMES if (folder / n).exists()]
    try:
        if not path.exists() and pickled:
            path = pickled[0]
            state = load_pickle_state(path, allow_pickle)
        else:
            state = load_file(str(path))
    except FileNotFoundError:
        raise MagvitError(f"no {WEIGHTS_NAME} in {folder}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise MagvitError(f"{path} is not a readable safetensors file ({e})") from None
    check_state(model, state, str(path))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
