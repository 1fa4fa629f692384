#!/usr/bin/env python3
"""Train the `all-screen` pack (whole-field B-ALL screening): aria_all's four classes, and
normal blood from two other labs (bccd_fields, raabin_phone), all as the pipeline's own
screening tiles (aria's fields above their scale bar, each tile labelled by its field),
from ImageNet-pretrained MobileNetV2 (alpha 0.35, ../shared/weights).
A source that only shows normal blood can teach the source instead of the cells:
scripts/evaluate_domains.py measures each normal source with a pack trained without
it (--leave-out), and aria's malignant fields restyled and framed like those sources.

Splits of aria_all (never random; neighbouring file numbers are the same smear):
  * fit  : each class's `train` block minus its last 15 % (by file number)
  * tune : the last contiguous 15 % of each class's `train` block (early stopping,
           temperature, thresholds)
  * val  : the data's own `val` block (held out; reported by evaluate_models.py)

Other sources: scripts/domain_data.py (train -> fit, val -> held out).

Writes models/all-screen/{model.tflite, model_float.tflite, manifest.json,
training_history.json}. Then run scripts/evaluate_models.py --pack all-screen.

  .venv-train/bin/python scripts/train_all_screen.py            # ~15 min on 2 cores
  .venv-train/bin/python scripts/fit_familiarity.py --pack all-screen --style-layer block_5_add
  .venv-train/bin/python scripts/train_all_screen.py --leave-out bccd --out /tmp/hemalens-loso/all-screen-no-bccd
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import hemalens_data as hd  # noqa: E402

import numpy as np  # noqa: E402


def colour_baseline(splits, seed):
    """Colour-only baseline: logistic regression on per-image channel statistics and a
    colour histogram (no shape information), masked corner, trained on fit+tune,
    scored on val and on colour-normalised val."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def feats(img):
        a = hd.preprocess_uint8(img, 224, 224, [hd.ARIA_MASK]).reshape(-1, 3).astype(np.float32)
        f = [a.mean(0), a.std(0), np.percentile(a, [5, 25, 50, 75, 95], axis=0).ravel()]
        for c in range(3):
            f.append(np.histogram(a[:, c], bins=16, range=(0, 256))[0] / len(a))
        return np.concatenate(f)

    lab = hd.ARIA_LABELS
    tr = splits["fit"] + splits["tune"]
    X = np.stack([feats(hd.load_rgb(r["file"])) for r in tr])
    y = np.array([lab.index(r["label"]) for r in tr])
    Xv = np.stack([feats(hd.load_rgb(r["file"])) for r in splits["val"]])
    Xn = np.stack([feats(hd.colour_normalise(hd.load_rgb(r["file"]))) for r in splits["val"]])
    yv = np.array([lab.index(r["label"]) for r in splits["val"]])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0, random_state=seed))
    clf.fit(X, y)
    pv, pn = clf.predict(Xv), clf.predict(Xn)
    return {"features": "per-channel mean, std, 5/25/50/75/95th percentiles and 16-bin histograms "
                        "(masked corner, 224 px)",
            "model": "sklearn StandardScaler + LogisticRegression(C=1)",
            "val_accuracy": float((pv == yv).mean()),
            "val_colour_normalised_accuracy": float((pn == yv).mean()),
            "val_binary_accuracy": float(((pv > 0) == (yv > 0)).mean())}


# How many times each source's fit rows are repeated per epoch.
REPEAT = {"aria_all": 1, "bccd": 1, "raabin": 1}


def padded_copies(rows, share=0.35):
    """Extra copies of a share of the aria fit fields shrunk into their own plasma colour
    (hemalens_data.row_image, "pad"), chosen and placed by a hash of the file name."""
    out = []
    for r in rows:
        h = dd.hash_fraction("pad|" + r["file"])
        if r["source"] == "aria_all" and r["split"] == "fit" and h < share:
            g = [dd.hash_fraction(f"pad{i}|" + r["file"]) for i in range(3)]
            out.append(dict(r, pad=(0.45 + 0.35 * g[0], g[1], g[2])))
    return out


def main():
    ap = hd.training_arg_parser(__doc__, "all-screen", epochs=20)
    ap.set_defaults(lr=1e-3, warmup=1, max_minutes=30.0, aug_strength=1.0)
    a = ap.parse_args()

    folder = hd.check_data_dir(a.data, "aria_all")
    splits = hd.aria_splits(hd.read_labels(folder))
    rows = dd.screen_dataset(folder.parent, Path(a.work))
    if a.leave_out:
        rows = [r for r in rows if r["source"] != a.leave_out]
    fit = [r for r in rows if r["split"] == "fit" for _ in range(REPEAT[r["source"]])] + padded_copies(rows)
    tune = [r for r in rows if r["split"] == "tune"]
    srcs = sorted({r["source"] for r in rows})
    out = Path(a.out)
    if a.measure:
        hd.set_seeds(a.seed)
        res = hd.measure_candidates(4, len(fit))
        out.mkdir(parents=True, exist_ok=True)
        hd.write_json(out / "architecture_measurement.json",
                      {"n_fit": len(fit), "batch": 32, "cpu_count": os.cpu_count(), "candidates": res})
        return

    print("colour-only baseline ...", flush=True)
    base = colour_baseline(splits, a.seed)
    print(base, flush=True)
    desc = {"aria_all": "../shared/data/aria_all (train split: fit = first 85 % of each class block, "
                        "tune = last 15 %; val block held out) as the pipeline's screening tiles of each "
                        "field above its scale bar, labelled by the field; 35 % of fit tiles also shrunk "
                        "into their own plasma colour",
            "bccd": "../shared/data/bccd_fields train fields (normal blood: benign), as the pipeline's "
                    "screening tiles (hemalens analyze --dump-windows), and tiles of simulated eyepiece "
                    "photos made from train fields",
            "raabin": "../shared/data/raabin_phone train crops (normal blood: benign), as the pipeline's "
                      "screening tiles"}
    extra = {
        "colour_baseline": base,
        "split_ranges": {s: hd.split_block_ranges(splits[s]) for s in ("fit", "tune", "val")},
        "split_counts": dd.summary(rows),
        "sources": srcs, "leave_out": a.leave_out, "repeat": {s: REPEAT[s] for s in srcs},
        "n_padded": len(fit) - sum(1 for r in rows if r["split"] == "fit"),
    }
    hd.train_pack(
        "all-screen", fit, tune, arch=a.arch, alpha=a.alpha, size=a.size,
        epochs=a.epochs, batch=a.batch, lr=a.lr, max_minutes=a.max_minutes, seed=a.seed,
        cache_dir=a.cache_dir + ("-no-" + a.leave_out if a.leave_out else ""), source_masks=[hd.ARIA_MASK],
        data_desc=[desc[s] for s in srcs],
        rbc_px=hd.ARIA_RBC_PX_AT_224 * a.size / 224.0, cell_px=None, extra=extra, out_dir=out,
        standardise=bool(a.standardise), aug_strength=a.aug_strength,
        resume=a.resume, warmup_epochs=a.warmup, pretrained=bool(a.pretrained), version="2.1.0",
        rounding=a.rounding)


if __name__ == "__main__":
    main()
