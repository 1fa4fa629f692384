"""The Rust engine and CLI against the Python ai_edge_litert Interpreter (same
wheel, same XNNPACK kernels): raw outputs and probabilities must be bitwise equal
when both are fed the same preprocessed tensor."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from golden import Reference, familiarity_distance, load_manifest, probabilities

TINY = ROOT / "tests" / "fixtures" / "models" / "tiny-pack"
TINY_STYLE = ROOT / "tests" / "fixtures" / "models" / "tiny-style-pack"
IMAGES = [
    ROOT / "tests" / "fixtures" / "samples" / "smear_field.jpg",
    ROOT / "tests" / "fixtures" / "samples" / "smear_field_2.jpg",
    ROOT / "tests" / "fixtures" / "images" / "marker.png",
    ROOT / "tests" / "fixtures" / "images" / "marker_exif6.jpg",
]


def classify_with_dump(hemalens, pack, images, tmp_path, threads=2):
    dump = tmp_path / "dump"
    r = hemalens("classify", "--model", pack, "--json", "--threads", threads, "--dump-tensors", dump, *images)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == [str(p) for p in images]
    return lines, dump


@pytest.mark.parametrize("threads", [1, 2])
def test_tiny_pack_bitwise_equal_to_python(hemalens, tmp_path, threads):
    manifest = load_manifest(TINY)
    lines, dump = classify_with_dump(hemalens, TINY, IMAGES, tmp_path, threads)
    ref = Reference(TINY / "model.tflite", threads)
    for i, line in enumerate(lines):
        tensor = (dump / f"{i:04d}.input.bin").read_bytes()
        rust_raw = (dump / f"{i:04d}.output.bin").read_bytes()
        assert ref.run(tensor) == rust_raw, f"raw output differs for {line['path']}"
        p = probabilities(rust_raw, manifest)
        assert list(line["probs"].values()) == p, "probabilities are not bitwise equal"
        assert list(line["probs"].keys()) == manifest["labels"]
        assert line["label"] == manifest["labels"][int(np.argmax(p))]
        assert line["model"] == {"id": manifest["id"], "version": manifest["version"]}


def spec_tensor(path: Path, manifest: dict) -> np.ndarray:
    """docs/model-pack.md preprocessing with PIL, written independently of Rust."""
    i = manifest["input"]
    im = Image.open(path)
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im).convert("RGB").resize((i["width"], i["height"]), Image.BILINEAR)
    a = np.asarray(im).copy()
    for m in i["masks"]:
        W, H = i["width"], i["height"]
        x0, y0 = int(np.floor(m["x"] * W + 0.5)), int(np.floor(m["y"] * H + 0.5))
        x1, y1 = int(np.floor((m["x"] + m["w"]) * W + 0.5)), int(np.floor((m["y"] + m["h"]) * H + 0.5))
        a[y0:y1, x0:x1] = m["fill"]
    v = (a.astype(np.float32) - np.float32(i["normalization"]["mean"])) / np.float32(i["normalization"]["std"])
    q = i["quantization"]
    return np.clip(np.round(v / np.float32(q["scale"])) + q["zero_point"], -128, 127).astype(np.int8)


def test_rust_preprocessing_matches_the_spec_in_pil(hemalens, tmp_path):
    """Catches 'works in Python, wrong on the phone': the Rust tensor is the PIL one
    within resampling rounding."""
    manifest = load_manifest(TINY)
    _, dump = classify_with_dump(hemalens, TINY, IMAGES, tmp_path)
    for k, path in enumerate(IMAGES):
        rust = np.frombuffer((dump / f"{k:04d}.input.bin").read_bytes(), dtype=np.int8).astype(int)
        ref = spec_tensor(path, manifest).reshape(-1).astype(int)
        diff = np.abs(rust - ref)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3, (path.name, diff.mean(), diff.max())


def test_errors_keep_order_and_exit_code(hemalens, tmp_path):
    bad = ROOT / "tests" / "fixtures" / "images" / "truncated.jpg"
    r = hemalens("classify", "--model", TINY, "--json", IMAGES[0], bad, IMAGES[1])
    assert r.returncode == 1
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == [str(IMAGES[0]), str(bad), str(IMAGES[1])]
    assert lines[1]["error"]["kind"] == "corrupt_image"
    assert "label" in lines[0] and "label" in lines[2]


def test_model_errors_exit_2(hemalens, tmp_path):
    assert hemalens("classify", "--model", "no-such-pack", "--json", IMAGES[0], check=False).returncode == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    m = load_manifest(TINY)
    m["labels"].append("delta")
    (broken / "manifest.json").write_text(json.dumps(m))
    (broken / "model.tflite").write_bytes((TINY / "model.tflite").read_bytes())
    r = hemalens("classify", "--model", broken, "--json", IMAGES[0], check=False)
    assert r.returncode == 2
    assert "labels" in r.stderr
    assert hemalens("classify", "--json", IMAGES[0], check=False).returncode == 2


def test_style_statistics_and_distance_equal_to_python(hemalens, tmp_path):
    """A pack with style statistics (a third output): Rust writes the same bytes
    as the Python interpreter, and its distance is the larger of the two
    familiarity scores computed here independently."""
    manifest = load_manifest(TINY_STYLE)
    fam = manifest["familiarity"]
    stripes = tmp_path / "stripes.png"
    Image.fromarray(np.where((np.arange(40) % 2 == 0)[None, :, None], 255, 0).repeat(40, 0).repeat(3, 2)
                    .astype(np.uint8)).save(stripes)
    lines, dump = classify_with_dump(hemalens, TINY_STYLE, [*IMAGES, stripes], tmp_path)
    ref = Reference(TINY_STYLE / "model.tflite")
    wins = set()
    for i, line in enumerate(lines):
        raw = ref.run((dump / f"{i:04d}.input.bin").read_bytes())
        assert raw == (dump / f"{i:04d}.output.bin").read_bytes()
        emb, sty = ref.embedding(), ref.style()
        assert (len(emb), len(sty)) == (16, 12)
        assert emb == (dump / f"{i:04d}.embedding.bin").read_bytes()
        assert sty == (dump / f"{i:04d}.style.bin").read_bytes()
        de, ds = familiarity_distance(emb, fam), familiarity_distance(sty, fam["style"])
        assert line["distance"] == pytest.approx(max(de, ds), rel=1e-12, abs=1e-12)
        wins.add("style" if ds > de else "embedding")
    assert wins == {"style", "embedding"}, "each score decides on one of the images at least"
