#!/usr/bin/env python3
"""Where in the screen should familiarity be measured? A comparison, not shipped.

The packs' familiarity score (fit_familiarity.py) is a Gaussian on the pooled
features that feed the logits. A longer-trained screen (docs/model-pack.md, "The
next all-screen") separates aria's classes better, and its last layer no longer
sees that a drawn smear is drawn. Here the same kind of score (probabilistic PCA,
line at the 0.99 quantile of the tuning rows) is fitted on the statistics of
earlier layers too: each channel's mean and standard deviation over the feature
map (the statistics style transfer works with: colour, texture, edges), layer by
layer, and each is scored on held-out real fields and on pictures that are not
photographed blood.

Float Keras model from a pack's kept weights (train_*.py writes
<cache-dir>/all-screen-best.weights.h5); the pipeline's own screening tiles of
every test photo (hemalens analyze, dumped windows), so what is scored is what
the screen would see. Writes docs/layer-familiarity.{md,json}.

  .venv-train/bin/python scripts/measure_layer_familiarity.py --weights /tmp/hemalens-cache/all-screen-best.weights.h5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import fit_familiarity as ff  # noqa: E402
import hemalens_data as hd  # noqa: E402
import make_test_images  # noqa: E402
import simulate_eyepiece  # noqa: E402

import numpy as np  # noqa: E402

LAYERS = ["block_2_add", "block_5_add", "block_9_add", "block_12_add", "out_relu"]
README_DEMO_FIELD = "images/BloodImage_00339.jpg"
ACROSS = [18, 26, 34]


def layer_stats(weights: str):
    import keras
    m = hd.build_mobilenet("v2", 0.35, 224, 4, standardise=True)
    m.load_weights(weights)
    body, std = m.layers[-1], m.layers[-2]
    sub = keras.Model(body.input, [body.get_layer(n).output for n in LAYERS])

    def run(items: list) -> list[np.ndarray]:
        out: list[list[np.ndarray]] = [[] for _ in LAYERS]
        for i in range(0, len(items), 32):
            imgs = []
            for r in items[i:i + 32]:
                if isinstance(r, dict):
                    masks = [hd.ARIA_MASK] if r.get("source") == "aria_all" else []
                    imgs.append(hd.preprocess_uint8(hd.row_image(r), 224, 224, masks))
                else:
                    imgs.append(hd.preprocess_uint8(hd.load_rgb(str(r)), 224, 224, []))
            ys = sub(std(hd.normalize(np.stack(imgs)).astype(np.float32)), training=False)
            for k, y in enumerate(ys):
                y = y.numpy()
                out[k].append(np.concatenate([y.mean((1, 2)), y.std((1, 2))], 1).astype(np.float64))
        return [np.concatenate(o) for o in out]
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="/tmp/hemalens-cache/all-screen-best.weights.h5")
    ap.add_argument("--label", default="the 20-epoch all-screen candidate (docs/model-pack.md)")
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--fit-rows", type=int, default=1500)
    ap.add_argument("--out", default=str(hd.REPO / "docs" / "layer-familiarity"))
    a = ap.parse_args()
    data, work = Path(a.data), Path(a.work)
    run = layer_stats(a.weights)
    fit_rows, tune_rows = ff.rows_for("all-screen", data, work, None)
    fs = ff.sample(fit_rows, a.fit_rows, 0)
    print(f"fit sample {len(fs)}, tune {len(tune_rows)}", flush=True)
    F_fit, F_tune = run(fs), run(tune_rows)

    # Test photos; the screen sees the pipeline's tiles of them.
    gen = work / "layer-familiarity"
    gen.mkdir(parents=True, exist_ok=True)
    # The first README demo (the README's is now the 26-across view): the field whole, 6 red cells across.
    narrow = gen / "demo-narrow.jpg"
    simulate_eyepiece.demo(data, README_DEMO_FIELD, narrow, 1)
    photos: dict[str, list[Path]] = {"README demo (one field, 6 red cells across)": [narrow]}
    for n in ACROSS:
        p = gen / f"demo-mirrored-{n}.jpg"
        simulate_eyepiece.demo(data, README_DEMO_FIELD, p, 1, n)
        photos.setdefault("the demo's field mirror-tiled, 18/26/34 red cells across", []).append(p)
    photos["drawn cartoons (tests/fixtures/samples)"] = sorted((hd.REPO / "tests" / "fixtures" / "samples").glob("*.jpg"))
    rng = np.random.default_rng(7)
    drawn = []
    for i in range(24):
        w, h = (640, 480) if i % 2 else (960, 720)
        wbcs = tuple((float(rng.uniform(0.15, 0.85) * w), float(rng.uniform(0.15, 0.85) * h),
                      ["neutrophil", "lymphocyte"][int(rng.integers(0, 2))]) for _ in range(int(rng.integers(1, 4))))
        p = gen / f"drawn-{i:02d}.jpg"
        make_test_images.smear(w, h, seed=1000 + i, wbcs=wbcs).save(p, quality=88)
        drawn.append(p)
    photos["drawn smears (24, other seeds)"] = drawn
    sim = work / "sims" / "bccd-val-100"
    truth = dd.simulate(data, sim, "bccd", "val", 40, 100.0, 31, False)
    photos["simulated eyepiece photos of bccd val fields"] = [sim / t["file"] for t in truth]
    tiles_dir = gen / "windows"
    dd.dump_windows([p for v in photos.values() for p in v], tiles_dir)
    sets = {k: [t for p in v for t in dd.windows_of(tiles_dir, p, "tile")] for k, v in photos.items()}
    held = [r for r in dd.screen_dataset(data, work) if r["split"] in ("held", "val")]
    for src, name in (("aria_all", "aria_all val fields"), ("bccd", "bccd val frames (pipeline tiles)"),
                      ("raabin", "raabin_phone val frames (pipeline tiles)")):
        sets[name] = [r for r in held if r["source"] == src]
    F = {k: run(v) for k, v in sets.items() if v}
    report = {"weights": a.weights, "label": a.label, "fit_rows": len(fs), "tune_rows": len(tune_rows),
              "tiles": {k: len(v) for k, v in sets.items()}, "layers": {}}
    for li, layer in enumerate(LAYERS):
        dim = F_fit[li].shape[1]
        k = min(16, dim // 2)
        g = ff.fit(F_fit[li], k)
        line = float(np.quantile(ff.score(F_tune[li], g), 0.99))
        row = {"dim": dim, "k": k}
        for name, f in F.items():
            d = ff.score(f[li], g) / line
            row[name] = {"flagged": int((d > 1).sum()), "n": len(d), "median": round(float(np.median(d)), 3),
                         "min": round(float(d.min()), 3), "max": round(float(d.max()), 3)}
        report["layers"][layer] = row
        print(layer, {n: (v["flagged"], v["n"], v["median"]) for n, v in row.items() if isinstance(v, dict)},
              flush=True)
    out = Path(a.out)
    hd.write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(markdown(report))


def markdown(r: dict) -> str:
    names = list(r["tiles"])
    L = ["# Familiarity at each depth of the screen", "",
         "Written by `scripts/measure_layer_familiarity.py` (do not edit by hand): a comparison, not",
         f"what the packs ship. Weights: {r['label']} (float). Per layer, a probabilistic-PCA Gaussian",
         "on each channel's mean and standard deviation over the feature map, fitted on "
         f"{r['fit_rows']} fit rows; line at the 0.99 quantile of the {r['tune_rows']} tuning rows",
         "(as fit_familiarity.py does for the last layer). Each cell: screening tiles beyond the line",
         "/ tiles, and the median distance (line = 1). Test photos go through `hemalens analyze`; what",
         "is scored are the tiles the pipeline cut from them.", "",
         "| layer (dim, axes) | " + " | ".join(names) + " |",
         "|---|" + "---|" * len(names)]
    for layer, row in r["layers"].items():
        cells = [f"{row[n]['flagged']}/{row[n]['n']} ({row[n]['median']})" if n in row else "-" for n in names]
        L.append(f"| {layer} ({row['dim']}, {row['k']}) | " + " | ".join(cells) + " |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
