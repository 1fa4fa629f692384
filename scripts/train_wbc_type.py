#!/usr/bin/env python3
"""Train the `wbc-type` pack (white-cell type of a single-cell crop) on ../shared/data/pbc_wbc.

Splits: the data's own `train` (fit), `val` (tune: early stopping, temperature,
thresholds) and `test` (held out; reported by evaluate_models.py).

Writes models/wbc-type/{model.tflite, model_float.tflite, manifest.json,
training_history.json}. Then run scripts/evaluate_models.py --pack wbc-type.

  .venv-train/bin/python scripts/train_wbc_type.py            # ~35 min on 2 cores
  .venv-train/bin/python scripts/train_wbc_type.py --measure  # architecture timing only
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hemalens_data as hd  # noqa: E402


def main():
    ap = hd.training_arg_parser(__doc__, "wbc-type", epochs=30)
    a = ap.parse_args()

    folder = hd.check_data_dir(a.data, "pbc_wbc")
    rows = hd.read_labels(folder)
    splits = hd.pbc_splits(rows)
    out = Path(a.out)
    if a.reexport:
        hd.reexport("wbc-type", splits["train"], arch=a.arch, alpha=a.alpha, size=a.size,
                    standardise=bool(a.standardise), cache_dir=a.cache_dir, out_dir=out, n_rep=a.reexport)
        return
    if a.measure:
        hd.set_seeds(a.seed)
        res = hd.measure_candidates(8, len(splits["train"]))
        out.mkdir(parents=True, exist_ok=True)
        hd.write_json(out / "architecture_measurement.json",
                      {"n_fit": len(splits["train"]), "batch": 32, "cpu_count": os.cpu_count(), "candidates": res})
        return
    meas = out / "architecture_measurement.json"
    shared = hd.REPO / "models" / "all-screen" / "architecture_measurement.json"
    if not meas.is_file() and shared.is_file():
        # Same machine and candidates; per-step times do not depend on the data set, so the
        # all-screen measurement is reused with the epoch estimates rescaled to this data set.
        import json
        j = json.loads(shared.read_text())
        f = len(splits["train"]) / j["n_fit"]
        for c in j["candidates"]:
            c["epoch_s_est"] = round(c["epoch_s_est"] * f, 1)
        j["n_fit"] = len(splits["train"])
        j["note"] = ("step times measured by train_all_screen.py --measure on the same machine; epoch "
                     "estimates rescaled to the pbc_wbc training set")
        out.mkdir(parents=True, exist_ok=True)
        hd.write_json(meas, j)
    extra = {"split_counts": {s: len(v) for s, v in splits.items()},
             "choice_reason": hd.choice_reason(out / "architecture_measurement.json", a.arch, a.alpha, a.size,
                                               a.max_minutes, hd.PBC_RBC_PX_AT_360 * a.size / 360.0)}
    hd.train_pack(
        "wbc-type", splits["train"], splits["val"], arch=a.arch, alpha=a.alpha, size=a.size,
        epochs=a.epochs, batch=a.batch, lr=a.lr, max_minutes=a.max_minutes, seed=a.seed,
        cache_dir=a.cache_dir, source_masks=[],
        data_desc=["../shared/data/pbc_wbc (train split; val split for tuning; test held out)"],
        rbc_px=hd.PBC_RBC_PX_AT_360 * a.size / 360.0, cell_px=None, extra=extra, out_dir=out,
        standardise=bool(a.standardise), aug_strength=a.aug_strength,
        resume=a.resume, warmup_epochs=a.warmup)


if __name__ == "__main__":
    main()
