#!/usr/bin/env python3
"""Where the quality gate's "drawn, not photographed" line lies (FLAT_MAX).

The gate's flat-colour measure (`quality::flat_colour` in rust-core/core/src/
field/quality.rs) is the share of a field's mid-tone pixels taken by its 8 most
frequent exact colours: near 0 for a photograph (sensor noise), near 1 for a
drawing or a screenshot. This script runs the pipeline (`HEMALENS_DEBUG=1
hemalens analyze`, which logs each photo's gate measures) on the *training*
fields of every source the packs learnt from (bccd train, raabin_phone train,
aria_all train) and on simulated eyepiece photos of bccd train fields, and
writes each source's distribution and the line they give to
docs/flat-colour-fit.json:

  line = the highest value on any training field + 0.15, rounded up to 0.05

No held-out field and no non-blood picture is looked at: those are what
scripts/evaluate_unfamiliar.py and evaluate_pipeline.py then report on.

  .venv/bin/python scripts/fit_flat_colour.py
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import hemalens_data as hd  # noqa: E402

MARGIN = 0.15


def flat_of(paths: list[Path], batch: int = 100) -> dict[str, float]:
    """Each photo's flat-colour measure, paired with its report by the gate
    line's focus and exposure (photos that fail to decode log no line)."""
    out = {}
    env = dict(os.environ, HEMALENS_DEBUG="1")
    for i in range(0, len(paths), batch):
        chunk = [str(p) for p in paths[i:i + batch]]
        r = subprocess.run([dd.hemalens_bin(), "analyze", "--json", *chunk], capture_output=True, text=True, env=env)
        if r.returncode not in (0, 1):
            raise SystemExit(f"hemalens analyze failed ({r.returncode}): {r.stderr[-2000:]}")
        gates = [json.loads(line) for line in r.stderr.splitlines() if line.startswith('{"focus"')]
        reps = [json.loads(line) for line in r.stdout.splitlines()]
        gi = 0
        for rep in reps:
            q = rep.get("quality")
            if q is None:
                continue
            g = gates[gi]
            gi += 1
            if abs(round(g["focus"], 3) - q["focus"]) > 1e-6 or abs(round(g["exposure"], 3) - q["exposure"]) > 1e-6:
                raise SystemExit(f"gate log and reports out of step at {rep['path']}")
            out[rep["path"]] = g["flat"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--out", default=str(hd.REPO / "docs" / "flat-colour-fit.json"))
    a = ap.parse_args()
    data, work = Path(a.data), Path(a.work)
    bccd = sorted(Path(p) for p, r in dd.bccd_labels(data).items() if r["split"] == "train")
    sim = work / "sims" / "bccd-train-flat"
    truth = dd.simulate(data, sim, "bccd", "train", 60, 100.0, 41, False)
    sets = {
        "bccd train fields": bccd,
        "raabin_phone train frames": [Path(r["file"]) for r in hd.read_labels(data / "raabin_phone")
                                      if r["split"] == "train"],
        "aria_all train fields": [Path(r["file"]) for r in dd.aria_rows(data) if r["split"] in ("fit", "tune")],
        "simulated eyepiece photos of bccd train fields": [sim / t["file"] for t in truth],
    }
    report = {"measure": "share of mid-tone pixels in the 8 most frequent exact colours (quality::flat_colour)",
              "rule": f"line = highest training value + {MARGIN}, rounded up to 0.05", "sources": {}}
    top = 0.0
    for name, paths in sets.items():
        got = flat_of(paths)
        v = np.array(list(got.values()))
        report["sources"][name] = {"n": len(v), "median": round(float(np.median(v)), 4),
                                   "p99": round(float(np.quantile(v, 0.99)), 4), "max": round(float(v.max()), 4)}
        top = max(top, float(v.max()))
        print(name, report["sources"][name], flush=True)
    report["highest"] = round(top, 4)
    report["line"] = math.ceil((top + MARGIN) * 20 - 1e-9) / 20
    print("line", report["line"])
    hd.write_json(Path(a.out), report)


if __name__ == "__main__":
    main()
