"""`hemalens site` end to end through the real binary on real photos: a site
calibrated from its normal slides and the cells its reviewers relabelled, the
profile stored as versions, named in every result, rolled back; refusals for
too few photos, a profile made for other packs, and a malformed profile."""
import csv
import json
import os
import subprocess

import pytest

from conftest import hemalens_bin


@pytest.fixture()
def cli(tmp_path):
    exe = hemalens_bin()
    key = subprocess.run([str(exe), "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "HEMALENS_HOME": str(tmp_path / "store"), "HEMALENS_KEY": key, "USER": "lab-tech"}

    def run(*args):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=env, timeout=600)

    return run


def bccd(data, split, n):
    root = data / "bccd_fields"
    rows = [r for r in csv.DictReader(open(root / "labels.csv")) if r["split"].strip() == split]
    return [root / r["path"] for r in rows[:n]]


def test_a_site_is_calibrated_stored_named_in_results_and_rolled_back(cli, data, tmp_path):
    # A session whose cells a reviewer relabels: the reviewed cells site calibration learns from.
    sid = json.loads(cli("session", "start", "--patient", "P-1", "--json").stdout)["session"]
    r = cli("session", "add", sid, *bccd(data, "val", 6), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(cli("session", "export", sid).stdout)
    assert "site" not in report["fields"][0]["report"], "no profile yet"
    assert "timing_ms" not in report["fields"][0]["report"], "stage times are not records"
    cells = [(f["seq"], i) for f in report["fields"] for i, _ in enumerate(f["report"]["cells"])]
    assert len(cells) >= 2
    assert cli("session", "close", sid).returncode == 0
    for (seq, i), label in zip(cells[:2], ["lymphocyte", "neutrophil"]):
        assert cli("session", "review", sid, "--field", seq, "--cell", i, "--label", label).returncode == 0

    r = cli("site", "calibrate", "--site", "clinic-a", "--reviewed", "--json", *bccd(data, "train", 12))
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["version"] == 1 and p["photos"] == 12 and p["reviewed_cells"] == 2
    assert p["refit"]["labels"] == 2 and p["scale"]["consistent"]

    # Every later result names the profile.
    sid2 = json.loads(cli("session", "start", "--patient", "P-2", "--json").stdout)["session"]
    assert cli("session", "add", sid2, *bccd(data, "val", 2)).returncode == 0
    ex = json.loads(cli("session", "export", sid2).stdout)
    site_ref = {"site": "clinic-a", "version": 1, "cells_reviewed": True}
    assert ex["fields"][0]["report"]["site"] == site_ref
    summary = json.loads(cli("session", "show", sid2, "--json").stdout)["summary"]
    assert summary["provenance"]["site"] == site_ref

    # A second calibration is version 2; rolling back keeps both.
    assert cli("site", "calibrate", "--site", "clinic-a", *bccd(data, "train", 8)).returncode == 0
    rows = [json.loads(l) for l in cli("site", "list", "--json").stdout.splitlines()]
    assert [(x["version"], x["active"]) for x in rows] == [(2, True), (1, False)]
    assert cli("site", "rollback", "1").returncode == 0
    assert json.loads(cli("site", "show").stdout)["version"] == 1
    assert cli("site", "rollback", "--none").returncode == 0
    assert cli("site", "show").returncode == 2
    assert cli("session", "add", sid2, *bccd(data, "val", 1)).returncode == 0
    ex = json.loads(cli("session", "export", sid2).stdout)
    assert "site" not in ex["fields"][-1]["report"], "rolled back to the packs as shipped"
    assert "P-1" not in r.stderr


def test_the_profile_changes_what_analyze_says_and_other_packs_refuse_it(hemalens, data, tmp_path):
    prof = tmp_path / "site.json"
    r = hemalens("site", "calibrate", "--site", "clinic-b", "--out", prof, *bccd(data, "train", 15))
    assert r.returncode == 0, r.stderr
    val = bccd(data, "val", 10)
    plain = [json.loads(l) for l in hemalens("analyze", "--json", *val).stdout.splitlines()]
    sited = [json.loads(l) for l in hemalens("analyze", "--json", "--site", prof, *val).stdout.splitlines()]
    assert all(s["site"] == {"site": "clinic-b", "version": 0, "cells_reviewed": False} for s in sited)
    t0 = [r["screen"]["distance"] for r in plain if r.get("screen")]
    t1 = [r["screen"]["distance"] for r in sited if r.get("screen")]
    assert len(t0) == len(t1) > 0
    assert all(b <= a for a, b in zip(t0, t1)) and t1 != t0, "tiles familiar about the site's own mean too"
    # Photos alone say nothing about how this site's cells are typed: the
    # cells' familiarity is left as the pack's until reviewers have labelled some.
    d0 = [c["distance"] for r in plain for c in r["cells"]]
    d1 = [c["distance"] for r in sited for c in r["cells"]]
    assert d0 == d1 and len(d0) > 0

    bad = json.loads(prof.read_text())
    bad["packs"][1]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(bad))
    r = hemalens("analyze", "--site", tmp_path / "other.json", val[0], check=False)
    assert r.returncode == 2 and "other model packs" in r.stderr
    (tmp_path / "broken.json").write_text(prof.read_text()[:200])
    r = hemalens("analyze", "--site", tmp_path / "broken.json", val[0], check=False)
    assert r.returncode == 2 and "truncated" in r.stderr


def test_too_few_usable_photos_is_a_typed_refusal(hemalens, data, tmp_path):
    r = hemalens("site", "calibrate", "--site", "x", "--out", tmp_path / "p.json", *bccd(data, "train", 3),
                 check=False)
    assert r.returncode == 2 and "site_profile" in r.stderr and "at least 5" in r.stderr
    assert not (tmp_path / "p.json").exists()
