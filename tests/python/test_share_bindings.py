"""Sharing through the Python bindings, received by an independent receiver
written here from docs/wire-format.md alone: a tus 1.0.0 endpoint on
loopback (Python's http.server) that decrypts with pyrage (age) and checks
the Ed25519 signature with `cryptography`, checks the signed requests (the
tus creation, the review pull and its acknowledgement) and serves reviews
back. If the document and the Rust sender disagree, this fails."""
import base64
import csv
import hashlib
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyrage import decrypt, x25519

from conftest import data_dir

MAGIC = b"HLBUNDLE1\n"


def open_bundle(sealed, identity, enrolled, seen):
    """docs/wire-format.md, "Opening a bundle"."""
    env = decrypt(sealed, [identity])
    assert env[: len(MAGIC)] == MAGIC
    signed, sig = env[:-64], env[-64:]
    (hl,) = struct.unpack(">I", signed[10:14])
    header = json.loads(signed[14 : 14 + hl])
    key = bytes.fromhex(header["device_key"])
    Ed25519PublicKey.from_public_bytes(key).verify(sig, signed)  # raises InvalidSignature
    assert hashlib.sha256(key).hexdigest()[:16] == header["device_id"]
    if enrolled.get(header["device_id"]) != key:
        raise PermissionError("unknown_device")
    if header["bundle_id"] in seen:
        raise PermissionError("replayed")
    parts, at = {}, 14 + hl
    for p in header["parts"]:
        data = signed[at : at + p["size"]]
        assert hashlib.sha256(data).hexdigest() == p["sha256"]
        parts[p["name"]] = data
        at += p["size"]
    assert at == len(signed)
    return header, parts


def check_request(headers, method, path, body, enrolled):
    """docs/wire-format.md, "Signed requests": None when the request is
    signed right by an enrolled device, else the HTTP status (401, 403)."""
    device, date, sig = (headers.get(h) for h in ("Hemalens-Device", "Hemalens-Date", "Hemalens-Signature"))
    if not (device and date and sig):
        return 401
    if abs(int(time.time() * 1000) - int(date)) > 5 * 60 * 1000:
        return 401
    key = enrolled.get(device)
    if key is None:
        return 403
    signed = "\n".join([
        "hemalens-request-v1", method.upper(), path, device, date, hashlib.sha256(body).hexdigest(),
        headers.get("Upload-Length") or "", headers.get("Upload-Metadata") or "",
    ])
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(sig, validate=True), signed.encode())
    except (InvalidSignature, ValueError):
        return 403
    return None


class Inbox:
    def __init__(self):
        self.identity = x25519.Identity.generate()
        self.enrolled, self.seen, self.uploads, self.by_bundle, self.opened = {}, set(), {}, {}, []
        # Reviews waiting for the device, how many the last pull served, the ids acknowledged.
        self.reviews, self.served, self.acked = [], 0, []
        self.signed = 0
        self.lock = threading.Lock()
        inbox = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, headers=()):
                self.send_response(status)
                self.send_header("Tus-Resumable", "1.0.0")
                self.send_header("Content-Length", "0")
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()

            def state(self, u):
                h = [("Upload-Offset", str(len(u["data"]))), ("Upload-Length", str(u["length"]))]
                if u["verdict"]:
                    h.append(("Hemalens-Verdict", u["verdict"]))
                return h

            def signed_ok(self, body=b""):
                status = check_request(self.headers, self.command, self.path, body, inbox.enrolled)
                if status:
                    self.reply(status)
                    return False
                inbox.signed += 1
                return True

            def do_GET(self):
                if self.path != "/api/v1/reviews":
                    return self.reply(404)
                if not self.signed_ok():
                    return
                with inbox.lock:
                    inbox.served = min(len(inbox.reviews), 2)
                    body = json.dumps({"reviews": inbox.reviews[: inbox.served],
                                       "more": len(inbox.reviews) > inbox.served}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                if self.path == "/api/v1/reviews/ack":
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    if not self.signed_ok(body):
                        return
                    ids = json.loads(body)["ids"]
                    with inbox.lock:
                        inbox.acked.append(ids)
                        served, inbox.served = inbox.served, 0
                        inbox.reviews = [r for i, r in enumerate(inbox.reviews) if i >= served or r["id"] not in ids]
                    return self.reply(204)
                # The creation: signed by the device. (An unenrolled device is
                # let through here, so that the bundle's own refusal is tested.)
                if self.headers.get("Hemalens-Device") in inbox.enrolled and not self.signed_ok():
                    return
                meta = dict(kv.split(" ") for kv in self.headers["Upload-Metadata"].split(","))
                bid = base64.b64decode(meta["bundle_id"]).decode()
                with inbox.lock:
                    if bid in inbox.by_bundle:
                        uid = inbox.by_bundle[bid]
                        return self.reply(200, [("Location", f"/files/{uid}")] + self.state(inbox.uploads[uid]))
                    uid = f"u{len(inbox.uploads) + 1}"
                    inbox.by_bundle[bid] = uid
                    inbox.uploads[uid] = {"length": int(self.headers["Upload-Length"]), "data": b"", "verdict": None}
                self.reply(201, [("Location", f"/files/{uid}"), ("Upload-Offset", "0")])

            def do_HEAD(self):
                u = inbox.uploads.get(self.path.rsplit("/", 1)[-1])
                self.reply(200, self.state(u)) if u else self.reply(404)

            def do_PATCH(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with inbox.lock:
                    u = inbox.uploads.get(self.path.rsplit("/", 1)[-1])
                    if u is None:
                        return self.reply(404)
                    if int(self.headers["Upload-Offset"]) != len(u["data"]) or u["verdict"]:
                        return self.reply(409, self.state(u))
                    u["data"] += body
                    if len(u["data"]) == u["length"]:
                        try:
                            header, parts = open_bundle(u["data"], inbox.identity, inbox.enrolled, inbox.seen)
                            inbox.seen.add(header["bundle_id"])
                            inbox.opened.append((header, parts))
                            u["verdict"] = "delivered"
                        except (InvalidSignature, PermissionError) as e:
                            u["verdict"] = f"refused {e or 'bad_signature'}"
                    self.reply(204, self.state(u))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/files/"


def bccd(n):
    d = data_dir() / "bccd_fields"
    with open(d / "labels.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    return [(d / r["path"]).read_bytes() for r in rows[:n]]


@pytest.fixture()
def inbox():
    i = Inbox()
    yield i
    i.server.shutdown()


def test_share_a_session_through_the_bindings(hl, tmp_path, inbox):
    s = hl.Screener.open(str(tmp_path / "store"), hl.generate_key(), hl.ScreenerConfig(threads=2, pack_dir=None))
    try:
        sid = s.start_session("PT-9", hl.Evidence(target_cells=5, max_fields=6), "pytest", "chw-1")
        for p in bccd(3):
            s.add_photo(sid, p, "chw-1")
        # Not yet: an open session, an unknown hospital.
        with pytest.raises(hl.HemalensError.NotFound):
            s.share(sid, "district", "chw-1")
        dk = s.device_key()
        inbox.enrolled[dk.device_id] = bytes.fromhex(dk.public_key)
        s.add_hospital(hl.Hospital(name="district", url=inbox.url, recipient=str(inbox.identity.to_public()),
                                   photos_on_wifi_only=True), "chw-1")
        with pytest.raises(hl.HemalensError.InvalidState):
            s.share(sid, "district", "chw-1")
        with pytest.raises(hl.HemalensError.InvalidInput):
            s.add_hospital(hl.Hospital(name="bad", url="ftp://x", recipient="age1x", photos_on_wifi_only=True), "chw-1")
        s.close_session(sid, "chw-1")
        assert s.report_pdf(sid)[:5] == b"%PDF-"
        sms = s.sms(sid)
        assert 0 < len(sms) <= 160
        fhir = json.loads(s.fhir_json(sid))
        assert fhir["resourceType"] == "Bundle"

        items = s.share(sid, "district", "chw-1")
        assert [i.kind for i in items] == ["results", "photos"]
        assert [hl.outbox_status(i) for i in items] == ["queued", "queued"]
        # Cellular: the results go, the photos wait for Wi-Fi.
        items = s.outbox_send(False)
        assert [hl.outbox_status(i) for i in items] == ["delivered", "queued"]
        items = s.outbox_send(True)
        assert [hl.outbox_status(i) for i in items] == ["delivered", "delivered"]
        assert items[0].size < 50_000

        kinds = {h["kind"]: (h, parts) for h, parts in inbox.opened}
        h, parts = kinds["results"]
        assert h["session_uid"] == f"{dk.device_id}-{sid}"
        assert json.loads(parts["fhir.json"]) == fhir
        assert parts["sms.txt"].decode() == sms
        h, parts = kinds["photos"]
        assert parts["report.pdf"][:5] == b"%PDF-"
        assert sorted(n for n in parts if n.startswith("photos/")) == ["photos/0.jpg", "photos/1.jpg", "photos/2.jpg"]
        assert parts["photos/0.jpg"] == bccd(1)[0]
        assert inbox.signed >= 2, "each creation signed by the enrolled device"
    finally:
        s.shutdown()


def test_reviews_come_back_through_the_bindings(hl, tmp_path, inbox):
    s = hl.Screener.open(str(tmp_path / "store"), hl.generate_key(), hl.ScreenerConfig(threads=2, pack_dir=None))
    try:
        sid = s.start_session("PT-11", hl.Evidence(target_cells=5, max_fields=6), "pytest", "chw-1")
        s.add_photo(sid, bccd(1)[0], "chw-1")
        s.close_session(sid, "chw-1")
        s.add_hospital(hl.Hospital(name="district", url=inbox.url, recipient=str(inbox.identity.to_public()),
                                   photos_on_wifi_only=True), "chw-1")
        # Not enrolled yet: the hospital refuses the pull.
        [r] = s.sync_reviews()
        assert (r.hospital, r.error, r.applied) == ("district", "http_403", 0)
        dk = s.device_key()
        inbox.enrolled[dk.device_id] = bytes.fromhex(dk.public_key)
        uid = f"{dk.device_id}-{sid}"
        review = {"id": "r1", "session_uid": uid, "kind": "relabel_cell", "field": 0, "cell": 0,
                  "label": "lymphocyte", "reviewer": "Dr A. Mensah", "at": 1765000000000, "note": None}
        inbox.reviews = [
            review,
            {"id": "r2", "session_uid": uid, "kind": "override_outcome", "outcome": "refer",
             "reviewer": "Dr A. Mensah", "at": 1765000000001, "note": "blasts on field 1"},
            review,  # sent again
            {"id": "r3", "session_uid": f"{dk.device_id}-999", "kind": "confirm", "reviewer": "Dr B", "at": 0},
        ]
        [r] = s.sync_reviews()
        assert (r.applied, r.already_had, r.skipped, r.error) == (2, 1, 1, None)
        assert inbox.acked == [["r1", "r2"], ["r1", "r3"]] and inbox.reviews == []
        ex = json.loads(s.export_json(sid))
        assert [(v["kind"], v["reviewer"], v["at"]) for v in ex["reviews"]] == [
            ("relabel_cell", "Dr A. Mensah (district)", 1765000000000),
            ("override_outcome", "Dr A. Mensah (district)", 1765000000001),
        ]
        assert ex["session"]["outcome"] == "refer"
        [r] = s.sync_reviews()
        assert (r.applied, r.already_had, r.skipped, r.error) == (0, 0, 0, None)
    finally:
        s.shutdown()


def test_a_bundle_for_an_unenrolled_device_is_refused_with_its_reason(hl, tmp_path, inbox):
    s = hl.Screener.open(str(tmp_path / "store"), hl.generate_key(), hl.ScreenerConfig(threads=2, pack_dir=None))
    try:
        sid = s.start_session("PT-10", hl.Evidence(target_cells=5, max_fields=6), "pytest", "chw-1")
        s.add_photo(sid, bccd(1)[0], "chw-1")
        s.close_session(sid, "chw-1")
        s.add_hospital(hl.Hospital(name="district", url=inbox.url, recipient=str(inbox.identity.to_public()),
                                   photos_on_wifi_only=False), "chw-1")
        s.share(sid, "district", "chw-1")
        items = s.outbox_send(True)
        assert [hl.outbox_status(i) for i in items] == ["refused: unknown_device"] * 2
        assert inbox.opened == []
        # Only a refused item can be queued again; enrolled now, a person
        # queues them again (sealed anew) and they go.
        dk = s.device_key()
        inbox.enrolled[dk.device_id] = bytes.fromhex(dk.public_key)
        for i in items:
            s.outbox_retry(i.id, "chw-1")
        with pytest.raises(hl.HemalensError.InvalidState):
            s.outbox_retry(items[0].id, "chw-1")
        items = s.outbox_send(True)
        assert [hl.outbox_status(i) for i in items] == ["delivered"] * 2
        assert len(inbox.opened) == 2
    finally:
        s.shutdown()


def test_the_platform_can_keep_the_device_key(hl, tmp_path):
    """On a phone the signing seed may live in the Keystore/Keychain: the
    same seed gives the same device, whatever the store."""
    seed = bytes(range(32))
    ids = []
    for n in range(2):
        cfg = hl.ScreenerConfig(threads=1, pack_dir=None, device_seed=seed)
        s = hl.Screener.open(str(tmp_path / f"store{n}"), hl.generate_key(), cfg)
        ids.append(s.device_key())
        s.shutdown()
    assert ids[0] == ids[1]
    own = hl.Screener.open(str(tmp_path / "store4"), hl.generate_key(), hl.ScreenerConfig(threads=1, pack_dir=None))
    assert own.device_key() != ids[0]
    own.shutdown()
    with pytest.raises(hl.HemalensError.InvalidInput):
        hl.Screener.open(str(tmp_path / "store3"), hl.generate_key(), hl.ScreenerConfig(threads=1, pack_dir=None, device_seed=b"short"))
