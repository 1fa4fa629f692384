"""A catalogue of bad inputs for the hospital inbox, thrown at the real
`hemalens-inbox` server (SQLite, loopback): bundles tampered, replayed,
truncated, sealed for another hospital, signed by the wrong device, with a
lying header, wrong checksums, trailing bytes, malformed record/FHIR parts;
tus requests out of protocol; signed requests unsigned, stale or forged; SMS
webhook messages mistyped, cut, too long or in the wrong charset; review
acknowledgements that are not JSON; and HTTP abuse (an endless body, a
slowloris). Each kind has its exact expected answer (HTTP status and the
reason text or `Hemalens-Verdict`), read from the server's code and
docs/wire-format.md, docs/sms.md and docs/inbox.md.

The test speaks the wire protocol itself (Python only: `cryptography` for
Ed25519, `pyrage` for age), holding its own device keys; the parts of a
valid bundle come from a real session made by the `hemalens` command line.
A good bundle is delivered first (so a refusal below is the server's, not a
broken helper's), and again after every kind (every batch goes on); the
server must stay up, never panic, and keep its peak memory under a bound.
A summary lands in target/bad-inputs/inbox.json."""
import base64
import hashlib
import itertools
import json
import os
import socket
import sqlite3
import struct
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Callable, Optional

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyrage import encrypt, x25519

from conftest import ROOT

INBOX_BIN = ROOT / "target" / "release" / "hemalens-inbox"
# The server cuts off a client that has not sent a whole request head in this time (slowloris).
HEADER_TIMEOUT_S = 2
PHONE_BIN = ROOT / "target" / "release" / "hemalens"
PHOTO = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"
SUMMARY = ROOT / "target" / "bad-inputs" / "inbox.json"

SMS_TOKEN = "gateway-token-0123456789"
MAGIC = b"HLBUNDLE1\n"
OFFSET_STREAM = "application/offset+octet-stream"
MAX_BUNDLE = 512 << 20
# Peak resident memory of the server over the whole catalogue (VmHWM). Measured:
# 29.4 to 29.7 MB on this machine (x86-64, 2026-12-06), most of it the 8 MiB buffers of the
# endless PATCH kept by the allocator; the bound leaves a wide margin.
PEAK_RSS_BOUND_KB = 200 * 1024
# What one endless body may leave behind in the server's resident memory.
ENDLESS_GROWTH_BOUND_KB = 32 * 1024


# ---------------------------------------------------------------------------
# Devices (the test holds their Ed25519 keys)


class Device:
    def __init__(self, seed: int):
        self.key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.id = hashlib.sha256(self.public).hexdigest()[:16]

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


PHONE = Device(1)     # enrolled: the device every good bundle comes from
STRANGER = Device(2)  # never enrolled
HOARDER = Device(3)   # enrolled: holds open uploads, owns a bundle id, signs a bundle PHONE uploads
REVOKED = Device(4)   # enrolled, then revoked before the server starts


def b64(data) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# The wire protocol, one helper per step (docs/wire-format.md)


@dataclass
class Answer:
    status: int
    headers: dict
    text: str

    def plain(self) -> str:
        """`<status> <reason text>`: how most kinds are compared."""
        return f"{self.status} {self.text}".strip()

    def verdict(self) -> str:
        """`<status> <Hemalens-Verdict>` of an upload's last PATCH."""
        return f"{self.status} {self.headers.get('hemalens-verdict')}"


def http(w, method, path, body=b"", headers=None, timeout=30) -> Answer:
    conn = HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, text)
    finally:
        conn.close()


def signed_headers(signer, method, path, body=b"", upload_length=None, upload_metadata=None, date_ms=None,
                   claim=None) -> dict:
    """"Signed requests": Hemalens-Device/-Date/-Signature over the documented lines."""
    device = claim or signer.id
    date = str(now_ms() if date_ms is None else date_ms)
    message = "\n".join(["hemalens-request-v1", method.upper(), path, device, date, sha256_hex(body),
                         upload_length or "", upload_metadata or ""])
    return {"Hemalens-Device": device, "Hemalens-Date": date,
            "Hemalens-Signature": b64(signer.sign(message.encode()))}


def upload_metadata(bundle_id, kind) -> str:
    return f"bundle_id {b64(bundle_id)},kind {b64(kind)}"


def tus_create(w, length, bundle_id, kind, signer=PHONE, *, tus=True, sign=True, **sign_args) -> Answer:
    """tus creation: POST /tus/ with Upload-Length and Upload-Metadata, signed."""
    length, meta = str(length), upload_metadata(bundle_id, kind)
    h = {"Upload-Length": length, "Upload-Metadata": meta}
    if tus:
        h["Tus-Resumable"] = "1.0.0"
    if sign:
        h.update(signed_headers(signer, "POST", "/tus/", b"", length, meta, **sign_args))
    return http(w, "POST", "/tus/", headers=h)


def tus_patch(w, location, offset, data, content_type=OFFSET_STREAM, tus=True) -> Answer:
    """tus PATCH: the next bytes at Upload-Offset."""
    h = {"Upload-Offset": str(offset), "Content-Type": content_type}
    if tus:
        h["Tus-Resumable"] = "1.0.0"
    return http(w, "PATCH", location, body=data, headers=h)


def tus_head(w, location) -> Answer:
    return http(w, "HEAD", location, headers={"Tus-Resumable": "1.0.0"})


def send(w, sealed, bundle_id=None, kind="results", signer=PHONE, chunk=32 * 1024) -> Answer:
    """A whole upload: create, then PATCH in 32 KiB chunks; the last PATCH's answer."""
    bundle_id = bundle_id or w.next_bundle_id()
    created = tus_create(w, len(sealed), bundle_id, kind, signer)
    assert created.status == 201, created
    location, last = created.headers["location"], None
    for at in range(0, len(sealed), chunk):
        last = tus_patch(w, location, at, sealed[at:at + chunk])
        assert last.status == 204, last
    w.delivered += last.headers.get("hemalens-verdict") == "delivered"
    return last


# Sealing: envelope = magic, u32 header length, header JSON, parts, signature; then age.


def bundle_header(kind, parts, signer, bundle_id, **override) -> dict:
    h = {"format": 1, "bundle_id": bundle_id, "kind": kind, "session_uid": f"{signer.id}-1",
         "device_id": signer.id, "device_key": signer.public.hex(), "created_at": now_ms(),
         "parts": [{"name": n, "content_type": t, "size": len(d), "sha256": sha256_hex(d)} for n, t, d in parts]}
    h.update(override)
    return h


def envelope(header: dict, payload: bytes, signer, header_len=None) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    signed = MAGIC + struct.pack(">I", len(head) if header_len is None else header_len) + head + payload
    return signed + signer.sign(signed)


def seal(env: bytes, recipient: str) -> bytes:
    return encrypt(env, [x25519.Recipient.from_str(recipient)])


def bundle(w, kind="results", parts=None, signer=PHONE, bundle_id=None, recipient=None, payload=None,
           header_len=None, listed=None, **override):
    """A sealed bundle (and its id); every argument a way to spoil it (`listed`: the
    header's list of parts, `override`: other header members)."""
    parts = w.parts[kind] if parts is None else parts
    bundle_id = bundle_id or w.next_bundle_id()
    header = bundle_header(kind, parts, signer, bundle_id, **override)
    if listed is not None:
        header["parts"] = listed
    payload = b"".join(d for _, _, d in parts) if payload is None else payload
    return seal(envelope(header, payload, signer, header_len), recipient or w.recipient), bundle_id


def replace_part(parts, name, data):
    return [(n, t, data if n == name else d) for n, t, d in parts]


# The SMS (docs/sms.md): CRC-32 of the body in 7 Crockford digits.

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sms_check(body: str) -> str:
    crc = zlib.crc32(body.encode())
    return "".join(CROCKFORD[(crc >> (5 * i)) & 31] for i in reversed(range(7)))


def sms_text(device, session=1, tokens="INC M W0 U1 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F1/1 P0.4", version=1) -> str:
    body = f"HL{version} {device.id.upper()}-{session} {tokens}"
    return f"{body} *{sms_check(body)}"


def sms_post(w, body, content_type="application/json", token=SMS_TOKEN) -> Answer:
    h = {"Content-Type": content_type}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return http(w, "POST", "/api/v1/sms", body=body if isinstance(body, bytes) else body.encode(), headers=h)


def sms_json(w, text, **kw) -> Answer:
    return sms_post(w, json.dumps({"from": "+15550100", "text": text}), **kw)


# The server process


def proc_status(pid) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def rss_kb(w) -> int:
    return int(proc_status(w.server.pid)["VmRSS"].split()[0])


def peak_kb(w) -> int:
    return int(proc_status(w.server.pid)["VmHWM"].split()[0])


# ---------------------------------------------------------------------------
# The world: a real inbox, one phone session's parts


@dataclass
class World:
    port: int
    server: subprocess.Popen
    log: Path
    db: Path
    recipient: str
    parts: dict
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    delivered: int = 0  # bundles answered `delivered`: the only ones the inbox may have taken

    def next_bundle_id(self) -> str:
        return f"{next(self.ids):032x}"


def binaries_or_skip():
    missing = [str(p) for p in (INBOX_BIN, PHONE_BIN) if not p.exists()]
    if missing:
        msg = f"not built: {', '.join(missing)} (cargo build --release)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def phone_session_parts(tmp: Path) -> dict:
    """The parts of a results and a photos bundle (wire-format.md, take.rs), from a real
    session closed by the `hemalens` command line, as sent by PHONE (its id in the uid)."""
    key = subprocess.run([str(PHONE_BIN), "session", "keygen"], capture_output=True, text=True,
                         check=True).stdout.strip()
    env = {**os.environ, "HEMALENS_HOME": str(tmp / "phone"), "HEMALENS_KEY": key}

    def phone(*args):
        r = subprocess.run([str(PHONE_BIN), *map(str, args), "--user", "chw-1"], capture_output=True, env=env,
                           timeout=300)
        assert r.returncode == 0, f"hemalens {args}: {r.stderr.decode()}"
        return r.stdout

    sid = json.loads(phone("session", "start", "--patient", "P-BAD-1", "--json"))["session"]
    phone("session", "add", sid, PHOTO)
    phone("session", "close", sid)
    export = json.loads(phone("session", "export", sid))
    cli_device = phone("device", "key").decode().split()[2]
    phone("share", "report", sid, "--out", tmp / "report.pdf")
    # The CLI's own device id becomes PHONE's (the test holds PHONE's key).
    fhir = phone("share", "fhir", sid).replace(cli_device.encode(), PHONE.id.encode())
    sms_body = phone("share", "sms", sid).decode().strip().rsplit(" *", 1)[0]
    sms_body = sms_body.replace(cli_device.upper(), PHONE.id.upper())
    uid, device = f"{PHONE.id}-{sid}", {"id": PHONE.id, "app_version": export["session"]["app_version"]}
    record = {"uid": uid, "device": device, **{k: export[k] for k in ("session", "fields", "result", "reviews",
                                                                       "audit")}}
    summary = {"uid": uid, "device": device, **{k: export[k] for k in ("session", "result", "reviews")}}
    assert sid == 1, "the bundles' session uid is <device>-1"
    return {
        "results": [("fhir.json", "application/fhir+json", fhir),
                    ("sms.txt", "text/plain; charset=utf-8", f"{sms_body} *{sms_check(sms_body)}".encode()),
                    ("summary.json", "application/json", json.dumps(summary).encode())],
        "photos": [("record.json", "application/json", json.dumps(record).encode()),
                   ("report.pdf", "application/pdf", (tmp / "report.pdf").read_bytes()),
                   ("photos/0.jpg", "image/jpeg", PHOTO.read_bytes())],
    }


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    binaries_or_skip()
    tmp = tmp_path_factory.mktemp("bad-inputs-inbox")
    common = ["--db", f"sqlite:{tmp / 'inbox.db'}", "--key", str(tmp / "inbox.key")]

    def admin(*args):
        r = subprocess.run([str(INBOX_BIN), *common, *map(str, args)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"hemalens-inbox {args}: {r.stderr}"
        return r.stdout

    recipient = admin("key").strip()
    assert recipient.startswith("age1")
    for dev, label in ((PHONE, "test phone"), (HOARDER, "hoarder"), (REVOKED, "revoked")):
        admin("device", "enrol", dev.id, dev.public.hex(), "--label", label)
    admin("device", "revoke", REVOKED.id)
    parts = phone_session_parts(tmp)

    port, log = free_port(), tmp / "inbox.log"
    with open(log, "w") as out:
        server = subprocess.Popen([str(INBOX_BIN), *common, "serve", "--listen", f"127.0.0.1:{port}",
                                   "--sms-token", SMS_TOKEN, "--header-timeout-s", str(HEADER_TIMEOUT_S)],
                                  stdout=out, stderr=subprocess.STDOUT)
    world = World(port, server, log, tmp / "inbox.db", recipient, parts)
    deadline = time.time() + 20
    while True:
        try:
            if http(world, "GET", "/healthz", timeout=1).text == "ok":
                break
        except OSError:
            pass
        assert server.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.05)
    yield world
    server.terminate()
    server.wait(timeout=10)


# ---------------------------------------------------------------------------
# The kinds. Each makes its bad input, sends it, and answers what came back.

# Bundles: refused with a verdict on the last PATCH (wire-format.md, "Opening a bundle").


def ciphertext_byte_flipped(w):
    sealed, bid = bundle(w)
    sealed = bytearray(sealed)
    sealed[len(sealed) // 2] ^= 0x01
    return send(w, bytes(sealed), bid).verdict()


def sealed_bytes_cut(w):
    sealed, bid = bundle(w)
    return send(w, sealed[:-100], bid).verdict()


def sealed_for_another_hospital(w):
    sealed, bid = bundle(w, recipient=str(x25519.Identity.generate().to_public()))
    return send(w, sealed, bid).verdict()


def not_age_at_all(w):
    return send(w, b"this is not an age file\n" * 20).verdict()


def envelope_changed_after_signing(w):
    header = bundle_header("results", w.parts["results"], PHONE, w.next_bundle_id())
    env = bytearray(envelope(header, b"".join(d for _, _, d in w.parts["results"]), PHONE))
    env[-64 - 10] ^= 0x01  # a byte of the last part, after the signature was made
    return send(w, seal(bytes(env), w.recipient), header["bundle_id"]).verdict()


def signed_by_unknown_device(w):
    sealed, bid = bundle(w, signer=STRANGER)
    return send(w, sealed, bid).verdict()


def signed_by_another_claims_enrolled(w):
    # PHONE's id and key in the header, STRANGER's signature.
    sealed, bid = bundle(w, signer=STRANGER, device_id=PHONE.id, device_key=PHONE.public.hex(),
                         session_uid=f"{PHONE.id}-1")
    return send(w, sealed, bid).verdict()


def claims_enrolled_id_with_own_key(w):
    # PHONE's id, STRANGER's key and signature: the id is not the key's.
    sealed, bid = bundle(w, signer=STRANGER, device_id=PHONE.id, session_uid=f"{PHONE.id}-1")
    return send(w, sealed, bid).verdict()


def another_enrolled_devices_bundle(w):
    # Signed right by HOARDER (enrolled), uploaded by PHONE.
    sealed, bid = bundle(w, signer=HOARDER)
    return send(w, sealed, bid).verdict()


def header_length_lies(w):
    parts = w.parts["results"]
    real = len(json.dumps(bundle_header("results", parts, PHONE, "0" * 32), separators=(",", ":")))
    sealed, bid = bundle(w, header_len=real + 10)
    return send(w, sealed, bid).verdict()


def header_length_past_the_end(w):
    sealed, bid = bundle(w, header_len=0x7FFFFFFF)
    return send(w, sealed, bid).verdict()


def header_unknown_member(w):
    sealed, bid = bundle(w, priority="urgent")
    return send(w, sealed, bid).verdict()


def wrong_magic(w):
    header = bundle_header("results", w.parts["results"], PHONE, w.next_bundle_id())
    env = envelope(header, b"".join(d for _, _, d in w.parts["results"]), PHONE)
    signed = b"HLBUNDLE2\n" + env[10:-64]
    return send(w, seal(signed + PHONE.sign(signed), w.recipient), header["bundle_id"]).verdict()


def part_checksum_wrong(w):
    parts = w.parts["results"]
    listed = bundle_header("results", parts, PHONE, "0" * 32)["parts"]
    listed[1]["sha256"] = sha256_hex(b"another text")
    sealed, bid = bundle(w, listed=listed)
    return send(w, sealed, bid).verdict()


def part_size_past_the_end(w):
    parts = w.parts["results"]
    listed = bundle_header("results", parts, PHONE, "0" * 32)["parts"]
    listed[-1]["size"] += 1000
    sealed, bid = bundle(w, listed=listed)
    return send(w, sealed, bid).verdict()


def trailing_bytes(w):
    parts = w.parts["results"]
    sealed, bid = bundle(w, payload=b"".join(d for _, _, d in parts) + b"extra")
    return send(w, sealed, bid).verdict()


def required_part_missing(w):
    parts = [p for p in w.parts["results"] if p[0] != "sms.txt"]
    sealed, bid = bundle(w, parts=parts)
    return send(w, sealed, bid).verdict()


def record_json_not_json(w):
    sealed, bid = bundle(w, "photos", replace_part(w.parts["photos"], "record.json", b"{not json"))
    return send(w, sealed, bid, "photos").verdict()


def record_json_wrong_shape(w):
    shape = json.dumps({"uid": f"{PHONE.id}-1", "device": {"id": PHONE.id}, "fields": "none"}).encode()
    sealed, bid = bundle(w, "photos", replace_part(w.parts["photos"], "record.json", shape))
    return send(w, sealed, bid, "photos").verdict()


def report_pdf_not_pdf(w):
    sealed, bid = bundle(w, "photos", replace_part(w.parts["photos"], "report.pdf", b"<html>report</html>"))
    return send(w, sealed, bid, "photos").verdict()


def fhir_not_json(w):
    sealed, bid = bundle(w, "results", replace_part(w.parts["results"], "fhir.json", b"\xff\xfe not json"))
    return send(w, sealed, bid).verdict()


def fhir_without_diagnostic_report(w):
    fhir = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode()
    sealed, bid = bundle(w, "results", replace_part(w.parts["results"], "fhir.json", fhir))
    return send(w, sealed, bid).verdict()


def fhir_about_another_session(w):
    fhir = json.loads(next(d for n, _, d in w.parts["results"] if n == "fhir.json"))
    fhir_text = json.dumps(fhir).replace(f"{PHONE.id}-1", f"{PHONE.id}-99").encode()
    sealed, bid = bundle(w, "results", replace_part(w.parts["results"], "fhir.json", fhir_text))
    return send(w, sealed, bid).verdict()


def session_of_another_device(w):
    sealed, bid = bundle(w, session_uid=f"{HOARDER.id}-1")
    return send(w, sealed, bid).verdict()


def bundle_id_differs_from_upload(w):
    sealed, _ = bundle(w)
    return send(w, sealed, w.next_bundle_id()).verdict()


def replayed_same_bundle_id(w):
    sealed, bid = bundle(w)
    first = send(w, sealed, bid)
    again = tus_create(w, len(sealed), bid, "results")
    return f"{first.verdict()}; again {again.status} {again.headers.get('hemalens-verdict')}"


def replayed_bytes_new_upload(w):
    sealed, bid = bundle(w)
    first = send(w, sealed, bid)
    return f"{first.verdict()}; again {send(w, sealed, w.next_bundle_id()).verdict()}"


def upload_stops_short(w):
    sealed, bid = bundle(w)
    created = tus_create(w, len(sealed), bid, "results")
    loc = created.headers["location"]
    tus_patch(w, loc, 0, sealed[:600])
    done = tus_patch(w, loc, 600, b"")  # "finished" with nothing more
    head = tus_head(w, loc)
    return (f"{done.status} offset {done.headers.get('upload-offset')}; head {head.status} offset "
            f"{head.headers.get('upload-offset')} verdict {head.headers.get('hemalens-verdict')}")


# tus, and the signed creation (wire-format.md, "The upload", "Signed requests")


def patch_past_the_length(w):
    loc = tus_create(w, 100, w.next_bundle_id(), "results").headers["location"]
    r = tus_patch(w, loc, 0, b"x" * 200)
    return f"{r.plain()}; offset {tus_head(w, loc).headers.get('upload-offset')}"


def patch_wrong_content_type(w):
    loc = tus_create(w, 100, w.next_bundle_id(), "results").headers["location"]
    return tus_patch(w, loc, 0, b"x" * 10, content_type="application/octet-stream").plain()


def patch_wrong_offset(w):
    loc = tus_create(w, 100, w.next_bundle_id(), "results").headers["location"]
    r = tus_patch(w, loc, 5, b"x" * 10)
    return f"{r.status} Upload-Offset {r.headers.get('upload-offset')}"


def patch_without_tus_resumable(w):
    loc = tus_create(w, 100, w.next_bundle_id(), "results").headers["location"]
    return tus_patch(w, loc, 0, b"x" * 10, tus=False).plain()


def patch_unknown_upload(w):
    return tus_patch(w, "/tus/" + "0" * 32, 0, b"x").plain()


def patch_after_the_verdict(w):
    sealed, bid = bundle(w)
    send(w, sealed, bid)
    loc = tus_create(w, len(sealed), bid, "results").headers["location"]
    r = tus_patch(w, loc, len(sealed), b"x")
    return f"{r.status} {r.headers.get('hemalens-verdict')}"


def patch_cut_mid_body(w):
    # Content-Length 100, 40 bytes, then the link is cut: the 40 bytes are kept.
    loc = tus_create(w, 100, w.next_bundle_id(), "results").headers["location"]
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    s.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
              f"Content-Type: {OFFSET_STREAM}\r\nContent-Length: 100\r\n\r\n".encode() + b"y" * 40)
    time.sleep(0.2)
    s.shutdown(socket.SHUT_WR)
    status = int(s.recv(4096).split()[1])
    s.close()
    return f"{status}; head offset {tus_head(w, loc).headers.get('upload-offset')}"


def create_without_tus_resumable(w):
    return tus_create(w, 100, w.next_bundle_id(), "results", tus=False).plain()


def oversize_upload_length(w):
    return tus_create(w, MAX_BUNDLE + 1, w.next_bundle_id(), "results").plain()


def upload_length_negative(w):
    return tus_create(w, -1, w.next_bundle_id(), "results").plain()


def upload_length_zero(w):
    return tus_create(w, 0, w.next_bundle_id(), "results").plain()


def metadata_unknown_kind(w):
    return tus_create(w, 100, w.next_bundle_id(), "videos").plain()


def metadata_bundle_id_not_hex(w):
    return tus_create(w, 100, "Z" * 32, "results").plain()


def unsigned_creation(w):
    return tus_create(w, 100, w.next_bundle_id(), "results", sign=False).plain()


def stale_date(w):
    return tus_create(w, 100, w.next_bundle_id(), "results", date_ms=now_ms() - 6 * 60 * 1000).plain()


def date_overflows_the_skew_check(w):
    # Hemalens-Date = i64::MIN + the server's clock: `(date - now).abs()` overflows in
    # request::verify. Tried over a few milliseconds around the test's clock; the first
    # answer other than the stale 401 is the one reported.
    stale = "401 the request's date is more than 5 minutes from the hospital's clock"
    for i in range(300):
        date = -(1 << 63) + now_ms() + i % 3
        got = http(w, "GET", "/api/v1/reviews",
                   headers=signed_headers(PHONE, "GET", "/api/v1/reviews", date_ms=date)).plain()
        if got != stale:
            return f"{got} (Hemalens-Date {date})"
    return stale


def signature_not_base64(w):
    h = signed_headers(PHONE, "GET", "/api/v1/reviews")
    h["Hemalens-Signature"] = "!!" + h["Hemalens-Signature"][2:]
    return http(w, "GET", "/api/v1/reviews", headers=h).plain()


def device_header_not_hex(w):
    h = signed_headers(PHONE, "GET", "/api/v1/reviews")
    h["Hemalens-Device"] = "zz" * 8
    return http(w, "GET", "/api/v1/reviews", headers=h).plain()


def signed_path_not_the_sent_one(w):
    return http(w, "GET", "/api/v1/reviews",
                headers=signed_headers(PHONE, "GET", "/api/v1/reviews?limit=1")).plain()


def bad_request_signature(w):
    # Signed over another Upload-Length than the one sent.
    bid = w.next_bundle_id()
    meta = upload_metadata(bid, "results")
    h = {"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": meta,
         **signed_headers(PHONE, "POST", "/tus/", b"", "101", meta)}
    return http(w, "POST", "/tus/", headers=h).plain()


def creation_by_unknown_device(w):
    return tus_create(w, 100, w.next_bundle_id(), "results", STRANGER).plain()


def creation_by_revoked_device(w):
    return tus_create(w, 100, w.next_bundle_id(), "results", REVOKED).plain()


def creation_signed_by_another_key(w):
    # Claims PHONE's id, signed with STRANGER's key.
    return tus_create(w, 100, w.next_bundle_id(), "results", STRANGER, claim=PHONE.id).plain()


def bundle_id_of_another_device(w):
    bid = w.next_bundle_id()
    assert tus_create(w, 100, bid, "results", HOARDER).status == 201
    return tus_create(w, 100, bid, "results", PHONE).plain()


def too_many_open_uploads(w):
    # HOARDER holds one open upload already (bundle_id_of_another_device may have run); fill to 64.
    for _ in range(64):
        r = tus_create(w, 100, w.next_bundle_id(), "results", HOARDER)
        if r.status != 201:
            return r.plain()
    return "never refused"


# The SMS webhook (docs/sms.md, ingest/sms.rs)


def sms_without_token(w):
    return sms_json(w, sms_text(PHONE), token=None).plain()


def sms_wrong_token(w):
    return sms_json(w, sms_text(PHONE), token=SMS_TOKEN + "x").plain()


def sms_one_character_typo(w):
    return sms_json(w, sms_text(PHONE).replace(" NE0 ", " NE8 ")).plain()


def sms_truncated(w):
    return sms_json(w, sms_text(PHONE)[:-3]).plain()


def sms_wrong_version(w):
    return sms_json(w, sms_text(PHONE, version=2)).plain()


def sms_too_long(w):
    text = sms_text(PHONE)
    return sms_json(w, text + " " + "A" * (160 - len(text))).plain()  # 161 characters


def sms_outside_charset(w):
    return sms_json(w, sms_text(PHONE).replace(" ", "_", 1)).plain()


def sms_no_break_space(w):
    return sms_json(w, sms_text(PHONE).replace(" ", "\u00a0", 1)).plain()


def sms_not_hemalens(w):
    return sms_json(w, "See you at the clinic at 10").plain()


def sms_empty(w):
    return sms_json(w, "   \n").plain()


def sms_check_right_grammar_wrong(w):
    return sms_json(w, sms_text(PHONE, tokens="XXX M W0 U1 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F1/1 P0.4")).plain()


def sms_unenrolled_device(w):
    return sms_json(w, sms_text(STRANGER)).plain()


def sms_malformed_json(w):
    return sms_post(w, '{"from": "+15550100", "text": "HL1').plain()


def sms_wrong_content_type(w):
    return sms_post(w, sms_text(PHONE), content_type="text/plain").plain()


# The review API (wire-format.md, "Reviews back to the device")


def ack(w, body: bytes, signed_body: Optional[bytes] = None) -> Answer:
    path = "/api/v1/reviews/ack"
    h = {"Content-Type": "application/json",
         **signed_headers(PHONE, "POST", path, body if signed_body is None else signed_body)}
    return http(w, "POST", path, body=body, headers=h)


def ack_malformed_json(w):
    return ack(w, b'{"ids": ["abc", ').plain()


def ack_wrong_shape(w):
    return ack(w, b'{"ids": "abc"}').plain()


def ack_body_not_the_signed_one(w):
    return ack(w, b'{"ids": []}', signed_body=b'{"ids": ["x"]}').plain()


def ack_too_many_ids(w):
    return ack(w, json.dumps({"ids": [f"{i:032x}" for i in range(2001)]}).encode()).plain()


def reviews_pull_unsigned(w):
    return http(w, "GET", "/api/v1/reviews").plain()


# HTTP abuse


def endless(w, head: bytes, filler: bytes, limit=64 << 20) -> str:
    """Sends `head`, then `filler` again and again up to `limit` bytes (far over any
    limit of the server) while reading its answer; answers `<status> <reason>` or
    `closed`. The server must stop reading early and not keep the bytes."""
    before = rss_kb(w)
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    answer = bytearray()

    def read():
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    return
                answer.extend(got)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    try:
        s.sendall(head)
        while sent < limit and reader.is_alive():
            s.sendall(filler)
            sent += len(filler)
    except OSError:
        pass  # the server answered and closed: what it should do
    reader.join(timeout=10)
    s.close()
    growth = rss_kb(w) - before
    print(f"endless {head.split()[1].decode()}: {sent} bytes sent, RSS {before} -> {before + growth} kB")
    assert sent < limit, f"the server read all {sent} bytes of an endless body"
    assert growth < ENDLESS_GROWTH_BOUND_KB, f"the server's memory grew {growth} kB on one endless body"
    if not answer:
        return "closed"
    status_line, _, rest = bytes(answer).partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace")
    return f"{int(status_line.split()[1])} {body}".strip()


CHUNK = b"%x\r\n" % (64 * 1024) + b"\0" * (64 * 1024) + b"\r\n"  # one 64 KiB chunk, chunked encoding


def endless_body_to_the_sms_webhook(w):
    head = (b"POST /api/v1/sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + SMS_TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    return endless(w, head, CHUNK)


def endless_body_to_a_patch(w):
    loc = tus_create(w, 100 << 20, w.next_bundle_id(), "photos").headers["location"]
    head = (f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            f"Content-Type: {OFFSET_STREAM}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    got = endless(w, head, CHUNK)
    return f"{got}; offset {tus_head(w, loc).headers.get('upload-offset')}"


def endless_header_line(w):
    return endless(w, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ", b"a" * 65536)


def too_many_headers(w):
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n")
    got = s.recv(4096)
    s.close()
    return got.split(b"\r\n")[0].decode().split(" ", 1)[1] if got else "closed"


def slowloris(w, sockets=20, seconds=HEADER_TIMEOUT_S + 3.0):
    """Sockets dripping headers one byte per 0.5 s while /healthz is asked
    in parallel: each answer must come in under 2 s, and the server must cut
    every slow socket off once its header timeout has passed."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    slow = [socket.create_connection(("127.0.0.1", w.port), timeout=5) for _ in range(sockets)]
    slowest, closed_by_server, start, i = 0.0, 0, time.time(), 0
    while time.time() - start < seconds:
        for s in list(slow):
            try:
                s.send(request[i % len(request):i % len(request) + 1])
            except OSError:
                closed_by_server += 1
                slow.remove(s)
        t = time.time()
        ok = http(w, "GET", "/healthz", timeout=5).plain() == "200 ok"
        slowest = max(slowest, time.time() - t if ok else 99.0)
        i += 1
        time.sleep(0.5)
    for s in slow:
        s.close()
    print(f"slowloris: slowest /healthz {slowest:.3f} s; the server closed {closed_by_server} of {sockets}"
          f" slow connections within {seconds} s")
    return (f"healthz {'under' if slowest < 2 else 'over'} 2 s beside {sockets} slow clients, "
            f"{closed_by_server} cut off")


# ---------------------------------------------------------------------------
# The table: every kind with its exact expected answer.


@dataclass
class Kind:
    name: str
    expected: str
    make: Callable
    bug: Optional[str] = None  # an xfail(strict) reason: what a correct server should do, and what this one does


NOT_HL = "422 not a Hemalens message: "
KINDS = [
    # Bundles (verdict on the last PATCH)
    Kind("ciphertext_byte_flipped", "204 refused undecryptable", ciphertext_byte_flipped),
    Kind("sealed_bytes_cut", "204 refused undecryptable", sealed_bytes_cut),
    Kind("sealed_for_another_hospital", "204 refused undecryptable", sealed_for_another_hospital),
    Kind("not_age_at_all", "204 refused undecryptable", not_age_at_all),
    Kind("envelope_changed_after_signing", "204 refused bad_signature", envelope_changed_after_signing),
    Kind("signed_by_unknown_device", "204 refused unknown_device", signed_by_unknown_device),
    Kind("signed_by_another_claims_enrolled", "204 refused bad_signature", signed_by_another_claims_enrolled),
    Kind("claims_enrolled_id_with_own_key", "204 refused unknown_device", claims_enrolled_id_with_own_key),
    Kind("another_enrolled_devices_bundle", "204 refused unknown_device", another_enrolled_devices_bundle),
    Kind("header_length_lies", "204 refused malformed", header_length_lies),
    Kind("header_length_past_the_end", "204 refused malformed", header_length_past_the_end),
    Kind("header_unknown_member", "204 refused malformed", header_unknown_member),
    Kind("wrong_magic", "204 refused malformed", wrong_magic),
    Kind("part_checksum_wrong", "204 refused malformed", part_checksum_wrong),
    Kind("part_size_past_the_end", "204 refused malformed", part_size_past_the_end),
    Kind("trailing_bytes", "204 refused malformed", trailing_bytes),
    Kind("required_part_missing", "204 refused malformed", required_part_missing),
    Kind("record_json_not_json", "204 refused malformed", record_json_not_json),
    Kind("record_json_wrong_shape", "204 refused malformed", record_json_wrong_shape),
    Kind("report_pdf_not_pdf", "204 refused malformed", report_pdf_not_pdf),
    Kind("fhir_not_json", "204 refused malformed", fhir_not_json),
    Kind("fhir_without_diagnostic_report", "204 refused malformed", fhir_without_diagnostic_report),
    Kind("fhir_about_another_session", "204 refused malformed", fhir_about_another_session),
    Kind("session_of_another_device", "204 refused malformed", session_of_another_device),
    Kind("bundle_id_differs_from_upload", "204 refused malformed", bundle_id_differs_from_upload),
    Kind("replayed_same_bundle_id", "204 delivered; again 200 delivered", replayed_same_bundle_id),
    Kind("replayed_bytes_new_upload", "204 delivered; again 204 refused replayed", replayed_bytes_new_upload),
    Kind("upload_stops_short", "204 offset 600; head 200 offset 600 verdict None", upload_stops_short),
    # tus and the signed creation
    Kind("patch_past_the_length", "413 more bytes than the upload's length or the chunk limit; offset 0",
         patch_past_the_length),
    Kind("patch_wrong_content_type", "415 application/offset+octet-stream required", patch_wrong_content_type),
    Kind("patch_wrong_offset", "409 Upload-Offset 0", patch_wrong_offset),
    Kind("patch_without_tus_resumable", "412 Tus-Resumable: 1.0.0 required", patch_without_tus_resumable),
    Kind("patch_unknown_upload", "404", patch_unknown_upload),
    Kind("patch_after_the_verdict", "409 delivered", patch_after_the_verdict),
    Kind("patch_cut_mid_body", "204; head offset 40", patch_cut_mid_body),
    Kind("create_without_tus_resumable", "412 Tus-Resumable: 1.0.0 required", create_without_tus_resumable),
    Kind("oversize_upload_length", "413 bundle too large", oversize_upload_length),
    Kind("upload_length_negative", "400 Upload-Length required", upload_length_negative),
    Kind("upload_length_zero", "400 Upload-Length must be at least 1", upload_length_zero),
    Kind("metadata_unknown_kind", "400 Upload-Metadata needs bundle_id and kind", metadata_unknown_kind),
    Kind("metadata_bundle_id_not_hex", "400 Upload-Metadata needs bundle_id and kind", metadata_bundle_id_not_hex),
    Kind("unsigned_creation", "401 missing or unreadable signature headers", unsigned_creation),
    Kind("stale_date", "401 the request's date is more than 5 minutes from the hospital's clock", stale_date),
    Kind("date_overflows_the_skew_check", "401 the request's date is more than 5 minutes from the hospital's clock",
         date_overflows_the_skew_check),  # was a bug (answered 200): fixed with abs_diff
    Kind("signature_not_base64", "401 missing or unreadable signature headers", signature_not_base64),
    Kind("device_header_not_hex", "401 missing or unreadable signature headers", device_header_not_hex),
    Kind("signed_path_not_the_sent_one", "403 bad request signature", signed_path_not_the_sent_one),
    Kind("bad_request_signature", "403 bad request signature", bad_request_signature),
    Kind("creation_by_unknown_device", "403 device not enrolled", creation_by_unknown_device),
    Kind("creation_by_revoked_device", "403 device not enrolled", creation_by_revoked_device),
    Kind("creation_signed_by_another_key", "403 bad request signature", creation_signed_by_another_key),
    Kind("bundle_id_of_another_device", "409 bundle id in use", bundle_id_of_another_device),
    Kind("too_many_open_uploads", "429 too many requests", too_many_open_uploads),
    # SMS webhook
    Kind("sms_without_token", "401 gateway token required", sms_without_token),
    Kind("sms_wrong_token", "401 gateway token required", sms_wrong_token),
    Kind("sms_one_character_typo",
         NOT_HL + "the check code does not match: the message was changed or mistyped", sms_one_character_typo),
    Kind("sms_truncated",
         NOT_HL + "the check code at the end is missing or cut off (was the message truncated?)", sms_truncated),
    Kind("sms_wrong_version", NOT_HL + "format version 2 is not read by this decoder", sms_wrong_version),
    Kind("sms_too_long", NOT_HL + "the message has 161 characters; a Hemalens message has at most 160",
         sms_too_long),
    Kind("sms_outside_charset", NOT_HL + "character '_' at position 4 is not used by Hemalens messages",
         sms_outside_charset),
    Kind("sms_no_break_space", NOT_HL + "character '\\u{a0}' at position 4 is not used by Hemalens messages",
         sms_no_break_space),
    Kind("sms_not_hemalens", NOT_HL + "not a Hemalens message: it does not start with HL and a version",
         sms_not_hemalens),
    Kind("sms_empty", NOT_HL + "the message is empty", sms_empty),
    Kind("sms_check_right_grammar_wrong", NOT_HL + "the outcome field is malformed", sms_check_right_grammar_wrong),
    Kind("sms_unenrolled_device", "403 device not enrolled", sms_unenrolled_device),
    Kind("sms_malformed_json", "400 expected JSON or a form with `from` and `text`", sms_malformed_json),
    Kind("sms_wrong_content_type", "400 expected JSON or a form with `from` and `text`", sms_wrong_content_type),
    # Review API
    Kind("ack_malformed_json", '400 expected {"ids": [...]}', ack_malformed_json),
    Kind("ack_wrong_shape", '400 expected {"ids": [...]}', ack_wrong_shape),
    Kind("ack_body_not_the_signed_one", "403 bad request signature", ack_body_not_the_signed_one),
    Kind("ack_too_many_ids", "413 too many ids", ack_too_many_ids),
    Kind("reviews_pull_unsigned", "401 missing or unreadable signature headers", reviews_pull_unsigned),
    # HTTP abuse
    Kind("endless_body_to_the_sms_webhook", "413 Failed to buffer the request body: length limit exceeded",
         endless_body_to_the_sms_webhook),
    Kind("endless_body_to_a_patch", "413 more bytes than the upload's length or the chunk limit; offset 0",
         endless_body_to_a_patch),
    Kind("endless_header_line", "431", endless_header_line),
    Kind("too_many_headers", "431 Request Header Fields Too Large", too_many_headers),
    Kind("slowloris", "healthz under 2 s beside 20 slow clients, 20 cut off", slowloris),
]
assert len({k.name for k in KINDS}) == len(KINDS) >= 25

RESULTS = []


def test_good_bundles_are_delivered(w):
    """The helpers are right: a well-made results and photos bundle, and an SMS, are taken."""
    assert send(w, *bundle(w, "results")).verdict() == "204 delivered"
    assert send(w, *bundle(w, "photos"), kind="photos").verdict() == "204 delivered"
    sms_part = next(d for n, _, d in w.parts["results"] if n == "sms.txt").decode()
    for text in (sms_part, sms_text(PHONE)):
        r = sms_json(w, text)
        assert r.status == 200 and json.loads(r.text)["bundle_received"] is True, r


@pytest.mark.parametrize("kind", [
    pytest.param(k, id=k.name, marks=[pytest.mark.xfail(strict=True, reason=k.bug)] if k.bug else [])
    for k in KINDS])
def test_bad_input(w, kind):
    got = kind.make(w)
    RESULTS.append({"kind": kind.name, "expected": kind.expected, "got": got, "ok": got == kind.expected,
                    **({"bug": kind.bug} if kind.bug else {})})
    assert got == kind.expected
    assert w.server.poll() is None, "the server died"


def test_every_batch_goes_on(w):
    """After every kind: the server is up, never panicked, still takes a good bundle, and its
    peak memory stayed under the bound. Writes target/bad-inputs/inbox.json."""
    peak = peak_kb(w)
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps({"kinds": RESULTS, "peak_rss_kb": peak}, indent=1) + "\n")
    assert w.server.poll() is None, "the server died"
    log = w.log.read_text()
    assert "panicked" not in log, log
    assert "ERROR" not in log, "a request failed inside the server (a 500):\n" + log
    assert send(w, *bundle(w, "results")).verdict() == "204 delivered"
    assert http(w, "GET", "/healthz").plain() == "200 ok"
    with sqlite3.connect(f"file:{w.db}?mode=ro", uri=True) as db:
        (taken,) = db.execute("SELECT COUNT(*) FROM bundles").fetchone()
    assert taken == w.delivered, "a refused bundle was taken"
    assert peak < PEAK_RSS_BOUND_KB, f"peak RSS {peak} kB"
