#!/usr/bin/env python3
"""Generates the synthetic test images in tests/fixtures/images/ and the sample
smear in tests/fixtures/samples/ (all committed; none come from ../shared/data).

The images are synthetic so they can be committed: a marker in the top-left
corner makes orientation checkable, and the sample smear is drawn procedurally
(pale background, pink biconcave red cells, a few white cells with a purple
lobed nucleus) at roughly the scale of a 100x-objective camera field.

Run: .venv/bin/python scripts/make_test_images.py
"""
import io
import math
import random
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "tests" / "fixtures" / "images"
SAMPLES = ROOT / "tests" / "fixtures" / "samples"


def marker_image(w=60, h=40):
    """Grey gradient with a red block at the top-left: orientation is visible."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (90 + x, 90 + y, 140)
    ImageDraw.Draw(im).rectangle([0, 0, 9, 9], fill=(255, 0, 0))
    return im


def exif_with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def huge_png_header(w, h):
    """A PNG whose header declares w x h pixels but carries almost no data."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def smear(w=640, h=480, seed=3, wbcs=((200, 170, "neutrophil"), (470, 330, "lymphocyte"))):
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h), (236, 226, 222))
    d = ImageDraw.Draw(im)
    r = 38  # red-cell radius: diameter ~76 px, the scale of bccd_fields
    placed = []
    area = w * h / (640 * 480)  # as many red cells per area as the 640x480 sample's 48
    for _ in range(round(4000 * max(1.0, area))):
        if len(placed) >= round(48 * area):
            break
        x, y = rnd.uniform(-10, w + 10), rnd.uniform(-10, h + 10)
        if any((x - a) ** 2 + (y - b) ** 2 < (1.7 * r) ** 2 for a, b in placed):
            continue
        if any((x - a) ** 2 + (y - b) ** 2 < (2.4 * r) ** 2 for a, b, _ in wbcs):
            continue
        placed.append((x, y))
        rr = r * rnd.uniform(0.9, 1.1)
        d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=(214, 120, 130), outline=(190, 95, 110), width=3)
        c = rr * 0.45
        d.ellipse([x - c, y - c, x + c, y + c], fill=(226, 160, 165))
    for x, y, kind in wbcs:
        R = r * 1.35
        d.ellipse([x - R, y - R, x + R, y + R], fill=(222, 196, 214))
        if kind == "neutrophil":
            for k in range(3):
                a = k * 2.1 + 0.4
                cx, cy, nr = x + math.cos(a) * R * 0.38, y + math.sin(a) * R * 0.38, R * 0.33
                d.ellipse([cx - nr, cy - nr, cx + nr, cy + nr], fill=(88, 34, 142))
        else:
            nr = R * 0.8
            d.ellipse([x - nr, y - nr, x + nr, y + nr], fill=(74, 30, 140))
    return im.filter(ImageFilter.GaussianBlur(1.2))


def main():
    IMG.mkdir(parents=True, exist_ok=True)
    SAMPLES.mkdir(parents=True, exist_ok=True)
    m = marker_image()
    m.save(IMG / "marker.png")
    m.save(IMG / "marker.jpg", quality=95)
    m.save(IMG / "marker.webp", lossless=True)
    m.save(IMG / "marker.bmp")
    m.save(IMG / "marker.tiff")
    m.convert("L").save(IMG / "marker_grey.png")
    m.convert("CMYK").save(IMG / "marker_cmyk.jpg", quality=95)
    rgba = m.convert("RGBA")
    rgba.putalpha(Image.new("L", m.size, 0).point(lambda _: 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 10, 10))
    rgba.save(IMG / "marker_rgba.png")
    m.convert("I;16").save(IMG / "marker_grey16.png")
    # Stored rotated 90 degrees clockwise with EXIF orientation 6 ("rotate 90 CW to view"):
    # displayed upright it is the 60x40 marker with red top-left.
    m.transpose(Image.Transpose.ROTATE_90).save(IMG / "marker_exif6.jpg", quality=95, exif=exif_with_orientation(6))
    # EXIF that lies: orientation value 9 does not exist.
    m.save(IMG / "marker_exif_bad.jpg", quality=95, exif=exif_with_orientation(9))
    Image.new("RGB", (1, 1), (200, 100, 50)).save(IMG / "one_pixel.png")
    buf = io.BytesIO()
    smear().save(buf, "JPEG", quality=90)
    full = buf.getvalue()
    (IMG / "truncated.jpg").write_bytes(full[: len(full) // 3])
    (IMG / "bomb.png").write_bytes(huge_png_header(100_000, 100_000))
    (IMG / "empty.jpg").write_bytes(b"")
    (IMG / "not_an_image.jpg").write_bytes(b"%PDF-1.4 this is not an image\n" * 10)
    smear().save(SAMPLES / "smear_field.jpg", quality=90)
    smear(seed=5, wbcs=((320, 240, "lymphocyte"),)).save(SAMPLES / "smear_field_2.jpg", quality=90)
    for p in sorted(list(IMG.iterdir()) + list(SAMPLES.iterdir())):
        print(p.relative_to(ROOT), p.stat().st_size)


if __name__ == "__main__":
    main()
