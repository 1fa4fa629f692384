"""The camera-preview guide through UniFFI (`FrameGuide`, rust-core/ffi/src/preview.rs):
what an iOS app hands it (a bi-planar 4:2:0 CVPixelBuffer: a luma plane and
one interleaved CbCr plane, rows padded) and what it answers, on the README's
eyepiece photo; the scale kept between frames without changing the answers;
and bad frames refused with a typed error."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

DEMO = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"


def nv12(img, pad=64):
    """BT.601 full-range luma and interleaved CbCr planes, each row padded by `pad` bytes."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    h, w, _ = rgb.shape
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = np.clip(np.rint(0.299 * r + 0.587 * g + 0.114 * b), 0, 255).astype(np.uint8)
    cb = np.clip(np.rint(128 - 0.168736 * r - 0.331264 * g + 0.5 * b), 0, 255)[::2, ::2].astype(np.uint8)
    cr = np.clip(np.rint(128 + 0.5 * r - 0.418688 * g - 0.081312 * b), 0, 255)[::2, ::2].astype(np.uint8)
    ys = w + pad
    yplane = np.zeros((h, ys), np.uint8)
    yplane[:, :w] = y
    cw = cb.shape[1]
    cs = 2 * cw + pad
    uv = np.zeros((cb.shape[0], cs), np.uint8)
    uv[:, 0 : 2 * cw : 2] = cb
    uv[:, 1 : 2 * cw : 2] = cr
    return w, h, yplane.tobytes(), ys, uv.tobytes(), cs


def preview(photo, k=1.0):
    """A 4:3 photo as a 1280x720 preview frame shows it, sides dark; `k` dims it."""
    out = Image.new("RGB", (1280, 720), (5, 4, 4))
    sw = round(photo.width * 720 / photo.height)
    out.paste(photo.resize((sw, 720), Image.BILINEAR), ((1280 - sw) // 2, 0))
    if k != 1.0:
        out = out.point(lambda v: int(v * k))
    return out


def analyze(guide, img):
    w, h, y, ys, uv, cs = nv12(img)
    return guide.analyze_yuv(w, h, y, ys, uv, uv[1:], cs, 2)


def test_an_eyepiece_frame_is_ready_and_a_dim_one_says_why(hl):
    guide = hl.FrameGuide(480, 15)
    photo = Image.open(DEMO)
    g = analyze(guide, preview(photo))
    assert g.ready and g.aperture_found and g.aperture_centred and g.aperture_big_enough, g
    assert g.issues == []
    assert abs(g.fov.cx - 640) < 40 and abs(g.fov.cy - 360) < 40, g.fov
    # The field's one neutrophil, mirrored 16 times (tests/fixtures/demo/expected.json).
    want = json.loads((DEMO.parent / "expected.json").read_text())
    assert want["white_cells_min"] <= g.white_cells <= want["white_cells_max"], g
    dark = analyze(guide, preview(photo, 0.1))
    assert not dark.ready
    assert [i.code for i in dark.issues][0] == hl.IssueCode.TOO_DARK
    assert "lamp" in dark.issues[0].message


def test_the_same_answers_as_a_fresh_guide_each_frame(hl):
    """The guide keeps the red-cell scale between frames; the answers stay those of a guide measuring it anew."""
    photo = preview(Image.open(DEMO))
    kept = hl.FrameGuide(480, 15)
    answers = [analyze(kept, photo) for _ in range(3)]
    fresh = analyze(hl.FrameGuide(480, 1), photo)
    for a in answers:
        assert a.ready == fresh.ready and a.white_cells == fresh.white_cells
        assert a.rbc_diameter_px == pytest.approx(fresh.rbc_diameter_px, rel=1e-9)


def test_bad_frames_and_settings_are_typed_errors(hl):
    guide = hl.FrameGuide(480, 15)
    w, h, y, ys, uv, cs = nv12(preview(Image.open(DEMO)))
    bad = [
        (w, h, y[: len(y) // 2], ys, uv, uv[1:], cs, 2),  # luma cut short
        (w, h, y, ys, uv[:100], uv[1:], cs, 2),  # chroma cut short
        (w, h, y, w - 1, uv, uv[1:], cs, 2),  # rows overlap
        (0, h, y, ys, uv, uv[1:], cs, 2),  # no pixels
        (100000, 100000, y, ys, uv, uv[1:], cs, 2),  # beyond the size limit
    ]
    for args in bad:
        with pytest.raises(hl.HemalensError.InvalidInput) as e:
            guide.analyze_yuv(*args)
        assert len(str(e.value)) < 300
    for long_side, every in [(63, 15), (4097, 15), (480, 0)]:
        with pytest.raises(hl.HemalensError.InvalidInput):
            hl.FrameGuide(long_side, every)
    # The guide is still good after the refusals.
    assert analyze(guide, preview(Image.open(DEMO))).ready
