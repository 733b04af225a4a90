"""hdr.to_sdr: HDR code values (a phone's HLG, PQ) made SDR for outputs that hold nothing else
(the CLI's side: test_robustness.test_hdr_input_into_a_gif_or_photo_is_tone_mapped)."""
import numpy as np

from magvit_cli.hdr import BT2020, HLG, PQ, to_sdr


def _grey(v: float, dtype=np.uint8) -> np.ndarray:
    return np.full((1, 1, 3), round(v * np.iinfo(dtype).max), dtype)


def test_reference_white_is_near_sdr_white_and_highlights_roll_off():
    """HDR's diffuse white (HLG 75%, PQ 58%: 203 cd/m2, BT.2408) lands near SDR white (0.89 of
    it in light: 242 of 255), the same for both transfers; darker greys stay darker, brighter
    ones approach 255 without a jump; black stays black; hue is kept (a grey stays grey)."""
    hlg = [int(to_sdr(_grey(v), HLG, BT2020)[0, 0, 0]) for v in np.linspace(0, 1, 41)]
    assert hlg[0] == 0 and hlg == sorted(hlg), f"not monotonic: {hlg}"
    white = int(to_sdr(_grey(0.75), HLG, BT2020)[0, 0, 0])
    pq_white = int(to_sdr(_grey(0.5807, np.uint16), PQ, BT2020)[0, 0, 0]) // 257
    assert 236 <= white <= 248 and abs(white - pq_white) <= 3, f"reference white: HLG {white}, PQ {pq_white} of 255"
    assert max(b - a for a, b in zip(hlg, hlg[1:])) <= 20, f"a jump in the curve: {hlg}"
    out = to_sdr(np.array([[[200, 120, 60]]], np.uint8), HLG, BT2020)[0, 0]
    assert out[0] > out[1] > out[2], f"an orange lost its hue: {out}"
    assert to_sdr(_grey(0.5, np.uint16), HLG, BT2020).dtype == np.uint16
