"""Where weights come from: `--weights` takes a local folder, or a Hugging Face Hub id
`org/name[@revision]` resolved through huggingface_hub (its cache, HF_HOME, HF_HUB_OFFLINE).

A weights folder holds `tokenizer/` and `transformer/` sub-folders (each config.json +
model.safetensors), or is itself one model's folder (a tokenizer alone is enough for
`reconstruct` and `tokenize`).
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MagvitError, UsageError
from .models.files import CONFIG_NAME, WEIGHTS_NAME, bundle_configs, read_config

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "default_weights"  # a link to weights/default in the source tree
SHIPPED = "default"  # --weights default: the shipped weights by name (over a $MAGVIT_WEIGHTS set for the shell)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass
class WeightPaths:
    root: Path
    tokenizer: Path
    transformer: Path | None


def named_folder(path: str | Path) -> Path:
    """A weights folder given by the user: `default` (where nothing of that name is here) is the shipped one."""
    return DEFAULT_WEIGHTS if str(path) == SHIPPED and not Path(SHIPPED).exists() else Path(path)


def resolve(weights: str | Path | None, flag: str = "--weights") -> WeightPaths:
    """Local folder, or Hub id; default (None, or "default"): the shipped weights. `flag`: how the errors name where the
    weights were given (`weights info WEIGHTS` takes them as its argument)."""
    return _paths(_packed(locate(weights, flag)), flag)


def model_path(spec: str | Path, kind: str, flag: str) -> Path:
    """Where the `kind` model is that a training option names (`--tokenizer`, `--init`), given as
    --weights is (a folder, a packed file, `default`, a Hub id): a model's own folder (a run's
    export/), a weights folder's `kind`/ sub-folder, or a packed file."""
    root = _packed(locate(spec, flag))
    if root.is_dir() and not (root / CONFIG_NAME).exists():
        if (root / kind / CONFIG_NAME).exists():
            return root / kind
        _refuse_run(root, flag)
    return root


def local_class_names(spec: str | None) -> list[str]:
    """The class names of the transformer in local weights (None or `default`: the shipped ones), read
    from its config alone: no model loaded, no network (tab completion of --class asks it at each
    TAB). [] where there is none to read: a Hub id, a missing folder, a tokenizer alone."""
    root = named_folder(spec) if spec is not None else DEFAULT_WEIGHTS
    if not root.exists():
        return []
    try:
        root = _packed(root)
        found = folder_models(root).get("transformer")
        return [] if found is None else _class_names_of(found)
    except (MagvitError, OSError, KeyError, ValueError):
        return []


def class_names(spec: str | Path | None, flag: str = "--weights") -> list[str]:
    """The class names of the transformer in the weights `spec` names (as `resolve` takes them: a Hub
    id is fetched), read from its config: no model loaded (`magvit classes`: 0.3 s, not 1.3)."""
    paths = resolve(spec, flag)
    if paths.transformer is None:
        raise MagvitError(f"{_named(flag, paths.root)}: no transformer, whose classes these would be")
    return _class_names_of(paths.transformer)


def _class_names_of(found: Path) -> list[str]:
    """A transformer's class names from its config (a folder's config.json, or a packed file's)."""
    if found.is_file():
        config = bundle_configs(found)["transformer"]
    else:
        config = read_config(found)
    return list(config["config"].get("class_names", []))


def _refuse_run(root: Path, flag: str) -> None:
    """A training run's folder given as weights: its model is in export/ (it was 'no config.json
    in RUN', or 'no tokenizer/config.json inside')."""
    if (root / "export" / CONFIG_NAME).exists() or (root / "checkpoint.pt").exists():
        export = root / "export"
        raise UsageError(f"{_named(flag, root)} is a training run: its weights are in {export}"
                         + ("" if (export / CONFIG_NAME).exists() else f" once exported (`magvit train export {root}`)"))


def _packed(root: Path) -> Path:
    """A folder holding no model's folder but one packed file (a Hub repo of `weights pack`'s file):
    that file; else the folder as it is."""
    if root.is_dir() and not folder_models(root):
        files = sorted(root.glob("*.safetensors"))
        if len(files) == 1:
            return files[0]
    return root


def _named(flag: str, path) -> str:
    """A path as the errors name it: with the option that gave it (`--weights PATH`), if any."""
    return f"{flag} {path}".lstrip()


def locate(weights: str | Path | None, flag: str = "--weights") -> Path:
    """Where the weights `resolve` takes are (a folder, a file, a Hub snapshot), whatever they hold."""
    named = functools.partial(_named, flag)
    if weights is None or named_folder(weights) == DEFAULT_WEIGHTS:
        root = DEFAULT_WEIGHTS
        if not root.exists():
            raise MagvitError(f"the shipped weights are missing ({root}); pass --weights")
    else:
        root = Path(weights).expanduser()
        if not root.exists():
            near = root.parent if root.parent.is_dir() and str(root.parent) != "." else None
            if HUB_ID.match(str(weights)) and not str(weights).startswith((".", "/")) and near is None:
                try:
                    root = _from_hub(str(weights))
                except MagvitError as e:  # a mistyped path reads as a Hub id too (runs/export): the error names both readings
                    raise MagvitError(f"no folder {weights} here; as a Hub id: {e}") from None
            elif near is not None:  # weights/defualt: a typo of a local folder, not a Hub id (whose look-up failed on the network)
                held = sorted(p.name + "/" * p.is_dir() for p in near.iterdir()  # what --weights could name there
                              if not p.name.startswith(".") and (p.is_dir() or p.suffix == ".safetensors"))
                raise UsageError(f"{named(weights)}: no such folder or file; {str(near).rstrip('/')}/ holds "  # '/', not '//'
                                 + (", ".join(held[:8]) + (", ..." if len(held) > 8 else "") if held else "no weights folder or .safetensors file"))
            else:
                raise UsageError(f"{named(weights)}: no such folder (nor a Hub id org/name[@revision])")
    return root


def _paths(root: Path, flag: str) -> WeightPaths:
    """The models at `root` (locate): a tokenizer, and a transformer where there is one."""
    named = functools.partial(_named, flag)
    if root.is_file():  # a single-file bundle from `magvit weights pack`
        kinds = bundle_configs(root)
        if "tokenizer" not in kinds:
            raise UsageError(f"{named(root)} holds no tokenizer")
        return WeightPaths(root, root, root if "transformer" in kinds else None)
    if (root / CONFIG_NAME).exists():
        config = read_config(root)
        if config["model_type"] != "tokenizer":
            raise UsageError(f"{named(root)} holds only a {config['model_type']}; a tokenizer is needed too{_pair_hint(root, config)}")
        return WeightPaths(root, root, None)
    tok = root / "tokenizer"
    if not (tok / CONFIG_NAME).exists():
        _refuse_run(root, flag)
        raise MagvitError(f"{named(root)}: no tokenizer/{CONFIG_NAME} inside")
    tr = root / "transformer"
    return WeightPaths(root, tok, tr if (tr / CONFIG_NAME).exists() else None)


def _network_reason(e: Exception) -> str:
    """Why the Hub could not be reached, in the system's words ('connection refused', 'name or
    service not known'): the innermost [Errno N] text under the HTTP library's wrappers (httpx's
    ConnectError in huggingface_hub 1.x and up, urllib3's MaxRetryError inside requests' in 0.x)."""
    chain, cause = [], e
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    said = re.findall(r"\[Errno -?\d+\] ([^\"'()\[\]\n]+)", "\n".join(str(c) for c in chain))
    if said:
        return said[-1].strip().lower()
    last = chain[-1]
    return f"{type(last).__name__}: {str(last).splitlines()[0]}" if str(last) else type(last).__name__


def _pair_hint(root: Path, config: dict) -> str:
    """How to put a transformer's export with its tokenizer: the one it was trained on, where its
    metadata names it (`train transformer --tokenizer`'s, by its absolute path)."""
    tok = (config.get("metadata") or {}).get("tokenizer")
    pair = f"{tok} {root}" if tok else f"TOKENIZER {root}"
    said = f" (trained on the tokenizer {tok})" if tok else ""
    return f"{said}: `magvit weights pack {pair} BOTH.safetensors` makes one --weights file of the two"


def _from_hub(spec: str) -> Path:
    repo, _, revision = spec.partition("@")
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(repo, revision=revision or None,
                                      allow_patterns=["*.json", "*.safetensors", "*.md"]))
    except Exception as e:  # network, auth, missing repo or cache miss in offline mode
        raise MagvitError(hub_error(spec, e)) from None


def _hub_failure(e: Exception) -> tuple[set[str], str]:
    """An error from huggingface_hub as hub_error and push_error read it: the names of its classes
    (kept the same since 0.23, where the classes' modules moved) and its message's first line."""
    return {c.__name__ for c in type(e).__mro__}, str(e).splitlines()[0] if str(e) else type(e).__name__


def hub_error(spec: str, e: Exception) -> str:
    """What went wrong getting `spec` (org/name[@revision]) from the Hub, in a line that says what
    to do; by class name, which huggingface_hub has kept since 0.23 (its own texts run to three
    sentences, or named only 'LocalEntryNotFoundError: Got: ConnectError: ...')."""
    repo, _, revision = spec.partition("@")
    kinds, first = _hub_failure(e)
    if "GatedRepoError" in kinds:
        return f"{repo} is gated on the Hugging Face Hub: accept its terms on huggingface.co, then set HF_TOKEN (or `hf auth login`)"
    if "RepositoryNotFoundError" in kinds:
        return f"{repo}: no such repository on the Hugging Face Hub (a private one needs HF_TOKEN, or `hf auth login`)"
    if "RevisionNotFoundError" in kinds:
        return f"{repo}: no revision {revision!r} on the Hugging Face Hub"
    if "LocalEntryNotFoundError" in kinds:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            return f"{spec} is not in the local Hub cache, and HF_HUB_OFFLINE is set: unset it to download, or give a local folder"
        why = _network_reason(e)
        return (f"could not reach the Hugging Face Hub for {spec} ({why}), and it is not in the local cache: "
                "check the network (or HF_ENDPOINT), or give a local folder")
    return f"could not get {spec} from the Hugging Face Hub: {type(e).__name__}: {first}"


def folder_models(root: Path) -> dict[str, Path]:
    """{"tokenizer": path, "transformer": path} present in a weights folder (or bundle file)."""
    if root.is_file():
        return {kind: root for kind in bundle_configs(root)}
    if (root / CONFIG_NAME).exists():
        return {read_config(root)["model_type"]: root}
    return {k: root / k for k in ("tokenizer", "transformer") if (root / k / CONFIG_NAME).exists()}


def sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(weights: str | Path | None) -> dict:
    """Config, parameter counts, tasks, classes and sha256 of each model in a weights folder/id."""
    from safetensors import safe_open
    from .tasks import TASKS
    root = _packed(locate(weights, flag=""))
    models = folder_models(root)
    if not models:  # nothing here: the error resolve gives
        _paths(root, "")
    out = {"weights": str(root), "models": {}}  # a transformer alone (a run's export/) too
    for kind, folder in models.items():
        bundled = folder.is_file()
        if bundled:
            cfg, file = bundle_configs(folder)[kind], folder
        else:
            cfg, file = read_config(folder), folder / WEIGHTS_NAME
        with safe_open(str(file), "pt") as f:
            params = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys() if not bundled or k.startswith(kind + "."))
        entry = {"config": cfg["config"], "parameters": params, "sha256": sha256(file), "metadata": cfg.get("metadata", {})}
        if kind == "tokenizer":  # what its tokens mean; a transformer's metadata names the one it was trained on
            entry["encoder"] = file_encoder_digest(folder)
        if kind == "transformer":
            entry["tasks"] = list(TASKS)
            entry["condition"] = cfg["config"].get("condition", "footprint")
            entry["classes"] = list(cfg["config"].get("class_names", []))
        out["models"][kind] = entry
    return out


def pack_folders(folders: list[Path], file: Path, warn) -> tuple[Path, list[str]]:
    """`magvit weights pack`: the models in `folders` (a weights folder, or a tokenizer's and a
    transformer's export) as one single-file bundle; two exports are checked to pair as Magvit
    loads them (bits: an error; another encoder: `warn`, as a fine-tuned encoder may be meant)."""
    from .models.io import pack
    models = {}
    for folder in map(named_folder, folders):
        found = folder_models(folder) if folder.is_dir() else {}
        if not found:
            _refuse_run(folder, "")
            raise UsageError(f"{folder}: no tokenizer/ or transformer/ (config.json + model.safetensors) inside")
        twice = set(found) & set(models)
        if twice:
            raise UsageError(f"{folder}: another folder given already holds a {' and a '.join(sorted(twice))}; give one of each")
        models.update(found)
    if len(folders) > 1 and len(models) == 2:  # two runs' exports
        bits = {kind: read_config(f)["config"]["bits"] for kind, f in models.items()}
        if bits["tokenizer"] != bits["transformer"]:
            raise UsageError(f"the transformer models {bits['transformer']}-bit tokens, the tokenizer makes {bits['tokenizer']}-bit "
                             "ones: not a pair (train the transformer with --tokenizer on this tokenizer)")
        said = other_encoder(read_config(models["transformer"]).get("metadata") or {}, file_encoder_digest(models["tokenizer"]),
                             "pack the tokenizer it was trained on, or train it on this one (--tokenizer)")
        if said:
            warn(said)
    return pack(models, file), list(models)


def other_encoder(told: dict, this: str, hint: str) -> str | None:
    """The warning for a transformer (its export's metadata `told`) beside a tokenizer whose encoder
    digest `this` is not the one it was trained on, ending in `hint`; None where it is, or where the
    export says nothing (those from before the record)."""
    made, on = told.get("encoder"), told.get("tokenizer")
    if not made or made == this:
        return None
    return (f"the transformer was trained on another tokenizer's tokens (encoder {made}{f', {on}' if on else ''}; "
            f"this tokenizer's encoder is {this}): its output will not fit; {hint}")


def file_encoder_digest(path: Path) -> str:
    """The encoder digest (models.tokenizer.encoder_digest) of a tokenizer's folder or a bundle's
    tokenizer, read from the file without building the model."""
    from safetensors.torch import load_file
    from .models.tokenizer import encoder_digest
    if path.is_file():
        return encoder_digest({k[len("tokenizer."):]: v for k, v in load_file(str(path)).items() if k.startswith("tokenizer.")})
    return encoder_digest(load_file(str(path / WEIGHTS_NAME)))


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def list_weights() -> list[dict]:
    """The shipped weight folders and the magvit weights in the Hugging Face cache."""
    rows = []
    shipped = DEFAULT_WEIGHTS.parent
    if shipped.exists():
        for d in sorted(p for p in shipped.iterdir() if p.is_dir()):
            if folder_models(d):
                rows.append({"id": str(d), "source": "shipped", "models": sorted(folder_models(d))})
    try:
        from huggingface_hub import scan_cache_dir
        for repo in scan_cache_dir().repos:
            for rev in repo.revisions:
                models = folder_models(Path(rev.snapshot_path))
                if models:
                    rows.append({"id": f"{repo.repo_id}@{rev.commit_hash[:12]}", "source": "hub cache", "models": sorted(models)})
    except Exception:  # no cache folder yet, or an unreadable one: nothing cached to list
        pass
    return rows


def pull(repo_id: str, revision: str | None = None) -> Path:
    """Download (or find in the cache) a Hub repo's weights."""
    spec = repo_id if revision is None else f"{repo_id}@{revision}"
    return _from_hub(spec)


def model_card(folder: Path) -> str:
    """A generated README.md for a weights folder being pushed."""
    info = describe(folder)
    lines = ["---", "library_name: magvit-cli", "tags: [video, magvit, lfq, masked-transformer]", "---", "",
             "# MAGVIT weights", "", "Load with `magvit <task> IN --weights <this repo id>`.", ""]
    for kind, m in info["models"].items():
        lines += [f"## {kind}", "", f"- parameters: {m['parameters']:,}", f"- sha256: `{m['sha256']}`"]
        lines += [f"- {k}: {v}" for k, v in m["config"].items()]
        if m.get("metadata"):
            lines += [f"- training: {m['metadata']}"]
        lines.append("")
    return "\n".join(lines)


def push(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload a weights folder's configs, weights and model cards to the Hub in one commit, with a
    generated README.md where the folder has none. The card goes up from memory: written into the
    folder first, it stayed there (in the shipped weights, say) when the upload failed."""
    folder = named_folder(folder)
    models = folder_models(folder)
    if not models:
        raise UsageError(f"{folder}: no tokenizer/ or transformer/ (config.json + model.safetensors) to push")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors", ".md")
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        ops = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files]
        if not (folder / "README.md").exists():
            ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=model_card(folder).encode()))
        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.create_commit(repo_id, operations=ops, commit_message=f"Upload MAGVIT weights ({', '.join(models)})")
        return str(getattr(commit, "commit_url", commit))
    except Exception as e:
        raise MagvitError(push_error(repo_id, e)) from None


def push_error(repo_id: str, e: Exception) -> str:
    """What stopped a push, in a line that says what to do: the network (in the system's words, as
    for a download), no token, or the Hub's own answer (its first line)."""
    kinds, first = _hub_failure(e)
    if "OfflineModeIsEnabled" in kinds:  # a ConnectionError too, raised before any connection
        return f"could not push to {repo_id}: HF_HUB_OFFLINE is set; unset it to push"
    if kinds & {"ConnectError", "ConnectionError", "NetworkError", "TimeoutException", "Timeout"}:
        return f"could not reach the Hugging Face Hub to push to {repo_id} ({_network_reason(e)}): check the network (or HF_ENDPOINT)"
    if "LocalTokenNotFoundError" in kinds or re.search(r"\b401\b", first):
        return f"could not push to {repo_id}: not logged in to the Hugging Face Hub; set HF_TOKEN to a token with write access (or `hf auth login`)"
    return f"could not push to {repo_id}: {type(e).__name__}: {first}"
