#!/usr/bin/env python3
"""Does the pipeline refuse what is not a blood smear, and accept the smears it knows?

Generates a set of non-blood pictures (seeded, nothing committed): noise, smooth
gradients, screenshots of text, cartoons and drawn faces, coloured geometric
shapes, fabric-like and cloud-like textures, pictures of a smear turned into
something else (blurred to nothing, colours inverted), drawn smears (the
generator of the README's old cartoon sample, `make_test_images.smear`, with
other seeds, cells and sizes: a textbook drawing, not a photo of a slide;
`drawn_smear`), each as a plain photo
and as seen through a round eyepiece aperture. Each is analysed by the shipped
packs; a picture is caught when the quality gate refuses it for any reason
(`unfamiliar_image` or another code). Then the in-domain side: the share of
held-out fields of each source the packs were trained on that is refused as
`unfamiliar_image` (bccd val, raabin val, aria val, and the simulated eyepiece
photos of bccd val fields).

Writes docs/unfamiliar-evaluation.md and .json.

  .venv-train/bin/python scripts/evaluate_unfamiliar.py [--n 264]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import evaluate_pipeline  # noqa: E402
import hemalens_data as hd  # noqa: E402
import make_test_images  # noqa: E402

KINDS = ["noise", "gradient", "text", "face", "shapes", "texture", "clouds", "smear_blurred", "smear_inverted",
         "checkerboard", "drawn_smear"]
WBC_KINDS = ["neutrophil", "lymphocyte"]  # what make_test_images.smear draws


def eyepiece(img: Image.Image, rng) -> Image.Image:
    """The picture inside a round aperture on black, as through an eyepiece."""
    w, h = img.size
    mask = Image.new("L", (w, h), 0)
    r = min(w, h) * rng.uniform(0.38, 0.48)
    cx, cy = w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2 + rng.uniform(-0.05, 0.05) * h
    ImageDraw.Draw(mask).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(r * 0.03))
    return Image.composite(img, Image.new("RGB", (w, h), (8, 8, 8)), mask)


def make(kind: str, rng, smears: list[Path]) -> Image.Image:
    w, h = int(rng.choice([640, 1024, 1600])), 0
    h = int(w * rng.choice([0.75, 0.5625, 1.0]))
    col = lambda: tuple(int(v) for v in rng.integers(0, 256, 3))  # noqa: E731
    if kind == "noise":
        a = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        return Image.fromarray(a).resize((w, h), Image.BILINEAR)
    if kind == "gradient":
        x = np.linspace(0, 1, w)[None, :, None]
        y = np.linspace(0, 1, h)[:, None, None]
        a, b = np.array(col()), np.array(col())
        img = a * (1 - x) * (1 - y) + b * x * y + np.array(col()) * (x * (1 - y))
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if kind == "text":
        img = Image.new("RGB", (w, h), (250, 250, 250) if rng.random() < 0.7 else (30, 30, 40))
        d = ImageDraw.Draw(img)
        fg = (20, 20, 20) if img.getpixel((0, 0))[0] > 128 else (220, 220, 220)
        for i in range(0, h, 18):
            words = " ".join("".join(chr(97 + int(c)) for c in rng.integers(0, 26, rng.integers(2, 9)))
                             for _ in range(int(rng.integers(3, 14))))
            d.text((10 + int(rng.integers(0, 40)), i), words, fill=fg)
        d.rectangle((0, 0, w, 30), fill=col())
        return img
    if kind == "face":
        img = Image.new("RGB", (w, h), col())
        d = ImageDraw.Draw(img)
        r = min(w, h) * rng.uniform(0.25, 0.4)
        cx, cy = w / 2, h / 2
        d.ellipse((cx - r, cy - r * 1.2, cx + r, cy + r * 1.2), fill=(int(rng.integers(150, 240)),
                                                                     int(rng.integers(110, 200)), 140))
        for sx in (-0.4, 0.4):
            d.ellipse((cx + sx * r - r * 0.12, cy - r * 0.35, cx + sx * r + r * 0.12, cy - r * 0.15), fill=(40, 30, 30))
        d.arc((cx - r * 0.5, cy + r * 0.1, cx + r * 0.5, cy + r * 0.6), 20, 160, fill=(120, 30, 30), width=6)
        return img.filter(ImageFilter.GaussianBlur(1.5))
    if kind == "shapes":
        img = Image.new("RGB", (w, h), col())
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(5, 40))):
            x0, y0 = rng.integers(0, w), rng.integers(0, h)
            s = rng.integers(10, max(11, w // 5))
            box = (int(x0), int(y0), int(x0 + s), int(y0 + s))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=col())
        return img
    if kind == "texture":
        a = rng.normal(0, 1, (h, w))
        a = np.cumsum(a, 1) * 0.1 + np.sin(np.arange(h)[:, None] / rng.uniform(2, 8)) * 2
        a = (a - a.min()) / (np.ptp(a) + 1e-9)
        c1, c2 = np.array(col()), np.array(col())
        return Image.fromarray((c1 * a[..., None] + c2 * (1 - a[..., None])).astype(np.uint8))
    if kind == "clouds":
        base = rng.normal(0, 1, (h // 32 + 2, w // 32 + 2, 3))
        img = Image.fromarray(np.clip(128 + 60 * base, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        return img.filter(ImageFilter.GaussianBlur(4))
    if kind == "drawn_smear":
        # Red cells at bccd's scale, so the pipeline measures a plausible field.
        wbcs = tuple((float(rng.uniform(0.15, 0.85) * w), float(rng.uniform(0.15, 0.85) * h),
                      WBC_KINDS[int(rng.integers(0, len(WBC_KINDS)))]) for _ in range(int(rng.integers(1, 4))))
        return make_test_images.smear(w, h, seed=int(rng.integers(0, 2**31)), wbcs=wbcs)
    if kind == "checkerboard":
        s = int(rng.integers(8, 64))
        yy, xx = np.mgrid[0:h, 0:w]
        m = ((yy // s + xx // s) % 2).astype(bool)[..., None]
        return Image.fromarray(np.where(m, np.array(col()), np.array(col())).astype(np.uint8))
    src = hd.load_rgb(smears[int(rng.integers(0, len(smears)))]).resize((w, h), Image.BILINEAR)
    if kind == "smear_blurred":
        return src.filter(ImageFilter.GaussianBlur(w / 40))
    return ImageOps.invert(src)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--n", type=int, default=264, help="pictures (24 of each kind)")
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--out", default=str(hd.REPO / "docs" / "unfamiliar-evaluation"))
    ap.add_argument("--screen-model", default=None, metavar="DIR",
                    help="a screen pack folder instead of the embedded all-screen (to compare packs)")
    a = ap.parse_args()
    extra = ("--screen-model", a.screen_model) if a.screen_model else ()
    screen_dir = Path(a.screen_model) if a.screen_model else hd.REPO / "models" / "all-screen"
    data, work = Path(a.data), Path(a.work)
    rng = np.random.default_rng(a.seed)
    lab = dd.bccd_labels(data)
    val = sorted(Path(p) for p, r in lab.items() if r["split"] == "val")
    gen = work / "non-blood"
    gen.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(a.n):
        kind = KINDS[i % len(KINDS)]
        img = make(kind, rng, val)
        framed = i % 2 == 1
        if framed:
            img = eyepiece(img, rng)
        p = gen / f"{i:04d}-{kind}{'-eyepiece' if framed else ''}.jpg"
        img.save(p, quality=88)
        items.append((p, kind, framed))
    reps = evaluate_pipeline.analyze(dd.hemalens_bin(), [p for p, _, _ in items], 60, extra)
    by: dict = {}
    codes: Counter = Counter()
    for p, kind, framed in items:
        r = reps.get(str(p), {})
        q = r.get("quality", {})
        caught = "error" in r or not q.get("ok", False)
        first = "error" if "error" in r else ("accepted" if q.get("ok") else q["issues"][0]["code"])
        codes[first] += 1
        b = by.setdefault(kind, {"n": 0, "caught": 0, "by": Counter()})
        b["n"] += 1
        b["caught"] += int(caught)
        b["by"][first] += 1
    total = sum(b["caught"] for b in by.values())
    lo, hi = hd.wilson(total, len(items))
    report = {"non_blood": {"n": len(items), "caught": total, "share": round(total / len(items), 4),
                            "ci": [round(lo, 4), round(hi, 4)], "first_code": dict(codes.most_common()),
                            "by_kind": {k: {"n": v["n"], "caught": v["caught"], "by": dict(v["by"])}
                                        for k, v in by.items()}},
              "in_domain": {}}
    # In-domain held-out fields: refused as unfamiliar_image.
    rr = hd.read_labels(data / "raabin_phone")
    aria_held = [r for r in dd.aria_rows(data) if r["split"] == "held"]
    sets = {"bccd val fields": val,
            "raabin_phone val frames": [Path(r["file"]) for r in rr if r["split"] == "val"],
            "aria_all val fields": [Path(r["file"]) for r in aria_held]}
    sim = work / "sims" / "bccd-val-100"
    truth = dd.simulate(data, sim, "bccd", "val", 40, 100.0, 31, False)
    sets["simulated eyepiece photos of bccd val fields"] = [sim / t["file"] for t in truth]
    has = lambda r, code: any(i["code"] == code for i in r.get("quality", {}).get("issues", []))  # noqa: E731
    got_by: dict = {}
    for name, paths in sets.items():
        reps = evaluate_pipeline.analyze(dd.hemalens_bin(), paths, 100, extra)
        got = got_by[name] = [reps.get(str(p), {}) for p in paths]
        unf = sum(has(r, "unfamiliar_image") for r in got)
        # The gate's other line against what is not a photographed smear
        # (unstained, or drawn: quality::flat_colour): real fields must pass it too.
        nas = sum(has(r, "not_a_smear") for r in got)
        lo, hi = hd.wilson(unf, len(got))
        nlo, nhi = hd.wilson(nas, len(got))
        report["in_domain"][name] = {"n": len(got), "unfamiliar": unf, "share": round(unf / max(1, len(got)), 4),
                                     "ci": [round(lo, 4), round(hi, 4)], "not_a_smear": nas,
                                     "not_a_smear_ci": [round(nlo, 4), round(nhi, 4)]}
        print(name, report["in_domain"][name], flush=True)
    # Which of aria's classes are refused, beside the red-cell diameter the
    # pipeline measured on them (the pack's scale is its overall median).
    by_class: dict = {}
    for row, r in zip(aria_held, got_by["aria_all val fields"]):
        b = by_class.setdefault(row["label"], {"n": 0, "unfamiliar": 0, "rbc_px": []})
        b["n"] += 1
        b["unfamiliar"] += int(has(r, "unfamiliar_image"))
        if (r.get("scale") or {}).get("rbc_diameter_px"):
            b["rbc_px"].append(r["scale"]["rbc_diameter_px"])
    report["aria_by_class"] = {
        k: {"n": v["n"], "unfamiliar": v["unfamiliar"],
            "rbc_px_median": round(float(np.median(v["rbc_px"])), 2) if v["rbc_px"] else None}
        for k, v in sorted(by_class.items())}
    report["aria_rbc_px_pack"] = hd.ARIA_RBC_PX_AT_224
    sm = json.loads((screen_dir / "manifest.json").read_text())
    report["screen_pack"] = f"all-screen {sm['version']} (`{sm['sha256'][:12]}`)"
    report["aria_screen_through_pipeline"] = screen_through_pipeline(
        aria_held, got_by["aria_all val fields"], sm["thresholds"]["refer_malignant_prob"])
    out = Path(a.out)
    hd.write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(markdown(report))
    print(json.dumps(report["non_blood"], indent=1))


def screen_through_pipeline(rows: list[dict], reps: list[dict], refer: float) -> dict:
    """The screen on aria val fields as `hemalens analyze` sees them (whole photos, tiles at the
    measured scale, the gate first): on the fields the gate accepts, malignant called where the
    field's P(malignant) reaches the screen's own refer threshold `refer`."""
    got = [(row, r["screen"]) for row, r in zip(rows, reps)
           if r.get("quality", {}).get("ok") and r.get("screen")]
    y = np.array([row["label"] != "benign" for row, _ in got], bool)
    called = np.array([dd.malignant_prob(s["probs"]) >= refer for _, s in got], bool)
    right = sum(s["label"] == row["label"] for row, s in got)
    return {"fields": len(rows), "accepted": len(got), "refer_threshold": refer,
            "accuracy_4_class": hd.proportion(right, len(got)),
            "sensitivity": hd.proportion(int((called & y).sum()), int(y.sum())),
            "specificity": hd.proportion(int((~called & ~y).sum()), int((~y).sum()))}


def markdown(r: dict) -> str:
    nb = r["non_blood"]
    L = ["# Unfamiliar pictures: what is refused", "",
         "Written by `scripts/evaluate_unfamiliar.py` (do not edit by hand). Non-blood pictures are",
         "generated with a fixed seed (half plain, half inside a round eyepiece aperture) and analysed",
         "by the shipped packs; *caught* means the quality gate refused the picture for any reason.",
         "Targets (issue 12): at least 95% of non-blood pictures caught, at most 5% of in-domain",
         "held-out fields refused as `unfamiliar_image`.", "",
         f"**Non-blood: {nb['caught']} of {nb['n']} caught ({nb['share']:.1%}, 95% CI "
         f"{nb['ci'][0]:.1%}-{nb['ci'][1]:.1%})**; first refusal code: {nb['first_code']}", "",
         "| kind | pictures | caught | first code |", "|---|---|---|---|"]
    for k, v in nb["by_kind"].items():
        L.append(f"| {k} | {v['n']} | {v['caught']} | {v['by']} |")
    L += ["", "**In-domain held-out fields refused as `unfamiliar_image`** (and, beside it, as `not_a_smear`:",
          "unstained, or drawn rather than photographed, whose line `scripts/fit_flat_colour.py` set on",
          "training fields only):", "",
          "| set | fields | unfamiliar_image | share (95% CI) | not_a_smear | share (95% CI) |",
          "|---|---|---|---|---|---|"]
    for k, v in r["in_domain"].items():
        n, c = v.get("not_a_smear", 0), v.get("not_a_smear_ci", [0.0, 0.0])
        L.append(f"| {k} | {v['n']} | {v['unfamiliar']} | {v['share']:.1%} ({v['ci'][0]:.1%}-{v['ci'][1]:.1%}) "
                 f"| {n} | {n / max(1, v['n']):.1%} ({c[0]:.1%}-{c[1]:.1%}) |")
    if r.get("aria_by_class"):
        L += ["", "**aria_all val fields by class**: refused as `unfamiliar_image`, and the median red-cell",
              f"diameter the pipeline measured on them (the pack's scale: {r['aria_rbc_px_pack']} px at 224 px; the",
              "pipeline resamples each field to it before cutting tiles, so a class measured larger reaches",
              "the screen smaller than the pack saw it in training):", "",
              "| class | fields | unfamiliar_image | measured red-cell diameter (px, median) |", "|---|---|---|---|"]
        for k, v in r["aria_by_class"].items():
            L.append(f"| {k} | {v['n']} | {v['unfamiliar']} ({v['unfamiliar'] / max(1, v['n']):.1%}) "
                     f"| {v['rbc_px_median']} |")
    sp = r.get("aria_screen_through_pipeline")
    if sp:
        f = lambda v: f"{v['value']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] ({v['k']}/{v['n']})"  # noqa: E731
        L += ["", f"**The screen ({r['screen_pack']}) on aria_all val through the pipeline** (`hemalens analyze` on each whole photo:",
              "tiles at the measured scale, the gate first; `evaluate_models.py` scores whole fields shrunk into",
              f"one input instead). Fields the gate accepted: {sp['accepted']} of {sp['fields']}; malignant where",
              f"P(malignant) >= the manifest's refer threshold {sp['refer_threshold']}:", "",
              "| | value (95% CI) | target |", "|---|---|---|",
              f"| 4-class accuracy | {f(sp['accuracy_4_class'])} | >= 0.95 |",
              f"| sensitivity | {f(sp['sensitivity'])} | >= 0.98 |",
              f"| specificity | {f(sp['specificity'])} | >= 0.95 |"]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
