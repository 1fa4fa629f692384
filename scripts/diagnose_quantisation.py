#!/usr/bin/env python3
"""Where a pack loses accuracy to int8: layer by layer, float32 against int8.

Runs a pack's float32 export (`model_float.tflite`) and its int8 model
(`model.tflite`) side by side on the pack's *tune* images (never its held-out
ones: this is for choosing a remedy) with every intermediate tensor kept, and
writes, for each activation in graph order, its relative RMS error
(||float - dequantised int8|| / ||float||), the top-1 agreement, and the
per-channel ranges of the first linear bottleneck, to
docs/quantisation-<pack>.md and .json.

With `--requantise N [N ...]` (needs TensorFlow: the training venv,
scripts/requirements-train.txt) the float32 export is quantised again with N
representative training images each (the converter's own path, as the packs are exported), and each
result's agreement with float32 on every tune image is written beside the
shipped model's: does a bigger or other representative set mend it?

With `--rounding` (TensorFlow too): where the loss comes from, weights or
activations: the float32 export with only its weights put on their int8 grid
(activations left in float), by round-to-nearest and by the adaptive rounding
the packs can be exported with (scripts/round_weights.py), and the int8 model
made with each (TensorFlow's converter's int8 path, this script's representative
set: 256 images).

  .venv/bin/python scripts/diagnose_quantisation.py --pack wbc-type [--n 64]
  .venv-train/bin/python scripts/diagnose_quantisation.py --pack wbc-type --requantise 256 1024
  .venv-train/bin/python scripts/diagnose_quantisation.py --pack wbc-type --rounding
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_models as em  # noqa: E402
import hemalens_data as hd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    return it


def agreement(float_bytes: bytes, other_bytes: bytes, X, mean, std) -> tuple[int, int]:
    """Top-1 agreement of two exports of one pack (int8 or float32 input, each fed as
    the pipeline feeds it: hemalens_data.run_tflite) over images X: (agreeing, all)."""
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        logits = []
        for name, b in (("a", float_bytes), ("b", other_bytes)):
            path = Path(td) / f"{name}.tflite"
            path.write_bytes(b)
            logits.append(hd.run_tflite(path, X, mean=mean, std=std))
    return int((logits[0].argmax(1) == logits[1].argmax(1)).sum()), len(X)


def representative(pack: str, m: dict, n: int, data: str) -> np.ndarray:
    """`n` representative training images, balanced over labels (pbc_wbc train / aria fit)."""
    spec = hd.PACKS[pack]
    rows = hd.read_labels(hd.check_data_dir(data, spec["folder"]))
    fit = hd.pbc_splits(rows)["train"] if pack == "wbc-type" else hd.aria_splits(rows)["fit"]
    return hd.preprocessed_float(hd.representative_rows(fit, spec["labels"], n),
                                 m["input"]["width"], m["input"]["height"], spec["masks"])


def requantised(pack: str, m: dict, float_bytes: bytes, n: int, data: str) -> bytes:
    """The float32 export quantised again with `n` representative training images, the
    weights rounded to nearest: the converter's own path the packs are exported by
    (calibration, then the MLIR quantiser; round_weights.quantise)."""
    import round_weights
    return round_weights.quantise(float_bytes, representative(pack, m, n, data))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default="wbc-type", choices=sorted(hd.PACKS))
    ap.add_argument("--n", type=int, default=64, help="tune images (evenly spaced)")
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--requantise", type=int, nargs="*", default=[], metavar="N",
                    help="also quantise the float32 export again with N representative images (TensorFlow)")
    ap.add_argument("--rounding", action="store_true",
                    help="also (TensorFlow): the weights alone on their int8 grid, float activations, by "
                         "round-to-nearest and by adaptive rounding; and the int8 model made with each")
    a = ap.parse_args()
    d = REPO / "models" / a.pack
    m = json.loads((d / "manifest.json").read_text())
    tune, _, split_text = em.splits_for(a.pack, a.data)
    idx = np.linspace(0, len(tune) - 1, min(a.n, len(tune))).round().astype(int)
    rows = [tune[i] for i in idx]
    X = em.load_set(rows, m, "clean")
    mean, std = m["input"]["normalization"]["mean"], m["input"]["normalization"]["std"]
    fi, qi = interpreter(d / "model_float.tflite"), interpreter(d / "model.tflite")
    fdet = {t["name"]: t for t in fi.get_tensor_details()}
    qdet = {t["name"]: t for t in qi.get_tensor_details()}
    # Activations: tensors of one image (batch 1) present in both graphs, one scale each.
    acts = [n for n in sorted(fdet, key=lambda n: fdet[n]["index"])
            if n in qdet and len(fdet[n]["shape"]) >= 2 and int(fdet[n]["shape"][0]) == 1
            and qdet[n]["quantization"][0] > 0]  # per-channel weights have no single scale
    qin = qi.get_input_details()[0]
    out_f, out_q = hd.logits_output(fi)["index"], hd.logits_output(qi)["index"]
    err = {n: [] for n in acts}
    agree = []
    for x in X:
        f = hd.normalize(x, mean, std)[None].astype(np.float32)
        fi.set_tensor(fi.get_input_details()[0]["index"], f)
        fi.invoke()
        s, z = qin["quantization"]
        qi.set_tensor(qin["index"], np.clip(np.round(f / s + z), -128, 127).astype(np.int8))
        qi.invoke()
        agree.append(int(fi.get_tensor(out_f).argmax() == qi.get_tensor(out_q).argmax()))
        for n in acts:
            fv = fi.get_tensor(fdet[n]["index"]).astype(np.float64)
            qv = qi.get_tensor(qdet[n]["index"])
            if fv.shape != qv.shape:
                continue
            qs, qz = qdet[n]["quantization"]
            qv = (qv.astype(np.float64) - qz) * qs if qs else qv.astype(np.float64)
            err[n].append(float(np.sqrt(((fv - qv) ** 2).mean()) / (np.sqrt((fv ** 2).mean()) + 1e-12)))
    table = [{"tensor": n.split(";")[0], "shape": [int(v) for v in fdet[n]["shape"]],
              "scale": float(qdet[n]["quantization"][0]), "rel_rms_error": float(np.mean(err[n]))}
             for n in acts if err[n]]
    # MobileNetV2 has two kinds of activation: ReLU6 outputs (range fixed at
    # 0..6) and the linear bottlenecks (project layers and their residual adds,
    # no activation, so their range is whatever the data gives).
    kind = {t["tensor"]: ("ReLU6 outputs" if "relu" in t["tensor"].lower() else
                          "linear bottlenecks" if "project" in t["tensor"] or "_add" in t["tensor"] else "other")
            for t in table}
    groups = {k: [t["rel_rms_error"] for t in table if kind[t["tensor"]] == k]
              for k in ("ReLU6 outputs", "linear bottlenecks")}
    first = next(i for i, t in enumerate(table) if kind[t["tensor"]] == "linear bottlenecks")
    wname = [n for n in acts if n.split(";")[0] == table[first]["tensor"]][0]
    ranges, typical = [], []
    for x in X:
        fi.set_tensor(fi.get_input_details()[0]["index"], hd.normalize(x, mean, std)[None].astype(np.float32))
        fi.invoke()
        v = fi.get_tensor(fdet[wname]["index"]).astype(np.float64)
        ranges.append(np.abs(v).reshape(-1, v.shape[-1]).max(0))
        typical.append(float(np.sqrt((v ** 2).mean())))
    ch = np.max(ranges, 0)
    res = {"pack": a.pack, "version": m["version"], "sha256": m["sha256"], "images": len(rows),
           "split": "tune (" + split_text + ")", "top1_agreement": float(np.mean(agree)),
           "median_error": {k: float(np.median(v)) for k, v in groups.items()},
           "first_bottleneck": {"tensor": table[first]["tensor"], "before": table[first - 1]["rel_rms_error"],
                                "error": table[first]["rel_rms_error"], "scale": table[first]["scale"],
                                "channel_max_abs": [round(float(v), 2) for v in sorted(ch, reverse=True)],
                                "typical_rms": float(np.median(typical))},
           "layers": table}
    X_all = em.load_set(tune, m, "clean")
    fb = (d / "model_float.tflite").read_bytes()
    res["agreement_all_tune"] = {"shipped": agreement(fb, (d / "model.tflite").read_bytes(), X_all, mean, std)}
    for n in a.requantise:
        res["agreement_all_tune"][f"requantised with {n} images"] = agreement(
            fb, requantised(a.pack, m, fb, n, a.data), X_all, mean, std)
    if a.rounding:
        import round_weights as rw
        rep = representative(a.pack, m, 256, a.data)
        res["agreement_all_tune"]["int8, weights rounded to nearest (TensorFlow's converter)"] = agreement(
            fb, rw.quantise(fb, rep), X_all, mean, std)
        res["agreement_all_tune"]["weights alone on the int8 grid, nearest (float activations)"] = agreement(
            fb, rw.nearest(fb), X_all, mean, std)
        adapted = rw.adapt(fb, rep)[0]
        res["agreement_all_tune"]["weights alone on the int8 grid, adaptive rounding (float activations)"] = \
            agreement(fb, adapted, X_all, mean, std)
        res["agreement_all_tune"]["int8, adaptive rounding"] = agreement(fb, rw.quantise(adapted, rep), X_all, mean, std)
    hd.write_json(REPO / "docs" / f"quantisation-{a.pack}.json", res)
    L = [f"# Where `{a.pack}` loses accuracy to int8", "",
         f"Written by `scripts/diagnose_quantisation.py --pack {a.pack}` on {len(rows)} tune images "
         f"(never the held-out ones); pack {m['version']} (`{m['sha256'][:12]}`). Each activation: relative RMS "
         "error of the int8 model's (dequantised) tensor against the float32 export's, mean over the images.", "",
         f"- top-1 agreement on these images: {np.mean(agree):.3f} ({sum(agree)}/{len(agree)})",
         "- top-1 agreement on every tune image: " + "; ".join(
             f"{k} {s_ / n_:.3f} ({s_}/{n_})" for k, (s_, n_) in res["agreement_all_tune"].items()),
         "- median relative error: " + "; ".join(f"{k} {np.median(v):.3f} ({len(v)} tensors)"
                                                  for k, v in groups.items()),
         f"- the first linear bottleneck, `{table[first]['tensor']}`: {table[first - 1]['rel_rms_error']:.3f} "
         f"before it, {table[first]['rel_rms_error']:.3f} after; its int8 step is {table[first]['scale']:.3f} "
         f"while its typical RMS value is {res['first_bottleneck']['typical_rms']:.2f} and its channels reach "
         f"{', '.join(f'{v:g}' for v in res['first_bottleneck']['channel_max_abs'])} "
         "(one scale for the whole tensor: the widest channel sets the step for all).", "",
         "| # | tensor | shape | int8 step | relative error |", "|---|---|---|---|---|"]
    for i, t in enumerate(table):
        L.append(f"| {i} | `{t['tensor'][-60:]}` | {'x'.join(map(str, t['shape'][1:]))} | {t['scale']:.4g} | "
                 f"{t['rel_rms_error']:.3f} |")
    (REPO / "docs" / f"quantisation-{a.pack}.md").write_text("\n".join(L) + "\n")
    print(f"agreement {np.mean(agree):.3f}; median error " +
          ", ".join(f"{k} {v:.3f}" for k, v in res["median_error"].items()))


if __name__ == "__main__":
    main()
