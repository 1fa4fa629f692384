"""`hemalens analyze` on simulated eyepiece photos built from real bccd val
fields (scripts/simulate_eyepiece.py): the JSON contract, the aperture, white
cells in displayed coordinates (EXIF-rotated photos included), the quality gate
on spoiled photos, overlays, and bad input."""
import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT, hemalens_bin

KEYS = {"path", "quality", "scale", "cells", "screen", "timing_ms", "models"}


@pytest.fixture(scope="module")
def sims(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sims")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "simulate_eyepiece.py"), "--data", str(data), "--source", "bccd",
                    "--split", "val", "--n", "3", "--spoil", "--seed", "5", "--out", str(out)], check=True)
    return out, json.loads((out / "truth.json").read_text())


sys.path.insert(0, str(ROOT / "scripts"))
from evaluate_pipeline import match  # noqa: E402  (the evaluation's own matching and counting zone)


def test_good_photos(hemalens, sims, tmp_path):
    out, truth = sims
    good = [t for t in truth if t["spoiled"] is None]
    assert any(t["exif_orientation"] != 1 for t in good) or len(good) < 3
    r = hemalens("analyze", "--json", "--overlay", tmp_path / "ov", *[out / t["file"] for t in good])
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == [str(out / t["file"]) for t in good]
    tp = fp = fn = 0
    for t, l in zip(good, lines):
        assert set(l) == KEYS
        assert l["quality"]["ok"], l["quality"]
        f, tf = l["quality"]["fov"], t["fov"]
        assert math.hypot(f["cx"] - tf["cx"], f["cy"] - tf["cy"]) < 0.02 * tf["r"]
        assert abs(f["r"] - tf["r"]) < 0.02 * tf["r"]
        assert l["screen"]["label"] in l["screen"]["probs"] and l["screen"]["tiles"] >= 1
        assert {m["id"] for m in l["models"]} == {"all-screen", "wbc-type"}
        for c in l["cells"]:
            assert abs(sum(c["probs"].values()) - 1) < 1e-9 and c["label"] in c["probs"]
        a, b, c = match(t["wbc"], [c["bbox"] for c in l["cells"]], (tf["cx"], tf["cy"], tf["r"]))
        tp, fp, fn = tp + a, fp + b, fn + c
    assert tp + fn >= 10
    assert tp / (tp + fn) >= 0.9, (tp, fn)
    assert tp / (tp + fp) >= 0.9, (tp, fp)
    assert len(list((tmp_path / "ov").glob("*.png"))) == len(good)


def test_one_thread_and_two_give_the_same_reports(hemalens, sims):
    # Two threads overlap decoding, the scale search and the models with the
    # gate and the detector; nothing but the timings may differ, on good
    # photos, EXIF-rotated ones and photos the gate rejects.
    out, truth = sims
    paths = [out / t["file"] for t in truth]
    runs = []
    for threads in ("1", "2"):
        r = hemalens("analyze", "--json", "--threads", threads, *paths)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        for l in lines:
            l.pop("timing_ms")
        runs.append(lines)
    assert len(runs[0]) == len(paths)
    assert any(not l["quality"]["ok"] for l in runs[0]) and any(l["cells"] for l in runs[0])
    assert runs[0] == runs[1]


def test_spoiled_photos_are_rejected_with_the_reason(hemalens, sims):
    out, truth = sims
    want = {"blurred": "out_of_focus", "dark": "too_dark", "burnt_out": "burnt_out", "black": "too_dark",
            "white": "burnt_out", "empty": "no_cells", "screenshot": "not_a_smear", "face": "not_a_smear"}
    items = [t for t in truth if t["spoiled"] in want]
    r = hemalens("analyze", "--json", *[out / t["file"] for t in items])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # One line per photo, in order: an empty or short output must not pass.
    assert len(items) >= 6 and len(lines) == len(items), (len(items), r.stdout)
    for t, line in zip(items, lines):
        assert json.loads(line)["path"] == str(out / t["file"])
        l = json.loads(line)
        assert not l["quality"]["ok"], t["file"]
        assert want[t["spoiled"]] in [i["code"] for i in l["quality"]["issues"]], (t["file"], l["quality"])
        assert all(i["message"] for i in l["quality"]["issues"])
        assert l["cells"] == [] and l["screen"] is None


def test_bad_input_is_a_typed_error_and_the_batch_goes_on(hemalens, sims):
    out, truth = sims
    fx = ROOT / "tests" / "fixtures" / "images"
    good = out / truth[0]["file"]
    bad = [fx / "truncated.jpg", fx / "bomb.png", fx / "empty.jpg", fx / "not_an_image.jpg", fx / "one_pixel.png"]
    r = hemalens("analyze", "--json", bad[0], good, *bad[1:])
    assert r.returncode == 1
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == [str(bad[0]), str(good), *map(str, bad[1:])]
    assert lines[0]["error"]["kind"] == "corrupt_image"
    assert lines[1]["quality"]["ok"]
    assert lines[2]["error"]["kind"] == "image_too_large"
    assert lines[3]["error"]["kind"] == "empty_input"
    assert lines[4]["error"]["kind"] == "unsupported_format"
    assert "quality" in lines[5] and not lines[5]["quality"]["ok"]


def test_huge_tiny_and_lying_photos_get_a_verdict_in_bounded_memory(hemalens, sims, tmp_path):
    """A 100 MP photo, a 1x1 JPEG, EXIF that lies: each gets a verdict (or a typed
    error), never a crash; the 100 MP photo is analysed at reduced scale in
    bounded memory."""
    from PIL import Image

    out, truth = sims
    good = next(t for t in truth if t["spoiled"] is None)
    big = tmp_path / "big_100mp.jpg"
    Image.open(out / good["file"]).resize((11600, 8700), Image.NEAREST).save(big, quality=80)
    one = tmp_path / "one.jpg"
    Image.new("RGB", (1, 1), (200, 100, 120)).save(one)
    lying = ROOT / "tests" / "fixtures" / "images" / "marker_exif_bad.jpg"
    peak = tmp_path / "peak.txt"
    import os
    r = subprocess.run([str(hemalens_bin()), "analyze", "--json", big, one, lying], capture_output=True, text=True,
                       env={**os.environ, "HEMALENS_PEAK_MEMORY_FILE": str(peak)}, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == [str(big), str(one), str(lying)]
    assert lines[0]["quality"]["ok"], lines[0]["quality"]
    assert len(lines[0]["cells"]) >= 3 and lines[0]["screen"]
    f, tf = lines[0]["quality"]["fov"], good["fov"]
    k = 11600 / 4000 if good["exif_orientation"] in (1, 3) else 11600 / 3000
    assert abs(f["r"] - tf["r"] * k) < 0.03 * tf["r"] * k
    for l in lines[1:]:
        assert "quality" in l and not l["quality"]["ok"] and l["cells"] == []
    assert int(peak.read_text()) < 200 * 1024, f"peak {peak.read_text()} kB"


def test_readme_demo_photo_is_a_normal_field_and_the_cartoon_is_unfamiliar(hemalens):
    """The README's first command: one real normal field through a simulated
    eyepiece must raise no false alarm; the drawn cartoon smears, which no
    microscope produced, must be refused as unfamiliar rather than judged."""
    demo = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"
    cartoons = sorted((ROOT / "tests" / "fixtures" / "samples").glob("smear_field*.jpg"))
    r = hemalens("analyze", "--json", demo, *cartoons)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    d = lines[0]
    assert d["quality"]["ok"], d["quality"]
    assert d["screen"]["label"] == "benign" and d["screen"]["distance"] <= 1.0, d["screen"]
    # The field's one neutrophil, mirrored 16 times (tests/fixtures/demo/expected.json).
    want = json.loads((demo.parent / "expected.json").read_text())
    assert want["white_cells_min"] <= len(d["cells"]) <= want["white_cells_max"], d["cells"]
    assert all(c["label"] not in ("ig", "erythroblast", "platelet") for c in d["cells"]), d["cells"]
    for c in lines[1:]:
        assert "unfamiliar_image" in [i["code"] for i in c["quality"]["issues"]], c["quality"]
        assert c["cells"] == [] and c["screen"] is None


def test_gate_measures_are_logged_only_when_asked_and_carry_no_names():
    import os
    demo = ROOT / "tests/fixtures/demo/eyepiece_bccd_00339.jpg"
    exe = str(hemalens_bin())
    quiet = subprocess.run([exe, "analyze", demo], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "HEMALENS_DEBUG"})
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = subprocess.run([exe, "analyze", demo], capture_output=True, text=True,
                          env={**os.environ, "HEMALENS_DEBUG": "1"})
    lines = [json.loads(l) for l in loud.stderr.splitlines()]
    assert len(lines) == 1 and {"focus", "exposure", "fov_fraction"} <= set(lines[0])
    assert "eyepiece" not in loud.stderr and all(isinstance(v, (int, float)) for v in lines[0].values())
