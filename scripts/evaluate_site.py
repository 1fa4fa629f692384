#!/usr/bin/env python3
"""Site calibration, measured: how much a new site gains from `hemalens site
calibrate` with its own photos of normal slides and 0 / 20 / 50 / 100 cells its
reviewers labelled. Writes docs/site-calibration-evaluation.md and .json.

A new site must be a source the packs were never trained on, so the curve runs
on the leave-one-source-out packs (train_wbc_type.py / train_all_screen.py
--leave-out SRC, then fit_familiarity.py with the same --leave-out):

* bccd: calibration photos = bccd *train* fields (normal blood); reviewed cells =
  detector crops of one-white-cell train fields, labelled by the field; scored on
  the crops of the *val* fields (never used to calibrate or to choose anything).
* lisc: crops only, no field photos: profiles from reviewed cells alone (the fit
  side of lisc's split); scored on lisc's held-out cells.

Each n > 0 is drawn 5 times (seeds 0-4); the table gives the mean accuracy, the
range over draws and the Wilson interval of the pooled draws. Every choice the
calibration makes (penalty, temperature) is made inside `hemalens site
calibrate` on the reviewed cells themselves; nothing is tuned on the scored cells.
The shipped pack (which saw bccd and lisc in training) is shown as the in-domain
reference. The screen side: bccd val fields analysed by the packs trained
without bccd, before and after a profile made from bccd train photos only
(fields called malignant, fields refused as unfamiliar, healthy sessions referred).

  .venv-train/bin/python scripts/evaluate_site.py [--loso /tmp/hemalens-loso] [--work /tmp/hl]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import evaluate_domains as ed  # noqa: E402
import hemalens_data as hd  # noqa: E402

NS = [0, 20, 50, 100]
SEEDS = 5


def run(args: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run([dd.hemalens_bin(), *args], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"hemalens {args[0]} {args[1] if len(args) > 1 else ''} failed ({r.returncode}): {r.stderr[-1500:]}")
    return r


def as_png(rows: list[dict], folder: Path) -> list[Path]:
    """Each row's image as the pack's input is cut from it (lisc: its centre square)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, r in enumerate(rows):
        if not r.get("crop_side") and r["file"].endswith(".png"):
            out.append(Path(r["file"]))
            continue
        p = folder / f"{i:05d}.png"
        if not p.exists():
            hd.row_image(r).save(p)
        out.append(p)
    return out


def classify(pack: Path, images: list[Path], profile: Path | None) -> list[str]:
    labels = []
    for i in range(0, len(images), 400):
        extra = ["--site", str(profile)] if profile else []
        r = run(["classify", "--json", "--model", str(pack), *extra, *map(str, images[i:i + 400])])
        labels += [json.loads(l).get("label") for l in r.stdout.splitlines()]
    return labels


def scores(truth: list[str], pred: list[str]) -> dict:
    present = sorted(set(truth))
    f1 = []
    for c in present:
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    k = sum(t == p for t, p in zip(truth, pred))
    return {"correct": k, "n": len(truth), "accuracy": k / len(truth), "macro_f1": float(np.mean(f1))}


def calibrate(site: str, screen: Path, cells: Path, photos: list[Path], reviewed: list[tuple[Path, str]],
              out: Path) -> dict | None:
    args = ["site", "calibrate", "--json", "--site", site, "--out", str(out),
            "--screen-model", str(screen), "--cell-model", str(cells)]
    if reviewed:
        csv = out.with_suffix(".csv")
        csv.write_text("image,label\n" + "".join(f"{p},{l}\n" for p, l in reviewed))
        args += ["--cells", str(csv)]
    r = subprocess.run([dd.hemalens_bin(), *args, *map(str, photos)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  calibrate {site}: {r.stderr.strip()[-300:]}", flush=True)
        return None
    return json.loads(r.stdout.splitlines()[-1])


def curve(site: str, screen: Path, cells: Path, photos: list[Path], pool: list[tuple[Path, str]],
          test: list[tuple[Path, str]], work: Path) -> list[dict]:
    truth = [l for _, l in test]
    imgs = [p for p, _ in test]
    rows = []
    base = scores(truth, classify(cells, imgs, None))
    rows.append({"reviewed": "none (pack as trained)", "photos": 0, **summarise([base])})
    for n in NS:
        if n == 0 and not photos:
            continue
        runs, meta = [], []
        for seed in range(SEEDS if n else 1):
            rng = np.random.default_rng(1000 + seed)
            pick = [pool[i] for i in sorted(rng.choice(len(pool), min(n, len(pool)), replace=False))] if n else []
            prof = work / f"{site}-{cells.name}-n{n}-s{seed}.json"
            m = calibrate(site, screen, cells, photos, pick, prof)
            if m is None:
                continue
            meta.append(m)
            runs.append(scores(truth, classify(cells, imgs, prof)))
        if runs:
            refit = [m["refit"] for m in meta if m.get("refit")]
            rows.append({"reviewed": n, "photos": meta[0]["photos"], **summarise(runs),
                         "penalties": dict(Counter(str(r["penalty"]) for r in refit)),
                         "temperatures": [r["temperature"] for r in refit]})
        print(f"  {site} {cells.name} n={n}: {rows[-1]['accuracy']}", flush=True)
    return rows


def summarise(runs: list[dict]) -> dict:
    k, n = sum(r["correct"] for r in runs), sum(r["n"] for r in runs)
    accs = [r["accuracy"] for r in runs]
    lo, hi = hd.wilson(k, n)
    return {"draws": len(runs), "accuracy": round(float(np.mean(accs)), 4),
            "range": [round(min(accs), 4), round(max(accs), 4)], "ci": [round(lo, 4), round(hi, 4)],
            "macro_f1": round(float(np.mean([r["macro_f1"] for r in runs])), 4), "test_cells": runs[0]["n"]}


def field_effect(screen: Path, cells: Path, val_photos: list[Path], profile: Path) -> dict:
    out = {}
    for name, extra in (("before", []), ("after", ["--site", str(profile)])):
        reps = list(ed.evaluate_pipeline.analyze(dd.hemalens_bin(), val_photos, 200,
                                                 ["--screen-model", str(screen), "--cell-model", str(cells),
                                                  *extra]).values())
        issues = Counter(i["code"] for r in reps for i in r.get("quality", {}).get("issues", []))
        # A pack trained for this study has no thresholds of its own: the shipped screen's.
        refer = json.loads((screen / "manifest.json").read_text()).get("thresholds", {}).get(
            "refer_malignant_prob", json.loads((hd.REPO / "models/all-screen/manifest.json").read_text())[
                "thresholds"]["refer_malignant_prob"])
        out[name] = {"unfamiliar": hd.proportion(issues.get("unfamiliar_image", 0), len(reps)),
                     **ed.screen_calls(reps, refer),
                     "healthy_sessions": ed.sessions(reps)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--loso", default="/tmp/hemalens-loso")
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--out", default=str(hd.REPO / "docs" / "site-calibration-evaluation"))
    ap.add_argument("--reuse-left-out", action="store_true",
                    help="where a leave-one-source-out pack is not in --loso, keep its curves from the JSON "
                         "already written (said so in the output); for a change to the shipped packs only")
    a = ap.parse_args()
    prev = json.loads(Path(a.out).with_suffix(".json").read_text()) if a.reuse_left_out else {}
    data, work, loso = Path(a.data), Path(a.work), Path(a.loso)
    ev = work / "site-eval"
    ev.mkdir(parents=True, exist_ok=True)
    shipped_screen, shipped_cells = hd.REPO / "models" / "all-screen", hd.REPO / "models" / "wbc-type"
    rows = dd.cell_dataset(data, work, sims=False)
    report: dict = {"sites": {}}

    # bccd: photos of normal slides plus reviewed crops.
    lab = dd.bccd_labels(data)
    train_photos = sorted(Path(p) for p, r in lab.items() if r["split"] == "train")
    val_photos = sorted(Path(p) for p, r in lab.items() if r["split"] == "val")
    b = [r for r in rows if r["source"] == "bccd"]
    pool = [(Path(r["file"]), r["label"]) for r in b if r["split"] == "fit"]
    test = [(Path(r["file"]), r["label"]) for r in b if r["split"] == "held"]
    screen_new = loso / "all-screen-no-bccd"
    screen_new = screen_new if (screen_new / "manifest.json").is_file() else shipped_screen
    site = {"calibration_photos": len(train_photos), "reviewed_pool": len(pool), "test_cells": len(test),
            "pool_labels": dict(Counter(l for _, l in pool)), "test_labels": dict(Counter(l for _, l in test)),
            "curves": {}}
    new = loso / "wbc-type-no-bccd"
    if (new / "manifest.json").is_file():
        site["curves"]["trained without bccd (new site)"] = curve("bccd", screen_new, new, train_photos, pool, test, ev)
        prof = ev / f"bccd-{new.name}-n0-s0.json"
        if prof.exists():
            site["fields"] = {"screen_pack": screen_new.name, **field_effect(screen_new, new, val_photos, prof)}
        # The same through the eyepiece: a profile from simulated phone photos of bccd *train* fields
        # (the photos the cell and screen packs' training also made), healthy sessions of photos of val fields.
        sims = sorted((work / "sims" / "bccd-100").glob("*.jpg"))
        sprof = ev / f"bccd-sims-{new.name}.json"
        if sims and calibrate("bccd-phone", screen_new, new, sims, [], sprof):
            site["eyepiece"] = {"calibration_photos": len(sims), "screen_pack": screen_new.name,
                                **field_effect(screen_new, new, ed.simulated_bccd_val(data, work), sprof)}
    elif prev:
        keep(prev, report, "bccd", site)
    site["curves"]["shipped (bccd train in training)"] = curve("bccd", shipped_screen, shipped_cells, train_photos,
                                                               pool, test, ev)
    report["sites"]["bccd"] = site

    # lisc: reviewed crops alone.
    li = [r for r in rows if r["source"] == "lisc"]
    fit = [r for r in li if r["split"] == "fit"]
    held = [r for r in li if r["split"] == "held"]
    pool = list(zip(as_png(fit, ev / "lisc-fit"), [r["label"] for r in fit]))
    test = list(zip(as_png(held, ev / "lisc-held"), [r["label"] for r in held]))
    site = {"calibration_photos": 0, "reviewed_pool": len(pool), "test_cells": len(test),
            "test_labels": dict(Counter(l for _, l in test)), "curves": {}}
    new = loso / "wbc-type-no-lisc"
    if (new / "manifest.json").is_file():
        site["curves"]["trained without lisc (new site)"] = curve("lisc", shipped_screen, new, [], pool, test, ev)
    elif prev:
        keep(prev, report, "lisc", site)
    site["curves"]["shipped (lisc fit in training)"] = curve("lisc", shipped_screen, shipped_cells, [], pool, test,
                                                             ev)
    report["sites"]["lisc"] = site

    out = Path(a.out)
    hd.write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out.with_suffix('.md')}")


def keep(prev: dict, report: dict, src: str, site: dict) -> None:
    """The previous JSON's new-site figures for `src` (--reuse-left-out: its left-out packs are not at hand)."""
    old = prev.get("sites", {}).get(src, {})
    for k, v in old.get("curves", {}).items():
        if "new site" in k:
            site["curves"][k] = v
    for k in ("fields", "eyepiece"):
        if k in old:
            site[k] = old[k]
    report["left_out_reused"] = prev.get("left_out_reused") or ed.LEFT_OUT_REUSED
    report.setdefault("left_out_reused_sources", []).append(src)


def markdown(r: dict) -> str:
    L = ["# Site calibration: the learning curve", "",
         "Written by `scripts/evaluate_site.py` (do not edit by hand). A *new site* is a source the packs",
         "were not trained on: the packs trained without it (leave-one-source-out) are calibrated with",
         "`hemalens site calibrate` on that source's training side and scored on its held-out side.",
         "Each n > 0 is 5 random draws of reviewed cells; accuracy is the mean over draws, with the",
         "range over draws and the 95% Wilson interval of the pooled draws. The penalty and temperature",
         "are chosen inside the calibration, on the reviewed cells only.", ""]
    if r.get("left_out_reused"):
        which = " and ".join(r.get("left_out_reused_sources", [])) or "every site"
        L += [f"The new-site figures of {which} are kept from the previous run ({r['left_out_reused']}); the "
              "other figures are this run's.", ""]
    for name, s in r["sites"].items():
        L += [f"## {name}", "",
              f"Calibration photos: {s['calibration_photos']}; reviewed-cell pool: {s['reviewed_pool']}; "
              f"scored on {s['test_cells']} held-out cells {s.get('test_labels', '')}.", ""]
        for cname, rows in s["curves"].items():
            L += [f"**{cname}**", "", "| reviewed cells | photos | accuracy | range over draws | 95% CI | macro-F1 |",
                  "|---|---|---|---|---|---|"]
            for x in rows:
                L.append(f"| {x['reviewed']} | {x['photos']} | {x['accuracy']:.3f} | {x['range'][0]:.3f}-"
                         f"{x['range'][1]:.3f} | {x['ci'][0]:.3f}-{x['ci'][1]:.3f} | {x['macro_f1']:.3f} |")
            L.append("")
        for key, title in (("fields", "bccd val fields through packs trained without bccd (screen `{}`), before "
                                      "and after a profile from the bccd train fields only (no reviewed cells)"),
                           ("eyepiece", "Simulated phone photos through the eyepiece of bccd val fields, packs "
                                        "trained without bccd (screen `{}`), before and after a profile from {} "
                                        "simulated photos of bccd train fields (no reviewed cells)")):
            if key not in s:
                continue
            fe = s[key]
            L += [f"**{title.format(fe['screen_pack'], fe.get('calibration_photos'))}**:", "",
                  "| | fields | refused unfamiliar | accepted | called malignant | healthy sessions referred |",
                  "|---|---|---|---|---|---|"]
            for k in ("before", "after"):
                e = fe[k]
                u, m, hs = e["unfamiliar"], e["called_malignant"], e["healthy_sessions"]
                L.append(f"| {k} | {e['fields']} | {u['k']} ({u['ci'][0]:.2f}-{u['ci'][1]:.2f}) | {e['accepted']} | "
                         f"{m['k']} ({m['ci'][0]:.2f}-{m['ci'][1]:.2f}) | {hs['referred']['k']} of {hs['sessions']} "
                         f"({hs['decisions']}) |")
            L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
