"""`hemalens session` end to end through the real binary: a session on the
built-in samples, review and override, export, listing filters, a wrong key,
and no patient data in the store's files or in error messages."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, hemalens_bin

SAMPLES = [ROOT / "tests/fixtures/samples/smear_field.jpg", ROOT / "tests/fixtures/samples/smear_field_2.jpg"]
PATIENT = "QX-PATIENT-7731"


@pytest.fixture()
def session_cli(tmp_path):
    exe = hemalens_bin()
    key = subprocess.run([str(exe), "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    assert len(key) == 64
    env = {**os.environ, "HEMALENS_HOME": str(tmp_path / "store"), "HEMALENS_KEY": key, "USER": "nurse-test"}

    def run(*args, key_override=None, stdin=None):
        e = dict(env)
        if key_override:
            e["HEMALENS_KEY"] = key_override
        return subprocess.run([str(exe), "session", *map(str, args)], capture_output=True, text=True, env=e,
                              input=stdin, timeout=600)

    run.store = tmp_path / "store"
    return run


def test_session_lifecycle(session_cli):
    r = session_cli("start", "--patient", PATIENT, "--json")
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["session"]
    r = session_cli("add", sid, *SAMPLES, "--json")
    assert r.returncode == 0, r.stderr
    added = [json.loads(l) for l in r.stdout.splitlines()]
    assert [a["field"] for a in added] == [0, 1]

    show = json.loads(session_cli("show", sid, "--json").stdout)["summary"]
    # The built-in samples are drawings, not photos through a microscope: the
    # familiarity gate refuses both, so the session can only ask for more.
    assert show["fields"] == {"added": 2, "accepted": 0, "rejected": 2, "rejected_by_issue": {"unfamiliar_image": 2}}
    assert show["outcome"]["decision"] == "inconclusive"
    assert {"too_many_rejected", "too_few_cells"} <= {r["code"] for r in show["outcome"]["reasons"]}
    assert {m["id"] for m in show["provenance"]["models"]} == {"all-screen", "wbc-type"}
    assert "all-screen.refer_malignant_prob" in show["provenance"]["thresholds"]
    for c in show["differential"]:
        p = c["proportion"]
        assert 0.0 <= p["low"] <= p["p"] <= p["high"] <= 1.0

    closed = json.loads(session_cli("close", sid, "--json").stdout)["summary"]
    machine = closed["outcome"]["decision"]
    assert session_cli("add", sid, SAMPLES[0]).returncode == 2, "a closed session takes no more fields"

    other = "no_abnormality_detected" if machine != "no_abnormality_detected" else "refer"
    assert session_cli("override", sid, "--outcome", other, "--note", "reviewed").returncode == 0
    rows = [json.loads(l) for l in session_cli("list", "--patient", PATIENT, "--json").stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["outcome"] == other and rows[0]["machine_outcome"] == machine
    assert rows[0]["review_state"] == "reviewed"
    assert session_cli("list", "--pending-review", "--json").stdout.strip() == ""
    assert session_cli("list", "--outcome", other, "--from", "2000-01-01", "--json").stdout.strip() != ""
    assert session_cli("list", "--outcome", other, "--to", "2000-01-01", "--json").stdout.strip() == ""

    ex = json.loads(session_cli("export", sid).stdout)
    assert ex["session"]["patient"] == PATIENT
    assert ex["result"]["summary"]["outcome"]["decision"] == machine, "the machine result is kept"
    assert [a["action"] for a in ex["audit"]][-1] == "override_outcome"
    assert ex["audit"][-1]["who"] == "nurse-test"

    # Nothing readable in the store's files.
    for p in Path(session_cli.store).rglob("*"):
        if p.is_file():
            b = p.read_bytes()
            assert PATIENT.encode() not in b and b"nurse-test" not in b and b"SQLite format 3" not in b, p


def test_wrong_key_and_no_patient_data_in_errors(session_cli):
    assert session_cli("start", "--patient", PATIENT).returncode == 0
    # Commands that are given the patient code: it must not come back in their errors.
    for args in (["list", "--patient", PATIENT], ["start", "--patient", PATIENT]):
        r = session_cli(*args, key_override="00" * 32)
        assert r.returncode == 2, args
        assert "wrong_key" in r.stderr and PATIENT not in r.stderr and PATIENT not in r.stdout, (args, r.stderr)
    assert "ERROR" not in r.stderr, "no SQLCipher log lines"
    r = session_cli("show", "999")
    assert r.returncode == 2 and "not_found" in r.stderr


def test_decide_applies_the_rule_without_a_store(session_cli):
    cells = [{"bbox": [0, 0, 1, 1], "label": "neutrophil", "confidence": 0.999, "probs": {"neutrophil": 0.999}}] * 40
    field = {"quality": {"ok": True, "issues": [], "focus": 1.0, "exposure": 0.5, "fov": None}, "scale": None,
             "cells": cells, "screen": None, "timing_ms": {}, "models": []}
    r = session_cli("decide", stdin=json.dumps({"fields": [field] * 3}) + "\n" + json.dumps({"fields": []}) + "\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert out[0]["outcome"]["decision"] == "refer"  # 120 neutrophils, no lymphocytes
    assert out[1]["outcome"]["decision"] == "inconclusive"
