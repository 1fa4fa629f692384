#!/usr/bin/env python3
"""Measures each pack's red-cell scale with the field pipeline's own measure.

A pack's `input.rbc_diameter_px` says how many pixels a red cell spans in the
model input, and the field pipeline cuts crops and tiles so that photos match
it. Both sides must use the same ruler: this script runs `hemalens analyze`
(detection only) on the pack's training images at their native size, takes the
median measured red-cell diameter, and scales it to the model input
(`median * input_width / native_width`).

Usage: measure_scale.py [--bin target/release/hemalens] [--data DIR] [--n 300] [--write]
  --write   store the values in models/*/manifest.json (input.rbc_diameter_px)
"""
import argparse
import csv
import json
import os
import random
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pack -> (dataset folder, native image width the model input is resized from)
PACKS = {"all-screen": ("aria_all", 224), "wbc-type": ("pbc_wbc", 360)}


def measure(bin_, paths, batch=100):
    out = []
    for i in range(0, len(paths), batch):
        chunk = [str(p) for p in paths[i : i + batch]]
        r = subprocess.run([bin_, "analyze", "--json", "--detect-only", *chunk], capture_output=True, text=True)
        if r.returncode not in (0, 1):
            raise SystemExit(f"hemalens analyze failed ({r.returncode}): {r.stderr[-2000:]}")
        for line in r.stdout.splitlines():
            d = json.loads(line)
            if d.get("scale"):
                out.append(d["scale"]["rbc_diameter_px"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("HEMALENS_BIN", str(ROOT / "target" / "release" / "hemalens")))
    ap.add_argument("--data", default=os.environ.get("HEMALENS_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--n", type=int, default=300, help="training images per pack")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    data = Path(a.data)
    results = {}
    for pack, (folder, native) in PACKS.items():
        rows = [r for r in csv.DictReader(open(data / folder / "labels.csv")) if r["split"] == "train"]
        rows = random.Random(a.seed).sample(rows, min(a.n, len(rows)))
        d = measure(a.bin, [data / folder / r["path"] for r in rows])
        q = statistics.quantiles(d, n=4)
        mpath = ROOT / "models" / pack / "manifest.json"
        m = json.loads(mpath.read_text())
        at_input = round(statistics.median(d) * m["input"]["width"] / native, 2)
        results[pack] = {"dataset": folder, "images": len(rows), "measured": len(d),
                         "median_px": round(statistics.median(d), 2), "quartiles_px": [round(q[0], 2), round(q[2], 2)],
                         "native_width": native, "rbc_diameter_px_at_input": at_input,
                         "manifest": m["input"]["rbc_diameter_px"]}
        if a.write:
            m["input"]["rbc_diameter_px"] = at_input
            mpath.write_text(json.dumps(m, indent=2) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
