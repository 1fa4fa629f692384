"""Shared data, preprocessing, augmentation and metric code for the Hemalens model packs.

The ONE definition of the inference preprocessing lives here (`preprocess_uint8`,
`normalize`, `quantize`) and is used by training (validation / representative set),
calibration and evaluation. The Rust core implements the same steps from the
pack manifest (see docs/model-pack.md):

 1. decode the image to RGB (8 bit);
 2. resize the WHOLE image to width x height with PIL `Image.BILINEAR`
    (a separable triangle filter whose support grows with the down-sampling
    factor; image-rs `FilterType::Triangle`);
 3. fill every `input.masks` rectangle with `fill`: x0 = round(x*W),
    y0 = round(y*H), x1 = round((x+w)*W), y1 = round((y+h)*H) (round half away
    from zero, clamped to [0,W] / [0,H]), pixels x0 <= px < x1, y0 <= py < y1;
 4. float32 f = (pixel - mean[c]) / std[c];
 5. int8 q = clamp(round_half_away(f / scale) + zero_point, -128, 127), f/scale in float32.

This module imports TensorFlow only inside the training helpers, so evaluation
runs with numpy + pillow (+ ai-edge-litert) alone.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------
# Pack definitions (the parts training and evaluation share)
# ----------------------------------------------------------------------------
ARIA_LABELS = ["benign", "malignant_early_pre_b", "malignant_pre_b", "malignant_pro_b"]
PBC_LABELS = ["basophil", "eosinophil", "erythroblast", "ig", "lymphocyte",
              "monocyte", "neutrophil", "platelet"]

# Scale bar of aria_all: bottom-right corner, x, y >= ~194 of 224. 194/224 = 0.8671875
# (an exact binary fraction, so round(x*W) has no half-way case at 224, 128, 96, 160).
ARIA_MASK = {"x": 0.8671875, "y": 0.8671875, "w": 0.1328125, "h": 0.1328125, "fill": [0, 0, 0]}
NORM_MEAN = [128.0, 128.0, 128.0]
NORM_STD = [128.0, 128.0, 128.0]

# Red-cell diameters as the field pipeline measures them (scripts/measure_scale.py,
# median over 300 training images); packs state their scale in this unit.
ARIA_RBC_PX_AT_224 = 16.26
PBC_RBC_PX_AT_360 = 70.46

PACKS = {
    "all-screen": {
        "task": "field_screen",
        "folder": "aria_all",
        "labels": ARIA_LABELS,
        "masks": [ARIA_MASK],
        "description": "Whole-field screening for B-lineage ALL (benign / early pre-B / pre-B / pro-B) "
                       "on a 100x field of view at the aria_all scale",
        "script": "scripts/train_all_screen.py",
    },
    "wbc-type": {
        "task": "cell_type",
        "folder": "pbc_wbc",
        "labels": PBC_LABELS,
        "masks": [],
        "description": "White-cell type (8 classes) of a single-cell crop at the pbc_wbc scale",
        "script": "scripts/train_wbc_type.py",
    },
}

# Training images are decoded once and cached at this square size (uint8) before
# augmentation; augmentation then resizes (antialiased bilinear = triangle) to the input.
CACHE_SIZE = 160  # 1.25 x the 128-px input: room for the scale augmentation


# ----------------------------------------------------------------------------
# Paths and label files
# ----------------------------------------------------------------------------
def default_data_dir() -> str:
    return os.environ.get("HEMALENS_DATA") or str((REPO / ".." / "shared" / "data").resolve())


def check_data_dir(data: str, folder: str) -> Path:
    root = Path(data)
    lab = root / folder / "labels.csv"
    if not lab.is_file():
        sys.exit(f"error: data folder not found: {lab} is missing.\n"
                 f"Pass --data DIR or set HEMALENS_DATA to the shared data folder "
                 f"(default ../shared/data relative to the repo root).")
    return root / folder


def read_labels(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["file"] = str(folder / r["path"])
    return rows


def _file_number(path: str) -> int:
    m = re.findall(r"(\d+)", Path(path).stem)
    return int(m[-1]) if m else 0


def aria_splits(rows: list[dict], tune_frac: float = 0.15) -> dict[str, list[dict]]:
    """Block splits for aria_all. `val` (the file's own contiguous block) is the
    held-out test set. From each class's `train` numbering the LAST contiguous
    `tune_frac` block becomes `tune` (early stopping, temperature, thresholds);
    the rest is `fit`. Never random: neighbouring numbers are the same smear."""
    out = {"fit": [], "tune": [], "val": []}
    for lab in ARIA_LABELS:
        tr = sorted([r for r in rows if r["label"] == lab and r["split"] == "train"],
                    key=lambda r: _file_number(r["path"]))
        va = sorted([r for r in rows if r["label"] == lab and r["split"] == "val"],
                    key=lambda r: _file_number(r["path"]))
        n_tune = int(round(len(tr) * tune_frac))
        out["fit"] += tr[: len(tr) - n_tune]
        out["tune"] += tr[len(tr) - n_tune:]
        out["val"] += va
    return out


def pbc_splits(rows: list[dict]) -> dict[str, list[dict]]:
    """pbc_wbc: its own train/val/test split (hash of file name)."""
    return {s: sorted([r for r in rows if r["split"] == s], key=lambda r: r["path"])
            for s in ("train", "val", "test")}


def split_block_ranges(rows: list[dict]) -> dict[str, str]:
    """Human-readable file-number range per class (for the model card)."""
    out = {}
    by = {}
    for r in rows:
        by.setdefault(r["label"], []).append(_file_number(r["path"]))
    for k, v in by.items():
        out[k] = f"{min(v)}-{max(v)} (n={len(v)})"
    return out


# ----------------------------------------------------------------------------
# The canonical preprocessing
# ----------------------------------------------------------------------------
def round_half_away(v):
    v = np.asarray(v)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def mask_pixels(m: dict, w: int, h: int) -> tuple[int, int, int, int]:
    x0 = int(min(max(round_half_away(m["x"] * w), 0), w))
    y0 = int(min(max(round_half_away(m["y"] * h), 0), h))
    x1 = int(min(max(round_half_away((m["x"] + m["w"]) * w), 0), w))
    y1 = int(min(max(round_half_away((m["y"] + m["h"]) * h), 0), h))
    return x0, y0, x1, y1


def apply_masks(a: np.ndarray, masks: list[dict]) -> np.ndarray:
    h, w = a.shape[:2]
    for m in masks:
        x0, y0, x1, y1 = mask_pixels(m, w, h)
        a[y0:y1, x0:x1] = np.asarray(m["fill"], dtype=a.dtype)
    return a


def load_rgb(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def preprocess_uint8(img: Image.Image, width: int, height: int, masks: list[dict]) -> np.ndarray:
    """Steps 1-3: RGB, triangle resize of the whole image, masks. Returns HxWx3 uint8."""
    img = img.convert("RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    a = np.array(img, dtype=np.uint8)
    return apply_masks(a, masks)


def normalize(a_uint8: np.ndarray, mean=NORM_MEAN, std=NORM_STD) -> np.ndarray:
    """Step 4: float32 (pixel - mean) / std."""
    a = a_uint8.astype(np.float32)
    return ((a - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def quantize(f: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Step 5: int8 = clamp(round_half_away(f / scale) + zp, -128, 127), f/scale in float32."""
    v = (f.astype(np.float32) / np.float32(scale)).astype(np.float32)
    q = round_half_away(v) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Output step 1 of docs/model-pack.md: f64((q - zp) as f32 * scale)."""
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float64)


def softmax_T(z: np.ndarray, T: float = 1.0) -> np.ndarray:
    t = np.asarray(z, np.float64) / float(T)
    t = t - t.max(axis=-1, keepdims=True)
    e = np.exp(t)
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------
# Evaluation-time perturbations (numpy / PIL only; deterministic per seed)
# ----------------------------------------------------------------------------
COLOUR_NORM_MEAN = 180.0
COLOUR_NORM_STD = 40.0


def colour_normalise(img: Image.Image) -> Image.Image:
    """Per-image channel standardisation: every channel is shifted/scaled to the same
    fixed mean (180) and std (40), which removes stain colour and brightness
    differences (the test under which a colour-shortcut model collapses)."""
    a = np.asarray(img.convert("RGB"), np.float32)
    mu = a.reshape(-1, 3).mean(0)
    sd = a.reshape(-1, 3).std(0) + 1e-3
    b = (a - mu) / sd * COLOUR_NORM_STD + COLOUR_NORM_MEAN
    return Image.fromarray(np.clip(np.round(b), 0, 255).astype(np.uint8))


def eyepiece_degrade(img: Image.Image, seed: int) -> Image.Image:
    """Degradation as through a phone held at a microscope eyepiece, applied to the
    source image (before the canonical preprocessing):
    optical blur (Gaussian, sigma 1.0-1.5 px at the 224-px field scale, scaled with
    the image width), radial vignette (corners darkened by 30-50 %), colour cast
    (per-channel gain 0.85-1.15), then JPEG re-encoding at quality 70-85."""
    rng = np.random.default_rng(seed)
    img = img.convert("RGB")
    w, h = img.size
    sigma = rng.uniform(1.0, 1.5) * w / 224.0
    img = img.filter(ImageFilter.GaussianBlur(radius=sigma))
    a = np.asarray(img, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2 + rng.uniform(-0.1, 0.1) * w, (h - 1) / 2 + rng.uniform(-0.1, 0.1) * h
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    strength = rng.uniform(0.3, 0.5)
    a = a * (1.0 - strength * np.clip(r2, 0, 1.5))[..., None]
    gains = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    a = a * gains
    img = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))
    q = int(rng.integers(70, 86))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=q)
    buf.seek(0)
    return load_rgb(buf)


# ----------------------------------------------------------------------------
# Metrics (numpy only)
# ----------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    hw = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, c - hw), min(1.0, c + hw))


def proportion(k: int, n: int) -> dict:
    """k of n with its 95% Wilson interval, rounded to 4 places, as the evaluation scripts write it."""
    lo, hi = wilson(k, n) if n else (0.0, 1.0)
    return {"k": int(k), "n": int(n), "value": round(k / n, 4) if n else None, "ci": [round(lo, 4), round(hi, 4)]}


def confusion(y: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    for a, b in zip(y, p):
        cm[a, b] += 1
    return cm


def macro_f1(cm: np.ndarray) -> float:
    f = []
    for i in range(cm.shape[0]):
        tp = cm[i, i]
        fp = cm[:, i].sum() - tp
        fn = cm[i, :].sum() - tp
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with tie handling."""
    y_true = np.asarray(y_true).astype(bool)
    s = np.asarray(score, np.float64)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sv = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    npos, nneg = y_true.sum(), (~y_true).sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[y_true].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def roc_curve(y_true, score):
    y_true = np.asarray(y_true).astype(bool)
    ths = np.unique(np.concatenate([[np.inf], np.asarray(score, np.float64)]))[::-1]
    tpr = [(score[y_true] >= t).mean() for t in ths]
    fpr = [(score[~y_true] >= t).mean() for t in ths]
    return np.array(fpr), np.array(tpr), ths


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(1)
    pred = probs.argmax(1)
    acc = (pred == y).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            e += m.mean() * abs(acc[m].mean() - conf[m].mean())
    return float(e)


def reliability_bins(probs, y, bins=15):
    conf = probs.max(1)
    acc = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        out.append((float((lo + hi) / 2), float(acc[m].mean()) if m.any() else float("nan"),
                    float(conf[m].mean()) if m.any() else float("nan"), int(m.sum())))
    return out


def nll(logits: np.ndarray, y: np.ndarray, T: float) -> float:
    p = softmax_T(logits, T)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the NLL on the tuning split (log-grid then golden refinement)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    vals = [nll(logits, y, t) for t in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(60):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(logits, y, c) < nll(logits, y, d):
            b = d
        else:
            a = c
    return float((a + b) / 2)


# ----------------------------------------------------------------------------
# Provenance
# ----------------------------------------------------------------------------
def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "none (repository had no commit yet)"


def sha256_file(p: str | Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions(names) -> dict:
    from importlib import metadata
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except Exception:
            pass
    return out


def _no_nan(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _no_nan(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_no_nan(v) for v in o]
    if isinstance(o, np.generic):
        return _no_nan(o.item())
    return o


def write_json(path, obj):
    """JSON without NaN/inf (null instead), so strict parsers (serde_json) accept it."""
    Path(path).write_text(json.dumps(_no_nan(obj), indent=2, allow_nan=False) + "\n")


# ----------------------------------------------------------------------------
# Training helpers (TensorFlow imported lazily)
# ----------------------------------------------------------------------------
def row_image(r: dict) -> Image.Image:
    """A row's image as the pack's input is cut from it: a row may name a centred
    square (`crop_side`, source pixels) that brings its red cells to the pack's scale."""
    img = load_rgb(r["file"])
    side = r.get("crop_side")
    if side and side < min(img.size):
        x0, y0 = (img.size[0] - side) // 2, (img.size[1] - side) // 2
        img = img.crop((x0, y0, x0 + side, y0 + side))
    pad = r.get("pad")
    if pad:
        # The field shrunk into a canvas of its own plasma colour, as a frame smaller
        # than a screening tile reaches the screen (bccd, raabin frames): so the
        # padding says nothing of the class. pad = (share of the side, dx, dy in [0, 1]).
        share, dx, dy = pad
        a = np.asarray(img)
        bg = tuple(int(v) for v in np.percentile(a.reshape(-1, 3), 92, axis=0))
        W, H = img.size
        w, h = max(1, int(W * share)), max(1, int(H * share))
        canvas = Image.new("RGB", (W, H), bg)
        canvas.paste(img.resize((w, h), Image.BILINEAR), (int((W - w) * dx), int((H - h) * dy)))
        img = canvas
    return img


def build_cache(rows: list[dict], cache_file: str, size: int = CACHE_SIZE,
                source_masks: list[dict] | None = None) -> np.ndarray:
    """Decode every image once, triangle-resize to size x size, optionally mask (in
    source coordinates; only rows that carry `"masked": True` when any row does),
    store uint8 [N,size,size,3] as .npy outside the repo."""
    key = hashlib.sha1(("|".join(r["file"] + str(r.get("crop_side")) + str(r.get("pad")) for r in rows)
                        + f"|{size}|{source_masks}").encode()).hexdigest()[:12]
    path = Path(cache_file).with_name(Path(cache_file).stem + f"-{key}.npy")
    if path.is_file():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((len(rows), size, size, 3), np.uint8)
    per_row = any("masked" in r for r in rows)
    for i, r in enumerate(rows):
        m = (source_masks or []) if (not per_row or r.get("masked")) else []
        arr[i] = preprocess_uint8(row_image(r), size, size, m)
    np.save(path, arr)
    return arr


def preprocessed_float(rows, w, h, masks):
    return np.stack([normalize(preprocess_uint8(row_image(r), w, h, masks)) for r in rows])


# HED stain matrix (Ruifrok & Johnston; as in scikit-image rgb2hed)
_RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float32)
_RGB_FROM_HED[2] = np.cross(_RGB_FROM_HED[0], _RGB_FROM_HED[1])
_RGB_FROM_HED = _RGB_FROM_HED / np.linalg.norm(_RGB_FROM_HED, axis=1, keepdims=True)
_HED_FROM_RGB = np.linalg.inv(_RGB_FROM_HED).astype(np.float32)


def make_tf_augment(out_size: int, masks: list[dict], strength: float = 1.0):
    """Returns fn(image_uint8[S,S,3], seed[2]) -> float32 normalised [out,out,3].
    All randomness is stateless from the per-example seed (reproducible).
    Order: geometry (rot90/flip, rotation, scale, shift) -> stain (HED) and colour
    jitter (brightness, contrast, saturation, hue, channel gains, grey, per-image
    channel standardisation) -> blur -> vignette -> JPEG -> triangle resize to the
    input -> masks -> normalisation."""
    import tensorflow as tf

    S = CACHE_SIZE
    hed_from_rgb = tf.constant(_HED_FROM_RGB)
    rgb_from_hed = tf.constant(_RGB_FROM_HED)
    mean = tf.constant(NORM_MEAN, tf.float32)
    std = tf.constant(NORM_STD, tf.float32)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    r2 = tf.constant((((xx - (S - 1) / 2) ** 2 + (yy - (S - 1) / 2) ** 2) / (2 * (S / 2) ** 2))[..., None])
    mask_m = np.ones((out_size, out_size, 1), np.float32)
    mask_fill = np.zeros((out_size, out_size, 3), np.float32)
    for m in masks:
        x0, y0, x1, y1 = mask_pixels(m, out_size, out_size)
        mask_m[y0:y1, x0:x1] = 0
        mask_fill[y0:y1, x0:x1] = np.asarray(m["fill"], np.float32)
    mask_m = tf.constant(mask_m)
    mask_fill = tf.constant(mask_fill)

    def u(seed, i, lo, hi, shape=()):
        return tf.random.stateless_uniform(shape, seed=seed + tf.constant([0, 1000 * i], tf.int64),
                                           minval=lo, maxval=hi)

    def blur(x, sigma):
        k = 9
        t = tf.range(-(k // 2), k // 2 + 1, dtype=tf.float32)
        g = tf.exp(-0.5 * (t / tf.maximum(sigma, 1e-3)) ** 2)
        g = g / tf.reduce_sum(g)
        kx = tf.tile(tf.reshape(g, [1, k, 1, 1]), [1, 1, 3, 1])
        ky = tf.tile(tf.reshape(g, [k, 1, 1, 1]), [1, 1, 3, 1])
        x = tf.pad(x[None], [[0, 0], [k // 2, k // 2], [k // 2, k // 2], [0, 0]], mode="REFLECT")
        x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
        x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")
        return x[0]

    def geometry(x, seed):
        # --- geometry: rot90 + flip, then rotation/scale/shift (reflect padding)
        k = tf.cast(u(seed, 1, 0, 4), tf.int32)
        x = tf.image.rot90(x, k)
        x = tf.cond(u(seed, 2, 0, 1) < 0.5, lambda: tf.image.flip_left_right(x), lambda: x)
        ang = u(seed, 3, -math.pi, math.pi)
        sc = tf.exp(u(seed, 4, math.log(0.8), math.log(1.25)) * strength)
        tx = u(seed, 5, -0.08, 0.08) * S
        ty = u(seed, 6, -0.08, 0.08) * S
        c, s_ = tf.cos(ang) / sc, tf.sin(ang) / sc
        cx = cy = (S - 1) / 2.0
        # output->input mapping
        a0, a1 = c, -s_
        b0, b1 = s_, c
        a2 = cx - a0 * cx - a1 * cy + tx
        b2 = cy - b0 * cx - b1 * cy + ty
        tr = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]
        x = tf.raw_ops.ImageProjectiveTransformV3(images=x[None], transforms=tr, output_shape=[S, S],
                                                  fill_value=0.0, interpolation="BILINEAR",
                                                  fill_mode="REFLECT")[0]
        return x

    def hed_jitter(x, seed):
        # --- stain (HED) jitter
        od = -tf.math.log((x + 1.0) / 256.0)
        hed = tf.reshape(tf.reshape(od, [-1, 3]) @ hed_from_rgb, [S, S, 3])
        alpha = 1.0 + u(seed, 7, -0.3, 0.3, [3]) * strength
        beta = u(seed, 8, -0.06, 0.06, [3]) * strength
        hed = hed * alpha + beta
        od2 = tf.reshape(tf.reshape(hed, [-1, 3]) @ rgb_from_hed, [S, S, 3])
        x2 = tf.clip_by_value(256.0 * tf.exp(-od2) - 1.0, 0, 255)
        return x2

    def aug(img, seed):
        seed = tf.cast(seed, tf.int64)
        x = tf.cast(img, tf.float32)
        x = geometry(x, seed)
        x = tf.cond(u(seed, 9, 0, 1) < 0.8, lambda: hed_jitter(x, seed), lambda: x)
        # --- colour jitter
        x = x / 255.0
        x = tf.image.stateless_random_hue(x, 0.08 * strength, seed=seed + [0, 11])
        x = tf.image.stateless_random_saturation(x, 0.5, 1.6, seed=seed + [0, 12])
        x = tf.image.stateless_random_brightness(x, 0.15, seed=seed + [0, 13])
        x = tf.image.stateless_random_contrast(x, 0.7, 1.3, seed=seed + [0, 14])
        gains = 1.0 + u(seed, 15, -0.15, 0.15, [3]) * strength
        x = tf.where(u(seed, 16, 0, 1) < 0.5, x * gains, x)
        x = tf.clip_by_value(x, 0, 1) * 255.0
        grey = tf.repeat(tf.reduce_mean(x, -1, keepdims=True), 3, -1)
        x = tf.cond(u(seed, 17, 0, 1) < 0.1, lambda: grey, lambda: x)
        # per-image channel standardisation (the colour-normalised condition), p=0.2,
        # with jittered target statistics
        mu = tf.reduce_mean(x, [0, 1])
        sd = tf.math.reduce_std(x, [0, 1]) + 1e-3
        xs = (x - mu) / sd * u(seed, 18, 30.0, 55.0) + u(seed, 19, 150.0, 200.0)
        x = tf.cond(u(seed, 20, 0, 1) < 0.2, lambda: tf.clip_by_value(xs, 0, 255), lambda: x)
        # --- optics: blur (sigma 0.3-1.8 px at the 224 scale), vignette
        sig = u(seed, 21, 0.3, 1.8) * S / 224.0
        x = tf.cond(u(seed, 22, 0, 1) < 0.35, lambda: blur(x, sig), lambda: x)
        vs = u(seed, 23, 0.2, 0.6)
        x = tf.cond(u(seed, 24, 0, 1) < 0.3, lambda: x * (1.0 - vs * r2), lambda: x)
        # noise
        x = x + tf.random.stateless_normal(tf.shape(x), seed=seed + [0, 25]) * u(seed, 26, 0.0, 4.0)
        x = tf.clip_by_value(x, 0, 255)
        # --- JPEG (quality 40-95), p=0.5
        x = tf.cond(u(seed, 28, 0, 1) < 0.5,
                    lambda: tf.cast(tf.image.stateless_random_jpeg_quality(
                        tf.cast(tf.round(x), tf.uint8), 40, 95, seed=seed + [0, 27]), tf.float32),
                    lambda: tf.round(x))
        # --- canonical tail: triangle resize, masks, normalisation
        if out_size != S:
            x = tf.image.resize(x, [out_size, out_size], method="bilinear", antialias=True)
            x = tf.clip_by_value(tf.round(x), 0, 255)
        x = x * mask_m + mask_fill
        x.set_shape([out_size, out_size, 3])
        return (x - mean) / std

    return aug


def _standardise_layer():
    import keras

    class ChannelStandardise(keras.layers.Layer):
        """Per-image, per-channel standardisation inside the graph: (x - mean) / (std + eps)
        over the spatial axes. Removes each image's stain colour / brightness offsets, so
        the network cannot use them as a shortcut (colour-normalised inputs map to nearly
        the same tensor)."""

        def call(self, x):
            ops = keras.ops
            mu = ops.mean(x, axis=[1, 2], keepdims=True)
            d = x - mu
            var = ops.mean(d * d, axis=[1, 2], keepdims=True)
            return d * ops.rsqrt(var + 1e-3)

    return ChannelStandardise(name="channel_standardise")


WEIGHTS_DIR = REPO / ".." / "shared" / "weights"
PRETRAINED = {1.0: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
              0.35: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"}


def pretrained_weights(alpha: float) -> str:
    """ImageNet MobileNetV2 backbone weights (../shared/weights, README there)."""
    d = Path(os.environ.get("HEMALENS_WEIGHTS") or WEIGHTS_DIR)
    p = d / PRETRAINED[alpha]
    if not p.is_file():
        sys.exit(f"error: pretrained weights not found: {p} (set HEMALENS_WEIGHTS)")
    return str(p)


def build_mobilenet(kind: str, alpha: float, size: int, n_classes: int, bn_momentum: float = 0.99,
                    dropout: float = 0.2, seed: int = 0, standardise: bool = False, pretrained: bool = False):
    import keras
    if standardise:
        inp = keras.Input((size, size, 3))
        body = build_mobilenet(kind, alpha, size, n_classes, bn_momentum, dropout, seed, False, pretrained)
        return keras.Model(inp, body(_standardise_layer()(inp)))
    if kind == "v2":
        base = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, include_top=False,
                                              weights=pretrained_weights(alpha) if pretrained else None,
                                              pooling="avg")
    elif kind == "v3s_min":
        base = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), alpha=alpha,
                                                   minimalistic=True, include_top=False, weights=None,
                                                   pooling="avg", include_preprocessing=False)
    else:
        raise ValueError(kind)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    x = base.output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout, seed=seed)(x)
    out = keras.layers.Dense(n_classes, name="logits")(x)  # logits, no softmax
    return keras.Model(base.input, out)


# The feature map whose channel statistics are a screen's style output
# (docs/layer-familiarity.md): after MobileNetV2's sixth block, 28 x 28 at 224 px.
STYLE_LAYER = "block_5_add"


def with_embedding(model, style_layer: str | None = None):
    """The trained model with a second output: the pooled features that feed the
    logits layer (the pack's embedding, for the familiarity score); with
    `style_layer`, a third: that layer's feature map (export_tflite reduces it
    to the style statistics)."""
    import keras
    body = model.layers[-1] if isinstance(model.layers[-1], keras.Model) else None
    src = model if body is None else body
    feats = [src.get_layer("logits").input] + ([src.get_layer(style_layer).output] if style_layer else [])
    if body is None:
        return keras.Model(model.input, [model.output, *feats])
    body_feat = keras.Model(body.input, feats)
    x = model.layers[-2].output  # the standardisation layer
    f = body_feat(x)
    return keras.Model(model.input, [body(x), *(f if isinstance(f, (list, tuple)) else [f])])


def export_tflite(model, size: int, rep_float: np.ndarray, out_int8: Path, out_float: Path | None,
                  embedding: bool = False, rounding: str = "nearest", style_layer: str | None = None):
    """Fixed batch 1 [1,size,size,3]; int8 in / int8 out full-integer quantisation with a
    representative set of real (canonically preprocessed) training images, the weights
    rounded as `rounding` says (`quantise_float`). With `embedding`, a second output
    (index 1) holds the pooled features; with `style_layer` too, a third (index 2) that
    layer's style statistics: each channel's mean over the feature map, then each
    channel's mean absolute deviation from it (int8-friendly: no square root)."""
    import tensorflow as tf
    net = with_embedding(model, style_layer) if embedding else model

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="input")])
    def serve(x):
        y = net(x, training=False)
        if not embedding:
            return y
        out = {"a_logits": y[0], "b_embedding": y[1]}
        if style_layer:
            mu = tf.reduce_mean(y[2], axis=[1, 2], keepdims=True)
            mad = tf.reduce_mean(tf.abs(y[2] - mu), axis=[1, 2])
            out["c_style"] = tf.concat([tf.squeeze(mu, [1, 2]), mad], 1)
        return out

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    float_bytes = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    if out_float is not None:
        Path(out_float).write_bytes(float_bytes)
    Path(out_int8).write_bytes(quantise_float(float_bytes, rep_float, rounding))


ROUNDING = ("adaptive", "nearest")


def quantise_float(float_bytes: bytes, rep_float: np.ndarray, rounding: str = "nearest") -> bytes:
    """The int8 model of a float32 export by TensorFlow's converter's own int8 path
    (calibration on the representative images, MLIR quantiser, per-channel weights).
    `rounding`: "nearest" leaves the weights to the converter (round to nearest);
    "adaptive" first rounds each up or down, whichever loses less on the representative
    images (scripts/round_weights.py, docs/model-pack.md)."""
    import round_weights
    if rounding == "nearest":
        return round_weights.quantise(float_bytes, rep_float)
    assert rounding == "adaptive", rounding
    adapted, report = round_weights.adapt(float_bytes, rep_float)
    worst = max(report, key=lambda r: r["error_nearest"])
    print(f"adaptive rounding: {len(report)} layers; the worst by nearest rounding, {worst['layer']}: "
          f"{worst['error_nearest']:.4g} -> {worst['error_adapted']:.4g}", flush=True)
    return round_weights.quantise(adapted, rep_float)


def logits_output(it):
    """The logits output of a pack's interpreter: the first output, whose last
    dimension is the label count (a second output, if any, is the embedding)."""
    outs = it.get_output_details()
    return min(outs, key=lambda o: (int(o["shape"][-1]), o["index"]))


def embedding_output(it):
    outs = it.get_output_details()
    return max(outs, key=lambda o: int(o["shape"][-1])) if len(outs) > 1 else None


def style_output(it):
    """The style statistics output (the third, in the model's order), if any."""
    outs = it.get_output_details()
    return outs[2] if len(outs) > 2 else None


def tflite_io(path: str | Path):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i = it.get_input_details()[0]
    o = logits_output(it)
    return it, i, o


def run_tflite(path, batch_uint8_or_float, kind="int8", mean=NORM_MEAN, std=NORM_STD):
    """Run a batch through a .tflite (batch-1 loop). Input uint8 HxWx3 images after
    preprocess_uint8. Returns float64 logits [N, C] (dequantised for int8)."""
    it, i, o = tflite_io(path)
    out = []
    for a in batch_uint8_or_float:
        f = normalize(a, mean, std)[None]
        if i["dtype"] == np.int8:
            s, zp = i["quantization"]
            x = quantize(f, s, zp)
        else:
            x = f
        it.set_tensor(i["index"], x)
        it.invoke()
        y = it.get_tensor(o["index"])[0]
        if o["dtype"] == np.int8:
            s, zp = o["quantization"]
            y = dequantize(y, s, zp)
        out.append(np.asarray(y, np.float64))
    return np.stack(out)


# ----------------------------------------------------------------------------
# Architecture measurement (width / input size chosen by measurement)
# ----------------------------------------------------------------------------
CANDIDATES = [("v2", 0.35, 96), ("v2", 0.35, 128), ("v2", 0.5, 128), ("v2", 0.35, 160),
              ("v2", 0.5, 160), ("v3s_min", 1.0, 128)]


def measure_candidates(n_classes: int, n_train: int, batch: int = 32, steps: int = 8,
                       candidates=CANDIDATES, aug_out=None) -> list[dict]:
    """Time one training step (forward + backward, batch 32) of each candidate on this
    machine's CPU, plus the augmentation pipeline, and count parameters."""
    import time
    import keras
    import tensorflow as tf
    rows = []
    for kind, alpha, size in candidates:
        keras.backend.clear_session()
        m = build_mobilenet(kind, alpha, size, n_classes)
        m.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype(np.float32)
        y = np.eye(n_classes, dtype=np.float32)[np.arange(batch) % n_classes]
        m.train_on_batch(x, y)
        m.train_on_batch(x, y)
        t = time.time()
        for _ in range(steps):
            m.train_on_batch(x, y)
        dt = (time.time() - t) / steps
        # augmentation cost per batch at this size
        aug = make_tf_augment(size, [])
        imgs = tf.constant(np.random.default_rng(0).integers(0, 255, (batch, CACHE_SIZE, CACHE_SIZE, 3), dtype=np.uint8))
        ds = tf.data.Dataset.from_tensor_slices((imgs, tf.constant(np.arange(batch * 2, dtype=np.int64).reshape(batch, 2))))
        ds = ds.map(aug, num_parallel_calls=2).batch(batch)
        for _ in ds:
            pass
        t = time.time()
        for _ in ds:
            pass
        da = time.time() - t
        p = int(m.count_params())
        rows.append({"arch": kind, "alpha": alpha, "input": size, "params": p,
                     "train_step_s": round(dt, 3), "aug_batch_s": round(da, 3),
                     "epoch_s_est": round((n_train / batch) * (dt + da), 1),
                     "int8_size_mb_est": round(p * 1.1 / 1e6 + 0.1, 2)})
        print(rows[-1], flush=True)
    return rows


# ----------------------------------------------------------------------------
# Training loop shared by train_all_screen.py and train_wbc_type.py
# ----------------------------------------------------------------------------
TRAIN_PACKAGES = ["tensorflow-cpu", "keras", "numpy", "pillow", "scikit-learn", "ai-edge-litert",
                  "matplotlib"]


def set_seeds(seed: int):
    import random
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    keras.utils.set_random_seed(seed)


def representative_rows(rows: list[dict], labels: list[str], n: int = 256) -> list[dict]:
    """Evenly spaced real training images, balanced over classes."""
    out = []
    per = max(1, n // len(labels))
    for lab in labels:
        rr = [r for r in rows if r["label"] == lab]
        idx = np.linspace(0, len(rr) - 1, min(per, len(rr))).round().astype(int)
        out += [rr[i] for i in idx]
    return out


def train_pack(pack_id: str, fit_rows: list[dict], tune_rows: list[dict], *, arch: str, alpha: float,
               size: int, epochs: int, batch: int, lr: float, max_minutes: float, seed: int,
               cache_dir: str, source_masks: list[dict], data_desc: list[str], rbc_px: float,
               cell_px, extra: dict, out_dir: Path, label_smoothing: float = 0.05,
               warmup_epochs: int = 3, weight_decay: float = 5e-5, standardise: bool = False,
               aug_strength: float = 1.0, resume: bool = False, pretrained: bool = False, rounding: str = "nearest",
               version: str = "1.0.0"):
    """resume=True: a second stage (warm restart) from the best weights of the previous run
    (<cache_dir>/<id>-best.weights.h5 and <out_dir>/training_history.json); the history,
    epoch numbering and kept-best selection continue across stages."""
    import time
    set_seeds(seed)
    import keras
    import tensorflow as tf
    spec = PACKS[pack_id]
    labels = spec["labels"]
    masks = spec["masks"]
    n_cls = len(labels)
    t0 = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    commit = git_commit()
    trained_at = __import__("datetime").datetime.now(__import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    print(f"[{pack_id}] caching {len(fit_rows)} fit images ...", flush=True)
    fit_arr = build_cache(fit_rows, os.path.join(cache_dir, f"{pack_id}-fit"), CACHE_SIZE, source_masks)
    fit_y = np.array([labels.index(r["label"]) for r in fit_rows], np.int64)
    tune_x = preprocessed_float(tune_rows, size, size, masks)
    tune_y = np.array([labels.index(r["label"]) for r in tune_rows], np.int64)
    print(f"[{pack_id}] cache ready in {time.time() - t0:.0f}s", flush=True)

    counts = np.bincount(fit_y, minlength=n_cls)
    cw = {i: float(len(fit_y) / (n_cls * counts[i])) for i in range(n_cls)}
    aug = make_tf_augment(size, masks, strength=aug_strength)
    n = len(fit_y)
    steps = n // batch
    ds = tf.data.Dataset.from_tensor_slices((fit_arr, fit_y))
    prev = json.loads((out_dir / "training_history.json").read_text()) if resume else None
    off = prev["epochs_run"] if prev else 0
    ds = ds.shuffle(n, seed=seed + off, reshuffle_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed + off).batch(2)))
    ds = ds.map(lambda xy, s: (aug(xy[0], s), tf.one_hot(xy[1], n_cls)),
                num_parallel_calls=2, deterministic=True)
    ds = ds.batch(batch, drop_remainder=True).prefetch(2)

    model = build_mobilenet(arch, alpha, size, n_cls, seed=seed, standardise=standardise, pretrained=pretrained)
    if prev:
        model.load_weights(os.path.join(cache_dir, f"{pack_id}-best.weights.h5"))
    sched = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps * max(1, epochs - warmup_epochs),
                                                   warmup_target=lr, warmup_steps=steps * warmup_epochs,
                                                   alpha=0.01)
    model.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=weight_decay),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
                  metrics=["accuracy"])
    history = list(prev["history"]) if prev else []
    best = {"acc": -1, "nll": 1e9, "epoch": -1, "weights": None}
    if prev:
        hb = [r for r in prev["history"] if r["epoch"] == prev["best_epoch"]][0]
        best.update(acc=hb["tune_acc"], nll=hb["tune_loss"], epoch=prev["best_epoch"], weights=model.get_weights())
    t_prev = prev["train_seconds"] if prev else 0.0
    t_train = time.time()

    class Track(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logits = self.model.predict(tune_x, batch_size=64, verbose=0)
            pred = logits.argmax(1)
            acc = float((pred == tune_y).mean())
            l = nll(logits, tune_y, 1.0)
            rec = {"epoch": epoch + 1 + off, "stage": len(prev.get("stages", [1])) + 1 if prev else 1,
                   "train_loss": float(logs["loss"]), "train_acc": float(logs["accuracy"]),
                   "tune_loss": l, "tune_acc": acc,
                   "elapsed_s": round(t_prev + time.time() - t_train, 1)}
            history.append(rec)
            print(f"[{pack_id}] {rec}", flush=True)
            if acc > best["acc"] or (acc == best["acc"] and l < best["nll"]):
                best.update(acc=acc, nll=l, epoch=epoch + 1 + off, weights=self.model.get_weights())
            if time.time() - t_train > max_minutes * 60:
                print(f"[{pack_id}] time budget reached, stopping", flush=True)
                self.model.stop_training = True

    model.fit(ds, epochs=epochs, class_weight=cw, callbacks=[Track()], verbose=2)
    train_s = t_prev + time.time() - t_train
    model.set_weights(best["weights"])
    model.save_weights(os.path.join(cache_dir, f"{pack_id}-best.weights.h5"))  # safety copy, outside the repo
    print(f"[{pack_id}] best epoch {best['epoch']} tune acc {best['acc']:.4f}; exporting", flush=True)

    rep_rows = representative_rows(fit_rows, labels)
    rep = preprocessed_float(rep_rows, size, size, masks)
    export_tflite(model, size, rep, out_dir / "model.tflite", out_dir / "model_float.tflite", rounding=rounding)
    _, i, o = tflite_io(out_dir / "model.tflite")
    assert list(i["shape"]) == [1, size, size, 3] and i["dtype"] == np.int8 and o["dtype"] == np.int8, (i, o)
    total_s = time.time() - t0 + (prev["total_seconds"] if prev else 0.0)
    stage = {"epochs_planned": epochs, "lr": lr, "warmup_epochs": warmup_epochs,
             "epochs_run": len(history) - off, "train_seconds": round(train_s - t_prev, 1)}
    stages = (prev.get("stages") or [{"epochs_planned": prev["epochs_planned"], "lr": prev["lr"],
                                      "warmup_epochs": 3, "epochs_run": prev["epochs_run"],
                                      "train_seconds": prev["train_seconds"]}]) + [stage] if prev else [stage]

    hist = {"pack": pack_id, "arch": arch, "alpha": alpha, "input": size, "epochs_planned": sum(x["epochs_planned"] for x in stages),
            "stages": stages, "epochs_run": len(history), "best_epoch": best["epoch"], "batch": batch, "lr": prev["lr"] if prev else lr,
            "weight_decay": weight_decay, "label_smoothing": label_smoothing, "bn_momentum": 0.99,
            "standardise": standardise, "aug_strength": aug_strength,
            "pretrained": "ImageNet MobileNetV2 (../shared/weights)" if pretrained else None,
            "seed": seed, "class_weight": cw, "n_fit": len(fit_rows), "n_tune": len(tune_rows),
            "n_representative": len(rep_rows), "weight_rounding": rounding, "train_seconds": round(train_s, 1),
            "total_seconds": round(total_s, 1), "cpu_count": os.cpu_count(), "history": history,
            "commit": commit, "trained_at": trained_at}
    hist.update(extra)
    write_json(out_dir / "training_history.json", hist)

    manifest = {
        "schema": 1,
        "id": pack_id,
        "version": version,
        "task": spec["task"],
        "description": spec["description"],
        "labels": labels,
        "model_file": "model.tflite",
        "sha256": sha256_file(out_dir / "model.tflite"),
        "input": {
            "width": size, "height": size, "channels": 3, "batch": 1, "color_order": "rgb",
            "dtype": "int8", "resize": "triangle",
            "normalization": {"mean": NORM_MEAN, "std": NORM_STD},
            "quantization": {"scale": float(i["quantization"][0]), "zero_point": int(i["quantization"][1])},
            "masks": masks,
            "rbc_diameter_px": round(float(rbc_px), 2),
            "cell_diameter_px": cell_px,
        },
        "output": {"dtype": "int8", "kind": "logits",
                   "quantization": {"scale": float(o["quantization"][0]), "zero_point": int(o["quantization"][1])}},
        "calibration": {"temperature": 1.0},
        "thresholds": {},
        "provenance": {"data": data_desc, "script": spec["script"], "commit": commit,
                       "trained_at": trained_at, "packages": package_versions(TRAIN_PACKAGES)},
        "metrics": {},
    }
    write_json(out_dir / "manifest.json", manifest)
    print(f"[{pack_id}] done in {total_s / 60:.1f} min", flush=True)
    return manifest


def choice_reason(meas_file: Path, arch: str, alpha: float, size: int, max_minutes: float,
                  rbc_px_at_input) -> str:
    """Explain the chosen candidate from the measured table (written into training_history.json)."""
    if not Path(meas_file).is_file():
        return ""
    meas = json.loads(Path(meas_file).read_text())["candidates"]
    sel = [c for c in meas if c["arch"] == arch and c["alpha"] == alpha and c["input"] == size]
    if not sel:
        return ""
    s = sel[0]
    n_ep = int(max_minutes * 60 // s["epoch_s_est"])
    others = [c for c in meas if c is not s and c["epoch_s_est"] > s["epoch_s_est"]]
    txt = (f"Measured {s['epoch_s_est']} s per epoch, i.e. about {n_ep} epochs in the {max_minutes:.0f}-min "
           f"budget (from-scratch MobileNetV2 sits at chance for ~8 epochs before it learns, so a few tens "
           f"of epochs were wanted). ")
    if others:
        txt += ("Wider or larger candidates measured " + ", ".join(
            f"{c['arch']} {c['alpha']}@{c['input']}: {c['epoch_s_est']} s" for c in others) +
            " per epoch, leaving too few epochs. ")
    txt += (f"At {size} px a red cell is {rbc_px_at_input:.1f} px across; a smaller input (96 px) would shrink it "
            f"by another quarter for little time saved, because the augmentation, not the network, dominates "
            f"the step time. MobileNetV3-Small (minimalistic) was not faster per epoch for the same reason, "
            f"and the from-scratch recipe (batch-norm momentum 0.99) was validated on MobileNetV2.")
    return txt


# The int8 weights' rounding each shipped pack was exported with (docs/model-pack.md): all-screen's
# adaptive export let the README's drawn sample pass its familiarity line, so it keeps nearest.
SHIPPED_ROUNDING = {"wbc-type": "adaptive", "all-screen": "nearest"}


def training_arg_parser(description: str, pack: str, epochs: int) -> argparse.ArgumentParser:
    """The command line both training scripts share (train_all_screen.py, train_wbc_type.py)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=default_data_dir(),
                    help="shared data folder (default: $HEMALENS_DATA or ../shared/data)")
    ap.add_argument("--out", default=str(REPO / "models" / pack))
    ap.add_argument("--cache-dir", default="/tmp/hemalens-cache")
    ap.add_argument("--arch", default="v2", choices=["v2", "v3s_min"])
    ap.add_argument("--alpha", type=float, default=0.35)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-minutes", type=float, default=35.0)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--standardise", type=int, default=1,
                    help="1: per-image channel standardisation layer at the start of the graph")
    ap.add_argument("--aug-strength", type=float, default=0.6,
                    help="scales the stain/colour jitter, rotation-independent scale range")
    ap.add_argument("--resume", action="store_true",
                    help="second stage: warm restart from the best weights of the previous run "
                         "(use with a smaller --lr and --warmup 1)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up epochs")
    ap.add_argument("--measure", action="store_true", help="only time the candidate architectures")
    ap.add_argument("--rounding", choices=ROUNDING, default=SHIPPED_ROUNDING[pack],
                    help="int8 weights: the converter's round-to-nearest, or adaptive rounding "
                         "(scripts/round_weights.py); default: what the shipped pack uses "
                         f"({SHIPPED_ROUNDING[pack]}; docs/model-pack.md)")
    ap.add_argument("--pretrained", type=int, default=1,
                    help="1: start from the ImageNet MobileNetV2 weights in ../shared/weights")
    ap.add_argument("--leave-out", default=None, metavar="SOURCE",
                    help="leave-one-source-out run: train without SOURCE (written to --out, "
                         "scored on SOURCE by evaluate_domains.py)")
    ap.add_argument("--work", default="/tmp/hemalens-domains",
                    help="where the pipeline's dumped windows and simulated photos are kept")
    return ap
