"""--weights resolution: local folders and Hugging Face Hub ids through the real huggingface_hub
calls, offline, against a cache laid out the way huggingface_hub lays it out."""
import json
import os
import subprocess
import sys

import pytest

from conftest import tiny_tokenizer, tiny_transformer
from magvit_cli.errors import MagvitError, UsageError
from magvit_cli.models import save_model
from magvit_cli.weights import resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root, repo="org/tiny-magvit"):
    """HF_HOME/hub/models--org--tiny-magvit/{refs/main, snapshots/<commit>/..., blobs/}."""
    org, name = repo.split("/")
    base = root / "hub" / f"models--{org}--{name}"
    snap = base / "snapshots" / COMMIT
    save_model(tiny_tokenizer(seed=5), snap / "tokenizer")
    save_model(tiny_transformer(seed=6, latent_shape=(3, 4, 4)), snap / "transformer")
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(COMMIT)
    (base / "blobs").mkdir()
    return snap


def run_cli(args, env):
    return subprocess.run([sys.executable, "-m", "magvit_cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_hub_id_resolves_offline_through_huggingface_hub(tmp_path):
    snap = hub_cache(tmp_path / "hf")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    r = run_cli(["info", "--weights", "org/tiny-magvit", "--device", "cpu", "--json"], env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["weights"] == str(snap) and info["tokenizer"]["bits"] == 6 and info["transformer"]["dim"] == 32
    r = run_cli(["classes", "--weights", f"org/tiny-magvit@{COMMIT}", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["classes"] == ["a", "b", "c"], r.stderr
    r = run_cli(["info", "--weights", "org/not-cached", "--device", "cpu"], env)
    assert r.returncode == 1 and "not in the local Hub cache" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: no folder org/not-cached here; as a Hub id: "), r.stderr  # a mistyped path reads as an id


def test_hub_failures_say_what_to_do(tmp_path):
    """A Hub id that cannot be had says why in words a user acts on: the network down (it said
    'LocalEntryNotFoundError: Got: ConnectError: ...'), offline mode, a missing or gated repository
    or revision (by huggingface_hub's class names, the same since 0.23: stand-ins here, which need
    no server)."""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens: refused at once
    r = run_cli(["weights", "pull", "org/name"], {**env, "HF_HUB_OFFLINE": "0"})
    assert r.returncode == 1 and r.stderr.strip() == ("error: could not reach the Hugging Face Hub for org/name (connection refused), "
                                                      "and it is not in the local cache: check the network (or HF_ENDPOINT), "
                                                      "or give a local folder"), r.stderr  # the same words under huggingface_hub 0.23 and 1.x
    r = run_cli(["weights", "pull", "org/name@v2"], {**env, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 1 and r.stderr.strip() == ("error: org/name@v2 is not in the local Hub cache, and HF_HUB_OFFLINE is set: "
                                                      "unset it to download, or give a local folder"), r.stderr
    from magvit_cli.weights import hub_error
    def hub(name):
        return type(name, (OSError,), {})("404 Client Error")
    assert hub_error("org/x", hub("RepositoryNotFoundError")) == \
        "org/x: no such repository on the Hugging Face Hub (a private one needs HF_TOKEN, or `hf auth login`)"
    assert hub_error("org/x@v9", hub("RevisionNotFoundError")) == "org/x: no revision 'v9' on the Hugging Face Hub"
    gated = type("GatedRepoError", (type(hub("RepositoryNotFoundError")),), {})("403")
    assert hub_error("org/x", gated).startswith("org/x is gated on the Hugging Face Hub: accept its terms")
    assert hub_error("org/x", ValueError("odd")) == "could not get org/x from the Hugging Face Hub: ValueError: odd"
    # a push: the network in the same words, a missing token said as such
    save_model(tiny_tokenizer(), tmp_path / "w" / "tokenizer")
    r = run_cli(["weights", "push", str(tmp_path / "w"), "org/x"], {**env, "HF_TOKEN": "hf_not_a_token"})
    assert r.returncode == 1 and r.stderr.strip() == ("error: could not reach the Hugging Face Hub to push to org/x (connection refused): "
                                                      "check the network (or HF_ENDPOINT)"), r.stderr
    from magvit_cli.weights import push_error
    assert push_error("org/x", hub("LocalTokenNotFoundError")) == ("could not push to org/x: not logged in to the Hugging Face Hub; "
                                                                   "set HF_TOKEN to a token with write access (or `hf auth login`)")
    assert push_error("org/x", hub("HfHubHTTPError")) == "could not push to org/x: HfHubHTTPError: 404 Client Error"


def test_local_folders(tmp_path):
    save_model(tiny_tokenizer(), tmp_path / "tok")
    paths = resolve(tmp_path / "tok")
    assert paths.tokenizer == tmp_path / "tok" and paths.transformer is None
    save_model(tiny_transformer(), tmp_path / "tr")
    with pytest.raises(UsageError, match="only a transformer"):
        resolve(tmp_path / "tr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MagvitError, match="no tokenizer/config.json"):
        resolve(tmp_path / "empty")
    with pytest.raises(UsageError, match="no such folder"):
        resolve("./missing/folder")


def test_a_typo_of_a_local_folder_is_not_looked_up_on_the_hub(tmp_path, monkeypatch):
    """--weights weights/defualt (a typo of weights/default) reads as a Hub id org/name: it was
    looked up on the network and failed as 'could not get weights/defualt from the Hugging Face
    Hub: ... Name or service not known'. Where the folder above exists, it is a local path: the
    error names what that folder holds, weights folders and files."""
    from magvit_cli import weights as w
    monkeypatch.setattr(w, "_from_hub", lambda spec: pytest.fail(f"{spec} was looked up on the Hub"))
    (tmp_path / "weights" / "default").mkdir(parents=True)
    (tmp_path / "weights" / "notes.md").write_text("")
    (tmp_path / "weights" / "big.safetensors").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"^--weights weights/defualt: no such folder or file; weights/ holds big.safetensors, default/$"):
        resolve("weights/defualt")
    with pytest.raises(UsageError, match=r"^--weights /no-such-weights-folder: no such folder or file; / holds "):  # '/', not '//'
        resolve("/no-such-weights-folder")


def test_weights_info_names_its_argument_not_the_option(tmp_path):
    """`weights info FOLDER` takes the weights as its argument: an error there names the folder
    alone (it said '--weights FOLDER', an option the command does not have); --weights elsewhere
    still names the option."""
    (tmp_path / "empty").mkdir()
    r = run_cli(["weights", "info", str(tmp_path / "empty")], {})
    assert r.returncode == 1 and r.stderr.strip() == f"error: {tmp_path / 'empty'}: no tokenizer/config.json inside", r.stderr
    r = run_cli(["weights", "info", "./no/such"], {})
    assert r.returncode == 2 and r.stderr.strip() == "error: ./no/such: no such folder (nor a Hub id org/name[@revision])", r.stderr
    with pytest.raises(MagvitError, match=r"^--weights .*empty: no tokenizer/config.json inside$"):
        resolve(tmp_path / "empty")


def test_weights_info_list_pull_push_offline(tmp_path):
    snap = hub_cache(tmp_path / "hf")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    r = run_cli(["weights", "info", "org/tiny-magvit", "--json"], env)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["models"]["transformer"]["classes"] == ["a", "b", "c"] and "CFP" in d["models"]["transformer"]["tasks"]
    import hashlib
    assert d["models"]["tokenizer"]["sha256"] == hashlib.sha256((snap / "tokenizer/model.safetensors").read_bytes()).hexdigest()
    n = sum(p.numel() for p in tiny_tokenizer().parameters()) + sum(b.numel() for b in tiny_tokenizer().buffers())
    assert d["models"]["tokenizer"]["parameters"] == n
    r = run_cli(["weights", "pull", "org/tiny-magvit", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["path"] == str(snap), r.stderr
    r = run_cli(["weights", "push", str(snap), "org/copy"], env)
    assert r.returncode == 1 and r.stderr.strip() == "error: could not push to org/copy: HF_HUB_OFFLINE is set; unset it to push", r.stderr
    assert not (snap / "README.md").exists(), "a failed push left its generated model card in the folder"


def test_push_uploads_the_folder_and_a_generated_card_in_one_commit(tmp_path, monkeypatch):
    """`weights push` commits the configs, weights and cards (hidden temporary files left out) and,
    where the folder has no README.md, a generated model card, from memory: the folder is not
    written to. (The Hub is stood in for: no network here.)"""
    import huggingface_hub
    from magvit_cli.weights import push
    save_model(tiny_tokenizer(seed=5), tmp_path / "w" / "tokenizer")
    save_model(tiny_transformer(seed=6, latent_shape=(3, 4, 4)), tmp_path / "w" / "transformer")
    (tmp_path / "w" / "tokenizer" / ".model.abc.tmp.safetensors").write_bytes(b"partial")
    calls = []

    class Hub:
        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls.append(("repo", repo_id, private))

        def create_commit(self, repo_id, operations, commit_message):
            calls.append(("commit", repo_id, {op.path_in_repo: op.path_or_fileobj for op in operations}))
            return type("Commit", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()
    monkeypatch.setattr(huggingface_hub, "HfApi", Hub)
    assert push(tmp_path / "w", "org/x", private=True) == "https://hub/org/x/commit/1"
    assert calls[0] == ("repo", "org/x", True) and calls[1][0] == "commit", calls
    files = calls[1][2]
    assert sorted(files) == ["README.md", "tokenizer/config.json", "tokenizer/model.safetensors",
                             "transformer/config.json", "transformer/model.safetensors"], sorted(files)
    assert b"## tokenizer" in files["README.md"] and not (tmp_path / "w" / "README.md").exists()
    (tmp_path / "w" / "README.md").write_text("my card")
    calls.clear()
    push(tmp_path / "w", "org/x")
    assert calls[1][2]["README.md"] == str(tmp_path / "w" / "README.md"), "the folder's own card goes up as it is"


def test_single_file_weights_pack_and_load(tmp_path):
    """`weights pack` makes one .safetensors with both models; --weights FILE runs every task
    and gives the same output as the folder it came from; other files are clear errors."""
    import torch
    from safetensors.torch import save_file
    from typer.testing import CliRunner
    from conftest import make_video
    from magvit_cli.cli import app
    from magvit_cli.video import read_frames
    root = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), root / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), root / "transformer")
    runner = CliRunner()
    r = runner.invoke(app, ["weights", "pack", str(root), str(tmp_path / "all.safetensors"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"] == ["tokenizer", "transformer"]
    paths = resolve(tmp_path / "all.safetensors")
    assert paths.tokenizer == paths.transformer == tmp_path / "all.safetensors"
    (tmp_path / "repo").mkdir()  # a folder (e.g. a Hub snapshot) holding just the packed file
    (tmp_path / "repo/all.safetensors").write_bytes((tmp_path / "all.safetensors").read_bytes())
    assert resolve(tmp_path / "repo").transformer == tmp_path / "repo/all.safetensors"
    clip = make_video(tmp_path / "in.mp4", frames=9, width=32, height=16)
    outs = []
    for w in (root, tmp_path / "all.safetensors"):
        out = tmp_path / f"o_{len(outs)}.mp4"
        r = runner.invoke(app, ["interpolate", str(clip), "--weights", str(w), "--device", "cpu", "--steps", "2",
                                "--lossless", "-q", "-o", str(out)])
        assert r.exit_code == 0, r.output
        outs.append(read_frames(out))
    assert (outs[0] == outs[1]).all(), "the packed file must load the same weights as the folder"
    r = runner.invoke(app, ["weights", "info", str(tmp_path / "all.safetensors"), "--json"])
    assert r.exit_code == 0 and set(json.loads(r.stdout)["models"]) == {"tokenizer", "transformer"}, r.output
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    r = runner.invoke(app, ["reconstruct", str(clip), "--weights", str(tmp_path / "plain.safetensors"), "--device", "cpu"])
    assert r.exit_code != 0 and "weights pack" in r.output
    r = runner.invoke(app, ["weights", "pack", str(root), str(tmp_path / "all.safetensors")])
    assert r.exit_code == 2 and "exists" in r.output


def test_two_runs_exports_pack_as_a_pair(tmp_path):
    """A tokenizer run's export/ and a transformer run's are two folders: `weights pack TOK TR FILE`
    makes the pair one file (the README had mkdir and two cp -r); a transformer's folder alone as
    --weights names the tokenizer it was trained on and that command; a second tokenizer, or a
    pair whose token bits differ, is refused."""
    from typer.testing import CliRunner
    from magvit_cli.cli import app
    tok, tr, other = tmp_path / "tok", tmp_path / "tr", tmp_path / "other"
    save_model(tiny_tokenizer(seed=1), tok)
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), tr, metadata={"tokenizer": "runs/tok/export"})
    save_model(tiny_tokenizer(seed=1, bits=4), other)
    runner = CliRunner()
    with pytest.raises(UsageError, match=r"holds only a transformer; a tokenizer is needed too \(trained on the tokenizer runs/tok/export\): "
                                         rf"`magvit weights pack runs/tok/export {tr} BOTH.safetensors` makes one --weights file of the two"):
        resolve(tr)
    r = runner.invoke(app, ["weights", "pack", str(tok), str(tr), str(tmp_path / "pair.safetensors"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["models"] == ["tokenizer", "transformer"], r.output
    paths = resolve(tmp_path / "pair.safetensors")
    assert paths.tokenizer == paths.transformer == tmp_path / "pair.safetensors"
    r = runner.invoke(app, ["weights", "pack", str(tok), str(other), str(tmp_path / "x.safetensors")])
    assert r.exit_code == 2 and f"{other}: another folder given already holds a tokenizer; give one of each" in r.output, r.output
    r = runner.invoke(app, ["weights", "pack", str(other), str(tr), str(tmp_path / "x.safetensors")])
    assert r.exit_code == 2 and "the transformer models 6-bit tokens, the tokenizer makes 4-bit ones: not a pair" in r.output, r.output
    assert not (tmp_path / "x.safetensors").exists()
    # `weights info` of a transformer's export alone describes it (it was refused: 'a tokenizer is needed too')
    r = runner.invoke(app, ["weights", "info", str(tr), "--json"])
    assert r.exit_code == 0 and list(json.loads(r.stdout)["models"]) == ["transformer"], r.output
    assert json.loads(r.stdout)["models"]["transformer"]["metadata"]["tokenizer"] == "runs/tok/export"
    # a token file given as weights is named as what it is
    import torch
    from safetensors.torch import save_file
    save_file({"frames": torch.ones(1, dtype=torch.int32)}, str(tmp_path / "t.safetensors"), metadata={"format": "magvit-tokens-v1"})
    for args in (["weights", "info", str(tmp_path / "t.safetensors")], ["info", "--weights", str(tmp_path / "t.safetensors"), "--device", "cpu"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and r.output.strip() == (f"error: {tmp_path / 't.safetensors'}: a token file from `magvit tokenize`, "
                                                         "not weights (`magvit info` describes it)"), (args, r.output)
