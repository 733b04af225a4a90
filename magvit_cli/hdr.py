"""HDR video (PQ or HLG, BT.2020: a phone's default recording) made SDR for outputs that hold
nothing else: a GIF, an animated PNG, a WebP, a photo (JPEG, PNG, ...). Written as they are, its code values read
as SDR look grey and washed out; a video output (.mp4, .mov, .mkv) keeps the HDR and its tags.

The steps, on each pixel: the transfer's inverse (PQ's EOTF, or HLG's inverse OETF and its
OOTF for a 1000 cd/m2 display, BT.2100) to display light; HDR reference white (203 cd/m2,
BT.2408) as SDR white; BT.2020 -> BT.709 primaries in linear light; highlights above a knee
rolled off towards the peak along the brightest component (hue kept); the sRGB curve."""

from __future__ import annotations

import numpy as np

PQ, HLG = 16, 18  # FFmpeg's AVColorTransferCharacteristic values
BT2020 = 9  # AVColorPrimaries
REFERENCE_WHITE = 203.0  # cd/m2: HDR's diffuse white, SDR's 100% (BT.2408)
HLG_PEAK = 1000.0  # cd/m2: the display HLG's OOTF is taken for (BT.2100's reference)
KNEE = 0.7  # of SDR white: below it light stays as it is, above it is rolled off towards 1

# BT.2020 -> BT.709 primaries, linear light (BT.2087)
_TO_709 = np.array([[1.6605, -0.5876, -0.0728],
                    [-0.1246, 1.1329, -0.0083],
                    [-0.0182, -0.1006, 1.1187]], np.float32)


def is_hdr(trc: int) -> bool:
    return trc in (PQ, HLG)


def _display_light(signal: np.ndarray, trc: int) -> np.ndarray:
    """(H, W, 3) code values in [0, 1] -> display light in cd/m2."""
    if trc == PQ:  # SMPTE ST 2084 EOTF
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = np.power(signal, 1 / m2)
        return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)
    a, b, c = 0.17883277, 0.28466892, 0.55991073  # HLG (ARIB STD-B67): inverse OETF, scene light in [0, 1]
    scene = np.where(signal <= 0.5, signal ** 2 / 3, (np.exp((signal - c) / a) + b) / 12)
    ys = scene @ np.array([0.2627, 0.6780, 0.0593], np.float32)  # BT.2020 luminance
    return HLG_PEAK * np.power(np.maximum(ys, 1e-6), 0.2)[..., None] * scene  # the OOTF, system gamma 1.2


def _roll_off(x: np.ndarray) -> np.ndarray:
    """SDR-relative light -> [0, 1]: itself up to the knee, then an exponential approach to 1
    whose slope at the knee is 1 (reference white lands at 0.89)."""
    return np.where(x <= KNEE, x, KNEE + (1 - KNEE) * (1 - np.exp(-(x - KNEE) / (1 - KNEE))))


def _srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def to_sdr(frame: np.ndarray, trc: int, primaries: int) -> np.ndarray:
    """An (H, W, 3) RGB frame of HDR code values (uint8 or uint16) -> SDR sRGB of the same dtype."""
    top = np.iinfo(frame.dtype).max
    light = _display_light(frame.astype(np.float32) / top, trc) / REFERENCE_WHITE  # (H, W, 3), 1 = SDR white
    if primaries == BT2020:
        light = light @ _TO_709.T
    light = np.maximum(light, 0)
    brightest = light.max(axis=-1, keepdims=True)
    light = light * np.where(brightest > 0, _roll_off(brightest) / np.maximum(brightest, 1e-12), 0)
    return np.clip(np.rint(_srgb(light) * top), 0, top).astype(frame.dtype)
