"""scripts/domain_data.py keeps the windows the pipeline dumped (training and
evaluation read them), but only for the build that dumped them: windows from
another build may have passed another gate, and a check that reused them could
fail (or pass) for the wrong reason."""
import sys
from pathlib import Path

from conftest import ROOT, hemalens_bin

sys.path.insert(0, str(ROOT / "scripts"))
import domain_data as dd  # noqa: E402

DEMO = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"


def test_windows_are_reused_by_the_same_build_and_dumped_again_by_another(tmp_path, monkeypatch):
    monkeypatch.setenv("HEMALENS_BIN", str(hemalens_bin()))
    out = tmp_path / "windows"
    first = dd.dump_windows([DEMO], out)
    assert first[str(DEMO)]["quality"]["ok"]
    tiles = dd.windows_of(out, DEMO, "tile")
    assert tiles, "the demo photo's screening tiles were not dumped"
    assert (out / "pipeline.txt").read_text().strip() == dd.pipeline_id()

    # The same build: nothing is run again (a marker window survives).
    marker = out / f"{dd.photo_id(DEMO)}-tile-999.png"
    marker.write_bytes(b"")
    assert dd.dump_windows([DEMO], out) == first
    assert marker.exists()

    # Another build dumped them: every window is dropped and dumped again.
    (out / "pipeline.txt").write_text("0" * 64 + "\n")
    again = dd.dump_windows([DEMO], out)
    assert not marker.exists()
    assert again[str(DEMO)]["quality"] == first[str(DEMO)]["quality"]
    assert dd.windows_of(out, DEMO, "tile") == tiles
    assert (out / "pipeline.txt").read_text().strip() == dd.pipeline_id()
