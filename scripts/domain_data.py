"""Training and evaluation rows from every labelled source, as the field pipeline sees them.

The packs must work on the next lab's microscope, so both are trained on every
source with a licence to do so and measured on sources they were not trained on
(scripts/evaluate_domains.py). Two kinds of row:

* whole images with the canonical preprocessing (`hemalens_data.preprocess_uint8`):
  `pbc_wbc` crops, `lisc` crops (centre-cropped first so red cells are at the
  pack's scale), `aria_all` fields (scale-bar corner masked: the evaluations'
  whole-field rows);
* the pipeline's own model inputs: `hemalens analyze --dump-windows` writes each
  cell crop and screening tile exactly as the models receive them (aperture,
  scale, colour flattening all applied). `aria_all` fields above their scale
  bar (the screen's training rows), `bccd_fields` and `raabin_phone` frames,
  and simulated eyepiece photos made from *train* fields only
  (scripts/simulate_eyepiece.py), go through it.

Each row: {"file", "label", "source", "split", optional "crop_side"}. Splits:
`fit` (training), `tune` (early stopping, temperature, thresholds), `held`
(reported only). Per source:
  pbc_wbc   train -> fit, val -> tune, test -> held
  lisc      by sha1(source_id) (crops of one cell never straddle): 70 % fit, 10 % tune, 20 % held
            (the folder is LISC's train side; its test side is kept outside the project)
  bccd      field split train -> fit, val -> held; a crop is labelled by its field's
            type only where the field holds one white cell and one type
  aria_all  fit / tune / val blocks (hemalens_data.aria_splits) -> fit / tune / held
  raabin    train -> fit, val -> held (every field normal blood: `benign` for the screen)
  sims      simulated photos from train fields -> fit
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import hemalens_data as hd
from evaluate_pipeline import CELL_TYPES  # the five mature white-cell types the datasets label

ROOT = hd.REPO
CELL_SOURCES = ["pbc_wbc", "lisc", "bccd"]
SCREEN_SOURCES = ["aria_all", "bccd", "raabin"]

# LISC crops: median red cell 40.6 px at 224 (the pipeline's own ruler, measured
# with `hemalens analyze --detect-only` on all 522 crops); the pack wants 25.05 px
# at 128, so a 207-px centre square is resized to 128.
LISC_RBC_PX_AT_224 = 40.59
WBC_RBC_AT_128 = hd.PBC_RBC_PX_AT_360 * 128 / 360.0


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1) from a key: splits and choices that never depend on order."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 2**32


def lisc_rows(data: Path) -> list[dict]:
    rows = hd.read_labels(data / "lisc")
    side = int(round(min(224.0, 128 * LISC_RBC_PX_AT_224 / WBC_RBC_AT_128)))
    out = []
    for r in rows:
        f = hash_fraction(r["source_id"])
        split = "fit" if f < 0.7 else "tune" if f < 0.8 else "held"
        out.append({"file": r["file"], "label": r["label"], "source": "lisc", "split": split,
                    "crop_side": side, "group": r["source_id"]})
    return out


def pbc_rows(data: Path) -> list[dict]:
    m = {"train": "fit", "val": "tune", "test": "held"}
    return [{"file": r["file"], "label": r["label"], "source": "pbc_wbc", "split": m[r["split"]]}
            for r in hd.read_labels(data / "pbc_wbc")]


def aria_rows(data: Path) -> list[dict]:
    sp = hd.aria_splits(hd.read_labels(data / "aria_all"))
    m = {"fit": "fit", "tune": "tune", "val": "held"}
    return [{"file": r["file"], "label": r["label"], "source": "aria_all", "split": m[s], "masked": True}
            for s, rr in sp.items() for r in rr]


def hemalens_bin() -> str:
    return os.environ.get("HEMALENS_BIN", str(ROOT / "target" / "release" / "hemalens"))


def pipeline_id() -> str:
    """Which pipeline dumps windows: the sha-256 of the hemalens binary (its packs
    are embedded in it, so a changed gate, detector or pack changes it too)."""
    return _sha256_of(str(hemalens_bin()))


@functools.cache
def _sha256_of(path: str) -> str:
    """A file's sha-256, read once per process (the binary is not rebuilt under a
    running evaluation)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dump_windows(paths: list[Path], out: Path, batch: int = 200) -> dict[str, dict]:
    """Runs the pipeline on `paths`, dumping every model input into `out`. Returns
    {path: report} and leaves `out/reports.jsonl` so a second call is free, as
    long as the same binary asks (`out/pipeline.txt`): windows dumped by another
    build may have passed another gate, so they are dumped again."""
    rep, stamp, me = out / "reports.jsonl", out / "pipeline.txt", pipeline_id()
    if rep.is_file() and stamp.is_file() and stamp.read_text().strip() == me:
        got = {}
        for line in rep.read_text().splitlines():
            d = json.loads(line)
            got[d["path"]] = d
        if all(str(p) in got for p in paths):
            return got
    if rep.is_file():
        print(f"[domain_data] {out}: windows from another build or set of photos, dumped again", flush=True)
        for old in out.glob("*.png"):
            old.unlink()
        stamp.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    got = {}
    with open(rep, "w") as f:
        for i in range(0, len(paths), batch):
            chunk = [str(p) for p in paths[i:i + batch]]
            r = subprocess.run([hemalens_bin(), "analyze", "--json", "--dump-windows", str(out), *chunk],
                               capture_output=True, text=True)
            if r.returncode not in (0, 1):
                sys.exit(f"hemalens analyze failed ({r.returncode}): {r.stderr[-2000:]}")
            for line in r.stdout.splitlines():
                d = json.loads(line)
                got[d["path"]] = d
                f.write(line + "\n")
    stamp.write_text(me + "\n")
    return got


def photo_id(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def windows_of(out: Path, path: str | Path, kind: str) -> list[Path]:
    pid = photo_id(path)
    return sorted(out.glob(f"{pid}-{kind}-*.png"))


def simulate(data: Path, out: Path, source: str, split: str, n: int, rbc: float, seed: int,
             per_class: bool = False) -> list[dict]:
    truth = out / "truth.json"
    if not truth.is_file():
        cmd = [sys.executable, str(ROOT / "scripts" / "simulate_eyepiece.py"), "--data", str(data), "--source",
               source, "--split", split, "--n", str(n), "--rbc", str(rbc), "--seed", str(seed), "--out", str(out)]
        if per_class:
            cmd.append("--per-class")
        subprocess.run(cmd, check=True, capture_output=True)
    return json.loads(truth.read_text())


def bccd_labels(data: Path) -> dict[str, dict]:
    return {str(data / "bccd_fields" / r["path"]): r for r in hd.read_labels(data / "bccd_fields")}




def bccd_cell_rows(data: Path, work: Path) -> list[dict]:
    """Detector crops of bccd frames, labelled by the field where it holds one white cell."""
    lab = bccd_labels(data)
    out = work / "bccd-frames"
    reps = dump_windows(sorted(Path(p) for p in lab), out)
    rows = []
    for p, r in lab.items():
        rep = reps.get(p)
        if r["label"] not in CELL_TYPES or not rep or not rep["quality"]["ok"] or len(rep["cells"]) != 1:
            continue
        for w in windows_of(out, p, "cell"):
            rows.append({"file": str(w), "label": r["label"], "source": "bccd",
                         "split": "fit" if r["split"] == "train" else "held", "group": p})
    return rows


def frame_tile_rows(data: Path, work: Path, source: str) -> list[dict]:
    """Screening tiles of normal-blood frames (bccd, raabin): label benign."""
    folder = {"bccd": "bccd_fields", "raabin": "raabin_phone"}[source]
    rr = hd.read_labels(data / folder)
    out = work / f"{source}-frames"
    reps = dump_windows([Path(r["file"]) for r in rr], out)
    rows = []
    for r in rr:
        rep = reps.get(r["file"])
        if not rep or not rep["quality"]["ok"]:
            continue
        for w in windows_of(out, r["file"], "tile"):
            rows.append({"file": str(w), "label": "benign", "source": source,
                         "split": "fit" if r["split"] == "train" else "held", "group": r["file"]})
    return rows


# Simulated eyepiece photos of *train* fields: (name, photos, red cell px, seed, one set per class).
SIM_SPECS = {"bccd": [("bccd-100", 30, 100.0, 21, False), ("bccd-140", 25, 140.0, 22, False)],
             "aria_all": [("aria-100", 8, 100.0, 23, True)]}


def simulated_windows(data: Path, work: Path, source: str, name: str, n: int, rbc: float, seed: int,
                      per_class: bool):
    """Simulates the photos (once) and dumps the pipeline's windows of them (once)."""
    d = work / "sims" / name
    truth = simulate(data, d, "aria" if source == "aria_all" else "bccd", "train", n, rbc, seed, per_class)
    out = work / f"sims-{name}-windows"
    reps = dump_windows([d / t["file"] for t in truth], out)
    return d, truth, out, reps


def malignant_prob(probs: dict) -> float:
    """A screen answer's P(malignant): the summed probability of every
    `malignant_*` label (the core's `session::malignant_prob`)."""
    return float(sum(p for label, p in probs.items() if label.startswith("malignant")))


def field_malignant_prob(rep: dict) -> float:
    """The screen's P(malignant) of one field report (0 where it has no screen)."""
    return malignant_prob(rep["screen"]["probs"]) if rep.get("screen") else 0.0


def cells_field_line(screen_dir: Path) -> float:
    """The screen P(malignant) at or above which a session counts none of a field's cells as a type:
    all-screen's `cells_field_malignant_prob`, by default its refer line (core `Thresholds`)."""
    th = json.loads((screen_dir / "manifest.json").read_text())["thresholds"]
    return float(th.get("cells_field_malignant_prob", th["refer_malignant_prob"]))


def blast_cell_rows(data: Path, work: Path) -> list[dict]:
    """Every cell window the pipeline cuts from simulated photos of aria *train*
    malignant fields (B-ALL: nearly all blasts, a type the cell pack has no class
    for): what its confidence line must keep out of the differential. Each row
    carries its field's screen P(malignant) (`field_malignant`, the screen embedded
    in the binary): a session counts no cell of a field at or above `cells_field_line`.
    Never the val fields `evaluate_domains.py` reports blasts on."""
    rows = []
    for name, n, rbc, seed, per_class in SIM_SPECS["aria_all"]:
        d, truth, out, reps = simulated_windows(data, work, "aria_all", name, n, rbc, seed, per_class)
        for t in truth:
            rep = reps.get(str(d / t["file"]))
            if t["class"] == "benign" or not rep or not rep["quality"]["ok"] or t.get("spoiled"):
                continue
            rows += [{"file": str(w), "label": "blast", "source": "aria_all", "split": "fit",
                      "group": str(d / t["file"]), "field_malignant": field_malignant_prob(rep)}
                     for w in windows_of(out, d / t["file"], "cell")]
    return rows


def sim_rows(data: Path, work: Path, source: str, kind: str, max_per_photo: int = 6) -> list[dict]:
    """Windows of simulated eyepiece photos made from *train* fields only (fit).
    kind "tile": labelled by the photo's class (bccd: benign); "cell": by the
    field type of the nearest truth box, where the photo's box carries one type."""
    rows = []
    for name, n, rbc, seed, per_class in SIM_SPECS[source]:
        d, truth, out, reps = simulated_windows(data, work, source, name, n, rbc, seed, per_class)
        for t in truth:
            p = str(d / t["file"])
            rep = reps.get(p)
            if not rep or not rep["quality"]["ok"] or t.get("spoiled"):
                continue
            if kind == "tile":
                label = "benign" if source == "bccd" else t["class"]
                for w in windows_of(out, p, "tile")[:max_per_photo]:
                    rows.append({"file": str(w), "label": label, "source": source, "split": "fit",
                                 "group": p})
            else:
                ws = windows_of(out, p, "cell")
                for w, c in zip(ws, rep["cells"]):
                    x, y, bw, bh = c["bbox"]
                    cx, cy = x + bw / 2, y + bh / 2
                    best = None
                    for b, ty in zip(t["wbc"], t.get("wbc_type", [])):
                        dd = (b[0] + b[2] / 2 - cx) ** 2 + (b[1] + b[3] / 2 - cy) ** 2
                        if dd < (0.5 * max(b[2], b[3])) ** 2 and (best is None or dd < best[0]):
                            best = (dd, ty)
                    if best and best[1] in CELL_TYPES:
                        rows.append({"file": str(w), "label": best[1], "source": source, "split": "fit",
                                     "group": p})
    return rows


def cell_dataset(data: Path, work: Path, sims: bool = True) -> list[dict]:
    rows = pbc_rows(data) + lisc_rows(data) + bccd_cell_rows(data, work)
    if sims:
        rows += sim_rows(data, work, "bccd", "cell")
    return rows


# The share of an aria field's height above its burnt-in scale bar
ARIA_ABOVE_BAR = 0.86


def aria_cropped(data: Path, work: Path) -> dict[str, Path]:
    """aria fields without the rows of their burnt-in scale bar (PNG, so the pipeline
    cuts its tiles from the same pixels): {original path: cropped copy}."""
    out = work / "aria-cropped"
    out.mkdir(parents=True, exist_ok=True)
    got = {}
    for r in aria_rows(data):
        dst = out / (Path(r["file"]).stem + ".png")
        if not dst.is_file():
            im = hd.load_rgb(r["file"])
            w, h = im.size
            im.crop((0, 0, w, int(h * ARIA_ABOVE_BAR))).save(dst)
        got[r["file"]] = dst
    if len(set(got.values())) != len(got):
        raise SystemExit("aria_all: two fields share a file name; their cropped copies would collide")
    return got


def aria_tile_rows(data: Path, work: Path) -> list[dict]:
    """aria fields as the pipeline's own screening tiles (hemalens analyze --dump-windows,
    at the scale it measures), each labelled with its field's class and grouped by its
    field: the screen learns from the inputs it will see, not from whole fields shrunk
    to one input (docs/model-pack.md, "all-screen 2.1.0")."""
    crop = aria_cropped(data, work)
    out = work / "aria-tiles"
    dump_windows(sorted(crop.values()), out)
    rows = []
    for r in aria_rows(data):
        for w in windows_of(out, crop[r["file"]], "tile"):
            rows.append({"file": str(w), "label": r["label"], "source": "aria_all", "split": r["split"],
                         "group": r["file"], "masked": False})
    return rows


def screen_dataset(data: Path, work: Path, sims: bool = True) -> list[dict]:
    rows = aria_tile_rows(data, work) + frame_tile_rows(data, work, "bccd") + frame_tile_rows(data, work, "raabin")
    if sims:
        rows += sim_rows(data, work, "bccd", "tile") + sim_rows(data, work, "aria_all", "tile")
    return rows


def summary(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        k = f"{r['source']}/{r['split']}"
        out.setdefault(k, {}).setdefault(r["label"], 0)
        out[k][r["label"]] += 1
    return dict(sorted(out.items()))
