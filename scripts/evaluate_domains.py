#!/usr/bin/env python3
"""How the packs do on microscopes and cameras they were not trained on.

Writes docs/domain-evaluation.md and .json. Every figure is on held-out data
(scripts/domain_data.py has the splits), with 95 % Wilson intervals:

* white-cell type, per source (pbc_wbc test, lisc held-out cells, bccd val
  fields' detector crops): the first packs (v1, from git), the shipped pack,
  and leave-one-source-out packs trained without that source (what the next
  clinic sees);
* the screen through the real pipeline (`hemalens analyze`, packs given as
  folders) on normal blood of other labs: bccd val frames, raabin val frames,
  simulated eyepiece photos made from bccd val fields; share called malignant
  (label other than benign, and P(malignant) at or above the refer threshold);
  each with the shipped pack and with one trained without that source;
* "from the cells, not the source": aria val fields restyled to the colour of
  bccd/raabin normal tiles and framed in plasma as their small frames are; a
  screen that had learnt the source would call them benign;
* blasts passed as confident mature cells: detector crops of aria val malignant
  fields (simulated eyepiece photos) typed by the cell pack;
* healthy sessions from another microscope decided by the shipped rule
  (`hemalens session decide`): runs of simulated bccd val photos (0 referred is
  the goal).

No threshold is chosen here: temperature and thresholds are the manifests'
(fitted on tuning splits by evaluate_models.py).

  .venv-train/bin/python scripts/evaluate_domains.py [--loso DIR] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import domain_data as dd  # noqa: E402
import evaluate_pipeline  # noqa: E402
import hemalens_data as hd  # noqa: E402

import numpy as np  # noqa: E402

ROOT = hd.REPO
V1_COMMIT = "a189f27"  # the first packs (trained on one lab each), kept in git history
# Said in the output of --reuse-left-out (here and in evaluate_site.py).
LEFT_OUT_REUSED = "the left-out packs were not at hand when this was written"


def v1_pack(pack: str, work: Path) -> Path:
    d = work / "v1" / pack
    d.mkdir(parents=True, exist_ok=True)
    for f in ("manifest.json", "model.tflite"):
        if not (d / f).is_file():
            blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{V1_COMMIT}:models/{pack}/{f}"],
                                  capture_output=True, check=True).stdout
            (d / f).write_bytes(blob)
    return d


def probs_of(pack_dir: Path, rows: list[dict]):
    m = json.loads((pack_dir / "manifest.json").read_text())
    w, h, masks = m["input"]["width"], m["input"]["height"], m["input"]["masks"]
    X = np.stack([hd.preprocess_uint8(hd.row_image(r), w, h, masks) for r in rows])
    L = hd.run_tflite(pack_dir / m["model_file"], X, mean=m["input"]["normalization"]["mean"],
                      std=m["input"]["normalization"]["std"])
    return m, hd.softmax_T(L, m["calibration"]["temperature"])


def cell_scores(pack_dir: Path, rows: list[dict]) -> dict:
    m, P = probs_of(pack_dir, rows)
    labels = m["labels"]
    y = np.array([labels.index(r["label"]) for r in rows])
    pred = P.argmax(1)
    present = sorted(set(y.tolist()))
    cm = hd.confusion(y, pred, len(labels))
    f1 = []
    for i in present:
        tp, fp, fn = cm[i, i], cm[:, i].sum() - cm[i, i], cm[i, :].sum() - cm[i, i]
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    conf = P.max(1) >= m["thresholds"].get("min_confidence", 0.5)
    wrong = Counter(f"{labels[a]}->{labels[b]}" for a, b in zip(y, pred) if a != b)
    return {"accuracy": hd.proportion(int((pred == y).sum()), len(y)), "macro_f1": round(float(np.mean(f1)), 4),
            "ece": round(hd.ece(P, y), 4),
            "confident_share": round(float(conf.mean()), 4),
            "confident_accuracy": hd.proportion(int((pred[conf] == y[conf]).sum()), int(conf.sum())),
            "top_errors": dict(wrong.most_common(4))}


def analyze(paths: list[Path], screen: Path | str, cells: Path | str) -> list[dict]:
    """Reports in input order, through the pipeline evaluation's own runner."""
    extra = ["--screen-model", str(screen), "--cell-model", str(cells)]
    return list(evaluate_pipeline.analyze(dd.hemalens_bin(), paths, 200, extra).values())


def screen_calls(reports: list[dict], refer: float) -> dict:
    ok = [r for r in reports if r.get("quality", {}).get("ok") and r.get("screen")]
    mal = sum(r["screen"]["label"] != "benign" for r in ok)
    pm = [dd.field_malignant_prob(r) for r in ok]
    return {"fields": len(reports), "accepted": len(ok), "called_malignant": hd.proportion(mal, len(ok)),
            "p_malignant_at_refer_threshold": hd.proportion(sum(p >= refer for p in pm), len(ok))}


def restyle(rows: list[dict], targets: list[Path], seed: int) -> list[np.ndarray]:
    """aria fields given the colour statistics (per-channel mean/std over the
    field, plasma excluded) of a random normal tile of another lab, then framed
    in that tile's plasma colour at that tile's share of field."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    stats = []
    for t in targets:
        a = np.asarray(Image.open(t).convert("RGB"), np.float32)
        bg = np.percentile(a.reshape(-1, 3), 92, axis=0)
        fg = a.reshape(-1, 3)[(a.reshape(-1, 3).mean(1) < bg.mean() - 12)]
        share = max(0.3, min(1.0, np.sqrt(((np.abs(a - bg).max(2) > 12)).mean())))
        if len(fg) > 50:
            stats.append((a.reshape(-1, 3).mean(0), a.reshape(-1, 3).std(0) + 1e-3, bg, share))
    out = []
    for r in rows:
        img = hd.preprocess_uint8(hd.load_rgb(r["file"]), 128, 128, [hd.ARIA_MASK])
        mu, sd, bg, share = stats[rng.integers(len(stats))]
        a = img.reshape(-1, 3).astype(np.float32)
        a = (a - a.mean(0)) / (a.std(0) + 1e-3) * sd + mu
        a = np.clip(a, 0, 255).reshape(img.shape).astype(np.uint8)
        s = int(128 * share)
        canvas = np.empty_like(a)
        canvas[:] = bg.astype(np.uint8)
        small = np.asarray(Image.fromarray(a).resize((s, s), Image.BILINEAR))
        o = rng.integers(0, 128 - s + 1, 2)
        canvas[o[0]:o[0] + s, o[1]:o[1] + s] = small
        out.append(hd.apply_masks(canvas, [hd.ARIA_MASK]))
    return out


def run_screen_arrays(pack_dir: Path, arrs: list[np.ndarray]):
    m = json.loads((pack_dir / "manifest.json").read_text())
    X = np.stack([hd.apply_masks(a.copy(), m["input"]["masks"]) for a in arrs])
    L = hd.run_tflite(pack_dir / m["model_file"], X)
    return m, hd.softmax_T(L, m["calibration"]["temperature"])


def sessions(reports: list[dict]) -> dict:
    """Consecutive simulated photos of healthy slides, added until the rule stops."""
    runs, cur, cells = [], [], 0
    for r in reports:
        cur.append(r)
        cells += sum(c["label"] != "platelet" for c in r.get("cells", []))
        if cells >= 100 or len(cur) >= 30:
            runs.append(cur)
            cur, cells = [], 0
    return decide_runs(runs)


def normal_mix_sessions(data: Path, n_sessions: int = 20, seed: int = 41) -> dict:
    """Healthy sessions with a normal differential from another microscope: each of 30 bccd val frames
    holding one white cell, drawn by that cell's type in normal proportions (BCCD's own fields were picked
    per type, about a quarter eosinophils, so a run of them in order is no healthy patient's smear)."""
    lab = dd.bccd_labels(data)
    val = sorted(Path(p) for p, r in lab.items() if r["split"] == "val")
    reps = {str(p): r for p, r in zip(val, analyze(val, "all-screen", "wbc-type"))}
    by: dict = {}
    for p in val:
        r = reps[str(p)]
        if lab[str(p)]["label"] in NORMAL_MIX and r.get("quality") and len(r.get("cells", [])) <= 1:
            by.setdefault(lab[str(p)]["label"], []).append(r)
    rng = np.random.default_rng(seed)
    kinds = [k for k in NORMAL_MIX if k in by]
    w = np.array([NORMAL_MIX[k] for k in kinds])
    runs = []
    for _ in range(n_sessions):
        picks = rng.choice(len(kinds), 30, p=w / w.sum())
        runs.append([by[kinds[i]][int(rng.integers(len(by[kinds[i]])))] for i in picks])
    out = decide_runs(runs)
    out["fields_by_type"] = {k: len(v) for k, v in by.items()}
    return out


NORMAL_MIX = {"neutrophil": 0.60, "lymphocyte": 0.30, "monocyte": 0.06, "eosinophil": 0.03, "basophil": 0.01}


def decide_runs(runs: list[list[dict]]) -> dict:
    p = subprocess.run([dd.hemalens_bin(), "session", "decide"], capture_output=True, text=True,
                       input="\n".join(json.dumps({"fields": f}) for f in runs) + "\n")
    if p.returncode != 0:
        sys.exit(f"session decide failed: {p.stderr[-1500:]}")
    outs = [json.loads(l) for l in p.stdout.splitlines()]
    dec = Counter(o["outcome"]["decision"] for o in outs)
    reasons = Counter(x["code"] for o in outs for x in o["outcome"]["reasons"])
    return {"sessions": len(outs), "decisions": dict(dec),
            "referred": hd.proportion(dec.get("refer", 0), len(outs)),
            "reasons": dict(reasons.most_common(6)), "fields_per_session": [len(f) for f in runs]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=hd.default_data_dir())
    ap.add_argument("--work", default="/tmp/hemalens-domains")
    ap.add_argument("--loso", default="/tmp/hemalens-loso", help="leave-one-source-out packs (train_*.py --leave-out)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "domain-evaluation"))
    ap.add_argument("--reuse-left-out", action="store_true",
                    help="where a leave-one-source-out pack is not in --loso, keep its figures from the JSON "
                         "already written (said so in the output); for a change to the shipped packs only")
    ap.add_argument("--sessions-only", action="store_true",
                    help="keep the JSON's pack figures; re-run only the healthy sessions and the blasts (after a "
                         "change to the rule or the pipeline)")
    a = ap.parse_args()
    data, work, loso = Path(a.data), Path(a.work), Path(a.loso)
    if a.sessions_only:
        res = json.loads(Path(a.out).with_suffix(".json").read_text())
        res["healthy_sessions_bccd_val"] = sessions(analyze(simulated_bccd_val(data, work), "all-screen", "wbc-type"))
        res["healthy_sessions_bccd_val_normal_mix"] = normal_mix_sessions(data)
        shipped = {p: ROOT / "models" / p for p in ("wbc-type", "all-screen")}
        res["blasts_as_confident_mature"] = blasts(data, work, {p: v1_pack(p, work) for p in shipped}, shipped)
        print(json.dumps(res["healthy_sessions_bccd_val"]), flush=True)
        hd.write_json(Path(a.out).with_suffix(".json"), res)
        Path(a.out).with_suffix(".md").write_text(markdown(res))
        return
    shipped = {p: ROOT / "models" / p for p in ("wbc-type", "all-screen")}
    v1 = {p: v1_pack(p, work) for p in ("wbc-type", "all-screen")}
    res: dict = {"v1_commit": V1_COMMIT,
                 "packs": {p: {k: json.loads((d / "manifest.json").read_text())[k] for k in ("version", "sha256")}
                           for p, d in shipped.items()}}
    prev = json.loads(Path(a.out).with_suffix(".json").read_text()) if a.reuse_left_out else {}
    reused: list[str] = []

    def keep(section: str, row: str, key: str, into: dict) -> None:
        """The previous JSON's figure for a left-out pack that is not at hand (--reuse-left-out)."""
        old = prev.get(section, {}).get(row, {}).get(key)
        if old is not None:
            into[key] = old
            reused.append(f"{section} / {row} / {key}")

    # ---- white-cell type per source
    rows = dd.cell_dataset(data, work)
    held = {s: [r for r in rows if r["source"] == s and r["split"] == "held"] for s in dd.CELL_SOURCES}
    allrows = {s: [r for r in rows if r["source"] == s and r["split"] in ("fit", "tune", "held")
                   and "sims-" not in r["file"]] for s in dd.CELL_SOURCES}
    cells = {}
    for s in dd.CELL_SOURCES:
        e = {"n_held": len(held[s]), "v1": cell_scores(v1["wbc-type"], held[s]),
             "shipped (trained on it)": cell_scores(shipped["wbc-type"], held[s])}
        lo = loso / f"wbc-type-no-{s}"
        if (lo / "manifest.json").is_file():
            # The pack never saw this source: every crop of it is held out for it.
            e["left out (never saw it), held-out part"] = cell_scores(lo, held[s])
            e["left out (never saw it), every crop"] = cell_scores(lo, allrows[s])
        else:
            for k in ("left out (never saw it), held-out part", "left out (never saw it), every crop"):
                keep("cell_type", s, k, e)
        cells[s] = e
        print(s, json.dumps(e)[:400], flush=True)
    res["cell_type"] = cells

    # ---- the screen on other labs' normal blood, through the pipeline
    refer = json.loads((shipped["all-screen"] / "manifest.json").read_text())["thresholds"]["refer_malignant_prob"]
    res["refer_threshold"] = refer
    bl = {str(data / "bccd_fields" / r["path"]): r for r in hd.read_labels(data / "bccd_fields")}
    bccd_val = sorted(Path(p) for p, r in bl.items() if r["split"] == "val")
    raabin_val = sorted(Path(r["file"]) for r in hd.read_labels(data / "raabin_phone") if r["split"] == "val")
    sim_val = simulated_bccd_val(data, work)
    screen = {}
    for name, paths, src in (("bccd val frames", bccd_val, "bccd"), ("raabin val frames", raabin_val, "raabin"),
                             ("simulated eyepiece photos of bccd val", sim_val, "bccd")):
        e = {"v1": screen_calls(analyze(paths, v1["all-screen"], v1["wbc-type"]), refer),
             "shipped": screen_calls(analyze(paths, shipped["all-screen"], shipped["wbc-type"]), refer)}
        lo = loso / f"all-screen-no-{src}"
        if (lo / "manifest.json").is_file():
            lr = json.loads((lo / "manifest.json").read_text())["thresholds"].get("refer_malignant_prob", refer)
            e[f"trained without {src}"] = screen_calls(analyze(paths, lo, shipped["wbc-type"]), lr)
        else:
            keep("screen_normal_other_labs", name, f"trained without {src}", e)
        screen[name] = e
        print(name, json.dumps(e), flush=True)
    res["screen_normal_other_labs"] = screen

    # ---- counterfactual: malignant aria fields in the other labs' look
    aria = [r for r in dd.aria_rows(data) if r["split"] == "held"]
    mal = [r for r in aria if r["label"] != "benign"]
    ben = [r for r in aria if r["label"] == "benign"]
    tiles = sorted((work / "bccd-frames").glob("*-tile-*.png")) + sorted((work / "raabin-frames").glob("*-tile-*.png"))
    cf = {}
    for name, pack in [("shipped", shipped["all-screen"])] + [
            (f"trained without {s}", loso / f"all-screen-no-{s}") for s in ("bccd", "raabin")
            if (loso / f"all-screen-no-{s}" / "manifest.json").is_file()]:
        m = json.loads((pack / "manifest.json").read_text())
        t = m["thresholds"].get("refer_malignant_prob", refer)
        _, Pm = run_screen_arrays(pack, [hd.preprocess_uint8(hd.load_rgb(r["file"]), 128, 128, [hd.ARIA_MASK]) for r in mal])
        _, Pr = run_screen_arrays(pack, restyle(mal, tiles, 7))
        _, Pb = run_screen_arrays(pack, restyle(ben, tiles, 8))
        cf[name] = {
            "aria val malignant, as they are: called malignant":
                hd.proportion(int((Pm[:, 0] < Pm.max(1)).sum()), len(mal)),
            "aria val malignant, restyled and framed: called malignant":
                hd.proportion(int((Pr[:, 0] < Pr.max(1)).sum()), len(mal)),
            "restyled and framed: P(malignant) >= refer threshold":
                hd.proportion(int(((1 - Pr[:, 0]) >= t).sum()), len(mal)),
            "aria val benign, restyled and framed: called benign":
                hd.proportion(int((Pb.argmax(1) == 0).sum()), len(ben))}
    for src in ("bccd", "raabin"):
        if f"trained without {src}" not in cf and f"trained without {src}" in prev.get("from_cells_not_source", {}):
            cf[f"trained without {src}"] = prev["from_cells_not_source"][f"trained without {src}"]
            reused.append(f"from_cells_not_source / trained without {src}")
    res["from_cells_not_source"] = cf
    if reused:
        res["left_out_reused"] = {"note": prev.get("left_out_reused", {}).get("note") or LEFT_OUT_REUSED,
                                  "figures": reused}
    print(json.dumps(cf), flush=True)

    res["blasts_as_confident_mature"] = blasts(data, work, v1, shipped)
    print(json.dumps(res["blasts_as_confident_mature"]), flush=True)

    # ---- healthy sessions from another microscope (shipped packs, as embedded in the binary)
    reps = analyze(sim_val, "all-screen", "wbc-type")
    res["healthy_sessions_bccd_val"] = sessions(reps)
    res["healthy_sessions_bccd_val_normal_mix"] = normal_mix_sessions(data)
    print(json.dumps(res["healthy_sessions_bccd_val"]), flush=True)

    hd.write_json(Path(a.out).with_suffix(".json"), res)
    Path(a.out).with_suffix(".md").write_text(markdown(res))
    print("wrote", Path(a.out).with_suffix(".md"))


def blasts(data: Path, work: Path, v1: dict, shipped: dict) -> dict:
    """Blasts passed as confident mature cells (aria val malignant, simulated photos)."""
    asim = work / "eval-sims" / "aria-val"
    atruth = dd.simulate(data, asim, "aria", "val", 6, 100.0, 32, per_class=True)
    blast = {}
    line = dd.cells_field_line(shipped["all-screen"])
    for name, cp in (("v1", v1["wbc-type"]), ("shipped", shipped["wbc-type"])):
        reps = analyze([asim / t["file"] for t in atruth if t["class"] != "benign"], shipped["all-screen"], cp)
        mcf = json.loads((cp / "manifest.json").read_text())["thresholds"].get("min_confidence", 0.5)
        ok = [r for r in reps if r.get("quality", {}).get("ok")]
        cs = [c for r in ok for c in r["cells"]]
        conf = [c for c in cs if c["label"] in dd.CELL_TYPES and c["confidence"] >= mcf]
        # What a session counts: a cell beyond the familiarity line, or in a field the screen calls
        # malignant (core session::add_field), is uncertain, whatever its confidence.
        passed = [c for r in ok if dd.field_malignant_prob(r) < line for c in r["cells"]]
        counted = [c for c in passed if c["label"] in dd.CELL_TYPES and c["confidence"] >= mcf
                   and (c.get("distance") or 0.0) <= 1.0]
        blast[name] = {"cells": len(cs), "confident_mature": hd.proportion(len(conf), len(cs)),
                       "counted_as_mature": hd.proportion(len(counted), len(cs)),
                       "in_fields_screen_passes": len(passed),
                       "labels": dict(Counter(c["label"] for c in cs).most_common())}
    return blast


def simulated_bccd_val(data: Path, work: Path) -> list[Path]:
    """Simulated eyepiece photos of bccd val fields (normal blood), in order."""
    sim_dir = work / "eval-sims" / "bccd-val"
    truth = dd.simulate(data, sim_dir, "bccd", "val", 40, 100.0, 31)
    return [sim_dir / t["file"] for t in truth if not t.get("spoiled")]


def f(e: dict) -> str:
    if not e or e.get("n", 0) == 0:
        return "n/a"
    return f"{e['value']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}] ({e['k']}/{e['n']})"


def markdown(r: dict) -> str:
    L = ["# The packs on other labs' microscopes", "",
         "Written by `scripts/evaluate_domains.py`; every figure on held-out data, 95 % Wilson intervals. "
         f"`v1` = the first packs (git {r['v1_commit']}: each trained on one lab from scratch); `shipped` = "
         + ", ".join(f"`{p}` {v['version']} (`{v['sha256'][:12]}`)" for p, v in r["packs"].items())
         + "; `left out` = the same recipe trained without that source (leave-one-source-out): the figure "
           "the next clinic sees before any site calibration."
         + (" The left-out figures of "
            + ", ".join(sorted({" / ".join(f.split(" / ")[:2]) for f in r["left_out_reused"]["figures"]}))
            + f" are kept from the previous run ({r['left_out_reused']['note']})."
            if r.get("left_out_reused") else ""), "",
         "## White-cell type", "",
         "| source (held-out) | pack | accuracy | macro-F1 | ECE | confident share | accuracy of confident | most frequent errors |",
         "|---|---|---|---|---|---|---|---|"]
    for s, e in r["cell_type"].items():
        for k, v in e.items():
            if k == "n_held":
                continue
            L.append(f"| {s} | {k} | {f(v['accuracy'])} | {v['macro_f1']:.3f} | {v['ece']:.3f} | "
                     f"{v['confident_share']:.2f} | {f(v['confident_accuracy'])} | "
                     + ", ".join(f"{a} {b}" for a, b in v["top_errors"].items()) + " |")
    L += ["", "pbc_wbc: test split. lisc: 20 % of source cells by hash (LISC's own test side is kept outside "
          "the project). bccd: detector crops (the pipeline's own inputs) of val fields holding one white cell, "
          "labelled by the field. `every crop`: all of that source's crops (fit and tune parts included), since "
          "the left-out pack saw none of them.", "",
          "## The screen on other labs' normal blood (through `hemalens analyze`)", "",
          f"Called malignant: the field's screen label is not `benign`; refer threshold {r['refer_threshold']} "
          "(the manifest's; left-out packs use their own).", "",
          "| normal fields | pack | accepted / fields | called malignant | P(malignant) >= refer threshold |",
          "|---|---|---|---|---|"]
    for s, e in r["screen_normal_other_labs"].items():
        for k, v in e.items():
            L.append(f"| {s} | {k} | {v['accepted']}/{v['fields']} | {f(v['called_malignant'])} | "
                     f"{f(v['p_malignant_at_refer_threshold'])} |")
    L += ["", "## From the cells, not the source", "",
          "Normal fields of bccd and raabin teach `benign`, and those sources show nothing else: a screen could learn "
          "their look instead of their cells. Here aria's held-out fields are given the colour statistics of a "
          "random bccd/raabin normal tile and framed in its plasma colour at its share of field (as those small "
          "frames reach the screen). A screen that learnt the source would call the malignant ones benign.", "",
          "| pack | measure | value |", "|---|---|---|"]
    for k, v in r["from_cells_not_source"].items():
        for m, x in v.items():
            L.append(f"| {k} | {m} | {f(x)} |")
    L += ["", "## Blasts passed as confident mature cells", "",
          "White cells the pipeline finds on simulated eyepiece photos of aria val malignant fields (nearly all "
          "blasts), typed by the cell pack; target at most 5 % confident mature types.", "",
          "`counted as mature`: confident, within the cell pack's familiarity line and in a field the shipped "
          "screen does not call malignant (below its refer line), so counted in a session's differential (any "
          "other cell is uncertain, whatever its confidence; v1 has no line). `in passed fields`: the cells of "
          "fields the screen does not call malignant.", "",
          "| cell pack | cells | confident mature | in passed fields | counted as mature | labels |",
          "|---|---|---|---|---|---|"]
    for k, v in r["blasts_as_confident_mature"].items():
        L.append(f"| {k} | {v['cells']} | {f(v['confident_mature'])} | {v.get('in_fields_screen_passes', '')} | "
                 f"{f(v.get('counted_as_mature', {}))} | "
                 + ", ".join(f"{a} {b}" for a, b in v["labels"].items()) + " |")
    h = r["healthy_sessions_bccd_val"]
    L += ["", "## Healthy sessions from another microscope", "",
          "Simulated eyepiece photos of bccd val fields (normal blood), taken in order and added to a session until "
          "100 white cells or 30 photos, decided by the shipped rule with the shipped packs (`hemalens session decide`).", "",
          f"- sessions: {h['sessions']}; decisions: {h['decisions']}; referred: {f(h['referred'])}",
          f"- reasons: {h['reasons']}", "",
          "These photos are not a healthy patient's smear: BCCD's fields were picked per cell type (about a "
          "quarter of its val cells are eosinophils), so a differential of them is eosinophil-high, and a rule "
          "that reads the cells right should refer some of them for it.", ""]
    h = r.get("healthy_sessions_bccd_val_normal_mix")
    if h:
        L += ["**With a normal differential**: sessions of 30 bccd val frames (another microscope's camera, one "
              "white cell each), drawn by the cell's type in normal proportions (60 % neutrophils, 30 % lymphocytes, "
              "6 % monocytes, 3 % eosinophils, 1 % basophils; with replacement from the frames of each type: "
              f"{h['fields_by_type']}), decided by the shipped rule.", "",
              f"- sessions: {h['sessions']}; decisions: {h['decisions']}; referred: {f(h['referred'])}",
              f"- reasons: {h['reasons']}", ""]
    site = ROOT / "docs" / "site-calibration-evaluation.json"
    if site.is_file():
        L += ["## After site calibration", "",
              "From [site-calibration-evaluation.md](site-calibration-evaluation.md) (`scripts/evaluate_site.py`): "
              "the packs trained without a source, calibrated with `hemalens site calibrate` on that source's "
              "training side (photos of normal slides, n reviewed cells), scored on its held-out cells.", "",
              "| new site | reviewed cells | accuracy (mean of draws) | 95% CI (pooled draws) |", "|---|---|---|---|"]
        for name, sr in json.loads(site.read_text())["sites"].items():
            for cname, rows in sr["curves"].items():
                if "new site" not in cname:
                    continue
                for x in rows:
                    L.append(f"| {name} | {x['reviewed']} | {x['accuracy']:.3f} | {x['ci'][0]:.3f}-{x['ci'][1]:.3f} |")
        L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
