"""What leaves the phone for the hospital, checked by others' code: a real
closed session (real BCCD photos through the CLI) exported as a FHIR R4
Bundle (`hemalens share fhir`) and validated by the `fhir.resources` library
(6.4.0: FHIR 4.0.1), its numbers compared with the session's export; the
report turns final after a review; broken bundles are refused. The one SMS
(`hemalens share sms`) is read by a decoder written here from docs/sms.md
alone, as a hospital would in Python."""
import copy
import csv
import json
import os
import subprocess
import zlib

import pytest

from conftest import hemalens_bin

from fhir.resources import __fhir_version__ as FHIR_VERSION
from fhir.resources.bundle import Bundle
from fhir.resources.core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

LOINC = {
    "neutrophil": "770-8",
    "lymphocyte": "736-9",
    "monocyte": "5905-5",
    "eosinophil": "713-8",
    "basophil": "706-2",
    "ig": "71695-1",
    "erythroblast": "58413-6",
}
PATIENT = "QX-FHIR-0042"


def cli(tmp_path, user="hw-test"):
    exe = hemalens_bin()
    key = subprocess.run([str(exe), "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "HEMALENS_HOME": str(tmp_path / "store"), "HEMALENS_KEY": key, "USER": user}

    def run(*args):
        r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, f"hemalens {args}: {r.stderr}"
        return r.stdout

    return run


def closed_session(run, data, n):
    """A session of `n` real BCCD val fields spread evenly over the split (one white
    cell each, the file grouped by type; with the cell pack's line at 0.995 about
    one in six is confident enough to count), closed; returns its id."""
    root = data / "bccd_fields"
    rows = [r for r in csv.DictReader(open(root / "labels.csv")) if r["split"].strip() == "val"]
    rows = rows[:: max(1, len(rows) // n)][:n]
    sid = json.loads(run("session", "start", "--patient", PATIENT, "--json"))["session"]
    run("session", "add", sid, *[root / r["path"] for r in rows])
    run("session", "close", sid)
    return sid


@pytest.fixture(scope="module")
def session(tmp_path_factory, data):
    run = cli(tmp_path_factory.mktemp("fhir"))
    return run, closed_session(run, data, 30)


# --- the validator: fhir.resources, plus the required bindings it lists but does not enforce


def required_code_errors(model, path="Bundle"):
    """fhir.resources parses structure, cardinality, types and formats, but
    only lists the codes of required bindings (`enum_values`) without checking
    them; this walks the parsed model and checks them. '+' in a list means the
    code system has more (child) codes: those are not accepted here."""
    errors = []
    for name, field in model.__fields__.items():
        value = getattr(model, name)
        if value is None:
            continue
        allowed = [c for c in field.field_info.extra.get("enum_values") or [] if c != "+"]
        for v in value if isinstance(value, list) else [value]:
            if allowed and isinstance(v, str) and v not in allowed:
                errors.append(f"{path}.{name}: {v!r} is not one of {allowed}")
            if isinstance(v, FHIRAbstractModel):
                errors += required_code_errors(v, f"{path}.{name}")
    return errors


def validate(bundle):
    """The bundle as fhir.resources reads it; raises on anything invalid."""
    parsed = Bundle.parse_obj(bundle)
    errors = required_code_errors(parsed)
    if errors:
        raise ValueError("; ".join(errors))
    return parsed


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def observation(bundle, system, code):
    found = [o for o in resources(bundle, "Observation")
             if any(c["system"] == system and c["code"] == code for c in o["code"]["coding"])]
    assert len(found) == 1, code
    return found[0]


def component(obs, code):
    found = [c for c in obs["component"] if c["code"]["coding"][0]["code"] == code]
    assert len(found) == 1, code
    return found[0]


def test_fhir_resources_reads_r4():
    assert FHIR_VERSION == "4.0.1"


def test_the_bundle_is_valid_r4_and_says_what_the_session_says(session):
    run, sid = session
    text = run("share", "fhir", sid)
    bundle = json.loads(text)
    parsed = validate(bundle)
    assert parsed.type == "collection"
    kinds = [type(e.resource).__name__ for e in parsed.entry]
    assert kinds[0] == "DiagnosticReport"
    assert kinds.count("Observation") == len(LOINC) + 2 and kinds.count("Provenance") == 1
    assert "Media" not in kinds, "results only"
    assert len(text.encode()) < 50_000

    # Ids: urn:uuid, resolvable, the same on a second export.
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert all(u.startswith("urn:uuid:") for u in urls) and len(set(urls)) == len(urls)
    for ref in json.dumps(bundle).split('"reference": "')[1:]:
        assert ref.split('"')[0] in urls
    assert json.loads(run("share", "fhir", sid)) == bundle

    ex = json.loads(run("session", "export", sid))
    summary = ex["result"]["summary"]
    report = resources(bundle, "DiagnosticReport")[0]
    assert report["status"] == "preliminary", "no reviewer yet"
    assert report["category"][0]["coding"][0]["code"] == "HM"
    assert report["conclusionCode"][0]["coding"][0]["code"] == ex["session"]["outcome"]
    assert summary["outcome"]["next_step"] in report["conclusion"]
    assert report["identifier"][0]["value"].endswith(f"-{sid}")
    patient = resources(bundle, "Patient")[0]
    assert [i["value"] for i in patient["identifier"]] == [PATIENT]
    assert set(patient) == {"resourceType", "id", "identifier"}, "a code and nothing else"

    # One observation per class: the percentage, the counts and the 95% interval of the export.
    n = summary["cells"]["white"]
    assert n > 0
    for c in summary["differential"]:
        obs = observation(bundle, "http://loinc.org", LOINC[c["label"]])
        p = c["proportion"]
        assert obs["status"] == "preliminary"
        assert obs["valueQuantity"]["value"] == pytest.approx(100 * p["p"], abs=0.005)
        assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
        assert component(obs, "class-count")["valueInteger"] == c["count"] == p["k"]
        assert component(obs, "cells-counted")["valueInteger"] == p["n"] == n
        ci = component(obs, "ci95")["valueRange"]
        assert ci["low"]["value"] == pytest.approx(100 * p["low"], abs=0.005)
        assert ci["high"]["value"] == pytest.approx(100 * p["high"], abs=0.005)

    screen = observation(bundle, "https://hemalens.org/fhir/CodeSystem/observation", "all-screen")
    assert screen["valueQuantity"]["value"] == pytest.approx(100 * summary["screen"]["malignant_prob"], abs=0.005)
    assert component(screen, "fields-screened")["valueInteger"] == summary["screen"]["fields"]
    evidence = observation(bundle, "https://hemalens.org/fhir/CodeSystem/observation", "smear-evidence")
    for code, value in [("fields-added", summary["fields"]["added"]),
                        ("fields-accepted", summary["fields"]["accepted"]),
                        ("white-cells-confident", n),
                        ("white-cells-uncertain", summary["cells"]["uncertain"]),
                        ("platelets-seen", summary["cells"]["platelets"])]:
        assert component(evidence, code)["valueInteger"] == value, code

    models = {d["deviceName"][0]["name"]: d for d in resources(bundle, "Device")}
    for m in summary["provenance"]["models"]:
        assert models[m["id"]]["identifier"][0]["value"] == m["sha256"]
        assert models[m["id"]]["version"][0]["value"] == m["version"]
    prov = resources(bundle, "Provenance")[0]
    assert len(prov["target"]) == 1 + len(LOINC) + 2


def test_a_review_makes_the_report_final(tmp_path, data):
    run = cli(tmp_path)
    sid = closed_session(run, data, 3)
    before = json.loads(run("share", "fhir", sid))
    assert resources(before, "DiagnosticReport")[0]["status"] == "preliminary"
    run("session", "review", sid, "--confirm")
    after = json.loads(run("share", "fhir", sid))
    validate(after)
    assert [e["fullUrl"] for e in after["entry"]] == [e["fullUrl"] for e in before["entry"]], "same ids"
    report = resources(after, "DiagnosticReport")[0]
    assert report["status"] == "final"
    assert report["resultsInterpreter"] == [{"display": "hw-test"}]
    assert {o["status"] for o in resources(after, "Observation")} == {"final"}


def test_broken_bundles_are_refused(session):
    run, sid = session
    bundle = json.loads(run("share", "fhir", sid))
    validate(bundle)

    def broken(change):
        b = copy.deepcopy(bundle)
        change(b)
        with pytest.raises((ValidationError, ValueError)):
            validate(b)

    obs = lambda b: resources(b, "Observation")[0]  # noqa: E731
    broken(lambda b: resources(b, "DiagnosticReport")[0].update(status="done"))
    broken(lambda b: b.update(type="pile"))
    broken(lambda b: obs(b).pop("code"))
    broken(lambda b: obs(b)["valueQuantity"].update(value="sixty"))
    broken(lambda b: obs(b).update(issued="yesterday"))
    broken(lambda b: obs(b).update(colour="red"))
    broken(lambda b: resources(b, "Provenance")[0].pop("recorded"))


# --- the SMS, read by a decoder written from docs/sms.md

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SMS_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -/.*")
SMS_CLASSES = [("NE", "neutrophil"), ("LY", "lymphocyte"), ("MO", "monocyte"), ("EO", "eosinophil"),
               ("BA", "basophil"), ("IG", "ig"), ("EB", "erythroblast")]


def decode_sms(text):
    """docs/sms.md, step by step; raises ValueError with the reason."""
    msg = "".join(c.upper() if "a" <= c <= "z" else c for c in text.strip())
    if not msg:
        raise ValueError("empty")
    bad = [c for c in msg if c not in SMS_ALPHABET]
    if bad:
        raise ValueError(f"charset {bad[0]!r}")
    if len(msg) > 160:
        raise ValueError("too long")
    if not msg.startswith("HL1 "):
        raise ValueError("not a version 1 Hemalens message")
    if len(msg) < 9 or msg[-9:-7] != " *":
        raise ValueError("missing check")
    body, check = msg[:-9], msg[-7:]
    if any(c not in CROCKFORD for c in check):
        raise ValueError("bad check")
    value = 0
    for c in check:
        value = value * 32 + CROCKFORD.index(c)
    if value != zlib.crc32(body.encode("ascii")):
        raise ValueError("check mismatch")
    tokens = body.split(" ")
    if len(tokens) != 15:
        raise ValueError("malformed")
    _, uid, outcome, review, white, uncertain, *classes, fields, screen = tokens
    device, session = uid.split("-")
    counts = {}
    for token, (tag, label) in zip(classes, SMS_CLASSES):
        assert token.startswith(tag)
        counts[label] = int(token[len(tag):])
    accepted, added = fields[1:].split("/")
    return {
        "uid": f"{device.lower()}-{int(session)}",
        "outcome": {"REF": "refer", "NAD": "no_abnormality_detected", "INC": "inconclusive"}[outcome],
        "reviewed": {"R": True, "M": False}[review],
        "white": int(white[1:]),
        "uncertain": int(uncertain[1:]),
        "counts": counts,
        "fields": (int(accepted), int(added)),
        "malignant_percent": None if screen == "P-" else float(screen[1:]),
    }


def test_the_sms_is_readable_from_its_documentation(session):
    run, sid = session
    text = run("share", "sms", sid)
    msg = text.strip()
    assert len(msg) <= 160 and set(msg) <= SMS_ALPHABET, msg
    got = decode_sms(text)
    ex = json.loads(run("session", "export", sid))
    summary = ex["result"]["summary"]
    report = resources(json.loads(run("share", "fhir", sid)), "DiagnosticReport")[0]
    assert got["uid"] == report["identifier"][0]["value"]
    assert got["outcome"] == ex["session"]["outcome"]
    assert got["reviewed"] is False
    assert got["white"] == summary["cells"]["white"] and got["uncertain"] == summary["cells"]["uncertain"]
    assert got["counts"] == {c["label"]: c["count"] for c in summary["differential"]}
    assert got["fields"] == (summary["fields"]["accepted"], summary["fields"]["added"])
    assert got["malignant_percent"] == pytest.approx(100 * summary["screen"]["malignant_prob"], abs=0.05)
    assert decode_sms(msg.lower() + "\r\n") == got

    # Damage is refused, never misread.
    i = msg.index(" W") + 2
    for damaged in [msg[:i] + ("7" if msg[i] != "7" else "8") + msg[i + 1:],
                    msg[:i] + msg[i + 1] + msg[i] + msg[i + 2:] if msg[i] != msg[i + 1] else msg[:-1],
                    msg[:-3]]:
        with pytest.raises(ValueError):
            decode_sms(damaged)


def test_overlays_travel_as_valid_media(session):
    """`share fhir --overlays` (what the photos bundle carries): one Media per
    accepted field with its annotated overlay, still valid R4."""
    import base64

    run, sid = session
    bundle = json.loads(run("share", "fhir", sid, "--overlays"))
    validate(bundle)
    export = json.loads(run("session", "export", sid))
    accepted = [f["seq"] for f in export["fields"] if f["report"]["quality"]["ok"]]
    media = resources(bundle, "Media")
    assert len(media) == len(accepted) > 0
    for m in media:
        assert m["content"]["contentType"] == "image/jpeg"
        assert base64.b64decode(m["content"]["data"])[:3] == b"\xff\xd8\xff"
    plain = json.loads(run("share", "fhir", sid))
    assert resources(plain, "Media") == []
