"""One whole screening through the Python bindings (UniFFI, rust-core/ffi), on
real photos, with every kind of bad input an app can hand in.

The bindings are the committed ones (rust-core/ffi/bindings/python), loaded
over the library built from this tree (scripts/bindings.sh --check keeps the
two in step)."""
import csv
import json
import subprocess
import threading

import pytest

from conftest import ROOT, data_dir, hemalens_bin


def bccd(split, n):
    d = data_dir() / "bccd_fields"
    with open(d / "labels.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    return [(d / r["path"]).read_bytes() for r in rows[:n]]


@pytest.fixture()
def screener(hl, tmp_path):
    key = hl.generate_key()
    s = hl.Screener.open(str(tmp_path / "store"), key, hl.ScreenerConfig(threads=2, pack_dir=None))
    yield s, key, tmp_path / "store"
    s.shutdown()


def test_whole_screening(hl, screener):
    s, key, store_dir = screener
    packs = s.packs()
    assert [p.id for p in packs] == ["all-screen", "wbc-type"]
    sid = s.start_session("PT-0001", hl.Evidence(target_cells=5, max_fields=6), "pytest", "chw-1")
    photos = bccd("val", 4)
    for i, photo in enumerate(photos):
        added = s.add_photo(sid, photo, "chw-1")
        assert added.field == i
        assert added.summary.fields.added == i + 1
        assert added.report.models == packs
        assert isinstance(added.report.quality.issues, list)
        for c in added.report.cells:
            # Boxes are records, probabilities a list of label/probability pairs.
            assert c.bbox.w > 0 and c.bbox.h > 0
            assert abs(sum(lp.prob for lp in c.probs) - 1.0) < 1e-6
            assert c.label in {lp.label for lp in c.probs}
        for issue in added.report.quality.issues:
            assert isinstance(issue.code, hl.IssueCode)

    # A corrupt photo and an empty one: typed errors, nothing stored, nothing lost.
    with pytest.raises(hl.HemalensError.BadPhoto) as e:
        s.add_photo(sid, photos[0][: len(photos[0]) // 3], "chw-1")
    assert e.value.code == "corrupt_image"
    with pytest.raises(hl.HemalensError.BadPhoto) as e:
        s.add_photo(sid, b"", "chw-1")
    assert e.value.code == "empty_input"
    summary = s.summary(sid)
    assert summary.fields.added == len(photos)

    closed = s.close_session(sid, "chw-1")
    assert closed.outcome.decision in list(hl.Decision)
    assert closed.provenance.models == packs
    assert "all-screen.refer_malignant_prob" in closed.provenance.thresholds
    with pytest.raises(hl.HemalensError.InvalidState):
        s.add_photo(sid, photos[0], "chw-1")

    rows = s.list(hl.SessionQuery(patient="PT-0001", from_ms=None, to_ms=None, outcome=None,
                                  pending_review=False, limit=10))
    assert [r.id for r in rows] == [sid]
    assert rows[0].machine_outcome == closed.outcome.decision
    assert rows[0].fields == len(photos)

    s.override_outcome(sid, hl.Decision.REFER, "dr-a", "blasts seen on review")
    row = s.list(hl.SessionQuery(patient="PT-0001", from_ms=None, to_ms=None, outcome=None,
                                 pending_review=False, limit=10))[0]
    assert (row.outcome, row.review_state) == (hl.Decision.REFER, hl.ReviewState.REVIEWED)
    assert row.machine_outcome == closed.outcome.decision

    exported = json.loads(s.export_json(sid))
    text = json.dumps(exported)
    assert "PT-0001" in text and "blasts seen on review" in text
    assert len(exported["fields"]) == len(photos)

    # A new key: the store re-encrypted, the old key refused afterwards.
    new_key = hl.generate_key()
    s.rotate_key(new_key, True, "admin")
    s.shutdown()
    with pytest.raises(hl.HemalensError.WrongKey):
        hl.Screener.open(str(store_dir), key, hl.ScreenerConfig(threads=1, pack_dir=None))
    again = hl.Screener.open(str(store_dir), new_key, hl.ScreenerConfig(threads=1, pack_dir=None))
    assert again.summary(sid).fields.added == len(photos)
    again.shutdown()


def test_same_report_as_the_command(hl, screener, tmp_path):
    """The bindings run the same core as `hemalens analyze`: same cells, same answers."""
    s, _, _ = screener
    photo = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"
    r = subprocess.run([str(hemalens_bin()), "analyze", "--json", str(photo)],
                       capture_output=True, text=True, check=True)
    cli = json.loads(r.stdout)
    cli = cli[0] if isinstance(cli, list) else cli
    cli = cli.get("report", cli)
    mine = s.analyze(photo.read_bytes())
    assert [[c.bbox.x, c.bbox.y, c.bbox.w, c.bbox.h] for c in mine.cells] == [c["bbox"] for c in cli["cells"]]
    assert [c.label for c in mine.cells] == [c["label"] for c in cli["cells"]]
    assert [c.confidence for c in mine.cells] == pytest.approx([c["confidence"] for c in cli["cells"]], abs=1e-9)
    assert mine.screen.label == cli["screen"]["label"]
    assert mine.quality.ok == cli["quality"]["ok"]


def test_bad_input_is_a_typed_error(hl, screener, tmp_path):
    s, _, _ = screener
    # Keys of the wrong length.
    for bad in (b"", b"short", bytes(33)):
        with pytest.raises(hl.HemalensError.InvalidInput):
            hl.Screener.open(str(tmp_path / "other"), bad, hl.ScreenerConfig(threads=1, pack_dir=None))
    # A session that does not exist.
    with pytest.raises(hl.HemalensError.NotFound):
        s.summary(987654)
    with pytest.raises(hl.HemalensError.NotFound):
        s.add_photo(987654, bccd("val", 1)[0], "chw")
    # Not a photo at all; a huge one (a JPEG header claiming 60000 x 60000 pixels).
    with pytest.raises(hl.HemalensError.BadPhoto) as e:
        s.analyze(b"%PDF-1.4 not a photo")
    assert e.value.code == "unsupported_format"
    photo = bytearray(bccd("val", 1)[0])
    sof = photo.find(b"\xff\xc0")
    assert sof > 0
    photo[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2
    with pytest.raises(hl.HemalensError.BadPhoto) as e:
        s.analyze(bytes(photo))
    assert e.value.code in {"image_too_large", "corrupt_image"}
    # Patient codes the store refuses; an unknown label for a cell.
    with pytest.raises(hl.HemalensError.InvalidInput):
        s.start_session("", None, "pytest", "chw")
    # A missing pack folder.
    with pytest.raises(hl.HemalensError.ModelProblem):
        hl.Screener.open(str(tmp_path / "p"), hl.generate_key(),
                         hl.ScreenerConfig(threads=1, pack_dir=str(tmp_path / "no-packs")))


def test_closed_screener_and_panics(hl, screener):
    s, _, _ = screener
    s.shutdown()
    with pytest.raises(hl.HemalensError.InvalidState):
        s.packs()
    with pytest.raises(hl.HemalensError.InvalidState):
        s.start_session("PT-2", None, "pytest", "chw")
    # A panic inside the library is a typed error; the process lives on.
    with pytest.raises(hl.HemalensError.Internal) as e:
        hl.debug_panic()
    assert "panic" not in str(e.value).lower() or "bug" in str(e.value)
    assert hl.core_version()


def test_shared_between_threads(hl, screener):
    """The object is Send + Sync: photos from several threads, one store."""
    s, _, _ = screener
    sid = s.start_session("PT-3", None, "pytest", "chw")
    photos = bccd("train", 4)
    errors = []

    def add(p):
        try:
            s.add_photo(sid, p, "chw")
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=add, args=(p,)) for p in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert s.summary(sid).fields.added == len(photos)


def test_log_lines_reach_the_host_without_patient_data(hl, screener):
    s, _, _ = screener

    class Sink(hl.LogSink):
        def __init__(self):
            self.lines = []

        def log(self, level, target, message):
            self.lines.append((level, target, message))

    sink = Sink()
    hl.set_log_sink(sink, hl.LogLevel.DEBUG)
    try:
        sid = s.start_session("PT-SECRET-77", None, "pytest", "chw-secret")
        s.add_photo(sid, bccd("val", 1)[0], "chw-secret")
        s.close_session(sid, "chw-secret")
    finally:
        hl.set_log_sink(sink, hl.LogLevel.ERROR)
    assert any(t == "hemalens::gate" for _, t, _ in sink.lines), sink.lines[:5]
    text = " ".join(f"{t} {m}" for _, t, m in sink.lines)
    assert "PT-SECRET-77" not in text and "chw-secret" not in text
