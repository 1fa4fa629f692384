"""`hemalens share report` end to end: a closed session of 20 real BCCD fields
made through the CLI, one cell relabelled, the outcome overridden and
confirmed; the PDF read back with poppler (pdftotext, pdftoppm) and checked
against the session's own export; the HTML page checked for the same figures
and for escaping."""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import data_dir, hemalens_bin

PATIENT = "<b>P&1"  # the store takes any printable code: the report must escape it
OPERATOR = "hw-amina"
RELABELLER = "dr-okafor"
OVERRIDER = "Dr. O'Neil"
CONFIRMER = "dr-mensah"
NAMES = {"neutrophil": "Neutrophil", "lymphocyte": "Lymphocyte", "monocyte": "Monocyte",
         "eosinophil": "Eosinophil", "basophil": "Basophil", "ig": "Immature granulocyte",
         "erythroblast": "Erythroblast"}
MAX_BYTES = 2_000_000


def poppler():
    missing = [t for t in ("pdftotext", "pdftoppm") if shutil.which(t) is None]
    if missing:
        msg = f"poppler-utils not installed ({', '.join(missing)} missing)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def pct(x):
    return f"{100 * x:.1f}%"


def interval(lo, hi):
    return f"{100 * lo:.1f}–{100 * hi:.1f}%"


def iso(ms):
    import datetime
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def squash(s):
    return re.sub(r"\s+", " ", s)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A closed, reviewed session of 20 real fields, its export, and the report files."""
    exe = hemalens_bin()
    images = sorted((data_dir() / "bccd_fields" / "images").glob("*.jpg"))[:20]
    assert len(images) == 20
    tmp = tmp_path_factory.mktemp("report")
    key = subprocess.run([str(exe), "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "HEMALENS_HOME": str(tmp / "store"), "HEMALENS_KEY": key}

    def run(*args, user=OPERATOR):
        r = subprocess.run([str(exe), *map(str, args), "--user", user], capture_output=True, text=True,
                           env=env, timeout=600)
        assert r.returncode == 0, f"hemalens {args}: {r.stderr}"
        return r.stdout

    sid = json.loads(run("session", "start", "--patient", PATIENT, "--json"))["session"]
    added = [json.loads(l) for l in run("session", "add", sid, *images, "--json").splitlines()]
    assert len(added) == 20
    run("session", "close", sid)
    ex = json.loads(run("session", "export", sid))
    # Relabel the first cell of the first accepted field that has one.
    field = next(f for f in ex["fields"] if f["report"]["quality"]["ok"] and f["report"]["cells"])
    machine_label = field["report"]["cells"][0]["label"]
    new_label = "lymphocyte" if machine_label != "lymphocyte" else "neutrophil"
    run("session", "review", sid, "--field", field["seq"], "--cell", 0, "--label", new_label, user=RELABELLER)
    machine = ex["result"]["summary"]["outcome"]["decision"]
    other = "refer" if machine != "refer" else "inconclusive"
    run("session", "override", sid, "--outcome", other, "--note", "clinical suspicion", user=OVERRIDER)
    run("session", "review", sid, "--confirm", user=CONFIRMER)
    ex = json.loads(run("session", "export", sid))
    run("share", "report", sid, "-o", tmp / "report.pdf")
    run("share", "report", sid, "-o", tmp / "report.html", "--html")
    return {"dir": tmp, "export": ex, "outcome": other, "machine": machine, "relabel": (field["seq"], machine_label,
                                                                                        new_label)}


def test_the_pdf_says_what_the_session_says(session):
    poppler()
    pdf = session["dir"] / "report.pdf"
    size = pdf.stat().st_size
    assert size <= MAX_BYTES, f"{size} bytes"
    layout = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = squash(layout)
    ex = session["export"]
    s = ex["result"]["summary"]

    assert PATIENT in flat
    assert OPERATOR in flat
    assert iso(ex["session"]["started_at"]) in flat, "the date, UTC ISO"
    words = {"refer": "REFER", "inconclusive": "INCONCLUSIVE", "no_abnormality_detected": "NO ABNORMALITY DETECTED"}
    assert words[session["outcome"]] in flat, "the outcome that stands"
    assert f"The machine's outcome was {words[session['machine']].lower()}" in flat
    assert f"Outcome set to {words[session['outcome']].lower()} by reviewer {OVERRIDER} on" in flat
    assert f"Outcome confirmed by reviewer {CONFIRMER} on" in flat
    for r in s["outcome"]["reasons"]:
        assert squash(r["message"]) in flat, r["code"]

    # The differential as in the export: count, share and 95% interval, row by row.
    for c in s["differential"]:
        p = c["proportion"]
        row = f"{NAMES[c['label']]} {c['count']} {pct(p['p'])} {interval(p['low'], p['high'])}"
        assert row in flat, row
    assert f"Shares of the {s['cells']['white']} white cells" in flat
    # The screen.
    assert pct(s["screen"]["malignant_prob"]) in flat

    # The reviews, with who and when.
    for who in (RELABELLER, OVERRIDER, CONFIRMER):
        assert who in flat, who
    for r in ex["reviews"]:
        assert iso(r["at"]) in flat
    seq, was, now = session["relabel"]
    assert f"Relabelled cell 1 of field {seq + 1}: {was} to {now}" in flat
    assert "clinical suspicion" in flat

    # Provenance: every pack's checksum, the thresholds, the device.
    for m in s["provenance"]["models"]:
        assert m["sha256"] in flat, m["id"]
    assert "wbc-type.min_confidence" in flat
    assert ex["session"]["app_version"] in flat

    # Rejected photos are listed with their reasons.
    for f in ex["fields"]:
        if not f["report"]["quality"]["ok"]:
            for issue in f["report"]["quality"]["issues"]:
                assert issue["code"] in flat

    assert "decision support, not a diagnosis" in flat.lower()

    # Every accepted field is shown as an overlay.
    accepted = [f for f in ex["fields"] if f["report"]["quality"]["ok"]]
    for f in accepted:
        assert f"Field {f['seq'] + 1} " in flat
    assert "Cell gallery" in flat


def test_the_pdf_pages_render(session, tmp_path):
    poppler()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(session["dir"] / "report.pdf"), str(tmp_path / "p")],
                   check=True, capture_output=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert 4 <= len(pages) <= 20, len(pages)
    for p in pages:
        a = np.asarray(Image.open(p).convert("L"))
        assert a.shape[0] > a.shape[1], "portrait A4"
        ink = float((a < 200).mean())
        assert ink > 0.005, f"{p.name} is blank ({ink:.4f} ink)"
    # The first fields page holds a photo: far more ink than a text page.
    inks = [float((np.asarray(Image.open(p).convert("L")) < 200).mean()) for p in pages]
    assert max(inks) > 0.2, inks


def test_the_html_page_holds_the_same_figures_escaped(session):
    page = (session["dir"] / "report.html").read_text(encoding="utf-8")
    s = session["export"]["result"]["summary"]
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;b&gt;P&amp;1" in page and PATIENT not in page, "the patient code is escaped"
    assert "Dr. O&#39;Neil" in page
    for c in s["differential"]:
        p = c["proportion"]
        assert f"<td class=\"n\">{pct(p['p'])}</td><td class=\"n\">{interval(p['low'], p['high'])}</td>" in page
    for m in s["provenance"]["models"]:
        assert m["sha256"] in page
    assert "decision support, not a diagnosis" in page
    accepted = sum(1 for f in session["export"]["fields"] if f["report"]["quality"]["ok"])
    cells = sum(len(f["report"]["cells"]) for f in session["export"]["fields"] if f["report"]["quality"]["ok"])
    assert page.count("data:image/jpeg;base64,") == accepted + cells, "an overlay per field, a crop per cell"
    assert "http://" not in page and "https://" not in page, "self-contained"
