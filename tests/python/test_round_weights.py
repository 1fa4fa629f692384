"""scripts/round_weights.py's numerical core (no TensorFlow needed): the input
patches match a direct convolution, and adaptive rounding stays on the
converter's int8 grid, keeps each channel's widest weight (which fixes the
scale), and never loses more than rounding to the nearest point."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import round_weights as rw  # noqa: E402


def direct_conv(x, w, stride, same):
    """Reference 2-D convolution of x [H, W, C] with w [O, kh, kw, C]."""
    h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    if same:
        oh, ow = -(-h // stride), -(-wd // stride)
        top = max((oh - 1) * stride + kh - h, 0) // 2
        left = max((ow - 1) * stride + kw - wd, 0) // 2
    else:
        oh, ow, top, left = (h - kh) // stride + 1, (wd - kw) // stride + 1, 0, 0
    xp = np.pad(x, ((top, kh), (left, kw), (0, 0)))
    y = np.zeros((oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            y[i, j] = np.einsum("abc,oabc->o", xp[i * stride:i * stride + kh, j * stride:j * stride + kw], w)
    return y


def test_patches_give_the_convolution_at_every_position():
    rng = np.random.default_rng(1)
    for h, wd, stride, same in ((7, 9, 1, True), (8, 8, 2, True), (9, 7, 2, False), (6, 6, 1, False)):
        x = rng.normal(size=(h, wd, 4)).astype(np.float32)
        w = rng.normal(size=(5, 3, 3, 4)).astype(np.float32)
        ref = direct_conv(x, w, stride, same)
        oh, ow = ref.shape[:2]
        pos = np.array([(i, j) for i in range(oh) for j in range(ow)])
        p = rw._patches(x, 3, 3, stride, same, pos)
        got = p.reshape(len(p), -1) @ w.reshape(5, -1).T
        np.testing.assert_allclose(got, ref.reshape(-1, 5), rtol=1e-5, atol=1e-5)


def on_grid(new, w):
    s = np.abs(w).max(1) / 127.0
    q = new / s[:, None]
    assert np.allclose(q, np.round(q), atol=1e-6), "off the int8 grid"
    assert np.all(np.abs(np.round(q)) <= 127)
    assert np.all(np.abs(np.round(q) - w / s[:, None]) < 1 + 1e-9), "moved by more than one step"
    np.testing.assert_allclose(np.abs(new).max(1), np.abs(w).max(1), rtol=1e-12)  # the scale is kept


def test_quadratic_rounding_beats_nearest_on_correlated_inputs():
    rng = np.random.default_rng(2)
    # Strongly correlated inputs (as neighbouring pixels are): nearest rounding's
    # errors add up, a chosen rounding can cancel them.
    base = rng.normal(size=(4000, 1))
    x = base + 0.05 * rng.normal(size=(4000, 24))
    w = rng.normal(size=(6, 24)) * 0.02
    w[:, 0] = 3.0  # one dominant weight per channel: a coarse step for the rest
    new, before, after = rw._round_quadratic(w, x, sweeps=3)
    on_grid(new, w)
    nearest = rw._grid(w)
    assert not nearest[2][np.arange(len(w)), np.abs(w).argmax(1)].any(), "the widest weight must stay put"
    assert nearest[2].sum() == w.size - len(w)
    d_near = (np.round(nearest[1]) - nearest[1]) * nearest[0][:, None]
    assert np.isclose(before, np.mean(np.sum((x @ d_near.T) ** 2, 1)), rtol=1e-9)
    assert np.isclose(after, np.mean(np.sum((x @ (new - w).T) ** 2, 1)), rtol=1e-9)
    assert after < 0.2 * before


def test_depthwise_rounding_never_loses_to_nearest():
    rng = np.random.default_rng(3)
    # Smooth input: the nine taps of a channel nearly equal (as in a real image).
    taps = (np.abs(rng.normal(size=(3000, 1, 5))) + 0.05 * rng.normal(size=(3000, 9, 5))).astype(np.float32)
    w = (rng.normal(size=(5, 9)) * 0.1).astype(np.float32)
    w[:, 4] = 2.5
    bias = rng.normal(size=5).astype(np.float32)
    reader = rng.normal(size=(3, 5)).astype(np.float32)
    new, before, after = rw._round_depthwise(w, bias, taps, rw.RELU6, reader, sweeps=3)
    on_grid(new.astype(np.float64), w.astype(np.float64))
    assert after <= before
    assert after < 0.5 * before
