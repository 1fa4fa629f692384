#!/usr/bin/env python3
"""Train the `wbc-type` pack (white-cell type of a single-cell crop) on every labelled source.

Starts from ImageNet-pretrained MobileNetV2 (alpha 0.35, ../shared/weights) and
fine-tunes on three microscopes and cameras (scripts/domain_data.py has the rows
and splits):
  * pbc_wbc  (CellaVision DM96): train -> fit, val -> tune, test held out;
  * lisc     (Zeiss Axioskop + Sony camera): 70 % of source cells fit, 10 % tune, 20 % held;
  * bccd     (another lab's fields): crops cut by our own detector at the pack's
             scale (`hemalens analyze --dump-windows`), labelled by the field where it
             holds one white cell; train fields, and simulated eyepiece photos made
             from train fields, -> fit; val fields held out.
Small sources are repeated so each lab weighs in; augmentation covers what
differs between labs (stain, white balance, blur, JPEG, scale, vignette).

  .venv-train/bin/python scripts/train_wbc_type.py                  # the pack (~25 min on 2 cores)
  .venv-train/bin/python scripts/train_wbc_type.py --leave-out lisc --out /tmp/hemalens-loso/wbc-type-no-lisc
Then scripts/evaluate_models.py --pack wbc-type and scripts/evaluate_domains.py.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import hemalens_data as hd  # noqa: E402

# How many times each source's fit rows are repeated per epoch (pbc_wbc has 4,217).
REPEAT = {"pbc_wbc": 1, "lisc": 3, "bccd": 2}


def main():
    ap = hd.training_arg_parser(__doc__, "wbc-type", epochs=20)
    ap.set_defaults(lr=1e-3, warmup=1, max_minutes=70.0, aug_strength=1.0)
    a = ap.parse_args()
    data = hd.check_data_dir(a.data, "pbc_wbc").parent
    rows = dd.cell_dataset(data, Path(a.work))
    if a.leave_out:
        rows = [r for r in rows if r["source"] != a.leave_out]
    fit = [r for r in rows if r["split"] == "fit" for _ in range(REPEAT[r["source"]])]
    tune = [r for r in rows if r["split"] == "tune"]
    srcs = sorted({r["source"] for r in rows})
    desc = {"pbc_wbc": "../shared/data/pbc_wbc (train: fit; val: tune; test held out)",
            "lisc": "../shared/data/lisc (by source cell: 70 % fit, 10 % tune, 20 % held out; centre 207 px)",
            "bccd": "../shared/data/bccd_fields train fields: detector crops (hemalens analyze --dump-windows) "
                    "of one-white-cell fields, and of simulated eyepiece photos made from train fields"}
    extra = {"split_counts": dd.summary(rows), "sources": srcs, "leave_out": a.leave_out,
             "repeat": {s: REPEAT[s] for s in srcs}}
    hd.train_pack(
        "wbc-type", fit, tune, arch=a.arch, alpha=a.alpha, size=a.size,
        epochs=a.epochs, batch=a.batch, lr=a.lr, max_minutes=a.max_minutes, seed=a.seed,
        cache_dir=a.cache_dir + ("-no-" + a.leave_out if a.leave_out else ""), source_masks=[],
        data_desc=[desc[s] for s in srcs],
        rbc_px=hd.PBC_RBC_PX_AT_360 * a.size / 360.0, cell_px=None, extra=extra, out_dir=Path(a.out),
        standardise=bool(a.standardise), aug_strength=a.aug_strength,
        resume=a.resume, warmup_epochs=a.warmup, pretrained=bool(a.pretrained), version="2.1.0",
        rounding=a.rounding)


if __name__ == "__main__":
    main()
