#!/usr/bin/env python3
"""Train the `all-screen` pack (whole-field B-ALL screening) on ../shared/data/aria_all.

Splits (never random; neighbouring file numbers are the same smear):
  * fit  : each class's `train` block minus its last 15 % (by file number)
  * tune : the last contiguous 15 % of each class's `train` block (early stopping,
           temperature, thresholds)
  * val  : the data's own `val` block (held out; reported by evaluate_models.py)

Writes models/all-screen/{model.tflite, model_float.tflite, manifest.json,
training_history.json}. Then run scripts/evaluate_models.py --pack all-screen.

  .venv-train/bin/python scripts/train_all_screen.py            # ~35 min on 2 cores
  .venv-train/bin/python scripts/train_all_screen.py --measure  # architecture timing only
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def main():
    ap = hd.training_arg_parser(__doc__, "all-screen", epochs=50)
    a = ap.parse_args()

    folder = hd.check_data_dir(a.data, "aria_all")
    rows = hd.read_labels(folder)
    splits = hd.aria_splits(rows)
    out = Path(a.out)
    if a.reexport:
        hd.reexport("all-screen", splits["fit"], arch=a.arch, alpha=a.alpha, size=a.size,
                    standardise=bool(a.standardise), cache_dir=a.cache_dir, out_dir=out, n_rep=a.reexport)
        return
    if a.measure:
        hd.set_seeds(a.seed)
        res = hd.measure_candidates(4, len(splits["fit"]))
        out.mkdir(parents=True, exist_ok=True)
        hd.write_json(out / "architecture_measurement.json",
                      {"n_fit": len(splits["fit"]), "batch": 32, "cpu_count": os.cpu_count(), "candidates": res})
        return

    print("colour-only baseline ...", flush=True)
    base = colour_baseline(splits, a.seed)
    print(base, flush=True)
    extra = {
        "colour_baseline": base,
        "split_ranges": {s: hd.split_block_ranges(splits[s]) for s in ("fit", "tune", "val")},
        "split_counts": {s: len(v) for s, v in splits.items()},
        "choice_reason": hd.choice_reason(out / "architecture_measurement.json", a.arch, a.alpha, a.size,
                                          a.max_minutes, hd.ARIA_RBC_PX_AT_224 * a.size / 224.0),
    }
    hd.train_pack(
        "all-screen", splits["fit"], splits["tune"], arch=a.arch, alpha=a.alpha, size=a.size,
        epochs=a.epochs, batch=a.batch, lr=a.lr, max_minutes=a.max_minutes, seed=a.seed,
        cache_dir=a.cache_dir, source_masks=[hd.ARIA_MASK],
        data_desc=["../shared/data/aria_all (train split: fit = first 85 % of each class block, "
                   "tune = last 15 %; val block held out)"],
        rbc_px=hd.ARIA_RBC_PX_AT_224 * a.size / 224.0, cell_px=None, extra=extra, out_dir=out,
        standardise=bool(a.standardise), aug_strength=a.aug_strength,
        resume=a.resume, warmup_epochs=a.warmup)


if __name__ == "__main__":
    main()
