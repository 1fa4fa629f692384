//! The coefficient path against libjpeg-turbo's own decoder, on JPEGs made here
//! (libjpeg's encoder: any sampling, progression, restart markers, EXIF).
use super::libjpeg::encode::{self, exif_orientation, Options};
use super::*;
use crate::ErrorKind;
use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb};
use std::path::PathBuf;

/// Smooth gradients, soft-edged discs of cell-like colours, and noise.
pub(crate) fn photo_like(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let discs: Vec<(f64, f64, f64, [f64; 3])> = (0..12)
        .map(|i| {
            let r = (rnd() % 1000) as f64 / 1000.0;
            let q = (rnd() % 1000) as f64 / 1000.0;
            let rad = (3.0 + (rnd() % 1000) as f64 / 1000.0 * 0.12 * f64::from(w.min(h))).max(2.0);
            let c = if i % 3 == 0 { [110.0, 40.0, 150.0] } else { [225.0, 140.0, 150.0] };
            (r * f64::from(w), q * f64::from(h), rad, c)
        })
        .collect();
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (f64::from(x) / f64::from(w.max(2) - 1), f64::from(y) / f64::from(h.max(2) - 1));
        let mut p = [60.0 + 150.0 * fx, 70.0 + 120.0 * fy, 200.0 - 90.0 * (fx + fy) / 2.0];
        for &(cx, cy, r, c) in &discs {
            let d = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt();
            let a = (r + 1.0 - d).clamp(0.0, 1.0);
            for i in 0..3 {
                p[i] = p[i] * (1.0 - a) + c[i] * a;
            }
        }
        let n = (rnd() % 13) as f64 - 6.0;
        Rgb(p.map(|v| (v + n).clamp(0.0, 255.0) as u8))
    })
}

fn jpeg(img: &RgbImage, opts: &Options) -> Vec<u8> {
    if opts.grey {
        let g = DynamicImage::ImageRgb8(img.clone()).to_luma8();
        encode::encode(g.as_raw(), img.width(), img.height(), opts)
    } else {
        encode::encode(img.as_raw(), img.width(), img.height(), opts)
    }
}

fn reference(bytes: &[u8], denom: u32) -> RgbImage {
    libjpeg_decode(bytes, &DecodeLimits::default(), denom).unwrap()
}

/// Mean and max absolute difference per channel value.
fn diff(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len() as f64, max)
}

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images").join(name);
    std::fs::read(p).unwrap()
}

const YUV420: [(i32, i32); 3] = [(2, 2), (1, 1), (1, 1)];
const YUV422: [(i32, i32); 3] = [(2, 1), (1, 1), (1, 1)];
const YUV440: [(i32, i32); 3] = [(1, 2), (1, 1), (1, 1)];
const YUV444: [(i32, i32); 3] = [(1, 1), (1, 1), (1, 1)];
const YUV411: [(i32, i32); 3] = [(4, 1), (1, 1), (1, 1)];

fn layouts() -> Vec<(&'static str, Options)> {
    let o = Options::default;
    vec![
        ("4:2:0", Options { sampling: YUV420, ..o() }),
        ("4:2:2", Options { sampling: YUV422, ..o() }),
        ("4:4:0", Options { sampling: YUV440, ..o() }),
        ("4:4:4", Options { sampling: YUV444, ..o() }),
        ("4:1:1", Options { sampling: YUV411, ..o() }),
        ("grey", Options { grey: true, ..o() }),
        ("progressive 4:2:0", Options { progressive: true, ..o() }),
        ("progressive grey", Options { progressive: true, grey: true, ..o() }),
        ("restarts 4:2:0", Options { restart: 3, ..o() }),
    ]
}

/// `img` as the encoder saw it (grey layouts encode luma only).
fn source_of(img: &RgbImage, opts: &Options) -> RgbImage {
    if opts.grey {
        DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(img.clone()).to_luma8()).to_rgb8()
    } else {
        img.clone()
    }
}

/// Compared with libjpeg at the same scale, and with the original reduced by
/// box averaging ("truth"). At 1/1 both decoders do the same maths. At reduced
/// scales they differ by design: libjpeg's reduced IDCTs average adjacent
/// full-size outputs and, for 4:2:2 / 4:4:0 / 4:1:1, replicate chroma; ours
/// low-pass each block (the top-left k x k coefficients, as jpeg-decoder, which
/// `decode_scaled` used, does) and fill in chroma bilinearly. So the bounds
/// there are loose against libjpeg, and against the truth ours must be about
/// as close as libjpeg's.
#[test]
fn pixels_match_libjpeg_at_every_scale_and_layout() {
    let mut report = String::new();
    for (w, h) in [(203u32, 157u32), (17, 9), (9, 33), (7, 5)] {
        let img = photo_like(w, h, 1);
        for (name, opts) in layouts() {
            let bytes = jpeg(&img, &opts);
            let truth_src = source_of(&img, &opts);
            for k in [8u32, 4, 2, 1] {
                let p = Photo::open(&bytes, &DecodeLimits::default(), scaled(w.max(h), k)).unwrap();
                assert!(matches!(p.source, Source::Dct { .. }), "took the coefficient path");
                assert_eq!(p.view_scale(), f64::from(k) / 8.0);
                assert_eq!(p.displayed(), (w, h));
                let ours = p.view();
                let theirs = reference(&bytes, 8 / k);
                let (mean, max) = diff(ours, &theirs);
                let truth = box_reduce(&truth_src, 8 / k);
                let (ours_t, theirs_t) = (diff(ours, &truth).0, diff(&theirs, &truth).0);
                report += &format!(
                    "{w}x{h} {name:>18} 1/{}: vs libjpeg mean {mean:.3} max {max:3}; vs truth ours {ours_t:.2} libjpeg {theirs_t:.2}\n",
                    8 / k
                );
                let big = w > 100;
                if k == 8 && name != "4:1:1" {
                    assert!(mean <= 0.3 && max <= 8, "{w}x{h} {name} 1/1: mean {mean:.3} max {max}");
                } else if big {
                    // libjpeg's 4:1:1 upsampling replicates samples, also at 1/1.
                    let mean_tol = match name {
                        "4:2:2" | "4:4:0" => 5.0,
                        "4:1:1" => 9.0,
                        _ => 2.0,
                    };
                    assert!(mean <= mean_tol && max <= 110, "{name} 1/{}: mean {mean:.3} max {max}", 8 / k);
                }
                let slack = if big { 1.0 } else { 2.5 };
                assert!(
                    ours_t <= theirs_t + slack,
                    "{w}x{h} {name} 1/{}: {ours_t:.2} vs {theirs_t:.2}",
                    8 / k
                );
                if opts.grey {
                    assert!(ours.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "{name}: grey stays grey");
                }
            }
        }
    }
    eprintln!("{report}");
}

#[test]
fn a_one_pixel_jpeg_is_an_image() {
    let img = RgbImage::from_pixel(1, 1, Rgb([200, 30, 90]));
    for (name, opts) in layouts() {
        let bytes = jpeg(&img, &opts);
        let p = Photo::open(&bytes, &DecodeLimits::default(), 1000).unwrap();
        assert_eq!(p.displayed(), (1, 1));
        assert_eq!(p.view().dimensions(), (1, 1));
        assert_eq!(p.view(), &reference(&bytes, 1), "{name}");
        let win = p.window(0.5, 0.5, 1.0, 4, [0; 3]).unwrap();
        assert_eq!(win.get_pixel(2, 2), p.view().get_pixel(0, 0));
    }
}

/// What a window should be: cut from the full-resolution libjpeg decode, upright,
/// with `field::analyze::crop`'s rounding, then resized.
fn reference_window(full: &RgbImage, cx: f64, cy: f64, side: f64, n: u32, fill: [u8; 3]) -> RgbImage {
    let m = side.round().max(1.0) as u32;
    let (x0, y0) = ((cx - side / 2.0).round() as i64, (cy - side / 2.0).round() as i64);
    let c = RgbImage::from_fn(m, m, |x, y| {
        let (sx, sy) = (x0 + i64::from(x), y0 + i64::from(y));
        if sx < 0 || sy < 0 || sx >= i64::from(full.width()) || sy >= i64::from(full.height()) {
            Rgb(fill)
        } else {
            *full.get_pixel(sx as u32, sy as u32)
        }
    });
    if m == n {
        c
    } else {
        imageops::resize(&c, n, n, FilterType::Triangle)
    }
}

fn orientation(v: u16) -> Orientation {
    Orientation::from_exif(v as u8).unwrap()
}

/// (cx, cy, side, n) in displayed pixels of a 203 x 157 (or 157 x 203) photo.
const WINDOWS: [(f64, f64, f64, u32); 8] = [
    (101.3, 77.8, 60.0, 32),   // 1/1 (30 px at 1/2 would be too few)
    (90.0, 70.0, 120.0, 32),   // 1/2
    (60.0, 50.0, 100.0, 24),   // 1/4
    (100.0, 80.0, 128.0, 16),  // 1/8
    (4.0, 6.0, 80.0, 40),      // hangs off the top-left
    (200.0, 150.0, 100.0, 25), // off the bottom-right (of the landscape shape)
    (100.0, 80.0, 20.0, 40),   // upsampled: nothing finer exists
    (157.0, 20.0, 90.0, 45),   // off the right of the portrait shape
];

/// The window cut from libjpeg's decode at the scale the window uses, in stored
/// coordinates (as `Photo::window` rounds), then turned upright and resized.
fn same_scale_window(bytes: &[u8], o: Orientation, win: (f64, f64, f64, u32), fill: [u8; 3]) -> RgbImage {
    let (cx, cy, side, n) = win;
    let k = SCALES.into_iter().find(|&k| side * f64::from(k) / 8.0 >= f64::from(n)).unwrap_or(8);
    let f = f64::from(k) / 8.0;
    let stored = reference(bytes, 8 / k);
    let full = reference(bytes, 1).dimensions();
    let dims = (f64::from(full.0), f64::from(full.1));
    let a = to_stored(o, dims, (cx - side / 2.0, cy - side / 2.0));
    let b = to_stored(o, dims, (cx + side / 2.0, cy + side / 2.0));
    let (ox, oy) = ((a.0.min(b.0) * f).round() as i64, (a.1.min(b.1) * f).round() as i64);
    let m = (side * f).round().max(1.0) as u32;
    let c = RgbImage::from_fn(m, m, |x, y| {
        let (sx, sy) = (ox + i64::from(x), oy + i64::from(y));
        if sx < 0 || sy < 0 || sx >= i64::from(stored.width()) || sy >= i64::from(stored.height()) {
            Rgb(fill)
        } else {
            *stored.get_pixel(sx as u32, sy as u32)
        }
    });
    let c = orient(c, o);
    if m == n {
        c
    } else {
        imageops::resize(&c, n, n, FilterType::Triangle)
    }
}

#[test]
fn windows_match_the_same_region_of_a_full_decode_in_every_orientation() {
    let img = photo_like(203, 157, 3);
    let fill = [7, 200, 9];
    let mut report = String::new();
    for sampling in [YUV420, YUV444] {
        for o in 1..=8u16 {
            let bytes =
                jpeg(&img, &Options { sampling, app1: vec![exif_orientation(o)], ..Options::default() });
            let p = Photo::open(&bytes, &DecodeLimits::default(), 50).unwrap();
            let full = orient(reference(&bytes, 1), orientation(o));
            assert_eq!(p.displayed(), full.dimensions(), "orientation {o}");
            for &win in &WINDOWS {
                let (cx, cy, side, n) = win;
                let ours = p.window(cx, cy, side, n, fill).unwrap();
                assert_eq!(ours.dimensions(), (n, n));
                // Against libjpeg at the same scale: only the IDCTs differ.
                let (same, _) = diff(&ours, &same_scale_window(&bytes, orientation(o), win, fill));
                // Against the full-resolution decode: the resampling chain differs too.
                let (mean, _) = diff(&ours, &reference_window(&full, cx, cy, side, n, fill));
                report += &format!("orientation {o} window {win:?}: same scale {same:.2}, full {mean:.2}\n");
                assert!(same <= 1.0 && mean <= 5.5, "orientation {o}, window {win:?}: {same:.2} / {mean:.2}");
            }
            // Far outside: all fill; hanging off the top-left: fill there, photo inside.
            let out = p.window(-500.0, -500.0, 50.0, 10, fill).unwrap();
            assert!(out.pixels().all(|px| px.0 == fill));
            let edge = p.window(0.0, 0.0, 64.0, 64, fill).unwrap();
            assert_eq!(edge.get_pixel(3, 3).0, fill, "orientation {o}");
            assert_ne!(edge.get_pixel(60, 60).0, fill, "orientation {o}");
        }
    }
    eprintln!("{report}");
}

#[test]
fn windows_at_the_views_scale_are_cut_from_it_with_the_same_pixels() {
    // The same photo opened with views at two scales: a window at one view's
    // scale is cut from that view, the other renders it from coefficients.
    let img = photo_like(203, 157, 3);
    let fill = [7, 200, 9];
    for sampling in [YUV420, YUV444] {
        for o in 1..=8u16 {
            let bytes =
                jpeg(&img, &Options { sampling, app1: vec![exif_orientation(o)], ..Options::default() });
            for k in [1u32, 2, 4] {
                let from_view = Photo::open(&bytes, &DecodeLimits::default(), scaled(203, k)).unwrap();
                let other = if k == 4 { 1 } else { 4 };
                let rendered = Photo::open(&bytes, &DecodeLimits::default(), scaled(203, other)).unwrap();
                assert_eq!(from_view.view_scale(), f64::from(k) / 8.0);
                for &(cx, cy, side, _) in &WINDOWS {
                    // Just enough pixels at scale k, so the window is cut at k.
                    let n = (side * f64::from(k) / 8.0).floor().max(1.0) as u32;
                    let a = from_view.window(cx, cy, side, n, fill).unwrap();
                    let b = rendered.window(cx, cy, side, n, fill).unwrap();
                    assert_eq!(a, b, "orientation {o}, scale {k}/8, window ({cx}, {cy}, {side})");
                }
            }
        }
    }
}

#[test]
fn a_photo_opened_on_two_threads_is_the_same_photo() {
    for (w, h) in [(1200u32, 900u32), (203, 157), (40, 300)] {
        let img = photo_like(w, h, 21);
        for (name, opts) in layouts() {
            for o in [1u16, 6] {
                let opts = Options { app1: vec![exif_orientation(o)], ..opts.clone() };
                let bytes = jpeg(&img, &opts);
                for view in [50, 300, 2000] {
                    let one = Photo::open(&bytes, &DecodeLimits::default(), view).unwrap();
                    let two = Photo::open_on(&bytes, &DecodeLimits::default(), view, 2).unwrap();
                    assert_eq!(one.view(), two.view(), "{w}x{h} {name} orientation {o} view {view}");
                    let (cx, cy) = (f64::from(w) * 0.4, f64::from(h) * 0.6);
                    assert_eq!(
                        one.window(cx, cy, 100.0, 40, [0; 3]).unwrap(),
                        two.window(cx, cy, 100.0, 40, [0; 3]).unwrap()
                    );
                }
            }
        }
    }
}

#[test]
fn the_view_is_upright_in_every_orientation() {
    let img = photo_like(203, 157, 5);
    for o in 1..=8u16 {
        let bytes = jpeg(&img, &Options { app1: vec![exif_orientation(o)], ..Options::default() });
        for k in [8u32, 2] {
            let p = Photo::open(&bytes, &DecodeLimits::default(), scaled(203, k)).unwrap();
            let want = orient(reference(&bytes, 8 / k), orientation(o));
            let (mean, _) = diff(p.view(), &want);
            assert!(mean <= 3.0, "orientation {o} 1/{}: {mean:.2}", 8 / k);
        }
    }
}

#[test]
fn orientation_helpers_agree_with_the_image_crate() {
    let img = RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 10, y as u8 * 10, 0]));
    for v in 1..=8u8 {
        let o = Orientation::from_exif(v).unwrap();
        let mut d = DynamicImage::ImageRgb8(img.clone());
        d.apply_orientation(o);
        let theirs = d.to_rgb8();
        let ours = orient(img.clone(), o);
        assert_eq!(ours, theirs, "orientation {v}");
        for (u, w, px) in ours.enumerate_pixels() {
            let (x, y) = to_stored(o, (5.0, 3.0), (f64::from(u) + 0.5, f64::from(w) + 0.5));
            assert_eq!(img.get_pixel(x.floor() as u32, y.floor() as u32), px, "orientation {v}");
        }
    }
}

fn red_top_left(p: &Photo) {
    let v = p.window(30.0, 20.0, 60.0, 60, [0, 0, 0]).unwrap();
    assert_eq!(p.displayed(), (60, 40));
    let a = v.get_pixel(3, 13).0; // window row 13 = photo row 3
    assert!(a[0] > 220 && a[1] < 60 && a[2] < 60, "top-left {a:?}");
    let b = v.get_pixel(55, 45).0;
    assert!(b[0] < 200 && b[2] > 100, "bottom-right {b:?}");
    let full = p.view();
    let c = full.get_pixel(0, 0).0;
    assert!(c[0] > 200 && c[1] < 80, "view top-left {c:?}");
}

#[test]
fn exif_fixtures_upright_and_a_lying_exif_is_ignored() {
    for name in ["marker.jpg", "marker_exif6.jpg", "marker_exif_bad.jpg"] {
        let p = Photo::open(&fixture(name), &DecodeLimits::default(), 10_000).unwrap();
        assert!(matches!(p.source, Source::Dct { .. }), "{name}");
        red_top_left(&p);
    }
}

#[test]
fn cmyk_and_other_formats_fall_back_to_the_general_decoder() {
    let p = Photo::open(&fixture("marker_cmyk.jpg"), &DecodeLimits::default(), 10_000).unwrap();
    assert!(matches!(p.source, Source::Pixels { .. }));
    red_top_left(&p);
    for name in ["marker.png", "marker.webp", "marker.bmp", "marker.tiff"] {
        red_top_left(&Photo::open(&fixture(name), &DecodeLimits::default(), 10_000).unwrap());
    }
    // A PNG's view is the same power-of-two reduction a JPEG's would be.
    let img = photo_like(203, 157, 9);
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
    let p = Photo::open(&png, &DecodeLimits::default(), 60).unwrap();
    assert_eq!(p.view().dimensions(), (102, 79));
    assert_eq!(p.view_scale(), 0.5);
    let tri = imageops::resize(&img, 102, 79, FilterType::Triangle);
    assert!(diff(p.view(), &tri).0 < 3.0);
    for &(cx, cy, side, n) in &WINDOWS {
        let ours = p.window(cx, cy, side, n, [1, 2, 3]).unwrap();
        let want = reference_window(&img, cx, cy, side, n, [1, 2, 3]);
        let (mean, _) = diff(&ours, &want);
        assert!(mean <= 3.0, "png window {cx},{cy}: {mean:.2}");
    }
}

#[test]
fn a_jpeg_over_the_coefficient_budget_is_decoded_scaled_once() {
    // Stand-in for a 100 MP photo: a full-resolution pixel limit below its size.
    let img = photo_like(203, 157, 11);
    let bytes = jpeg(&img, &Options::default());
    let limits = DecodeLimits { max_pixels: 1000, ..DecodeLimits::default() };
    assert_eq!(decode_image(&bytes, &limits).unwrap_err().kind(), ErrorKind::ImageTooLarge);
    let p = Photo::open(&bytes, &limits, 20).unwrap();
    let Source::Pixels { image, scale, .. } = &p.source else { panic!("took the scaled path") };
    assert_eq!(*scale, 0.5);
    assert_eq!(image, &reference(&bytes, 2), "the kept image is libjpeg's 1/2 decode");
    assert_eq!(p.view_scale(), 0.125);
    assert_eq!(p.view().dimensions(), (26, 20));
    assert!(diff(p.view(), &reference(&bytes, 8)).0 <= 3.0);
    let full = reference(&bytes, 1);
    for &(cx, cy, side, n) in &WINDOWS[1..6] {
        let ours = p.window(cx, cy, side, n, [0, 0, 0]).unwrap();
        let (mean, _) = diff(&ours, &reference_window(&full, cx, cy, side, n, [0, 0, 0]));
        assert!(mean <= 4.0, "{cx},{cy}: {mean:.2}");
    }
    // Progressive needs the whole coefficient buffer even to scale: refused.
    let prog = jpeg(&img, &Options { progressive: true, ..Options::default() });
    assert_eq!(Photo::open(&prog, &limits, 30).unwrap_err().kind(), ErrorKind::ImageTooLarge);
    // Past the scaled limit: refused from the header.
    let tight = DecodeLimits { max_pixels: 1000, max_pixels_scaled: 2000, ..DecodeLimits::default() };
    assert_eq!(Photo::open(&bytes, &tight, 30).unwrap_err().kind(), ErrorKind::ImageTooLarge);
}

/// A JPEG whose frame header claims `w` x `h` (the data is a tiny image's).
fn with_size(bytes: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let sof = b.windows(2).position(|m| m == [0xFF, 0xC0] || m == [0xFF, 0xC2]).unwrap();
    b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    b
}

#[test]
fn a_huge_header_is_refused_before_anything_is_decoded() {
    let small = jpeg(&photo_like(16, 16, 1), &Options::default());
    let start = std::time::Instant::now();
    let e = Photo::open(&with_size(&small, 65000, 65000), &DecodeLimits::default(), 1000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ImageTooLarge, "{e}");
    assert!(e.to_string().contains("120000000"), "{e}");
    assert!(start.elapsed().as_millis() < 200);
    assert_eq!(
        libjpeg_decode(&with_size(&small, 65000, 65000), &DecodeLimits::default(), 1).unwrap_err().kind(),
        ErrorKind::ImageTooLarge
    );
    // Beyond what JPEG allows at all: an error, not an allocation.
    assert!(Photo::open(&with_size(&small, 65535, 65535), &DecodeLimits::default(), 1000).is_err());
    // Zero height (a DNL-marker JPEG): typed, not a panic.
    let e = Photo::open(&with_size(&small, 16, 0), &DecodeLimits::default(), 1000).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ImageEmpty | ErrorKind::CorruptImage), "{e}");
}

#[test]
fn bad_inputs_get_typed_errors() {
    let l = DecodeLimits::default();
    assert_eq!(Photo::open(&[], &l, 100).unwrap_err().kind(), ErrorKind::EmptyInput);
    assert_eq!(
        Photo::open(b"hello, not an image", &l, 100).unwrap_err().kind(),
        ErrorKind::UnsupportedFormat
    );
    let small = jpeg(&photo_like(16, 16, 1), &Options::default());
    let tiny = DecodeLimits { max_file_bytes: 10, ..l };
    assert_eq!(Photo::open(&small, &tiny, 100).unwrap_err().kind(), ErrorKind::FileTooLarge);
    let p = Photo::open(&small, &l, 100).unwrap();
    for (cx, side, n) in [(f64::NAN, 10.0, 10), (5.0, 0.0, 10), (5.0, 10.0, 0), (5.0, 1e9, 10)] {
        assert_eq!(p.window(cx, 5.0, side, n, [0; 3]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    let e = Photo::open(&fixture("truncated.jpg"), &l, 100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptImage);
    assert_eq!(Photo::open(&fixture("bomb.png"), &l, 100).unwrap_err().kind(), ErrorKind::ImageTooLarge);
    assert_eq!(
        Photo::open(&fixture("not_an_image.jpg"), &l, 100).unwrap_err().kind(),
        ErrorKind::UnsupportedFormat
    );
}

#[test]
fn every_prefix_is_an_error_never_a_panic_and_libjpeg_flags_each_cut() {
    let bytes = jpeg(&photo_like(40, 24, 2), &Options { restart: 1, ..Options::default() });
    for cut in 0..bytes.len() {
        assert!(Photo::open(&bytes[..cut], &DecodeLimits::default(), 10).is_err(), "cut {cut}");
        // Past the end-of-image check, straight into libjpeg: its EOF warning
        // (or an error) must catch every cut.
        for threads in [1, 2] {
            let r = libjpeg::with_decompressor(&bytes[..cut], 1 << 20, |d| {
                let h = d.read_header()?;
                d.read_coefficients(&h, threads)
            });
            assert!(r.is_err(), "cut {cut} read as a whole image ({threads} threads)");
        }
    }
    // The EOF warning says so.
    let r = libjpeg::with_decompressor(&bytes[..bytes.len() - 40], 1 << 20, |d| {
        let h = d.read_header()?;
        d.read_coefficients(&h, 2)
    });
    let Err(Failed::Error(Error::CorruptImage(m))) = r else { panic!("not corrupt") };
    assert!(m.contains("truncated"), "{m}");
}

#[test]
fn a_cut_after_an_exif_thumbnail_is_caught_by_libjpeg() {
    // An APP1 carrying its own scan and end marker (as an EXIF thumbnail does)
    // fools the end-of-image check; libjpeg's EOF warning does not.
    let mut thumb = b"Exif\0\0".to_vec();
    thumb.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
    let bytes = jpeg(&photo_like(64, 48, 4), &Options { app1: vec![thumb], ..Options::default() });
    let mut cut = bytes[..bytes.len() - 100].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]); // an end marker the entropy decoder runs into
    let e = Photo::open(&cut, &DecodeLimits::default(), 10).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptImage, "{e}");
    // A plain cut: the only end marker left is the thumbnail's.
    let cut = &bytes[..bytes.len() - 60];
    assert!(has_jpeg_end(cut), "the thumbnail's markers pass the end-of-image check");
    let e = Photo::open(cut, &DecodeLimits::default(), 10).unwrap_err();
    let Error::CorruptImage(m) = &e else { panic!("{e}") };
    assert!(m.starts_with("truncated (the data ends"), "{m}");
}

#[test]
fn corrupt_entropy_data_is_an_error_or_an_image_never_a_panic() {
    let bytes = jpeg(&photo_like(64, 48, 6), &Options::default());
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut errors = 0;
    for i in (sos + 14..bytes.len() - 2).step_by(3) {
        for flip in [0x5Au8, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            match Photo::open(&b, &DecodeLimits::default(), 10) {
                Ok(p) => {
                    let _ = p.window(32.0, 24.0, 40.0, 16, [0; 3]).unwrap();
                }
                Err(e) => {
                    assert!(matches!(e.kind(), ErrorKind::CorruptImage | ErrorKind::UnsupportedImage), "{e}");
                    errors += 1;
                }
            }
        }
    }
    assert!(errors > 0, "no corruption was noticed");
    // And flips anywhere, header included.
    for i in (0..bytes.len()).step_by(5) {
        let mut b = bytes.clone();
        b[i] ^= 0x33;
        let _ = Photo::open(&b, &DecodeLimits::default(), 10);
    }
}

#[test]
fn windows_can_be_cut_from_two_threads_at_once() {
    const fn assert_send_sync<T: Send + Sync>() {}
    const _: () = assert_send_sync::<Photo>();
    let bytes = jpeg(&photo_like(203, 157, 8), &Options::default());
    let p = Photo::open(&bytes, &DecodeLimits::default(), 50).unwrap();
    let alone: Vec<RgbImage> =
        WINDOWS.iter().map(|&(x, y, s, n)| p.window(x, y, s, n, [0; 3]).unwrap()).collect();
    std::thread::scope(|scope| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    WINDOWS
                        .iter()
                        .map(|&(x, y, s, n)| p.window(x, y, s, n, [0; 3]).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), alone);
        }
    });
}

#[test]
fn coefficients_are_stored_compactly() {
    let img = photo_like(203, 157, 12);
    let bytes = jpeg(&img, &Options::default());
    let p = Photo::open(&bytes, &DecodeLimits::default(), 50).unwrap();
    let Source::Dct { coefs, .. } = &p.source else { panic!() };
    // libjpeg holds 128 bytes a block: 26 x 20 luma blocks + 2 x 13 x 10 chroma.
    let libjpeg_bytes = (26 * 20 + 2 * 13 * 10) * 128;
    assert!(coefs.heap_bytes() < libjpeg_bytes, "{} >= {libjpeg_bytes}", coefs.heap_bytes());
}

/// A 4:2:0 JPEG of [`photo_like`].
pub(crate) fn photo_like_jpeg(w: u32, h: u32, seed: u64) -> Vec<u8> {
    jpeg(&photo_like(w, h, seed), &Options::default())
}

#[test]
fn streamed_coefficients_are_libjpegs_own() {
    // Rows taken as libjpeg decodes them, in place of its whole-image
    // arrays (compacted here or on a second thread), against a copy of those
    // arrays: the same blocks, every layout and size (MCU padding at the
    // right and bottom edges included; 1200 x 900 has many rows in flight).
    for (w, h) in [(203u32, 157u32), (17, 9), (9, 33), (7, 5), (1, 1), (64, 48), (1200, 900)] {
        let img = photo_like(w, h, 13);
        for (name, opts) in layouts() {
            let bytes = jpeg(&img, &opts);
            let read = |rows: libjpeg::Rows| {
                libjpeg::with_decompressor(&bytes, 1 << 26, |d| {
                    let hdr = d.read_header()?;
                    let before = libjpeg::STREAMED.with(|n| n.get());
                    let c = d.read_coefficients_with(&hdr, rows)?;
                    Ok((c, libjpeg::STREAMED.with(|n| n.get()) - before, hdr.multi_scan))
                })
                .unwrap()
            };
            let (copied, none, _) = read(libjpeg::Rows::Arrays);
            assert_eq!(none, 0);
            for rows in [libjpeg::Rows::Streamed, libjpeg::Rows::Piped] {
                let (streamed, n, multi_scan) = read(rows);
                assert!(streamed.same_as(&copied), "{w}x{h} {name} {rows:?}");
                let comps = if opts.grey { 1 } else { 3 };
                assert_eq!(
                    n,
                    if multi_scan { 0 } else { comps },
                    "{w}x{h} {name} {rows:?}: components streamed"
                );
            }
        }
    }
}

#[test]
fn a_cut_off_or_corrupt_jpeg_fails_the_same_way_when_piped() {
    // libjpeg unwinding out of a piped read must stop the compacting thread
    // (no hang) and give the same typed error as a plain streamed read.
    let bytes = photo_like_jpeg(1200, 900, 5);
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 64].fill(0xFF);
    corrupt[mid + 64] = 0xD9; // an end-of-image marker in the middle of the data
    let mut cut = bytes[..bytes.len() * 2 / 3].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    for bad in [&corrupt, &cut] {
        let read = |rows: libjpeg::Rows| {
            libjpeg::with_decompressor(bad, 1 << 26, |d| {
                let hdr = d.read_header()?;
                d.read_coefficients_with(&hdr, rows).map(|_| ())
            })
        };
        let (a, b) = (read(libjpeg::Rows::Streamed), read(libjpeg::Rows::Piped));
        match (a, b) {
            (Err(libjpeg::Failed::Error(x)), Err(libjpeg::Failed::Error(y))) => {
                assert_eq!(x.kind(), y.kind());
                assert_eq!(x.kind(), ErrorKind::CorruptImage);
            }
            (a, b) => panic!("expected two corrupt-image errors, got {a:?} / {b:?}"),
        }
    }
}

#[test]
fn the_avx2_build_gives_the_portable_builds_pixels() {
    let img = photo_like(203, 157, 17);
    for sampling in [YUV420, YUV422, YUV444] {
        for o in [1u16, 6] {
            let bytes =
                jpeg(&img, &Options { sampling, app1: vec![exif_orientation(o)], ..Options::default() });
            let run = || {
                let mut out = Vec::new();
                for k in [8u32, 4, 2, 1] {
                    let p = Photo::open(&bytes, &DecodeLimits::default(), scaled(203, k)).unwrap();
                    out.push(p.view().clone());
                    for &(cx, cy, side, n) in &WINDOWS {
                        out.push(p.window_from(cx, cy, side, n, n + 7, [3, 4, 5]).unwrap());
                    }
                }
                out
            };
            set_portable_only(true);
            let portable = run();
            set_portable_only(false);
            assert!(run() == portable, "sampling {sampling:?}, orientation {o}");
        }
    }
}

/// libjpeg's coefficients (its whole-image arrays, copied), or its error.
fn libjpegs_own(bytes: &[u8]) -> Result<Coefficients, libjpeg::Failed> {
    libjpeg::with_decompressor(bytes, 1 << 28, |d| {
        let hdr = d.read_header()?;
        d.read_coefficients_with(&hdr, libjpeg::Rows::Arrays)
    })
}

#[cfg(not(feature = "rust-entropy"))]
#[test]
fn without_the_rust_entropy_decoder_libjpeg_reads_every_jpeg() {
    // The same baseline JPEG the Rust decoder would take, on one thread and two.
    let bytes = jpeg(&photo_like(640, 480, 3), &Options::default());
    assert!(libjpegs_own(&bytes).is_ok());
    for threads in [1, 2] {
        assert!(baseline(&bytes, threads).is_none());
    }
}

/// The Rust baseline decoder's coefficients, or `None` where it leaves them to libjpeg.
fn baseline(bytes: &[u8], threads: usize) -> Option<Coefficients> {
    libjpeg::with_decompressor(bytes, 1 << 28, |d| {
        let hdr = d.read_header()?;
        d.read_baseline(bytes, &hdr, threads)
    })
    .ok()
    .flatten()
}

#[cfg(feature = "rust-entropy")]
#[test]
fn the_baseline_decoder_gives_libjpegs_coefficients() {
    // Every layout and size (MCU padding at the edges), one thread and two
    // (2400 x 1800 is large enough to be split: mid-scan, or at the restart
    // marker nearest the middle); progressive JPEGs are left to libjpeg.
    for (w, h) in [(203u32, 157u32), (17, 9), (9, 33), (7, 5), (1, 1), (64, 48), (1200, 900), (2400, 1800)] {
        let img = photo_like(w, h, 21);
        for (name, opts) in layouts() {
            for quality in [85, 100] {
                let bytes = jpeg(&img, &Options { quality, ..opts.clone() });
                let want = libjpegs_own(&bytes).unwrap();
                for threads in [1, 2] {
                    let got = baseline(&bytes, threads);
                    if opts.progressive {
                        assert!(got.is_none(), "{w}x{h} {name}: not for this decoder");
                        continue;
                    }
                    let got = got.unwrap_or_else(|| panic!("{w}x{h} {name} q{quality}: not decoded"));
                    assert!(got.same_as(&want), "{w}x{h} {name} q{quality} threads {threads}");
                }
            }
        }
    }
}

#[cfg(feature = "rust-entropy")]
#[test]
fn the_baseline_decoder_decodes_broken_data_as_libjpeg_or_not_at_all() {
    // Bytes of the entropy-coded data overwritten, the data cut short or
    // followed by junk: whatever the Rust decoder returns is what libjpeg
    // returns without complaint; everything else it leaves to libjpeg.
    for restart in [0, 5] {
        broken_data_decodes_as_libjpeg(&jpeg(
            &photo_like(1600, 1200, 4),
            &Options { restart, ..Options::default() },
        ));
    }
}

#[cfg(feature = "rust-entropy")]
fn broken_data_decodes_as_libjpeg(bytes: &[u8]) {
    let start = bytes.len() / 20;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut decoded, mut left) = (0, 0);
    for case in 0..120usize {
        let mut bad = bytes.to_vec();
        match case % 5 {
            4 => {
                // The second half noise (no markers): the second thread decodes
                // garbage from where it starts, within its room.
                let end = bad.len() - 2;
                for b in &mut bad[end / 2..end] {
                    *b = rand(255) as u8;
                }
            }
            0 => {
                let at = start + rand(bytes.len() - start - 2);
                bad[at] = rand(256) as u8;
            }
            1 => {
                let at = start + rand(bytes.len() - start - 2);
                for b in &mut bad[at..(at + 1 + rand(40)).min(bytes.len() - 2)] {
                    *b = rand(256) as u8;
                }
            }
            2 => {
                let at = start + rand(bytes.len() - start - 2);
                bad.truncate(at);
                bad.extend_from_slice(&[0xFF, 0xD9]);
            }
            _ => {
                let end = bad.len() - 2;
                let junk: Vec<u8> = (0..1 + rand(5)).map(|_| rand(255) as u8).collect();
                bad.splice(end..end, junk);
            }
        }
        for threads in [1, 2] {
            match baseline(&bad, threads) {
                Some(got) => {
                    let want =
                        libjpegs_own(&bad).unwrap_or_else(|e| panic!("case {case}: libjpeg fails: {e:?}"));
                    assert!(got.same_as(&want), "case {case} threads {threads}");
                    decoded += 1;
                }
                None => left += 1,
            }
        }
    }
    // Most single-byte changes still decode (Huffman codes resynchronise).
    assert!(decoded > 0 && left > 0, "decoded {decoded}, left to libjpeg {left}");
}

#[cfg(feature = "rust-entropy")]
#[test]
fn the_baseline_decoder_on_two_threads_handles_flat_blocks_at_the_end() {
    // A photo whose lower half is mid-grey: its last blocks store nothing
    // (the second thread's, where the scan is split).
    let mut img = photo_like(2400, 1800, 8);
    for y in 900..1800 {
        for x in 0..2400 {
            img.put_pixel(x, y, Rgb([128, 128, 128]));
        }
    }
    for restart in [0, 4] {
        let bytes = jpeg(&img, &Options { restart, ..Options::default() });
        let want = libjpegs_own(&bytes).unwrap();
        let got = baseline(&bytes, 2).unwrap_or_else(|| panic!("restart {restart}: not decoded"));
        assert!(got.same_as(&want), "restart {restart}");
    }
}

/// Every input a fuzz target found the Rust entropy decoder and libjpeg to
/// disagree on (rust-core/fuzz/regressions/jpeg_entropy_differential): now
/// decoded alike, or left to libjpeg.
#[cfg(feature = "rust-entropy")]
#[test]
fn fuzz_regressions_decode_as_libjpeg() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/jpeg_entropy_differential");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        for threads in [1, 2] {
            if let Some(got) = baseline(&bytes, threads) {
                let want = libjpegs_own(&bytes).unwrap_or_else(|_| panic!("{:?}: libjpeg refuses", e.path()));
                assert_eq!(got.first_difference(&want), None, "{:?} threads {threads}", e.path());
            }
        }
        n += 1;
    }
    assert!(n > 0);
}
