#!/usr/bin/env python3
"""Held-out evaluation of the session decision rule (docs/decision-rule.md).

Sessions are simulated from held-out data only, and decided by the shipped
rule itself (`hemalens session decide`, the Rust code every app runs):

- the leukaemia screen of a session comes from consecutive `aria_all` *val*
  fields of one class (the split is block-wise by file number, and neighbouring
  numbers are very likely the same smear, so a run of consecutive fields stands
  in for one patient's slide), classified by `hemalens classify --model all-screen`;
- its white cells come from `pbc_wbc` *test* crops classified by
  `hemalens classify --model wbc-type`, drawn (with replacement: the test split
  has only ~300 crops) into differentials: a normal mix, or mixes with immature
  granulocytes, erythroblasts or a lymphocytosis;
- fields are added until the rule's own stopping point (target confident white
  cells or the field limit), like the app does.

Writes the figures into docs/decision-rule.md between the markers, and the raw
counts to docs/decision-rule.json.

    python scripts/evaluate_sessions.py [--bin target/release/hemalens]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HEMALENS_DATA", ROOT.parent / "shared" / "data"))
DOC = ROOT / "docs" / "decision-rule.md"
BEGIN, END = "<!-- BEGIN evaluate_sessions.py -->", "<!-- END evaluate_sessions.py -->"
Z95 = 1.959963984540054

NORMAL = {"neutrophil": 0.60, "lymphocyte": 0.30, "monocyte": 0.06, "eosinophil": 0.03, "basophil": 0.01}
SCENARIOS = {
    # name: (screen fields from, white-cell mix, should refer)
    "healthy": ("benign", NORMAL, False),
    "acute leukaemia (B-ALL), normal differential": ("malignant", NORMAL, True),
    "immature granulocytes 15%": (
        "benign",
        {"neutrophil": 0.45, "lymphocyte": 0.30, "monocyte": 0.06, "eosinophil": 0.03, "basophil": 0.01, "ig": 0.15},
        True,
    ),
    "erythroblasts 10 per 100 white cells": ("benign", {**{k: v * 0.9 for k, v in NORMAL.items()}, "erythroblast": 0.10}, True),
    "lymphocytosis (75% lymphocytes)": (
        "benign",
        {"neutrophil": 0.15, "lymphocyte": 0.75, "monocyte": 0.06, "eosinophil": 0.03, "basophil": 0.01},
        True,
    ),
}
CELLS_PER_FIELD = 15
PLATELETS_PER_FIELD = 2
FIELDS_PER_SLIDE = 5


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


def classify(binary: str, model: str, paths: list[Path]) -> dict[str, dict]:
    out = {}
    for i in range(0, len(paths), 200):
        chunk = [str(p) for p in paths[i : i + 200]]
        r = subprocess.run([binary, "classify", "--model", model, "--json", *chunk], capture_output=True, text=True)
        if r.returncode == 2:
            sys.exit(f"classify failed: {r.stderr.strip()}")
        for line in r.stdout.splitlines():
            o = json.loads(line)
            if "error" not in o:
                out[o["path"]] = o
    return out


def rows(folder: str, split: str) -> list[dict]:
    with open(DATA / folder / "labels.csv") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def number(path: str) -> int:
    m = re.findall(r"\d+", Path(path).stem)
    return int(m[-1]) if m else 0


def decide(binary: str, sims: list[dict]) -> list[dict]:
    r = subprocess.run(
        [binary, "session", "decide"],
        input="\n".join(json.dumps(s) for s in sims) + "\n",
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"session decide failed: {r.stderr.strip()}")
    return [json.loads(l) for l in r.stdout.splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("HEMALENS_BIN", str(ROOT / "target" / "release" / "hemalens")))
    ap.add_argument("--repeats", type=int, default=4, help="cell draws per benign slide and scenario")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--no-write", action="store_true", help="print, do not touch docs/")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    # The packs and thresholds the binary itself embeds (not the files in models/,
    # which may be newer than the build).
    listed = [json.loads(l) for l in subprocess.run([args.bin, "models", "--json"], capture_output=True, text=True).stdout.splitlines()]
    models = [{"id": m["id"], "version": m["version"], "sha256": m["sha256"]} for m in listed if m["id"] in ("all-screen", "wbc-type")]
    thresholds = decide(args.bin, [{"fields": []}])[0]["provenance"]["thresholds"]
    cell_min_conf = thresholds["wbc-type.min_confidence"]

    # Screen: consecutive aria val fields of one class = one slide.
    aria = rows("aria_all", "val")
    aria_pred = classify(args.bin, "all-screen", [DATA / "aria_all" / r["path"] for r in aria])
    slides: dict[str, list[list[dict]]] = defaultdict(list)
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in aria:
        p = aria_pred.get(str(DATA / "aria_all" / r["path"]))
        if p:
            by_class[r["label"]].append({**p, "n": number(r["path"])})
    for label, fields in by_class.items():
        fields.sort(key=lambda f: f["n"])
        group = "benign" if label == "benign" else "malignant"
        for i in range(0, len(fields) - FIELDS_PER_SLIDE + 1, FIELDS_PER_SLIDE):
            slides[group].append(fields[i : i + FIELDS_PER_SLIDE])

    # Cells: pbc_wbc test crops by their true class.
    pbc = rows("pbc_wbc", "test")
    pbc_pred = classify(args.bin, "wbc-type", [DATA / "pbc_wbc" / r["path"] for r in pbc])
    crops: dict[str, list[dict]] = defaultdict(list)
    for r in pbc:
        p = pbc_pred.get(str(DATA / "pbc_wbc" / r["path"]))
        if p:
            crops[r["label"]].append(p)

    def cell(true_label: str) -> dict:
        p = rng.choice(crops[true_label])
        return {"bbox": [0, 0, 1, 1], "label": p["label"], "confidence": p["confidence"], "probs": p["probs"]}

    def session(slide: list[dict], mix: dict[str, float]) -> dict:
        labels, weights = zip(*mix.items())
        fields, confident = [], 0
        while confident < 100 and len(fields) < 30:
            cells = [cell(t) for t in rng.choices(labels, weights, k=CELLS_PER_FIELD)]
            cells += [cell("platelet") for _ in range(PLATELETS_PER_FIELD)]
            confident += sum(c["label"] != "platelet" and c["confidence"] >= cell_min_conf for c in cells)
            j = len(fields)
            screen = None
            if j < len(slide):
                s = slide[j]
                screen = {"label": s["label"], "confidence": s["confidence"], "probs": s["probs"], "tiles": 1}
            fields.append({
                "quality": {"ok": True, "issues": [], "focus": 1.0, "exposure": 0.5, "fov": None},
                "scale": None, "cells": cells, "screen": screen, "timing_ms": {}, "models": models,
            })
        return {"fields": fields}

    sims, truth = [], []
    for name, (group, mix, refer) in SCENARIOS.items():
        repeats = args.repeats if group == "benign" else 1
        for slide in slides[group]:
            for _ in range(repeats):
                sims.append(session(slide, mix))
                truth.append((name, refer))
    summaries = decide(args.bin, sims)
    assert len(summaries) == len(sims)

    per = defaultdict(Counter)
    reasons = defaultdict(Counter)
    fields_used = defaultdict(list)
    for (name, _), s in zip(truth, summaries):
        d = s["outcome"]["decision"]
        per[name][d] += 1
        fields_used[name].append(s["fields"]["added"])
        for reason in s["outcome"]["reasons"]:
            reasons[name][reason["code"]] += 1

    def tally(refer_expected: bool) -> Counter:
        c = Counter()
        for name, (_, _, refer) in SCENARIOS.items():
            if refer == refer_expected:
                c.update(per[name])
        return c

    dis, hea = tally(True), tally(False)
    n_dis, n_hea = sum(dis.values()), sum(hea.values())
    sens = (dis["refer"], n_dis)
    spec = (n_hea - hea["refer"], n_hea)
    dec_dis = dis["refer"] + dis["no_abnormality_detected"]
    dec_hea = hea["refer"] + hea["no_abnormality_detected"]
    sens_dec = (dis["refer"], dec_dis)
    spec_dec = (hea["no_abnormality_detected"], dec_hea)

    def fmt(k: int, n: int) -> str:
        if n == 0:
            return "n/a (0 sessions)"
        lo, hi = wilson(k, n)
        return f"{100 * k / n:.1f}% ({k}/{n}; 95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"

    lines = [
        BEGIN,
        "",
        f"Figures written by `scripts/evaluate_sessions.py` (seed {args.seed}) with packs "
        + ", ".join(f"`{m['id']}` {m['version']} (sha256 `{m['sha256'][:12]}`)" for m in models)
        + ". Sessions: "
        f"{len(slides['benign'])} benign and {len(slides['malignant'])} malignant `aria_all` val slides of "
        f"{FIELDS_PER_SLIDE} consecutive fields; white cells drawn from {sum(len(v) for v in crops.values())} "
        f"`pbc_wbc` test crops ({CELLS_PER_FIELD} white cells and {PLATELETS_PER_FIELD} platelets a field, "
        f"fields added until the rule's stopping point); benign slides used {args.repeats} times per scenario with fresh cell draws.",
        "",
        "| | value |",
        "|---|---|",
        f"| **sensitivity** (refer, over all sessions that should refer) | {fmt(*sens)} |",
        f"| **specificity** (not refer, over all healthy sessions) | {fmt(*spec)} |",
        f"| sensitivity among decided sessions (inconclusive left out) | {fmt(*sens_dec)} |",
        f"| specificity among decided sessions | {fmt(*spec_dec)} |",
        f"| inconclusive, sessions that should refer | {fmt(dis['inconclusive'], n_dis)} |",
        f"| inconclusive, healthy sessions | {fmt(hea['inconclusive'], n_hea)} |",
        "",
        "| scenario | sessions | refer | no abnormality | inconclusive | median fields | most frequent reasons |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        c = per[name]
        n = sum(c.values())
        fu = sorted(fields_used[name])
        med = fu[len(fu) // 2] if fu else 0
        top = ", ".join(f"`{k}` {v}" for k, v in reasons[name].most_common(3))
        lines.append(
            f"| {name} | {n} | {c['refer']} | {c['no_abnormality_detected']} | {c['inconclusive']} | {med} | {top} |"
        )
    lines += [
        "",
        "Thresholds used (manifest values where the pack names them, else the defaults): "
        + ", ".join(f"`{k}` = {v:g}" for k, v in sorted(thresholds.items()) if "differential" not in k)
        + ".",
        "",
        "Caveats: no patient ids exist in these datasets, so a \"slide\" is a run of consecutive files, not a"
        " confirmed patient; the crops are re-drawn with replacement from a small test split, so the intervals"
        " for the cell scenarios are narrower than independent patients would give; the two datasets come from"
        " different labs and microscopes and neither is a phone photo through an eyepiece.",
        "",
        END,
    ]
    block = "\n".join(lines)
    print(block)
    if args.no_write:
        return
    text = DOC.read_text() if DOC.exists() else f"# Decision rule\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text += "\n" + block + "\n"
    DOC.write_text(text)
    (ROOT / "docs" / "decision-rule.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "models": models,
                "thresholds": thresholds,
                "scenarios": {k: dict(per[k]) for k in SCENARIOS},
                "sensitivity": {"k": sens[0], "n": sens[1], "ci95": wilson(*sens)},
                "specificity": {"k": spec[0], "n": spec[1], "ci95": wilson(*spec)},
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
