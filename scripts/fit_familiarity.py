#!/usr/bin/env python3
"""Gives a trained pack its familiarity score: how far an input lies from what
the pack was trained on, in the pack's own embedding space.

1. Re-exports the pack's kept weights (<cache-dir>/<id>-best.weights.h5, written
   by train_*.py) with a second output: the pooled features that feed the
   logits (docs/model-pack.md, "familiarity"); with `--style-layer`, a third:
   that layer's channel means and mean absolute deviations (how the picture is
   made, where the embedding says what it shows: docs/layer-familiarity.md),
   which gets a Gaussian and a line of its own, fitted the same way. With `--from-float` the kept
   weights are not needed: the int8 model is made again from the pack's float32
   export (same representative images). `--rounding` picks the int8 weights'
   rounding (default: as the pack was exported).
2. Runs the int8 model over a sample of its fit rows (every source) and fits a
   Gaussian there: mean, the top `--k` principal axes with their variances, and
   one variance for the rest (probabilistic PCA). The score of an embedding e is
   (sum_i p_i^2 / var_i + |r|^2 / var_rest) / dim, with p the projections of
   e - mean on the axes and r the rest.
3. The line: the `--quantile` of the scores of the calibration rows: the tune
   rows, and the pipeline's own windows (dumped crops and tiles of train-split
   frames and simulated photos) of fit rows left out of the Gaussian's sample,
   so the line knows what the pipeline's colour flattening and resampling do
   to an image (never the held-out rows). The pipeline reports
   distance = score / line: above 1 is unfamiliar.

Writes model.tflite, model_float.tflite and the manifest's `familiarity` and
`output.quantization` (the logits output); then run evaluate_models.py.

  .venv-train/bin/python scripts/fit_familiarity.py --pack wbc-type
  cp -r models/all-screen /tmp/as && \
  .venv-train/bin/python scripts/fit_familiarity.py --pack all-screen --from-float --rounding adaptive --out /tmp/as
  .venv-train/bin/python scripts/fit_familiarity.py --pack all-screen --leave-out bccd --out /tmp/hemalens-loso/all-screen-no-bccd
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import hemalens_data as hd  # noqa: E402

import numpy as np  # noqa: E402


def embed(path: Path, rows: list[dict], size: int, masks: list[dict], logits: bool = False, style: bool = False):
    """The int8 model's dequantised embeddings of `rows` (and its logits, with
    `logits`; and its style statistics, with `style`), in that order."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, e, st = it.get_input_details()[0], hd.embedding_output(it), hd.style_output(it)
    o = hd.logits_output(it)
    s, zp = i["quantization"]
    es, ezp = e["quantization"]
    out, zs, ss = [], [], []
    for r in rows:
        a = hd.preprocess_uint8(hd.row_image(r), size, size, masks)
        it.set_tensor(i["index"], hd.quantize(hd.normalize(a)[None], s, zp))
        it.invoke()
        out.append(hd.dequantize(it.get_tensor(e["index"])[0], es, ezp))
        zs.append(hd.dequantize(it.get_tensor(o["index"])[0], *o["quantization"]))
        if style:
            ss.append(hd.dequantize(it.get_tensor(st["index"])[0], *st["quantization"]))
    res = [np.asarray(out, np.float64)]
    if logits:
        res.append(np.asarray(zs, np.float64))
    if style:
        res.append(np.asarray(ss, np.float64))
    return tuple(res) if len(res) > 1 else res[0]


def fit(E: np.ndarray, k: int) -> dict:
    mu = E.mean(0)
    Z = E - mu
    cov = Z.T @ Z / max(len(E) - 1, 1)
    w, V = np.linalg.eigh(cov)
    w, V = w[::-1], V[:, ::-1]
    floor = max(float(w[0]) * 1e-6, 1e-12)
    var = np.maximum(w[:k], floor)
    rest = max(float(w[k:].mean()), floor)
    return {"mean": mu, "components": V[:, :k].T, "variances": var, "residual_variance": rest}


def score(E: np.ndarray, g: dict) -> np.ndarray:
    Z = E - g["mean"]
    P = Z @ g["components"].T
    r2 = np.maximum((Z * Z).sum(1) - (P * P).sum(1), 0.0)
    return ((P * P / g["variances"]).sum(1) + r2 / g["residual_variance"]) / E.shape[1]


def gaussian_entry(output: int, tensor: dict, g: dict, line: float) -> dict:
    """The manifest's description of a fitted Gaussian on model output `output`
    (docs/model-pack.md, `familiarity`), numbers to 6 significant digits."""
    f6 = lambda v: float(f"{float(v):.6g}")  # noqa: E731
    return {
        "output": output,
        "dim": int(tensor["shape"][-1]),
        "quantization": {"scale": float(tensor["quantization"][0]), "zero_point": int(tensor["quantization"][1])},
        "mean": [f6(v) for v in g["mean"]],
        "components": [[f6(v) for v in row] for row in g["components"]],
        "variances": [f6(v) for v in g["variances"]],
        "residual_variance": f6(g["residual_variance"]),
        "threshold": f6(line),
    }


def rows_for(pack: str, data: Path, work: Path, leave_out: str | None):
    rows = dd.cell_dataset(data, work) if pack == "wbc-type" else dd.screen_dataset(data, work)
    if leave_out:
        rows = [r for r in rows if r["source"] != leave_out]
    return [r for r in rows if r["split"] == "fit"], [r for r in rows if r["split"] == "tune"]


def sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """At most n rows, the sources in proportion to their counts but none below n / 10."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    out = []
    for s, rr in sorted(by.items()):
        want = min(len(rr), max(n // 10, int(n * len(rr) / len(rows))))
        out += [rr[i] for i in sorted(rng.choice(len(rr), want, replace=False))]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", choices=["wbc-type", "all-screen"], required=True)
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--out", default=None, help="pack folder (default models/<pack>)")
    ap.add_argument("--cache-dir", default="/tmp/hemalens-cache")
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--leave-out", default=None)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--n-fit", type=int, default=2000)
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--refit-only", action="store_true", help="keep the exported model, refit the statistics")
    ap.add_argument("--from-float", action="store_true",
                    help="quantise the pack's float32 export (model_float.tflite) again instead of exporting the "
                         "kept weights (when they are gone; the float32 export is left as it is)")
    ap.add_argument("--style-layer", default=None, metavar="LAYER",
                    help=f"also export and fit style statistics of LAYER (the screen's: {hd.STYLE_LAYER}); "
                         "with --refit-only or --from-float, used when the model already has them")
    ap.add_argument("--rounding", choices=hd.ROUNDING, default=None,
                    help="int8 weights (default: as the pack was exported, training_history.json's "
                         "weight_rounding; nearest where it has none)")
    a = ap.parse_args()
    out = Path(a.out or hd.REPO / "models" / a.pack)
    cache = a.cache_dir + ("-no-" + a.leave_out if a.leave_out else "")
    hist = json.loads((out / "training_history.json").read_text())
    spec = hd.PACKS[a.pack]
    size, masks, labels = hist["input"], spec["masks"], spec["labels"]
    fit_rows, tune_rows = rows_for(a.pack, Path(a.data), Path(a.work), a.leave_out)

    if not a.refit_only:
        rounding = a.rounding or hist.get("weight_rounding", "nearest")
        rep = hd.preprocessed_float(hd.representative_rows(fit_rows, labels), size, size, masks)
        if a.from_float:
            (out / "model.tflite").write_bytes(
                hd.quantise_float((out / "model_float.tflite").read_bytes(), rep, rounding))
        else:
            model = hd.build_mobilenet(hist["arch"], hist["alpha"], size, len(labels),
                                       standardise=hist["standardise"])
            model.load_weights(str(Path(cache) / f"{a.pack}-best.weights.h5"))
            hd.export_tflite(model, size, rep, out / "model.tflite", out / "model_float.tflite", embedding=True,
                             rounding=rounding, style_layer=a.style_layer)
        hist["weight_rounding"] = rounding
        hd.write_json(out / "training_history.json", hist)
    it, i, o = hd.tflite_io(out / "model.tflite")
    e, st = hd.embedding_output(it), hd.style_output(it)
    outs = it.get_output_details()
    assert [x["index"] for x in outs].index(o["index"]) == 0, "the logits must be the first output"

    picked = sample(fit_rows, a.n_fit, a.seed)
    E, S = embed(out / "model.tflite", picked, size, masks, style=True) if st else (embed(out / "model.tflite", picked,
                                                                                          size, masks), None)
    g = fit(E, a.k)
    fit_scores = score(E, g)
    used = {r["file"] for r in picked}
    windows = [r for r in fit_rows if r["file"] not in used and ("-frames/" in r["file"] or "-windows/" in r["file"])]
    rng = np.random.default_rng(a.seed + 1)
    if len(windows) > 600:
        windows = [windows[i] for i in sorted(rng.choice(len(windows), 600, replace=False))]
    calib = tune_rows + windows
    Ec, Zc, *Sc = embed(out / "model.tflite", calib, size, masks, logits=True, style=st is not None)
    tune_scores = score(Ec, g)
    # Each class's mean logits over the calibration rows: what site calibration
    # aligns a new site's normal fields to (docs/model-pack.md, "familiarity").
    logit_means = {lab: [float(f"{v:.6g}") for v in Zc[[r["label"] == lab for r in calib]].mean(0)]
                   for lab in labels if any(r["label"] == lab for r in calib)}
    line = float(np.quantile(tune_scores, a.quantile))
    print(f"[{a.pack}] fit {len(E)} scores median {np.median(fit_scores):.3f}; tune {len(tune_scores)} median "
          f"{np.median(tune_scores):.3f}, q{a.quantile} = {line:.3f}", flush=True)

    m = json.loads((out / "manifest.json").read_text())
    m["sha256"] = hd.sha256_file(out / "model.tflite")
    m["input"]["quantization"] = {"scale": float(i["quantization"][0]), "zero_point": int(i["quantization"][1])}
    m["output"]["quantization"] = {"scale": float(o["quantization"][0]), "zero_point": int(o["quantization"][1])}
    m["familiarity"] = {
        **gaussian_entry(1, e, g, line),
        "logit_means": logit_means,
        "fitted_on": {"fit_rows": len(E), "calibration_rows": len(tune_scores), "of_them_pipeline_windows": len(windows),
                      "quantile": a.quantile, "k": a.k,
                      "sources": sorted({r["source"] for r in fit_rows})},
    }
    if st is not None:
        k = min(a.k, S.shape[1] // 2)
        gs = fit(S, k)
        style_line = float(np.quantile(score(Sc[0], gs), a.quantile))
        print(f"[{a.pack}] style statistics ({S.shape[1]}): q{a.quantile} = {style_line:.3f}", flush=True)
        m["familiarity"]["style"] = {
            **gaussian_entry(2, st, gs, style_line),
            "fitted_on": {"fit_rows": len(S), "calibration_rows": len(Sc[0]), "quantile": a.quantile, "k": k,
                          "statistics": "each channel's mean, then its mean absolute deviation"},
        }
    hd.write_json(out / "manifest.json", m)
    n_out = 3 if st is not None else 2
    print(f"[{a.pack}] wrote {out / 'model.tflite'} ({n_out} outputs) and the manifest's familiarity", flush=True)


if __name__ == "__main__":
    main()
