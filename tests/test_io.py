import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import tiny_tokenizer, tiny_transformer
from magvit_cli.errors import MagvitError, UsageError
from magvit_cli.models import load_model, save_model


def test_tokenizer_round_trip_identical_outputs(tmp_path):
    tok = tiny_tokenizer(seed=3)
    save_model(tok, tmp_path / "tok")
    back = load_model(tmp_path / "tok", expect="tokenizer")
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    assert torch.equal(tok.encode(x), back.encode(x))
    assert torch.equal(tok.decode(tok.encode(x)), back.decode(back.encode(x)))
    assert back.config == tok.config


def test_transformer_round_trip_identical_outputs(tmp_path):
    m = tiny_transformer(seed=4)
    save_model(m, tmp_path / "tr", metadata={"steps": 1})
    back = load_model(tmp_path / "tr", expect="transformer")
    ids = torch.randint(0, 64, (2, m.config.num_tokens))
    a = m(ids, torch.tensor([0, 1]), torch.tensor([1, 2]))
    b = back(ids, torch.tensor([0, 1]), torch.tensor([1, 2]))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert back.config.class_names == ("a", "b", "c")


def test_misshaped_tensor_names_the_key(tmp_path):
    save_model(tiny_tokenizer(), tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    key = "encoder.conv_in.conv.weight"
    state[key] = torch.zeros(1, 2, 3)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MagvitError, match=r"encoder\.conv_in\.conv\.weight has shape \(1, 2, 3\)"):
        load_model(tmp_path)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    save_model(tiny_tokenizer(), tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state.pop("decoder.conv_out.conv.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MagvitError, match=r"missing decoder\.conv_out\.conv\.bias.*unexpected extra\.weight"):
        load_model(tmp_path)


def test_truncated_file_and_wrong_type(tmp_path):
    save_model(tiny_tokenizer(), tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MagvitError, match="not a readable safetensors"):
        load_model(tmp_path)
    save_model(tiny_tokenizer(), tmp_path)
    with pytest.raises(MagvitError, match="holds a tokenizer, expected a transformer"):
        load_model(tmp_path, expect="transformer")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["config"]["bogus"] = 1
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MagvitError, match="unknown tokenizer fields: bogus"):
        load_model(tmp_path)


def test_a_weights_folder_gives_the_model_of_the_kind_asked_for(tmp_path):
    """`train transformer --tokenizer weights/default` (the folder of both models, not its
    tokenizer/) loads its tokenizer, as a bundle file gives the kind asked for: it was 'no
    config.json in weights/default'. Without a kind to ask for, the folder is still no model."""
    tok = tiny_tokenizer(seed=3)
    save_model(tok, tmp_path / "tokenizer")
    save_model(tiny_transformer(), tmp_path / "transformer")
    got = load_model(tmp_path, expect="tokenizer")
    assert all(torch.equal(a, b) for a, b in zip(got.state_dict().values(), tok.state_dict().values()))
    assert type(load_model(tmp_path, expect="transformer")).__name__ == type(tiny_transformer()).__name__
    with pytest.raises(MagvitError, match="no config.json in"):
        load_model(tmp_path)


class Custom:
    """Anything not a plain tensor container: weights_only=True must refuse to unpickle it."""

    def __init__(self):
        self.x = 1


def test_pickle_refused_by_default_and_weights_only_when_allowed(tmp_path):
    tok = tiny_tokenizer(seed=7)
    save_model(tok, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(tok.state_dict(), tmp_path / "model.pt")
    with pytest.raises(MagvitError, match="pickle checkpoint.*--allow-pickle"):
        load_model(tmp_path)
    back = load_model(tmp_path, allow_pickle=True)
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    assert torch.equal(back.encode(x), tok.encode(x))
    torch.save({"state_dict": tok.state_dict(), "extra": Custom()}, tmp_path / "model.pt")
    with pytest.raises(MagvitError, match="refused by torch.load\\(weights_only=True\\)"):
        load_model(tmp_path, allow_pickle=True)
    (tmp_path / "model.pt").write_text("# notes, not weights\n")  # neither a zip nor a pickle: not a pickle to allow
    with pytest.raises(UsageError, match=r"model.pt: not a weights file \(neither safetensors nor a PyTorch checkpoint"):
        load_model(tmp_path, allow_pickle=True)


def test_cli_allow_pickle_flag(tmp_path):
    from typer.testing import CliRunner
    from magvit_cli.cli import app
    save_model(tiny_tokenizer(), tmp_path / "tokenizer")
    state = load_file(str(tmp_path / "tokenizer/model.safetensors"))
    (tmp_path / "tokenizer/model.safetensors").unlink()
    torch.save(state, tmp_path / "tokenizer/model.ckpt")
    r = CliRunner().invoke(app, ["info", "--weights", str(tmp_path), "--device", "cpu"])
    assert r.exit_code == 1 and "pickle checkpoint" in r.output and "or pass --allow-pickle to load it" in r.output
    for where in (0, 1, 5):  # before the command, or after it, as a user adds it to the call they ran
        args = ["info", "--weights", str(tmp_path), "--device", "cpu", "--json"]
        r = CliRunner().invoke(app, args[:where] + ["--allow-pickle"] + args[where:])
        assert r.exit_code == 0, (where, r.output)
    from magvit_cli.usage import global_first
    assert global_first(["inpaint", "a.mp4", "--", "--allow-pickle"]) == ["inpaint", "a.mp4", "--", "--allow-pickle"], \
        "a file named --allow-pickle after -- is an input"


def test_half_precision_release_loads_into_fp32(tmp_path):
    tok = tiny_tokenizer(seed=8)
    save_model(tok, tmp_path / "full")
    save_model(tok, tmp_path / "half", dtype=torch.float16)
    full = (tmp_path / "full/model.safetensors").stat().st_size
    half = (tmp_path / "half/model.safetensors").stat().st_size
    assert half < 0.6 * full
    back = load_model(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in back.parameters())
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    assert torch.allclose(back.decode(tok.encode(x)), tok.decode(tok.encode(x)), atol=1e-2)


def test_transformer_condition_region_round_trips_and_defaults(tmp_path):
    save_model(tiny_transformer(condition="padded"), tmp_path / "p")
    assert load_model(tmp_path / "p", expect="transformer").config.condition == "padded"
    cfg = json.loads((tmp_path / "p/config.json").read_text())
    del cfg["config"]["condition"]  # weights written before the field existed
    (tmp_path / "p/config.json").write_text(json.dumps(cfg))
    assert load_model(tmp_path / "p", expect="transformer").config.condition == "footprint"
    cfg["config"]["condition"] = "all"
    (tmp_path / "p/config.json").write_text(json.dumps(cfg))
    with pytest.raises(MagvitError, match="condition must be"):
        load_model(tmp_path / "p", expect="transformer")


def test_a_read_that_fails_part_way_says_ffmpegs_reason_once(tmp_path, monkeypatch):
    """A read that fails after some frames names the file and FFmpeg's reason, without PyAV's
    '[Errno N] ...: 'PATH'' repeating the path (for a piped input, the hidden temporary file's)."""
    import av
    from conftest import make_video
    from magvit_cli import video
    path = make_video(tmp_path / "clip.mp4", frames=6, width=32, height=32)
    frames = video._frames

    def failing(*args, **kwargs):
        for k, frame in enumerate(frames(*args, **kwargs)):
            if k == 2:
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input", str(tmp_path / ".clip~1~x.mp4"))
            yield frame
    monkeypatch.setattr(video, "_frames", failing)
    with pytest.raises(MagvitError) as e:
        list(video.iter_frames(path))
    assert str(e.value) == f"{path}: decoding failed after frame 2 (Invalid data found when processing input)", str(e.value)
