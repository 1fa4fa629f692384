#!/usr/bin/env python3
"""Writes tests/golden/expected_labels.json: for the fixed golden image set
(tests/python/golden_set.py), the label the Python reference gives — the
docs/model-pack.md preprocessing written in PIL, then the ai_edge_litert
interpreter and the probability rule. The golden tests check that the Rust CLI
gives the same labels (and bitwise the same probabilities on its own tensors).
Re-run after a pack changes: .venv/bin/python scripts/make_golden.py
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from golden import Reference, load_manifest, probabilities  # noqa: E402
from golden_set import golden_images  # noqa: E402
from test_golden_engine import spec_tensor  # noqa: E402


def main():
    data = Path(os.environ.get("HEMALENS_DATA", ROOT.parent / "shared" / "data"))
    out = {}
    refs = {}
    for pack, rel in golden_images(data):
        d = ROOT / "models" / pack
        m = load_manifest(d)
        ref = refs.setdefault(pack, Reference(d / "model.tflite"))
        t = spec_tensor(data / rel, m).tobytes()
        p = probabilities(ref.run(t), m)
        top = [int(i) for i in np.argsort(p, kind="stable")[::-1][:2]]
        out.setdefault(pack, {})[rel] = {"label": m["labels"][int(np.argmax(p))], "sha256": m["sha256"],
                                         "top2": [m["labels"][i] for i in top],
                                         "margin": round(float(p[top[0]] - p[top[1]]), 4)}
    path = ROOT / "tests" / "golden" / "expected_labels.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sum(len(v) for v in out.values())} expectations to {path}")


if __name__ == "__main__":
    main()
