"""The README's demo photo is made, not edited: `simulate_eyepiece.py --demo`
makes the committed file again byte for byte (tests/fixtures/demo/README.md
gives the command), and `--across N` makes the same field, mirror-tiled, at N
red cells across the aperture, which the pipeline measures."""
import json
import subprocess
import sys

from conftest import ROOT

DEMO = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"
FIELD = "images/BloodImage_00339.jpg"


def make(data, out, *extra):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "simulate_eyepiece.py"), "--demo", FIELD, "--data", str(data),
                    "--out", str(out), *extra], check=True, capture_output=True)


def test_the_committed_demo_is_what_the_command_makes(data, tmp_path):
    make(data, tmp_path / "demo.jpg", "--across", "26")
    assert (tmp_path / "demo.jpg").read_bytes() == DEMO.read_bytes()


def test_across_sets_the_red_cells_across_the_aperture(data, hemalens, tmp_path):
    measured = {}
    for n in (18, 34):
        p = tmp_path / f"across-{n}.jpg"
        make(data, p, "--across", str(n))
        r = hemalens("analyze", "--json", p)
        rep = json.loads(r.stdout)
        fov = rep["quality"]["fov"]
        measured[n] = 2 * fov["r"] / rep["scale"]["rbc_diameter_px"]
    # The simulator's bccd red-cell size (105 px) is its own constant, not the
    # pipeline's measure, so within 25 %; and twice as many across, not the same.
    for n, m in measured.items():
        assert abs(m / n - 1) < 0.25, measured
    assert measured[34] > 1.5 * measured[18], measured
