#!/usr/bin/env python3
"""Builds simulated smartphone photos through a microscope eyepiece from real
fields in ../shared/data, carrying the ground truth along.

Each photo: several real fields mosaicked at phone scale (red cells ~`--rbc`
px across) into a 12 MP frame (4000x3000), a round aperture with a dark
surround, off-centre, vignetting, a rotation of the mosaic, a lamp colour
cast, mild blur, JPEG quality 85, and for some photos the pixels stored
rotated with an EXIF orientation tag (the truth is in displayed coordinates).
aria_all fields go in without the rows of their burnt-in camera scale bar,
which is not on the slide and so never in an eyepiece photo.

truth.json lists, per photo: file, source, class, fov {cx, cy, r}, wbc boxes
[x, y, w, h] (centres rotated with the mosaic; each box the bounding box of
its inscribed ellipse rotated), exif orientation, and the spoiling applied (if any).

Usage:
  simulate_eyepiece.py --source bccd --split val --n 20 --out DIR
  simulate_eyepiece.py --source aria --split val --n 10 --per-class --out DIR
  simulate_eyepiece.py --source bccd --spoil --n 5 --out DIR   (spoiled photos for the gate)
  simulate_eyepiece.py --source aria --per-class --n 3 --sweep 3 --out DIR   (graded blur/dark/glare)
"""
import argparse
import csv
import io
import json
import math
import os
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

import hemalens_data as hd

ROOT = Path(__file__).resolve().parents[1]
W, H = 4000, 3000


def data_dir(arg):
    d = Path(arg or os.environ.get("HEMALENS_DATA", ROOT.parent / "shared" / "data"))
    if not (d / "README.md").exists():
        raise SystemExit(f"shared data not found at {d}: pass --data or set HEMALENS_DATA")
    return d


def load_bccd(data, split):
    boxes = defaultdict(list)
    for r in csv.DictReader(open(data / "bccd_fields" / "boxes.csv")):
        if r["class"] == "WBC":
            boxes[r["path"]].append([int(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")])
    rows = [r for r in csv.DictReader(open(data / "bccd_fields" / "labels.csv")) if split in (None, r["split"])]
    # Each box carries its field's white-cell type (bccd labels fields, not cells:
    # one type per field, or "multiple:a+b" / "unlabeled").
    return [(data / "bccd_fields" / r["path"], [b + [r["label"]] for b in boxes[r["path"]]], "bccd")
            for r in rows], 105.0


def load_aria(data, split):
    rows = [r for r in csv.DictReader(open(data / "aria_all" / "labels.csv")) if split in (None, r["split"])]
    by = defaultdict(list)
    for r in rows:
        by[r["label"]].append((data / "aria_all" / r["path"], [], r["label"]))
    return by, 20.0


def field_crop(im, source):
    """The part of a source field that the slide itself shows. aria_all's camera
    burns a scale bar into the corner the all-screen pack masks (hd.ARIA_MASK);
    it is not on the slide, so a photo through the eyepiece never shows it: only
    the rows above it go into the mosaic (whole, the bars would land mid-tile
    wherever the seams fall, where no pack can mask them)."""
    if source == "aria":
        return im.crop((0, 0, im.width, hd.mask_pixels(hd.ARIA_MASK, im.width, im.height)[1]))
    return im


def mosaic(fields, src_rbc, rbc, rng, cx, cy, r, source):
    """Fills the aperture's bounding square with fields scaled so red cells are `rbc` px."""
    k = rbc / src_rbc
    canvas = Image.new("RGB", (W, H), (230, 225, 225))
    boxes = []
    im0 = field_crop(Image.open(fields[0][0]), source)
    fw, fh = int(im0.width * k), int(im0.height * k)
    x0, y0 = int(cx - r) - rng.randint(0, fw // 2), int(cy - r) - rng.randint(0, fh // 2)
    i = 0
    y = y0
    while y < cy + r:
        x = x0
        while x < cx + r:
            path, bxs, _ = fields[i % len(fields)]
            i += 1
            im = field_crop(Image.open(path).convert("RGB"), source).resize((fw, fh), Image.BICUBIC)
            canvas.paste(im, (x, y))
            for b in bxs:
                boxes.append([x + b[0] * k, y + b[1] * k, x + b[2] * k, y + b[3] * k, *b[4:]])
            x += fw
        y += fh
    return canvas, boxes, i


def rotate(canvas, boxes, angle, cx, cy):
    canvas = canvas.rotate(angle, resample=Image.BILINEAR, center=(cx, cy), fillcolor=(230, 225, 225))
    a = math.radians(-angle)  # PIL rotates counter-clockwise for positive angles (y down)
    out = []
    for b in boxes:
        bx, by = (b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy
        nx = cx + bx * math.cos(a) - by * math.sin(a)
        ny = cy + bx * math.sin(a) + by * math.cos(a)
        # A cell is (close to) the ellipse inscribed in its box: its rotated
        # bounding box is the rotated ellipse's, not the rotated rectangle's.
        ea, eb = (b[2] - b[0]) / 2, (b[3] - b[1]) / 2
        hw = math.sqrt((ea * math.cos(a)) ** 2 + (eb * math.sin(a)) ** 2)
        hh = math.sqrt((ea * math.sin(a)) ** 2 + (eb * math.cos(a)) ** 2)
        out.append([nx - hw, ny - hh, nx + hw, ny + hh, *b[4:]])
    return canvas, out


def eyepiece(canvas, cx, cy, r, rng, cast, blur):
    a = np.asarray(canvas).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / r
    vign = 1.0 - 0.35 * np.clip(d, 0, 1) ** 2
    a *= vign[..., None] * np.array(cast, np.float32)
    edge = np.clip((1.0 - d) * r / 6.0, 0, 1)  # soft 6 px rim
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 2, (H, W, 1)).astype(np.float32)
    dark = np.array([6, 5, 5], np.float32) + noise
    a = a * edge[..., None] + dark * (1 - edge[..., None])
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if blur > 0:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    return im


EXIF_TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def save(im, path, orientation):
    """Stores the displayed image `im`; with orientation o, stores pixels such that
    applying the EXIF orientation gives `im` back."""
    if orientation == 1:
        im.save(path, quality=85)
        return
    stored = im.transpose(EXIF_TRANSPOSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, quality=85, exif=exif.tobytes())


# The spoiled photos the gate must reject, and the graded ones that show where
# it should draw the line (`--sweep`): blur sigma in photo pixels (red cells are
# ~`--rbc` px across), exposure as a factor on the pixel values.
SPOIL = {"blurred": 9.0, "dark": 0.12, "burnt_out": 3.5}
SWEEP = {"blurred": [2.0, 4.0, 6.0, 9.0, 14.0], "dark": [0.6, 0.4, 0.3, 0.2, 0.12],
         "burnt_out": [1.3, 1.6, 2.0, 2.5, 3.5]}


def spoil(im, kind, level=None):
    v = SPOIL[kind] if level is None else level
    if kind == "blurred":
        return im.filter(ImageFilter.GaussianBlur(v))
    if kind in ("dark", "burnt_out"):
        return Image.fromarray(np.clip(np.asarray(im).astype(np.float32) * v, 0, 255).astype(np.uint8))
    raise ValueError(kind)


def not_smear(kind, rng):
    if kind == "black":
        return Image.new("RGB", (W, H), (3, 3, 3))
    if kind == "white":
        return Image.new("RGB", (W, H), (252, 252, 252))
    if kind == "empty":  # the aperture with no slide: bright, no cells
        im = Image.new("RGB", (W, H), (232, 226, 220))
        return eyepiece(im, W / 2, H / 2, 1300, random.Random(int(rng.integers(1 << 30))), (1, 1, 1), 1.0)
    if kind == "screenshot":
        im = Image.new("RGB", (W, H), (250, 250, 250))
        d = ImageDraw.Draw(im)
        for i in range(40):
            d.rectangle([100, 100 + i * 70, 3900, 140 + i * 70], fill=(30, 30, 30) if i % 3 else (20, 90, 200))
        d.rectangle([0, 0, W, 80], fill=(60, 120, 60))
        return im
    if kind == "face":  # skin-toned shapes under an eyepiece-free frame
        im = Image.new("RGB", (W, H), (90, 110, 80))
        d = ImageDraw.Draw(im)
        d.ellipse([1300, 500, 2700, 2600], fill=(224, 172, 140))
        d.ellipse([1650, 1200, 1850, 1350], fill=(60, 40, 30))
        d.ellipse([2150, 1200, 2350, 1350], fill=(60, 40, 30))
        d.rectangle([1750, 1900, 2250, 2000], fill=(170, 80, 80))
        return im.filter(ImageFilter.GaussianBlur(3))
    raise ValueError(kind)


def build(fields, src_rbc, rng, rbc, label, source, cast_range=0.1):
    cx = W / 2 + rng.uniform(-0.08, 0.08) * W
    cy = H / 2 + rng.uniform(-0.08, 0.08) * H
    r = rng.uniform(0.40, 0.47) * H
    canvas, boxes, used = mosaic(fields, src_rbc, rbc, rng, cx, cy, r, source)
    angle = rng.uniform(0, 360)
    canvas, boxes = rotate(canvas, boxes, angle, cx, cy)
    cast = [rng.uniform(1 - cast_range, 1 + cast_range) for _ in range(3)]
    im = eyepiece(canvas, cx, cy, r, rng, cast, rng.uniform(0.8, 1.5))
    # Every white cell whose centre lies in the aperture; how far out is in
    # wbc_rel_r (evaluations decide which count: hemalens counts those within 0.9 r).
    rel = [math.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy) / r for b in boxes]
    keep = [b for b, q in zip(boxes, rel) if q < 1.0]
    truth = {
        "source": source,
        "class": label,
        "fov": {"cx": cx, "cy": cy, "r": r},
        "wbc": [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in keep],
        "wbc_rel_r": [round(q, 4) for q in rel if q < 1.0],
        "wbc_type": [b[4] if len(b) > 4 else None for b in keep],
        "rotation_deg": angle,
        "cast": cast,
        "fields": used,
    }
    return im, truth


def demo(data, field, out, seed, across=None):
    """One eyepiece photo (1600x1200) of ONE bccd_fields field, for the README's
    demo, the one image from ../shared/data the project may commit.

    Without `across`: the aperture lies inside the field, which is scaled 2x (no
    mosaic, no repeats): about 6 red cells across the aperture, where a 100x
    objective shows 24-28 (the simulator's photos).
    With `across` (red cells across the aperture): the field tiled with its own
    mirror images (each copy flipped against its neighbours, so the smear runs on
    across every seam), turned, and scaled to that many red cells across, as
    through a real eyepiece; its one white cell recurs, mirrored."""
    global W, H
    W, H = 1600, 1200
    rows = {r["path"]: r for r in csv.DictReader(open(data / "bccd_fields" / "labels.csv"))}
    if field not in rows or rows[field]["split"] != "train":
        raise SystemExit(f"{field}: not a bccd_fields train field")
    rng = random.Random(seed)
    im = Image.open(data / "bccd_fields" / field).convert("RGB")
    if across is None:
        k = 2.0
        fw, fh = int(im.width * k), int(im.height * k)
        canvas = Image.new("RGB", (W, H), (230, 225, 225))
        canvas.paste(im.resize((fw, fh), Image.BICUBIC), ((W - fw) // 2, (H - fh) // 2))
        cx, cy, r = W / 2, H / 2, 0.47 * fh / 2 * 2 * 0.98
    else:
        cx, cy, r = W / 2, H / 2, 0.45 * H
        k = 2 * r / across / load_bccd(data, "train")[1]
        fw, fh = max(1, int(im.width * k)), max(1, int(im.height * k))
        f = im.resize((fw, fh), Image.BICUBIC)
        side = int(math.hypot(W, H)) + 2 * max(fw, fh)
        big = Image.new("RGB", (side, side))
        for j in range(side // fh + 1):
            for i in range(side // fw + 1):
                t = f.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else f
                big.paste(t.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if j % 2 else t, (i * fw, j * fh))
        big = big.rotate(rng.uniform(0, 360), resample=Image.BILINEAR)
        x0, y0 = (side - W) // 2, (side - H) // 2
        canvas = big.crop((x0, y0, x0 + W, y0 + H))
    photo = eyepiece(canvas, cx, cy, r, rng, [1.03, 1.0, 0.95], 1.0)
    photo.save(out, quality=88)
    print(f"wrote {out} from {field} ({rows[field]['label']})")


def main():
    if "--demo" in os.sys.argv:
        dp = argparse.ArgumentParser(description="one eyepiece photo of one bccd train field")
        dp.add_argument("--demo", required=True, metavar="FIELD", help="path inside bccd_fields, e.g. images/BloodImage_00001.jpg")
        dp.add_argument("--data")
        dp.add_argument("--seed", type=int, default=1)
        dp.add_argument("--across", type=float, default=None,
                        help="red cells across the aperture: the field mirror-tiled to a real view's scale")
        dp.add_argument("--out", required=True)
        d = dp.parse_args()
        return demo(data_dir(d.data), d.demo, d.out, d.seed, d.across)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--source", choices=["bccd", "aria"], required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--n", type=int, default=10, help="photos (per class with --per-class)")
    ap.add_argument("--per-class", action="store_true")
    ap.add_argument("--rbc", type=float, default=100.0, help="red-cell diameter in the 12 MP photo")
    ap.add_argument("--spoil", action="store_true", help="also write spoiled and non-smear photos")
    ap.add_argument("--sweep", type=int, default=0, metavar="K",
                    help="also write the first K photos at every graded level of blur, darkness and glare")
    ap.add_argument("--cast", type=float, default=0.1,
                    help="white-balance error: each channel's gain drawn from 1 +- CAST")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    data = data_dir(a.data)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    nrng = np.random.default_rng(a.seed)
    truths = []
    jobs = []
    if a.source == "bccd":
        fields, src = load_bccd(data, a.split)
        for i in range(a.n):
            jobs.append((rng.sample(fields, len(fields)), src, None))
    else:
        by, src = load_aria(data, a.split)
        for label in sorted(by):
            pool = sorted(by[label])
            for i in range(a.n):
                # Contiguous runs of one class's held-out block, as neighbouring frames of one slide.
                start = rng.randrange(len(pool))
                jobs.append((pool[start:] + pool[:start], src, label))
    for i, (fields, src, label) in enumerate(jobs):
        im, t = build(fields, src, rng, a.rbc, label, a.source, a.cast)
        o = rng.choice([1, 1, 6, 8, 3])
        name = f"{a.source}_{i:03d}.jpg"
        save(im, out / name, o)
        t.update(file=name, exif_orientation=o, spoiled=None)
        truths.append(t)
        if a.spoil and i < 3:
            for kind in ("blurred", "dark", "burnt_out"):
                sname = f"{a.source}_{i:03d}_{kind}.jpg"
                save(spoil(im, kind), out / sname, 1)
                truths.append(dict(t, file=sname, exif_orientation=1, spoiled=kind))
        if i < a.sweep:
            for kind, levels in SWEEP.items():
                for lv in levels:
                    sname = f"{a.source}_{i:03d}_{kind}_{lv:g}.jpg"
                    save(spoil(im, kind, lv), out / sname, 1)
                    truths.append(dict(t, file=sname, exif_orientation=1, spoiled=None, graded=[kind, lv]))
    if a.spoil:
        for kind in ("black", "white", "empty", "screenshot", "face"):
            name = f"not_smear_{kind}.jpg"
            save(not_smear(kind, nrng), out / name, 1)
            truths.append({"file": name, "source": "synthetic", "class": None, "fov": None, "wbc": [],
                           "exif_orientation": 1, "spoiled": kind})
    (out / "truth.json").write_text(json.dumps(truths, indent=1))
    print(f"wrote {len(truths)} photos to {out}")


if __name__ == "__main__":
    main()
