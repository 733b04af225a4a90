"""`magvit eval`: quality on your own clips, side by side with what users would use instead.

Each clip is cut into windows of `window` frames (17: the paper's 16-frame tasks on the causal
tokenizer's 1 + 4k frames). Each task gets the paper's geometry (SPEC section 1), runs through
the same runner path as the CLI on the known part only, and is scored on the generated region
alone (PSNR in dB and SSIM, on 8-bit RGB):

  tokenizer   bits per pixel, PSNR/SSIM       | x264 and x265 at the same bits per pixel
  FI          first + last frame known        | frame repeat, linear blend, ffmpeg minterpolate
              (or every k-th: --fi-every k)
  FP          first 5 frames known            | repeat the last frame
  OPC/OPV/OPH/OPD                             | edge replication (OPD also: other frames + diffusion fill)
  IPC/IPD                                     | nearest visible frame + diffusion fill
CG and CFP have no ground truth to score against; FVD (below) is their measure.

FVD: `frechet_distance` over I3D features when the user supplies the I3D network file (none
ships here); the math is tested on synthetic features.
"""
from __future__ import annotations

import glob
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import options, runners
from .errors import UsageError
from .pipeline import Magvit, Sampling
from .tasks import neighbour_mean, window_left_edges
from .video import VideoInfo, VideoWriter, probe, read_frames, run_ffmpeg

TASK_CODES = ("tokenizer", "FI", "FP", "OPC", "OPV", "OPH", "OPD", "IPC", "IPD")


def tasks_named(text: str, choices: tuple[str, ...] = TASK_CODES) -> tuple[str, ...]:
    """`--tasks` (eval's, and bench's with its `choices`): "all" or a comma list of `choices` in any
    case (`fi,ipc`), in the given order, each once; an unknown name is refused before any model is
    loaded."""
    if text.strip().lower() == "all":
        return choices
    by_name = {t.lower(): t for t in choices}
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t.lower() not in by_name]
    if unknown or not names:
        raise UsageError(f"--tasks: {'unknown ' + ', '.join(unknown) if unknown else 'no task named'}; "
                         f"choose all or from {', '.join(choices)}")
    return tuple(dict.fromkeys(by_name[t.lower()] for t in names))


# --- metrics ------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR (dB) of uint8 arrays (..., H, W, 3), over `region` (bool, broadcastable) when given."""
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if region is not None:
        d = d[np.broadcast_to(region, d.shape)]
    return 10 * math.log10(255.0 ** 2 / max(float(d.mean()), 1e-10))


def _gauss(size=11, sigma=1.5) -> torch.Tensor:
    """The normalised 1-D Gaussian (size,); the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _blur(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> the same size, Gaussian-filtered with replicated borders, as two 1-D passes
    (a 2-D 11x11 conv lowers to an im2col buffer 121x the input: 40 GB for 15 HD frames)."""
    r = len(g) // 2
    t = F.conv2d(F.pad(t, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1))
    return F.conv2d(F.pad(t, (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))


def ssim_map(a: np.ndarray, b: np.ndarray, chunk: int = 4) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, L 255) of
    uint8 frames (N, H, W, 3), averaged over channels -> (N, H, W); `chunk` frames at a time."""
    g, c1, c2 = _gauss(), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for i in range(0, len(a), chunk):
        x = torch.from_numpy(a[i:i + chunk]).double().permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])
        y = torch.from_numpy(b[i:i + chunk]).double().permute(0, 3, 1, 2).reshape(-1, 1, *b.shape[1:3])
        mx, my = _blur(x, g), _blur(y, g)
        vx, vy, cxy = _blur(x * x, g) - mx ** 2, _blur(y * y, g) - my ** 2, _blur(x * y, g) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out.append(s.view(-1, 3, *a.shape[1:3]).mean(1).numpy())
    return np.concatenate(out) if out else np.zeros((0, *a.shape[1:3]))


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    s = ssim_map(a, b)
    if region is not None:
        s = s[np.broadcast_to(region[..., 0] if region.ndim == 4 else region, s.shape)]
    return float(s.mean())


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D): the FVD formula."""
    from numpy.linalg import eigvals
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    # trace of sqrtm(s1 s2) = sum of square roots of the eigenvalues of s1 s2 (real, >= 0)
    tr_sqrt = np.sqrt(np.clip(eigvals(s1 @ s2).real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def load_i3d(path: str, frames: int) -> torch.nn.Module:
    """--i3d's TorchScript network, loaded and tried on one blank clip of `frames` frames before
    any scoring: a file that does not load or answer (N, D) features is a one-line error then,
    not after every window has been scored (the report was lost with it)."""
    if not Path(path).is_file():
        raise UsageError(f"--i3d {path}: no such file")
    try:
        net = torch.jit.load(path, map_location="cpu").eval()
    except (RuntimeError, ValueError) as e:
        raise UsageError(f"--i3d {path}: not a loadable TorchScript file ({str(e).strip().splitlines()[0]})") from None
    try:
        with torch.no_grad():
            y = net(torch.zeros(1, 3, frames, 224, 224))
    except Exception as e:  # whatever the user's network raises
        raise UsageError(f"--i3d {path}: fails on a (1, 3, {frames}, 224, 224) clip "
                         f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None
    if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != 1:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise UsageError(f"--i3d {path}: returns {got} for one clip, expected (1, D) features")
    return net


def i3d_features(net: torch.nn.Module, clips: np.ndarray) -> np.ndarray:
    """Features of uint8 clips (N, T, H, W, 3) from the user's I3D network (`load_i3d`), which
    takes (N, 3, T, 224, 224) in [-1, 1] and returns (N, D)."""
    x = torch.from_numpy(clips).float().permute(0, 4, 1, 2, 3) / 127.5 - 1
    x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear", align_corners=False)
    with torch.no_grad():
        return net(x).double().numpy()


# --- alternatives -------------------------------------------------------------------------------
def edge_fill(frame: np.ndarray, known: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(known.any(1))[0], np.nonzero(known.any(0))[0]
    ri = np.clip(np.arange(frame.shape[0]), rows[0], rows[-1])
    ci = np.clip(np.arange(frame.shape[1]), cols[0], cols[-1])
    return np.where(known[..., None], frame, frame[ri][:, ci])


def diffusion_fill(frame: np.ndarray, known: np.ndarray, iters: int = 300) -> np.ndarray:
    """Harmonic fill of the unknown pixels from their border (Jacobi iterations on a Laplace eq.,
    starting from the mean of the known pixels). Only the unknown pixels' bounding box and a
    1-pixel ring change or are read, so the sweeps run on that crop (HD frames with a small hole)."""
    x = torch.from_numpy(frame).double().permute(2, 0, 1)  # (3, H, W)
    k = torch.from_numpy(known)
    if k.all():
        return frame.copy()
    ys, xs = torch.nonzero(~k, as_tuple=True)
    y0, y1 = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, k.shape[0])
    x0, x1 = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, k.shape[1])
    start = x[:, k].mean() if k.any() else 0.0
    vals, kc = x[:, y0:y1, x0:x1], k[y0:y1, x0:x1].expand(3, -1, -1)
    c = torch.where(kc, vals, start)
    for _ in range(iters):
        c = torch.where(kc, vals, neighbour_mean(c))
    out = x.clone()
    out[:, y0:y1, x0:x1] = c
    return out.permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def temporal_then_diffusion(frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Inpainting alternative: each hole pixel from the nearest frame where it is visible, then a
    diffusion fill of what no frame shows."""
    out = frames.copy()
    T = len(frames)
    for t in range(T):
        missing = holes[t].copy()
        for dt in sorted(range(-T + 1, T), key=abs):
            s = t + dt
            if dt == 0 or not 0 <= s < T:
                continue
            take = missing & ~holes[s]
            out[t][take] = frames[s][take]
            missing &= ~take
            if not missing.any():
                break
        if missing.any():
            out[t] = diffusion_fill(out[t], ~missing)
    return out


def write_lossless(path: Path, frames: np.ndarray, fps) -> Path:
    with VideoWriter(path, fps, frames.shape[2], frames.shape[1], lossless=True) as w:
        for f in frames:
            w.write(f)
    return path


def minterpolate(a: np.ndarray, b: np.ndarray, factor: int, tmp: Path) -> np.ndarray:
    """ffmpeg's motion-compensated interpolation between two frames: the factor-1 frames between.
    (minterpolate needs frames of at least 32x32: smaller ones are edge-padded, then cropped.)"""
    H, W = a.shape[:2]
    pad = ((0, max(0, 32 - H)), (0, max(0, 32 - W)), (0, 0))
    pa, pb = np.pad(a, pad, mode="edge"), np.pad(b, pad, mode="edge")
    src = write_lossless(tmp / "mi_in.mp4", np.stack([pa, pb, pb]), 1)  # a trailing copy: the filter emits up to b
    out = tmp / "mi_out.mp4"
    run_ffmpeg(["-y", "-i", str(src), "-vf", f"minterpolate=fps={factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir",
                "-c:v", "libx264rgb", "-qp", "0", str(out)], "the minterpolate alternative", check=True)
    got = read_frames(out)
    return np.ascontiguousarray(got[1:factor, :H, :W])


def codec_at_bpp(frames: np.ndarray, fps, bpp: float, codec: str, tmp: Path) -> tuple[np.ndarray, float]:
    """x264/x265 at (at most) a target bits per pixel: bisect the CRF for the best quality whose
    stream fits; returns (decoded frames, achieved bpp). CRF 51 when even that is larger."""
    import av
    T, H, W, _ = frames.shape
    src = write_lossless(tmp / "codec_in.mp4", frames, fps)
    out = tmp / f"codec_{codec}.mp4"
    quiet = ["-x265-params", "log-level=error"] if codec == "libx265" else []

    def encode(crf: int) -> float:
        run_ffmpeg(["-y", "-i", str(src), "-c:v", codec, "-crf", str(crf), "-preset", "medium", "-pix_fmt", "yuv420p",
                    *quiet, str(out)], f"the {codec} alternative", check=True)
        with av.open(str(out)) as c:
            return sum(p.size for p in c.demux(video=0)) * 8 / (T * H * W)

    lo, hi, best = 0, 51, 51
    while lo <= hi:
        mid = (lo + hi) // 2
        if encode(mid) <= bpp:
            best, hi = mid, mid - 1
        else:
            lo = mid + 1
    achieved = encode(best)
    return read_frames(out), achieved


# --- the evaluation -----------------------------------------------------------------------------
def score(out, truth, region=None) -> dict:
    return {"psnr": psnr(out, truth, region), "ssim": ssim(out, truth, region)}


def evaluate_window(m: Magvit, gt: np.ndarray, fps, s: Sampling, tasks, tmp: Path, sheets: list | None = None,
                    motion: bool = True, fi_every: int | None = None) -> dict:
    """All requested tasks on one window gt (T, H, W, 3); {task: {method: {psnr, ssim}}}.
    FI knows the first and last frame (the paper's), or every `fi_every`-th frame. The tokenizer
    row searches its tokens `s.refine` steps (none when unset)."""
    T, H, W, _ = gt.shape
    res: dict[str, dict] = {}
    opts = options.WriteOptions(lossless=True, audio=False)

    def show(task, ours, truth, alternatives):
        if sheets is not None:
            sheets.append((task, ours, truth, alternatives))

    if "tokenizer" in tasks:
        r = runners.reconstruct(m, write_lossless(tmp / "gt.mp4", gt, fps), tmp / "rec.mp4", opts, refine=s.refine or 0)
        rec = read_frames(tmp / "rec.mp4")
        res["tokenizer"] = {"ours": {**score(rec, gt), "bits_per_pixel": r.extra["bits_per_pixel"]}}
        for codec in ("libx264", "libx265"):
            dec, bpp = codec_at_bpp(gt, fps, r.extra["bits_per_pixel"], codec, tmp)
            res["tokenizer"][codec.replace("lib", "")] = {**score(dec, gt), "bits_per_pixel": bpp}
        show("tokenizer", rec, gt, {})
    if "FI" in tasks:
        factor = fi_every or T - 1  # known frames 0, factor, 2 * factor, ..., T - 1
        runners.interpolate(m, write_lossless(tmp / "fi_in.mp4", gt[::factor], fps), tmp / "fi.mp4", factor, s, opts,
                            cut_threshold=1.0, motion=motion)
        gen = [i for i in range(T) if i % factor]
        prev = [i - i % factor for i in gen]  # the known frame before each generated one
        ours, truth, repeat = read_frames(tmp / "fi.mp4")[gen], gt[gen], gt[prev]
        t = np.array([i % factor / factor for i in gen])[:, None, None, None]
        blend = ((1 - t) * repeat + t * gt[[p + factor for p in prev]].astype(np.float64)).round().astype(np.uint8)
        mi = np.concatenate([minterpolate(gt[k], gt[k + factor], factor, tmp) for k in range(0, T - 1, factor)])
        res["FI"] = {"ours": score(ours, truth), "frame repeat": score(repeat, truth),
                     "linear blend": score(blend, truth), "ffmpeg minterpolate": score(mi, truth)}
        show("FI", ours, truth, {"linear blend": blend, "minterpolate": mi})
    if "FP" in tasks:
        k = min(5, T - 1)
        runners.predict(m, write_lossless(tmp / "fp_in.mp4", gt[:k], fps), tmp / "fp.mp4", T - k, s, None, opts, motion=motion)
        ours = read_frames(tmp / "fp.mp4")[k:]
        rep = np.repeat(gt[k - 1:k], T - k, 0)
        res["FP"] = {"ours": score(ours, gt[k:]), "repeat last frame": score(rep, gt[k:])}
        show("FP", ours, gt[k:], {"repeat": rep})
    h4, w4 = H // 4, W // 4
    boxes = {"OPC": (h4, h4 + H // 2, w4, w4 + W // 2), "OPV": (0, H, w4, w4 + W // 2), "OPH": (h4, h4 + H // 2, 0, W)}
    modes = {"OPC": "central", "OPV": "vertical", "OPH": "horizontal"}
    for code, (y0, y1, x0, x1) in boxes.items():
        if code not in tasks:
            continue
        src = write_lossless(tmp / f"{code}.mp4", np.ascontiguousarray(gt[:, y0:y1, x0:x1]), fps)
        runners.outpaint(m, src, tmp / f"{code}_out.mp4", modes[code], s, (W, H), None, opts)
        ours = read_frames(tmp / f"{code}_out.mp4")
        known = np.zeros((H, W), bool)
        known[y0:y1, x0:x1] = True
        region = ~known[None, :, :, None]
        base = np.stack([edge_fill(f, known) for f in gt])
        res[code] = {"ours": score(ours, gt, region), "edge replication": score(base, gt, region)}
        show(code, ours, gt, {"edge": base})
    xs = window_left_edges(T, W)
    if "OPD" in tasks:
        strip = np.ascontiguousarray(np.stack([gt[t, :, xs[t]:xs[t] + W // 2] for t in range(T)]))
        track = tmp / "track.csv"
        track.write_text("".join(f"{t},{xs[t]},0\n" for t in range(T)))
        runners.outpaint(m, write_lossless(tmp / "opd.mp4", strip, fps), tmp / "opd_out.mp4", "dynamic", s, (W, H),
                         str(track), opts, motion=motion)
        ours = read_frames(tmp / "opd_out.mp4")
        known = np.zeros((T, H, W), bool)
        for t in range(T):
            known[t, :, xs[t]:xs[t] + W // 2] = True
        base = np.stack([edge_fill(gt[t], known[t]) for t in range(T)])
        seen = temporal_then_diffusion(gt, ~known)  # the strip sweeps the canvas: other frames saw most of it
        res["OPD"] = {"ours": score(ours, gt, ~known[..., None]), "edge replication": score(base, gt, ~known[..., None]),
                      "temporal + diffusion fill": score(seen, gt, ~known[..., None])}
        show("OPD", ours, gt, {"edge": base, "fill": seen})
    for code, mode in (("IPC", "central"), ("IPD", "dynamic")):
        if code not in tasks:
            continue
        runners.inpaint(m, write_lossless(tmp / "ip_in.mp4", gt, fps), tmp / f"{code}.mp4", mode, s, opts=opts, motion=motion)
        ours = read_frames(tmp / f"{code}.mp4")
        holes = np.zeros((T, H, W), bool)
        for t in range(T):
            x = w4 if mode == "central" else xs[t]
            holes[t, h4:h4 + H // 2, x:x + W // 2] = True
        base = temporal_then_diffusion(gt, holes)
        res[code] = {"ours": score(ours, gt, holes[..., None]), "temporal + diffusion fill": score(base, gt, holes[..., None])}
        show(code, ours, gt, {"fill": base})
    return res


def _average(rows: list[dict]) -> dict:
    out: dict = {}
    for row in rows:
        for task, methods in row.items():
            for method, vals in methods.items():
                for k, v in vals.items():
                    out.setdefault(task, {}).setdefault(method, {}).setdefault(k, []).append(v)
    return {t: {mth: {k: float(np.mean(v)) for k, v in vals.items()} for mth, vals in ms.items()} for t, ms in out.items()}


def sheet_name(clip, window: int | str, task: str) -> str:
    """A contact sheet's file name in --save-examples: CLIP.wN.TASK.png."""
    return f"{Path(clip).stem}.w{window}.{task}.png"


def sheets_there(folder: Path, clips, tasks) -> list[Path]:
    """The sheets a run of `clips` x `tasks` would write that `folder` already holds (any window)."""
    if not folder.is_dir():
        return []
    return [f for c in clips for t in tasks for f in sorted(folder.glob(sheet_name(glob.escape(Path(c).stem), "*", t)))]


def contact_sheet(path: Path, task: str, ours, truth, alternatives: dict, frames: int = 4):
    """PNG rows: ground truth, ours, each alternative; columns: evenly spaced frames."""
    idx = np.linspace(0, len(truth) - 1, min(frames, len(truth))).round().astype(int)
    rows = [truth, ours, *alternatives.values()]
    sheet = np.concatenate([np.concatenate([r[i] for i in idx], 1) for r in rows], 0)
    with VideoWriter(path, 1, sheet.shape[1], sheet.shape[0]) as w:
        w.write(np.ascontiguousarray(sheet))


def evaluate(m: Magvit, clips: list[Path], s: Sampling, window: int = 17, windows: int = 2,
             tasks=TASK_CODES, save_examples: Path | None = None, progress=lambda done, total: None,
             i3d: str | None = None, motion: bool = True, fi_every: int | None = None) -> dict:
    """The report: per clip (per window averaged), the average over clips and, with a user's
    I3D TorchScript file, FVD per task between the generated and the true segments."""
    tasks = tasks_named(",".join(tasks))
    if window < 5 or (window - 1) % m.tf:
        raise UsageError(f"--window must be 1 + k*{m.tf} frames and at least 5, got {window}")
    if fi_every is not None and (fi_every < 2 or (window - 1) % fi_every):
        raise UsageError(f"--fi-every must be at least 2 and divide the window's {window - 1} gaps, got {fi_every}")
    infos = {c: probe(c) for c in clips}  # read once, for this check and the scoring
    counts = ((c, 1 if i.is_image else i.frames) for c, i in infos.items())  # a photo: 1 frame
    short = [f"{c} ({n} frame{'s' * (n != 1)})" for c, n in counts if n is not None and n < window]
    if short:  # before any clip is scored, not after the ones before it
        raise UsageError(f"fewer frames than one {window}-frame window: {', '.join(short)}; give a smaller --window or leave them out")
    net = load_i3d(i3d, window) if i3d is not None else None
    m.say_device()  # once the settings and clips are known good: a bad one gets its error alone
    told, m.warn = m.warn, lambda msg: None  # the tasks' own notes name evaluation's temporary files, not the user's
    try:
        return _evaluate(m, infos, s, window, windows, tasks, save_examples, progress, net, motion, fi_every)
    finally:
        m.warn = told


def _evaluate(m: Magvit, clips: dict[Path, VideoInfo], s: Sampling, window: int, windows: int, tasks, save_examples: Path | None,
              progress, net, motion: bool, fi_every: int | None) -> dict:
    """`clips`: each clip with its probe."""
    per_clip = {}
    samples: dict[str, tuple[list, list]] = {}
    total, done = len(clips) * windows, 0
    for clip, info in clips.items():
        frames = read_frames(clip, 0, window * windows)
        n = len(frames) // window
        if n == 0:
            raise UsageError(f"{clip}: {len(frames)} frames, fewer than one {window}-frame window")
        rows = []
        for w in range(n):
            with tempfile.TemporaryDirectory() as tmp:
                sheets = [] if (save_examples or net is not None) else None
                rows.append(evaluate_window(m, frames[w * window:(w + 1) * window], info.fps, s, tasks, Path(tmp), sheets, motion, fi_every))
                for task, ours, truth, alts in sheets or []:
                    samples.setdefault(task, ([], []))[0].append(ours)
                    samples[task][1].append(truth)
                    if save_examples:
                        save_examples.mkdir(parents=True, exist_ok=True)
                        contact_sheet(save_examples / sheet_name(clip, w, task), task, ours, truth, alts)
            done += 1
            progress(done, total)
        per_clip[str(clip)] = _average(rows)
    report = {"clips": per_clip, "average": _average(list(per_clip.values())),
              "settings": {"window": window, "windows": windows, "steps": s.steps, "temperature": s.temperature, "guidance": s.guidance, "seed": s.seed, "residual": s.residual, "soft": s.soft, "motion": motion, "fi_every": fi_every or window - 1, "refine": s.refine,
                           "weights": str(m.paths.root), "device": str(m.device), "condition": m.region}}
    if net is not None:
        report["fvd"] = {task: frechet_distance(i3d_features(net, np.stack(ours)), i3d_features(net, np.stack(truth)))
                         for task, (ours, truth) in samples.items() if len(ours) >= 2}
    return report
