#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (rust-core/fuzz/corpus/<target>/), made
by the project from its own synthetic images and its own command line: phone-
like JPEGs (EXIF, restart markers, progressive, every sampling, CMYK, grey),
PNGs of every depth, WebP, BMP, TIFF; manifests; sealed bundles; SMS texts and
hospital cards; a real session's export; review pages; HTTP requests.

No image from ../shared/data is written here (the field pipeline's target also
reads tests/fixtures/demo, the one committed photo, in place).

    .venv/bin/python scripts/make_fuzz_corpus.py

Needs the release `hemalens` binary (cargo build --release) for the export.
The images are the same every run (fixed seeds); the export and the sealed
bundle carry fresh keys and times. The fuzzers add what they find to the
same folders (scripts/fuzz.sh keeps only new coverage, minimised).
"""
import argparse
import base64
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "rust-core/fuzz/corpus"
# The corpus hospital key's recipient (rust-core/fuzz/fuzz_targets/bundle_open.rs).
FUZZ_RECIPIENT = "age12r5ahfkzagykyre3ygufccd3qw78pa3t49j9utujsftmetvnda7spt2rxv"
MAGIC = b"HLBUNDLE1\n"


def smear(w, h, seed):
    """A smear-like picture: pink plasma, red discs, a few purple nuclei, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (232, 200, 205)
    r = max(2, min(w, h) // 14)
    for _ in range(max(3, w * h // (r * r * 6))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        d = (xx - cx) ** 2 + (yy - cy) ** 2
        img[d < r * r] = (205, 110, 120)
        img[d < (r * 0.4) ** 2] = (220, 160, 165)
    for _ in range(2):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        d = (xx - cx) ** 2 + (yy - cy) ** 2
        img[d < (1.3 * r) ** 2] = (110, 60, 150)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    e[0x010F] = "PhoneMaker"
    e[0x0110] = "Model X"
    return e.tobytes()


def jpeg(img, **kw):
    b = io.BytesIO()
    img.save(b, "JPEG", **kw)
    return b.getvalue()


def jpegs():
    """Phone-like JPEGs, small enough for a fuzzer (at most a few KB to 40 KB)."""
    base = smear(160, 120, 1)
    out = {
        "baseline_420_q85.jpg": jpeg(base, quality=85),
        "baseline_444_q95.jpg": jpeg(base, quality=95, subsampling=0),
        "baseline_422.jpg": jpeg(base, quality=80, subsampling=1),
        "optimized_huffman.jpg": jpeg(base, quality=85, optimize=True),
        "restart_every_mcu.jpg": jpeg(base, quality=85, restart_marker_blocks=1),
        "restart_every_2_rows.jpg": jpeg(base, quality=85, restart_marker_rows=2),
        "progressive.jpg": jpeg(base, quality=85, progressive=True),
        "exif_orientation_6.jpg": jpeg(base, quality=85, exif=exif(6)),
        "exif_orientation_3.jpg": jpeg(base, quality=85, exif=exif(3)),
        "grey.jpg": jpeg(base.convert("L"), quality=85),
        "cmyk.jpg": jpeg(base.convert("CMYK"), quality=85),
        "odd_size_17x9.jpg": jpeg(smear(17, 9, 2), quality=90),
        "one_pixel.jpg": jpeg(Image.new("RGB", (1, 1), (200, 100, 100))),
        "large_640x480_restart.jpg": jpeg(smear(640, 480, 3), quality=75, restart_marker_blocks=4),
    }
    # An EXIF block with a thumbnail (its own SOI/EOI before the main image's scan).
    thumb = jpeg(smear(32, 24, 4), quality=60)
    e = Image.Exif()
    e[0x0112] = 1
    out["exif_with_thumbnail.jpg"] = add_app1_thumbnail(jpeg(base, quality=85, exif=e.tobytes()), thumb)
    return out


def add_app1_thumbnail(j, thumb):
    """Appends the thumbnail's bytes inside an extra APP1 segment (a lying, odd EXIF)."""
    payload = b"Exif\x00\x00" + thumb
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return j[:2] + seg + j[2:]


def other_images():
    base = smear(96, 64, 5)
    out = {}
    for name, img, fmt, kw in [
        ("rgb.png", base, "PNG", {}),
        ("rgba.png", base.convert("RGBA"), "PNG", {}),
        ("grey.png", base.convert("L"), "PNG", {}),
        ("palette.png", base.convert("P"), "PNG", {}),
        ("rgb_fast.png", base, "PNG", {"compress_level": 1}),
        ("lossy.webp", base, "WEBP", {"quality": 60}),
        ("lossless.webp", base, "WEBP", {"lossless": True}),
        ("rgb.bmp", base, "BMP", {}),
        ("lzw.tiff", base, "TIFF", {"compression": "tiff_lzw"}),
        ("raw.tiff", base, "TIFF", {}),
        ("anim.gif", base, "GIF", {}),
    ]:
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        out[name] = b.getvalue()
    # 16-bit RGB PNG: PIL writes 16-bit grey only; write RGB16 by hand.
    out["rgb16.png"] = png16(np.asarray(base, np.uint16) * 257)
    g16 = Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257).astype(np.uint16))
    b = io.BytesIO()
    g16.save(b, "PNG")
    out["grey16.png"] = b.getvalue()
    return out


def png16(a):
    import zlib

    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def manifests():
    text = (ROOT / "tests/fixtures/models/tiny-pack/manifest.json").read_text()
    m = json.loads(text)
    out = {"tiny_pack.json": text.encode()}
    lying = dict(m, labels=m["labels"] + ["delta"])
    out["one_label_too_many.json"] = json.dumps(lying).encode()
    lying = json.loads(text)
    lying["input"]["width"] = 64
    out["wrong_input_size.json"] = json.dumps(lying).encode()
    lying = json.loads(text)
    lying["output"]["kind"] = "probabilities"
    out["other_output_kind.json"] = json.dumps(lying).encode()
    lying = json.loads(text)
    lying["input"]["batch"] = 4
    out["wrong_batch.json"] = json.dumps(lying).encode()
    return out


def sms_and_cards():
    return {
        "sms_inconclusive.txt": b"HL1 0123456789ABCDEF-1 INC R W0 U2 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F2/4 P0.4 *3B3NT2Z",
        "sms_lowercase_typo.txt": b"hl1 0123456789abcdef-1 inc r w0 u2 ne0 ly0 mo0 eo0 ba0 ig0 eb0 f2/4 p0.4 *3b3nt2z",
        "card.txt": b"hemalens:hospital?name=District%20Hospital&url=https%3A%2F%2Finbox.example%2Ftus%2F&key="
        + FUZZ_RECIPIENT.encode() + b"&photos=wifi",
        "card_any_network.txt": b"hemalens:hospital?name=H&url=http%3A%2F%2F10.0.0.2%3A8080%2Ftus%2F&key="
        + FUZZ_RECIPIENT.encode() + b"&photos=any",
    }


def review_pages():
    uid = "0123456789abcdef-1"
    page = {"reviews": [
        {"id": "a" * 32, "session_uid": uid, "kind": "relabel_cell", "field": 0, "cell": 0,
         "label": "lymphocyte", "reviewer": "Dr A. Mensah", "at": 1765000000000, "note": None},
        {"id": "b" * 32, "session_uid": uid, "kind": "confirm", "reviewer": "Dr B", "at": 1765000000001,
         "note": "agree"},
        {"id": "c" * 32, "session_uid": "0123456789abcdef-2", "kind": "override_outcome", "outcome": "refer",
         "reviewer": "Dr C", "at": 1765000000002, "note": "blasts on field 1"},
    ], "more": False}
    return {
        "page.json": json.dumps(page).encode(),
        "empty.json": b'{"reviews": [], "more": false}',
        "unknown_kind.json": json.dumps({"reviews": [dict(page["reviews"][1], kind="retract")], "more": True}).encode(),
    }


def sign(seed32, msg):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed32).sign(msg)


def device_key_hex(seed32):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pk = Ed25519PrivateKey.from_private_bytes(seed32).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return pk.hex()


def device_id(key_hex):
    # hemalens_share::identity::device_id: the first 8 bytes of SHA-256 of the key, hex.
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:16]


def bundles(export):
    """Envelopes of the fuzz device (seed 7...7) to the corpus hospital key."""
    import pyrage

    seed = bytes([7] * 32)
    key = device_key_hex(seed)
    parts = [("record.json", "application/json", json.dumps(export).encode()),
             ("sms.txt", "text/plain", sms_and_cards()["sms_inconclusive.txt"])]
    header = {"format": 1, "bundle_id": "0f" * 16, "kind": "results", "session_uid": device_id(key) + "-1",
              "device_id": device_id(key), "device_key": key, "created_at": 1765000000000,
              "parts": [{"name": n, "content_type": c, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                        for n, c, d in parts]}
    head = json.dumps(header, separators=(",", ":")).encode()
    body = b"".join(d for _, _, d in parts)
    env = MAGIC + struct.pack(">I", len(head)) + head + body
    env += sign(seed, env)
    recipient = pyrage.x25519.Recipient.from_str(FUZZ_RECIPIENT)
    return {
        "mode0_sealed.bin": b"\x00" + pyrage.encrypt(env, [recipient]),
        "mode1_envelope.bin": b"\x01" + env,
        "mode2_header_parts.bin": b"\x02" + head + b"\x00" + body,
    }, device_id(key)


def export_session():
    """A real closed, reviewed session of the demo photo, exported by the command line."""
    exe = ROOT / "target/release/hemalens"
    if not exe.exists():
        sys.exit("build the command line first: cargo build --release")
    with tempfile.TemporaryDirectory() as d:
        key = subprocess.run([exe, "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
        env = {**os.environ, "HEMALENS_HOME": d, "HEMALENS_KEY": key, "USER": "fuzz-corpus"}

        def run(*a):
            return subprocess.run([exe, "session", *map(str, a)], capture_output=True, text=True, env=env,
                                  check=True).stdout

        sid = json.loads(run("start", "--patient", "CORPUS-0001", "--json"))["session"]
        run("add", sid, ROOT / "tests/fixtures/demo/eyepiece_bccd_00339.jpg",
            ROOT / "tests/fixtures/samples/smear_field.jpg", "--json")
        run("close", sid)
        run("override", sid, "--outcome", "refer", "--note", "corpus")
        return json.loads(run("export", sid))


def http_requests(device):
    """Requests for inbox_http: selector byte (route | 0x80 signed | 0x40 cookie), path suffix, headers, body."""
    meta = "bundle_id " + base64.b64encode(b"0f" * 16).decode() + ",kind " + base64.b64encode(b"results").decode()

    def req(route, flags, suffix=b"", headers=(), body=b""):
        h = "\n".join(f"{k}: {v}" for k, v in headers).encode()
        return bytes([route | flags]) + suffix + b"\n" + h + b"\n\n" + body

    tus = [("Tus-Resumable", "1.0.0")]
    return {
        "tus_create_signed.bin": req(0, 0x80, b"", tus + [("Upload-Length", "1000"), ("Upload-Metadata", meta)]),
        "tus_create_unsigned.bin": req(0, 0, b"", tus + [("Upload-Length", "1000")]),
        "tus_options.bin": req(1, 0, b"", tus),
        "tus_head.bin": req(2, 0x80, b"0123456789abcdef0123456789abcdef", tus),
        "tus_patch.bin": req(3, 0x80, b"0123456789abcdef0123456789abcdef",
                             tus + [("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream")],
                             b"x" * 64),
        "reviews_pull.bin": req(4, 0x80, b"?limit=10"),
        "reviews_ack.bin": req(5, 0x80, b"", [("Content-Type", "application/json")],
                               json.dumps({"ids": ["a" * 32]}).encode()),
        "sms_json.bin": req(6, 0, b"", [("Authorization", "Bearer gateway-token"), ("Content-Type", "application/json")],
                            json.dumps({"from": "+255700000000",
                                        "text": sms_and_cards()["sms_inconclusive.txt"].decode()}).encode()),
        "sms_form.bin": req(6, 0, b"", [("Authorization", "Bearer gateway-token"),
                                        ("Content-Type", "application/x-www-form-urlencoded")],
                            b"from=%2B255700000000&text=HL1+0123456789ABCDEF-1+INC"),
        "login.bin": req(7, 0, b"", [("Content-Type", "application/x-www-form-urlencoded")],
                         b"login=admin&password=wrong"),
        "queue.bin": req(8, 0x40, b"?tab=reviewed&page=2"),
        "case.bin": req(9, 0x40, b"1"),
        "case_review.bin": req(10, 0x40, b"1/review", [("Content-Type", "application/x-www-form-urlencoded")],
                               b"csrf=CSRF&action=confirm&note=ok"),
        "case_relabel.bin": req(10, 0x40, b"1/relabel", [("Content-Type", "application/x-www-form-urlencoded")],
                                b"csrf=CSRF&field=0&cell=0&label=lymphocyte"),
        "admin.bin": req(11, 0x40),
        "admin_enrol.bin": req(12, 0x40, b"", [("Content-Type", "application/x-www-form-urlencoded")],
                               b"csrf=CSRF&id=" + device.encode() + b"&key=00&label=phone"),
        "admin_user.bin": req(13, 0x40, b"", [("Content-Type", "application/x-www-form-urlencoded")],
                              b"csrf=CSRF&login=rev&name=Rev&role=reviewer&password=long+enough+pass"),
        "root.bin": req(14, 0),
    }


def corpus():
    out = {}
    j = jpegs()
    for t in ["jpeg_entropy_differential", "photo_open"]:
        out[t] = dict(j)
    out["decode_image"] = {**j, **other_images()}
    out["field_pipeline"] = {"smear_640x480.jpg": j["large_640x480_restart.jpg"],
                             "sample_smear_field.jpg": (ROOT / "tests/fixtures/samples/smear_field.jpg").read_bytes()}
    out["pack_manifest"] = manifests()
    out["sms_and_card"] = sms_and_cards()
    out["store_remote_review"] = review_pages()
    return out


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    out = corpus()
    export = export_session()
    b, dev = bundles(export)
    out["record_import"] = {"export_reviewed.json": json.dumps(export, indent=1).encode(),
                            "export_minimal_open.json": b'{"session": {}, "fields": [], "reviews": [], "audit": []}'}
    out["bundle_open"] = b
    out["inbox_http"] = http_requests(dev)
    for target, files in out.items():
        d = OUT / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
    n = sum(len(f) for f in out.values())
    print(f"wrote {n} seed files in {len(out)} targets under {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
