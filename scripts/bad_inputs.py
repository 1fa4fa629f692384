#!/usr/bin/env python3
"""The catalogue of bad photos and bad model packs: every file made here, each
kind with the typed result Hemalens must give it.

    .venv/bin/python scripts/bad_inputs.py --out DIR   # writes DIR/catalogue.json and the files

Each entry of catalogue.json: {"kind", "group", "path", "expect"}, where
`expect` is either {"error": "<ErrorKind>"} (a typed error, the batch goes
on) or {"refused": true} (the photo is read and the quality gate refuses it:
`quality.ok` false, no cells counted) or {"verdict": true} (read and
analysed; whatever the gate says, no crash). Run by
tests/python/test_bad_inputs.py (photos through `hemalens analyze`, the
same photos through the Python bindings' Screener, packs through `hemalens
models --check`). The inbox's own catalogue (bundles, SMS, HTTP) is
tests/python/test_bad_inputs_inbox.py.

Photos made from the committed demo photo (tests/fixtures/demo) are written
to DIR only, never committed.
"""
import argparse
import hashlib
import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "tests/fixtures/demo/eyepiece_bccd_00339.jpg"
TINY_PACK = ROOT / "tests/fixtures/models/tiny-pack"


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_header_only(w, h, depth=8, colour=2, idat=b""):
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(idat)) + png_chunk(b"IEND", b""))


def png_bad_idat_crc(png):
    """A PNG whose first image-data chunk fails its checksum."""
    i = png.find(b"IDAT")
    n = struct.unpack(">I", png[i - 4:i])[0]
    crc = i + 4 + n
    return png[:crc] + bytes(b ^ 0xFF for b in png[crc:crc + 4]) + png[crc + 4:]


def png_zlib_bomb(w, h):
    """A real, complete PNG whose pixels are all zero: megabytes of pixels from kilobytes."""
    row = b"\x00" + bytes(w * 3)
    c = zlib.compressobj(9)
    data = b"".join(c.compress(row) for _ in range(h)) + c.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b""))


def jpeg_with_size(jpeg, w, h):
    """The same JPEG with its frame header (SOF0) claiming another size."""
    b = bytearray(jpeg)
    i = b.find(b"\xff\xc0")
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def save(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def exif(**tags):
    e = Image.Exif()
    for k, v in tags.items():
        e[int(k[1:], 16)] = v
    return e.tobytes()


def cartoon_smear(w=1600, h=1200):
    """A drawing of a smear through an eyepiece: flat colours, black outlines."""
    img = Image.new("RGB", (w, h), (0, 0, 0))
    d = ImageDraw.Draw(img)
    r = min(w, h) * 0.46
    d.ellipse([w / 2 - r, h / 2 - r, w / 2 + r, h / 2 + r], fill=(245, 215, 220))
    rng = np.random.default_rng(3)
    for _ in range(260):
        a, q = rng.uniform(0, 2 * np.pi), r * np.sqrt(rng.uniform(0, 0.9))
        x, y = w / 2 + q * np.cos(a), h / 2 + q * np.sin(a)
        d.ellipse([x - 22, y - 22, x + 22, y + 22], fill=(230, 90, 110), outline=(0, 0, 0), width=3)
    for x, y in [(w / 2 - 150, h / 2), (w / 2 + 200, h / 2 - 160)]:
        d.ellipse([x - 45, y - 45, x + 45, y + 45], fill=(120, 60, 200), outline=(0, 0, 0), width=4)
    return img


def screenshot(w=1080, h=2340):
    """A phone screenshot: a status bar, a title, text lines, buttons."""
    img = Image.new("RGB", (w, h), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w, 90], fill=(30, 30, 30))
    d.rectangle([0, 90, w, 260], fill=(0, 105, 92))
    for i in range(30):
        y = 320 + i * 64
        d.rectangle([48, y, 48 + (i * 97) % 900 + 80, y + 28], fill=(90, 90, 90))
    d.rounded_rectangle([48, h - 260, w - 48, h - 140], radius=40, fill=(0, 105, 92))
    return img


def face_photo():
    """A real photograph of a face: matplotlib's sample Grace Hopper portrait (public domain)."""
    import matplotlib

    return (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").read_bytes()


def photos(out):
    demo = DEMO.read_bytes()
    im = Image.open(io.BytesIO(demo)).convert("RGB")
    small = save(im.resize((64, 48)), "JPEG", quality=85)
    cut = lambda b, f: b[: int(len(b) * f)]  # noqa: E731
    flipped = bytearray(demo)
    for k in range(40):
        flipped[len(demo) // 3 + k * 997] ^= 0x5A
    prog = save(im, "JPEG", quality=85, progressive=True)
    grey = Image.new("RGB", (4000, 3000), (128, 128, 128))
    kinds = [
        # -- not bytes of an image at all
        ("empty_file", b"", {"error": "empty_input"}),
        ("text_file_named_jpg", b"patient list\n" * 20, {"error": "unsupported_format"}),
        ("pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", {"error": "unsupported_format"}),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', {"error": "unsupported_format"}),
        ("heic_box", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), {"error": "unsupported_format"}),
        ("gif", save(im.resize((80, 60)), "GIF"), {"error": "unsupported_format"}),
        ("zip_named_jpg", b"PK\x03\x04" + bytes(200), {"error": "unsupported_format"}),
        # -- cut off, spoiled, lying headers
        ("jpeg_header_only", demo[:600], {"error": "corrupt_image"}),
        ("jpeg_cut_in_half", cut(demo, 0.5), {"error": "corrupt_image"}),
        ("jpeg_cut_before_end_marker", demo[:-2], {"error": "corrupt_image"}),
        ("progressive_jpeg_cut", cut(prog, 0.6), {"error": "corrupt_image"}),
        ("png_cut_in_half", cut(save(im.resize((400, 300)), "PNG"), 0.5), {"error": "corrupt_image"}),
        ("webp_cut_in_half", cut(save(im.resize((400, 300)), "WEBP"), 0.5), {"error": "corrupt_image"}),
        ("tiff_cut_in_half", cut(save(im.resize((400, 300)), "TIFF"), 0.5), {"error": "corrupt_image"}),
        ("jpeg_scan_bytes_flipped", bytes(flipped), {"error": "corrupt_image"}),
        ("jpeg_frame_claims_twice_the_size", jpeg_with_size(small, 128, 96), {"error": "corrupt_image"}),
        ("jpeg_frame_claims_zero_width", jpeg_with_size(small, 0, 48), {"error": "corrupt_image"}),
        ("png_zero_by_zero", png_header_only(0, 0), {"error": "corrupt_image"}),
        ("png_bad_crc", png_bad_idat_crc(save(im.resize((200, 150)), "PNG")), {"error": "corrupt_image"}),
        ("jpeg_exif_orientation_9", save(im, "JPEG", quality=85, exif=exif(x0112=9)), {"verdict": True}),
        ("jpeg_exif_claims_100000px", save(im, "JPEG", quality=85, exif=exif(xA002=100000, xA003=100000)),
         {"verdict": True}),
        ("jpeg_exif_garbage", demo[:2] + b"\xff\xe1\x00\x20Exif\x00\x00" + bytes(range(24)) + demo[2:],
         {"verdict": True}),
        # -- decompression bombs in every format: refused from the header
        ("jpeg_bomb_60000x60000", jpeg_with_size(small, 60000, 60000), {"error": "image_too_large"}),
        ("png_bomb_100000x100000", png_header_only(100000, 100000), {"error": "image_too_large"}),
        ("webp_bomb_16383x16383", webp_vp8l_header(16383, 16383), {"error": "image_too_large"}),
        ("tiff_bomb_1000000x1000000", tiff_header(1000000, 1000000), {"error": "image_too_large"}),
        ("bmp_bomb_70000x70000", bmp_header(70000, 70000), {"error": "image_too_large"}),
        ("png_zlib_bomb_7000x7000", png_zlib_bomb(7000, 7000), {"refused": True}),
        # -- odd but readable images: read, then the gate says what it says
        ("one_pixel_jpeg", save(Image.new("RGB", (1, 1), (200, 90, 110)), "JPEG"), {"refused": True}),
        ("strip_20000x2", save(Image.new("RGB", (20000, 2), (200, 90, 110)), "PNG"), {"refused": True}),
        ("cmyk_jpeg", save(im.convert("CMYK"), "JPEG", quality=90), {"verdict": True}),
        ("png_16_bit", png16(np.asarray(im.resize((800, 600)), np.uint16) * 257), {"verdict": True}),
        ("png_with_alpha_holes", save(with_alpha_holes(im.resize((800, 600))), "PNG"), {"verdict": True}),
        ("all_black", save(Image.new("RGB", (4000, 3000)), "JPEG"), {"refused": True}),
        ("all_white", save(Image.new("RGB", (4000, 3000), (255, 255, 255)), "JPEG"), {"refused": True}),
        ("flat_grey", save(grey, "JPEG"), {"refused": True}),
        ("demo_out_of_focus", save(im.filter(ImageFilter.GaussianBlur(12)), "JPEG", quality=90), {"refused": True}),
        ("demo_dark", save(im.point(lambda v: v // 8), "JPEG", quality=90), {"refused": True}),
        # -- photos of something else
        ("photo_of_a_face", face_photo(), {"refused": True}),
        ("phone_screenshot", save(screenshot(), "PNG"), {"refused": True}),
        ("cartoon_smear", save(cartoon_smear(), "PNG"), {"refused": True}),
    ]
    d = out / "photos"
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    for kind, data, expect in kinds:
        p = d / f"{kind}.img"
        p.write_bytes(data)
        entries.append({"kind": kind, "group": "photo", "path": str(p), "expect": expect})
    # Larger than the file limit (128 MiB): a sparse file, refused from its size.
    p = d / "file_over_128_mib.img"
    with open(p, "wb") as f:
        f.write(demo[:4])
        f.truncate(129 << 20)
    entries.append({"kind": "file_over_128_mib", "group": "photo", "path": str(p),
                    "expect": {"error": "file_too_large"}})
    # A folder where a photo should be.
    p = d / "a_folder.img"
    p.mkdir(exist_ok=True)
    entries.append({"kind": "folder_instead_of_photo", "group": "photo", "path": str(p), "expect": {"error": "io"}})
    return entries


def with_alpha_holes(img):
    a = Image.new("L", img.size, 255)
    ImageDraw.Draw(a).ellipse([100, 100, 400, 400], fill=0)
    out = img.copy()
    out.putalpha(a)
    return out


def png16(a):
    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(b"IEND", b""))


def webp_vp8l_header(w, h):
    bits = (w - 1) | ((h - 1) << 14)
    vp8l = b"\x2f" + struct.pack("<I", bits) + bytes(16)
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_header(w, h):
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8 + 16) + bytes(16) + ifd


def bmp_header(w, h):
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 54) + info + bytes(64)


def packs(out):
    """Wrong, truncated, mismatched and malicious model packs (checked with `hemalens models --check`)."""
    base = json.loads((TINY_PACK / "manifest.json").read_text())
    model = (TINY_PACK / "model.tflite").read_bytes()
    other = (ROOT / "tests/fixtures/models/tiny_float32.tflite").read_bytes()
    d = out / "packs"
    entries = []

    def pack(kind, expect, manifest=None, model_bytes=model, fix_sha=True, raw_manifest=None, files=None):
        p = d / kind
        if p.exists():
            shutil.rmtree(p)
        p.mkdir(parents=True)
        m = json.loads(json.dumps(base)) if manifest is None else manifest
        if fix_sha and isinstance(m, dict) and model_bytes is not None:
            m["sha256"] = hashlib.sha256(model_bytes).hexdigest()
        (p / "manifest.json").write_text(raw_manifest if raw_manifest is not None else json.dumps(m))
        if model_bytes is not None:
            (p / "model.tflite").write_bytes(model_bytes)
        for name, data in (files or {}).items():
            (p / name).write_bytes(data)
        entries.append({"kind": kind, "group": "pack", "path": str(p), "expect": expect})

    def changed(**edits):
        m = json.loads(json.dumps(base))
        for path, v in edits.items():
            cur = m
            keys = path.split("__")
            for k in keys[:-1]:
                cur = cur[k]
            cur[keys[-1]] = v
        return m

    pack("good_tiny_pack", {"ok": True})
    pack("checksum_mismatch", {"error": "pack_mismatch"}, fix_sha=False,
         manifest=changed(sha256="0" * 64))
    pack("model_truncated", {"error": "engine"}, model_bytes=model[: len(model) // 2])
    pack("model_truncated_unchecked_sum", {"error": "pack_mismatch"}, model_bytes=model[: len(model) // 3],
         fix_sha=False)
    pack("model_zero_bytes", {"error": "engine"}, model_bytes=b"")
    pack("model_random_bytes", {"error": "engine"}, model_bytes=bytes(np.random.default_rng(1).integers(0, 256, 4096,
                                                                                                          np.uint8)))
    pack("model_is_a_jpeg", {"error": "engine"}, model_bytes=DEMO.read_bytes())
    pack("model_other_network", {"error": "pack_mismatch"}, model_bytes=other)
    pack("model_file_missing", {"error": "io"}, model_bytes=None)
    pack("model_file_escapes_pack", {"error": "manifest"}, manifest=changed(model_file="../tiny-pack/model.tflite"))
    pack("manifest_not_json", {"error": "manifest"}, raw_manifest="{ this is not json")
    pack("manifest_empty", {"error": "manifest"}, raw_manifest="")
    pack("manifest_unknown_schema", {"error": "pack_mismatch"}, manifest=changed(schema=99))
    pack("manifest_lies_input_size", {"error": "pack_mismatch"}, manifest=changed(input__width=224, input__height=224))
    pack("manifest_lies_batch", {"error": "pack_mismatch"}, manifest=changed(input__batch=8))
    pack("manifest_lies_dtype", {"error": "pack_mismatch"}, manifest=changed(input__dtype="float32"))
    pack("manifest_lies_quantisation", {"error": "pack_mismatch"},
         manifest=changed(input__quantization={"scale": 0.5, "zero_point": 3}))
    pack("manifest_one_label_too_many", {"error": "pack_mismatch"},
         manifest=changed(labels=base["labels"] + ["delta"]))
    pack("manifest_huge_label_list", {"error": "pack_mismatch"},
         manifest=changed(labels=[f"label-{i}" for i in range(200_000)]))
    pack("manifest_duplicate_labels", {"error": "pack_mismatch"}, manifest=changed(labels=["alpha", "alpha", "beta"]))
    pack("manifest_negative_temperature", {"error": "pack_mismatch"}, manifest=changed(calibration={"temperature": -1.0}))
    pack("manifest_nan_std", {"error": "manifest"},  # NaN is not JSON: refused by the parser
         raw_manifest=json.dumps(base).replace('"std": [\n', '"std": [').replace("127.5,", "NaN,", 1))
    pack("manifest_mask_outside", {"error": "pack_mismatch"},
         manifest=changed(input__masks=[{"x": 0.9, "y": 0.9, "w": 0.5, "h": 0.5, "fill": [0, 0, 0]}]))
    pack("manifest_zero_size_input", {"error": "pack_mismatch"}, manifest=changed(input__width=0))
    entries.append({"kind": "pack_folder_missing", "group": "pack", "path": str(d / "no-such-pack"),
                    "expect": {"error": "pack_not_found"}})
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    entries = photos(args.out) + packs(args.out)
    (args.out / "catalogue.json").write_text(json.dumps(entries, indent=1))
    kinds = {e["kind"] for e in entries}
    assert len(kinds) == len(entries), "kinds are unique"
    print(f"{len(entries)} kinds ({sum(e['group'] == 'photo' for e in entries)} photos, "
          f"{sum(e['group'] == 'pack' for e in entries)} packs) in {args.out}")


if __name__ == "__main__":
    main()
