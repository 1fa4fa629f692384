"""The catalogue of bad photos and bad model packs (scripts/bad_inputs.py),
each kind with its expected typed result, through the real command line and
the real Python bindings: 0 panics, 0 crashes, every batch goes on (the
good photo between the bad ones is analysed every time), peak memory under a
stated bound. The inbox's catalogue (bundles, SMS, HTTP) is
test_bad_inputs_inbox.py.

A summary lands in target/bad-inputs/photos-and-packs.json."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, hemalens_bin

GOOD = ROOT / "tests/fixtures/demo/eyepiece_bccd_00339.jpg"
# Peak resident memory of one `hemalens analyze` over the whole photo
# catalogue (the largest are a 49 MP zlib bomb, decoded and refused by the
# gate, and 12 MP photos), and of one `models --check` over every pack.
PEAK_ANALYZE_KB = 400 * 1024
PEAK_PACKS_KB = 200 * 1024
# Kinds Hemalens gets wrong today, with why: each must still be wrong (so
# this list is kept true), and is reported, not hidden.
# (Empty since the gate measures flat colour: the cartoon smear, the last one,
# is refused as `not_a_smear`.)
KNOWN_WRONG: dict[str, str] = {}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad")
    subprocess.run([sys.executable, str(ROOT / "scripts/bad_inputs.py"), "--out", str(out)], check=True)
    entries = json.loads((out / "catalogue.json").read_text())
    assert len(entries) >= 50 and len({e["kind"] for e in entries}) == len(entries)
    return entries


def judge(expect, got):
    """Whether one result is what the catalogue expects: the error kind, a
    refusal by the quality gate (no cells), or any verdict without an error."""
    if "error" in expect:
        return got.get("error", {}).get("kind") == expect["error"]
    if "refused" in expect:
        return "quality" in got and not got["quality"]["ok"] and got["cells"] == []
    if "verdict" in expect:
        return "quality" in got
    return got.get("ok") is True


def summary(name, rows):
    d = ROOT / "target" / "bad-inputs"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(rows, indent=1))


def test_bad_photos_through_the_command_line(catalogue, tmp_path):
    photos = [e for e in catalogue if e["group"] == "photo"]
    # The good photo between every bad one: the batch goes on after each.
    args = []
    for e in photos:
        args += [e["path"], str(GOOD)]
    peak = tmp_path / "peak.txt"
    r = subprocess.run([str(hemalens_bin()), "analyze", "--json", *args], capture_output=True, text=True,
                       env={**os.environ, "HEMALENS_PEAK_MEMORY_FILE": str(peak)}, timeout=900)
    assert r.returncode == 1, r.stderr  # some inputs failed, none crashed it
    assert "panick" not in r.stderr.lower()
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == args
    rows, wrong = [], []
    for i, e in enumerate(photos):
        got, after = lines[2 * i], lines[2 * i + 1]
        assert after["quality"]["ok"] and after["cells"], f"the good photo after {e['kind']} was not analysed"
        ok = judge(e["expect"], got)
        rows.append({"kind": e["kind"], "expect": e["expect"], "got": got.get("error") or got["quality"], "ok": ok,
                     **({"known_wrong": KNOWN_WRONG[e["kind"]]} if e["kind"] in KNOWN_WRONG else {})})
        if ok == (e["kind"] in KNOWN_WRONG):
            wrong.append((e["kind"], e["expect"], got.get("error") or got.get("quality")))
    peak_kb = int(peak.read_text())
    summary("photos-cli.json", {"rows": rows, "peak_rss_kb": peak_kb})
    assert not wrong, "\n".join(map(str, wrong))
    # No patient data can be in these messages (there is none), but no file name either.
    for l in lines:
        if "error" in l:
            assert ".img" not in l["error"]["message"], l
    assert peak_kb < PEAK_ANALYZE_KB, f"peak {peak_kb} kB"


def test_bad_photos_through_the_bindings(hl, catalogue, tmp_path):
    """The same photos handed to an open screening session by an app: a typed
    BadPhoto error with the same code (or a field the gate refuses), and the
    session takes the good photo after each."""
    photos = [e for e in catalogue if e["group"] == "photo" and e["kind"] not in
              ("file_over_128_mib", "folder_instead_of_photo")]  # an app hands bytes, not paths
    key = hl.generate_key()
    s = hl.Screener.open(str(tmp_path / "store"), key, hl.ScreenerConfig(threads=2, pack_dir=None))
    try:
        sid = s.start_session("BAD-INPUTS-1", None, "pytest", "chw")
        good = GOOD.read_bytes()
        wrong = []
        added = 0
        for e in photos:
            data = open(e["path"], "rb").read()
            exp = e["expect"]
            try:
                r = s.add_photo(sid, data, "chw")
                added += 1
                if "error" in exp:
                    wrong.append((e["kind"], exp, "accepted"))
                elif "refused" in exp and r.report.quality.ok != (e["kind"] in KNOWN_WRONG):
                    wrong.append((e["kind"], exp, "passed the gate"))
            except hl.HemalensError.BadPhoto as err:
                if exp.get("error") != err.code:
                    wrong.append((e["kind"], exp, err.code))
            s.add_photo(sid, good, "chw")
            added += 1
        assert not wrong, "\n".join(map(str, wrong))
        assert len(s.reports(sid)) == added, "every photo taken is kept, and only those"
    finally:
        s.shutdown()


def test_bad_packs(catalogue, tmp_path):
    packs = [e for e in catalogue if e["group"] == "pack"]
    specs = [e["path"] for e in packs]
    peak = tmp_path / "peak.txt"
    r = subprocess.run([str(hemalens_bin()), "models", "--json", "--check", *specs], capture_output=True, text=True,
                       env={**os.environ, "HEMALENS_PEAK_MEMORY_FILE": str(peak)}, timeout=600)
    assert r.returncode == 1, r.stderr
    assert "panick" not in r.stderr.lower()
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["path"] for l in lines] == specs, "every pack is checked, the bad ones do not stop the rest"
    rows = [{"kind": e["kind"], "expect": e["expect"], "got": l.get("error") or {"ok": True},
             "ok": judge(e["expect"], l)} for e, l in zip(packs, lines)]
    peak_kb = int(peak.read_text()) if peak.exists() else None
    summary("packs.json", {"rows": rows, "peak_rss_kb": peak_kb})
    wrong = [(x["kind"], x["expect"], x["got"]) for x in rows if not x["ok"]]
    assert not wrong, "\n".join(map(str, wrong))
    assert peak_kb is not None and peak_kb < PEAK_PACKS_KB, f"peak {peak_kb} kB"
