"""Weights as `config.json` + `model.safetensors` per model (diffusers-style).

config.json holds {"model_type": "tokenizer" | "transformer", "config": {...dataclass fields}}
plus optional "metadata". Loading rebuilds the model from the config and is strict: missing,
unexpected or mis-shaped keys are named in the error. safetensors only; no pickle here.

A single-file form also exists (`magvit weights pack`): one .safetensors holding one or both
models, tensors prefixed `tokenizer.` / `transformer.`, their config.json dicts in the header
metadata under "magvit".
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..errors import MagvitError, UsageError
from ..video import write_file
from .files import BUNDLE_KEY, CONFIG_NAME, MODEL_TYPE_NAMES, PICKLE_NAMES, WEIGHTS_NAME, bundle_configs, read_config  # noqa: F401
from .tokenizer import TokenizerConfig, VideoTokenizer
from .transformer import MaskedTransformer, TransformerConfig

MODEL_TYPES = {
    "tokenizer": (TokenizerConfig, VideoTokenizer),
    "transformer": (TransformerConfig, MaskedTransformer),
}
assert set(MODEL_TYPES) == set(MODEL_TYPE_NAMES)


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
    write_file(folder / WEIGHTS_NAME, save(state))
    write_file(folder / CONFIG_NAME, (json.dumps(cfg, indent=2) + "\n").encode())
    return folder


def pack(models: dict[str, Path], file: str | Path) -> Path:
    """Write {"tokenizer": folder, "transformer": folder} as one single-file bundle."""
    tensors, configs = {}, {}
    for kind, folder in models.items():
        configs[kind] = read_config(folder)
        for k, v in load_file(str(Path(folder) / WEIGHTS_NAME)).items():
            tensors[f"{kind}.{k}"] = v
    return write_file(file, save(tensors, metadata={BUNDLE_KEY: json.dumps(configs)}))


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
    """A pickled checkpoint: refused unless allowed, then torch.load(weights_only=True) only. A file
    that is neither (a README given by mistake) is said to be none, not a pickle to allow."""
    with open(path, "rb") as f:
        head = f.read(4)
    zipped, pickled = head == b"PK\x03\x04", head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if not (zipped or pickled):  # torch.save writes a zip (or, of old, a pickle of protocol 2)
        raise UsageError(f"{path}: not a weights file (neither safetensors nor a PyTorch checkpoint, a zip or a pickle)")
    if not allow_pickle:
        raise MagvitError(f"{path} is a pickle checkpoint: loading one can run code stored in the file. "
                          f"Convert it to safetensors, or pass --allow-pickle to load it with "
                          f"torch.load(weights_only=True)")
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
    pickled checkpoint instead (model.pt, .ckpt, .bin) loads only with allow_pickle. A weights
    folder (tokenizer/ and transformer/) or a bundle file gives its model of the `expect`ed kind
    (`train transformer --tokenizer weights/default`)."""
    folder = Path(folder)
    if folder.is_file():
        return _load_from_bundle(folder, expect, device)
    if expect and not (folder / CONFIG_NAME).exists() and (folder / expect / CONFIG_NAME).exists():
        folder = folder / expect  # a weights folder (tokenizer/ and transformer/): its model of that kind, as a bundle's
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
    model.metadata = cfg.get("metadata") or {}  # what training recorded (a transformer: the encoder it was trained on)
    return model.to(device).eval()


def _load_from_bundle(file: Path, expect: str | None, device):
    configs = bundle_configs(file)
    kind = expect or (next(iter(configs)) if len(configs) == 1 else None)
    if kind is None:
        raise MagvitError(f"{file} holds {', '.join(configs)}; say which to load")
    if kind not in configs:
        raise MagvitError(f"{file} holds no {kind} (it has {', '.join(configs)})")
    model = build_model(configs[kind])
    try:
        state = {k[len(kind) + 1:]: v for k, v in load_file(str(file)).items() if k.startswith(kind + ".")}
    except (SafetensorError, OSError, ValueError) as e:
        raise MagvitError(f"{file} is not a readable safetensors file ({e})") from None
    check_state(model, state, f"{file} [{kind}]")
    model.load_state_dict(state, strict=True)
    model.metadata = configs[kind].get("metadata") or {}
    return model.to(device).eval()
