//! Scale: the red-cell diameter in pixels, measured from the photo itself, so
//! every later stage works at the physical scale each pack's manifest asks for.
//!
//! Red cells are the commonest round objects of a smear and are darker than
//! the plasma around them. Every strong edge pixel votes for a centre `r`
//! pixels away on its dark side; at the red-cell radius the votes of one
//! cell's outline pile up on its centre, at other radii they scatter. The
//! same edges voting sideways (along the edge) are the control: the radius
//! where the votes pile up most beyond the control is the red-cell radius.
//! Only edges are used, so crowded, overlapping and cut-off cells still count
//! (a fast radial-symmetry transform, Loy & Zelinsky 2003, scored against a
//! tangential null).
//!
//! The unit is our own and is the same everywhere: twice the distance from a
//! cell's centre to its outline's steepest edge. Packs state their scale in
//! this unit, measured on their own training images by this function
//! (scripts/measure_scale.py): on `bccd_fields` it reads 0.79 of the loose
//! annotation boxes, on `raabin_phone` 0.80.
use super::raster::Gray;
use crate::field::report::Fov;

/// Smallest and largest radius searched on a level, in that level's pixels.
const R_MIN: f32 = 2.5;
const R_MAX: f32 = 48.0;
/// Ratio between successive radii in the coarse search.
const R_STEP: f32 = 1.12;
/// Coarse search starts on the first level whose longer side is at most this.
const COARSE_SIDE: usize = 400;
/// At most this many edge pixels vote (evenly thinned beyond it): enough for
/// every cell of a large field to gather votes, fewer in the first search over
/// all radii on the coarsest level (where the cells are few and large).
const MAX_VOTERS: usize = 4_000;
const COARSE_VOTERS: usize = 1_500;
/// Most pixels a level's voters are drawn from.
const MAX_FIELD_PX: usize = 60_000;
/// Share of the field's pixels (by gradient strength) that vote.
const VOTER_SHARE: f32 = 0.3;

/// The measured scale and how clearly the photo showed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RbcScale {
    /// Red-cell diameter in pixels of the image measured.
    pub diameter: f64,
    /// Peak vote concentration over the tangential control (1 = no round
    /// objects at all; smears read 1.5 to 3.5).
    pub contrast: f64,
}

/// Below this contrast the photo shows no round cells to measure.
pub const MIN_CONTRAST: f64 = 1.3;

/// Measures the red-cell diameter of an RGB image on its green channel (where
/// haemoglobin makes red cells darkest). `fov` in `img` pixels; the radii are
/// scored on up to `threads` threads (the same result on any number).
pub fn measure(img: &image::RgbImage, fov: Option<&Fov>, threads: usize) -> Option<RbcScale> {
    Pyramid::of(img).measure(fov, threads)
}

/// Blue minus green above this marks nuclear stain: round nuclei (lymphocytes,
/// blasts) are not red cells, and in a leukaemic field they can outnumber them.
/// Red cells stay well below it under any stain and lamp in the data (aria's
/// lilac ones reach ~40).
const NUCLEAR: f32 = 70.0;

/// Measures the red-cell diameter of `luma` (any single channel in which red
/// cells are darker than plasma; green is best). Edges whose dark side is
/// nuclear-stained in `stain` (blue minus green, same size) do not vote.
/// `fov` in `luma` pixels. `None` when nothing round stands out.
pub fn rbc_diameter(luma: &Gray, stain: Option<&Gray>, fov: Option<&Fov>) -> Option<RbcScale> {
    rbc_diameter_on(luma, stain, fov, 1)
}

/// [`rbc_diameter`], the radii scored on up to `threads` threads.
pub fn rbc_diameter_on(
    luma: &Gray,
    stain: Option<&Gray>,
    fov: Option<&Fov>,
    threads: usize,
) -> Option<RbcScale> {
    Pyramid::new(luma.clone(), stain.cloned()).measure(fov, threads)
}

/// An image made ready for measuring, before the aperture is known (so the
/// pipeline can do this while it looks for the aperture): its luma and stain
/// channels halved down to the coarse side.
#[derive(Debug)]
pub struct Pyramid {
    levels: Vec<(Gray, Option<Gray>)>,
}

impl Pyramid {
    /// Green as luma, blue minus green as stain.
    pub fn of(img: &image::RgbImage) -> Self {
        let stain = Gray {
            w: img.width() as usize,
            h: img.height() as usize,
            data: img.as_raw().chunks_exact(3).map(|p| f32::from(p[2]) - f32::from(p[1])).collect(),
        };
        Self::new(Gray::channel(img, 1), Some(stain))
    }

    fn new(luma: Gray, stain: Option<Gray>) -> Self {
        let mut levels = vec![(luma, stain)];
        while let Some((g, s)) =
            levels.last().filter(|(g, _)| g.w.max(g.h) > COARSE_SIDE && g.w.min(g.h) >= 16)
        {
            let next = (g.half(), s.as_ref().map(Gray::half));
            levels.push(next);
        }
        Self { levels }
    }

    /// The measurement (see [`rbc_diameter`]); `fov` in level-0 pixels.
    pub fn measure(&self, fov: Option<&Fov>, threads: usize) -> Option<RbcScale> {
        measure_levels(&self.levels, fov, threads)
    }
}

fn measure_levels(levels: &[(Gray, Option<Gray>)], fov: Option<&Fov>, threads: usize) -> Option<RbcScale> {
    let mut voters: Vec<Option<Voters>> = (0..levels.len()).map(|_| None).collect();
    if threads >= 2 && levels.len() >= 2 {
        // The coarse search starts on the top level and usually needs the
        // one below: build both at once.
        let top = [levels.len() - 1, levels.len() - 2];
        let built = super::parallel::map(&top, vec![(); 2], |_, &l| Voters::of_level(levels, fov, l));
        for (l, v) in top.into_iter().zip(built) {
            voters[l] = Some(v);
        }
    }
    let mut bins = Bins::new();
    fn voters_at<'a>(
        cache: &'a mut [Option<Voters>],
        levels: &[(Gray, Option<Gray>)],
        fov: Option<&Fov>,
        level: usize,
    ) -> &'a Voters {
        cache[level].get_or_insert_with(|| Voters::of_level(levels, fov, level))
    }
    // Coarse: all radii, moving to a finer level while the peak sits at the
    // smallest radius (cells too small to resolve on this level); there only
    // the radii the coarser level could not resolve are left to search.
    let mut level = levels.len() - 1;
    let (mut r_hi, mut most) = (R_MAX, COARSE_VOTERS);
    let (mut r0, mut contrast) = loop {
        let v = voters_at(&mut voters, levels, fov, level);
        let radii = geometric(R_MIN, r_hi.min(v.w.min(v.h) as f32 / 3.0), R_STEP);
        if radii.len() < 3 || v.len() < 50 {
            return None;
        }
        let scores = scores(v, &radii, most, threads, &mut bins);
        let i = argmax(&scores);
        // Cells under ~5 px across their radius are poorly resolved: look again
        // one level finer, where they are twice the size.
        if radii[i] < 2.0 * R_MIN && level > 0 {
            level -= 1;
            (r_hi, most) = (4.0 * radii[i].max(R_MIN), MAX_VOTERS);
            continue;
        }
        break (radii[i], scores[i]);
    };
    if contrast.is_nan() || contrast < MIN_CONTRAST {
        return None;
    }
    // Refine on the finest level where the radius is still at most ~12 px
    // (finer only costs time), in small steps around the coarse peak.
    while level > 0 && r0 * 2.0 <= 12.0 {
        level -= 1;
        r0 *= 2.0;
    }
    let v = voters_at(&mut voters, levels, fov, level);
    let radii: Vec<f32> = (-5..=5).map(|k| r0 * 1.035f32.powi(k)).collect();
    let scores = scores(v, &radii, MAX_VOTERS, threads, &mut bins);
    let i = argmax(&scores);
    let mut r = f64::from(radii[i]);
    if i > 0 && i + 1 < scores.len() {
        // Parabola through the peak and its neighbours, on log radius.
        let (a, b, c) = (scores[i - 1], scores[i], scores[i + 1]);
        let den = a - 2.0 * b + c;
        if den < 0.0 {
            let off = (0.5 * (a - c) / den).clamp(-1.0, 1.0);
            r *= 1.035f64.powf(off);
        }
    }
    contrast = contrast.max(scores[i]);
    Some(RbcScale { diameter: 2.0 * r * f64::from(1u32 << level), contrast })
}

/// Each radius's score, on up to `threads` threads (each with its own bins).
fn scores(v: &Voters, radii: &[f32], most: usize, threads: usize, bins: &mut Bins) -> Vec<f64> {
    if threads < 2 || radii.len() < 4 {
        return radii.iter().map(|&r| v.score(r, most, bins)).collect();
    }
    let states = (0..threads.min(2)).map(|_| Bins::new()).collect();
    super::parallel::map(radii, states, |b, &r| v.score(r, most, b))
}

fn geometric(lo: f32, hi: f32, step: f32) -> Vec<f32> {
    let mut v = Vec::new();
    let mut r = lo;
    while r <= hi {
        v.push(r);
        r *= step;
    }
    v
}

fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}

/// Edge pixels with their unit gradient (pointing to the brighter side).
struct Voters {
    pts: Vec<[f32; 4]>,
    w: usize,
    h: usize,
}

impl Voters {
    /// The voters of pyramid level `level` (`fov` in level-0 pixels).
    fn of_level(levels: &[(Gray, Option<Gray>)], fov: Option<&Fov>, level: usize) -> Self {
        let (g, s) = &levels[level];
        Self::new(g, s.as_ref(), fov, 1.0 / f64::from(1u32 << level))
    }

    /// `to_level` maps `fov` (in level-0 pixels) onto this level.
    fn new(g: &Gray, stain: Option<&Gray>, fov: Option<&Fov>, to_level: f64) -> Self {
        // A large aperture has red cells to spare: vote from a central square of
        // at most MAX_FIELD_PX (votes depend only on relative positions). Not
        // on plain frames, which are often centred on one white cell.
        let (cx, cy) =
            fov.map_or((g.w as f64 / 2.0, g.h as f64 / 2.0), |f| (f.cx * to_level, f.cy * to_level));
        let side = (MAX_FIELD_PX as f64).sqrt();
        if fov.is_some()
            && (g.w * g.h) as f64 > 1.3 * MAX_FIELD_PX as f64
            && g.w as f64 > side
            && g.h as f64 > side
        {
            let x0 = ((cx - side / 2.0).round().max(0.0) as usize).min(g.w - side as usize);
            let y0 = ((cy - side / 2.0).round().max(0.0) as usize).min(g.h - side as usize);
            let n = side as usize;
            let moved =
                fov.map(|f| Fov { cx: f.cx - x0 as f64 / to_level, cy: f.cy - y0 as f64 / to_level, r: f.r });
            return Self::new(
                &g.crop(x0, y0, n, n),
                stain.map(|s| s.crop(x0, y0, n, n)).as_ref(),
                moved.as_ref(),
                to_level,
            );
        }
        let (w, h) = (g.w, g.h);
        if w < 5 || h < 5 {
            return Self { pts: Vec::new(), w, h };
        }
        let s = g.blur3();
        // Squared gradient magnitude (Sobel) inside the field, 0 outside.
        let mut m2 = vec![0f32; w * h];
        let mut hist = [0u32; 256];
        let circle = fov.map(|f| (f.cx * to_level, f.cy * to_level, (0.92 * f.r * to_level).powi(2)));
        for y in 2..h - 2 {
            // The row's span inside the circle.
            let (x0, x1) = match circle {
                None => (2, w - 2),
                Some((cx, cy, r2)) => {
                    let dy = y as f64 + 0.5 - cy;
                    if dy * dy > r2 {
                        continue;
                    }
                    let half = (r2 - dy * dy).sqrt();
                    (
                        ((cx - half - 0.5).ceil().max(2.0)) as usize,
                        ((cx + half - 0.5).floor() as usize + 1).min(w - 2),
                    )
                }
            };
            let (up, row, down) =
                (&s.data[(y - 1) * w..y * w], &s.data[y * w..(y + 1) * w], &s.data[(y + 1) * w..(y + 2) * w]);
            for x in x0..x1.max(x0) {
                let gx = (up[x + 1] + 2.0 * row[x + 1] + down[x + 1])
                    - (up[x - 1] + 2.0 * row[x - 1] + down[x - 1]);
                let gy = (down[x - 1] + 2.0 * down[x] + down[x + 1]) - (up[x - 1] + 2.0 * up[x] + up[x + 1]);
                let q = gx * gx + gy * gy;
                m2[y * w + x] = q;
                hist[(q.sqrt() as usize).min(255)] += 1;
            }
        }
        let n: u32 = hist.iter().sum();
        // The strongest VOTER_SHARE of gradients, and never pure noise (Sobel of a
        // flat field with JPEG grain stays below ~8).
        let want = (n as f32 * VOTER_SHARE) as u32;
        let (mut acc, mut t) = (0u32, 255usize);
        while t > 0 && acc + hist[t] < want {
            acc += hist[t];
            t -= 1;
        }
        let t2 = (t as f32).max(8.0).powi(2);
        let strong = m2.iter().filter(|&&q| q > t2).count();
        let stride = strong.div_ceil(MAX_VOTERS).max(1);
        let mut pts = Vec::with_capacity(strong / stride + 1);
        let mut k = 0usize;
        for (i, &q) in m2.iter().enumerate() {
            if q <= t2 {
                continue;
            }
            k += 1;
            if k % stride != 0 {
                continue;
            }
            let (x, y) = (i % w, i / w);
            let (up, row, down) =
                (&s.data[(y - 1) * w..y * w], &s.data[y * w..(y + 1) * w], &s.data[(y + 1) * w..(y + 2) * w]);
            let gx =
                (up[x + 1] + 2.0 * row[x + 1] + down[x + 1]) - (up[x - 1] + 2.0 * row[x - 1] + down[x - 1]);
            let gy = (down[x - 1] + 2.0 * down[x] + down[x + 1]) - (up[x - 1] + 2.0 * up[x] + up[x + 1]);
            let m = q.sqrt();
            let (ux, uy) = (gx / m, gy / m);
            if let Some(st) = stain {
                // Two pixels into the dark side.
                let sx = (x as f32 - 2.0 * ux).round().clamp(0.0, (w - 1) as f32) as usize;
                let sy = (y as f32 - 2.0 * uy).round().clamp(0.0, (h - 1) as f32) as usize;
                if st.at(sx, sy) > NUCLEAR {
                    continue;
                }
            }
            pts.push([x as f32, y as f32, ux, uy]);
        }
        Self { pts, w, h }
    }

    fn len(&self) -> usize {
        self.pts.len()
    }

    /// Concentration of the dark-side votes at radius `r` over the tangential
    /// control, from at most `most` evenly spread voters.
    fn score(&self, r: f32, most: usize, bins: &mut Bins) -> f64 {
        let cell = (0.5 * r).max(1.0);
        let pts = || self.pts.iter().step_by(self.pts.len().div_ceil(most).max(1));
        let signal =
            bins.concentration(pts().map(|p| (p[0] - r * p[2], p[1] - r * p[3])), cell, self.w, self.h);
        let control =
            bins.concentration(pts().map(|p| (p[0] - r * p[3], p[1] + r * p[2])), cell, self.w, self.h);
        if control <= 0.0 {
            return 0.0;
        }
        signal / control
    }
}

/// Vote bins reused across radii. Each count carries the pass that wrote it
/// in its high 16 bits: a bin from an earlier pass reads as empty, so the
/// grid is cleared only once every 65535 passes.
struct Bins {
    data: Vec<u32>,
    pass: u32,
    /// The votes of the current call in bin units (reused).
    scaled: Vec<(f32, f32)>,
}

impl Bins {
    fn new() -> Self {
        Self { data: Vec::new(), pass: 0, scaled: Vec::new() }
    }

    /// Sum of squared vote counts over square bins of side `cell`, on two
    /// grids offset by half a bin (so a pile of votes split by a bin edge
    /// still counts).
    fn concentration(
        &mut self,
        votes: impl Iterator<Item = (f32, f32)>,
        cell: f32,
        w: usize,
        h: usize,
    ) -> f64 {
        let inv = 1.0 / cell;
        let gw = (w as f32 * inv) as usize + 3;
        let gh = (h as f32 * inv) as usize + 3;
        if self.data.len() < gw * gh {
            self.data = vec![0; gw * gh];
            self.pass = 0;
        }
        self.scaled.clear();
        self.scaled.extend(votes.map(|(x, y)| (x * inv, y * inv)));
        let mut total = 0u64;
        for off in [1.0f32, 1.5] {
            if self.pass == 0xFFFF {
                self.data.fill(0);
                self.pass = 0;
            }
            self.pass += 1;
            let pass = self.pass;
            let grid = &mut self.data[..gw * gh];
            for &(x, y) in &self.scaled {
                let (bx, by) = (x + off, y + off);
                if bx < 0.0 || by < 0.0 {
                    continue;
                }
                let (bx, by) = (bx as usize, by as usize);
                if bx >= gw || by >= gh {
                    continue;
                }
                let b = &mut grid[by * gw + bx];
                let n = if *b >> 16 == pass { *b & 0xFFFF } else { 0 };
                total += u64::from(2 * n + 1);
                *b = (pass << 16) | (n + 1).min(0xFFFF);
            }
        }
        total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smear-like field: pale background, darker discs with pale centres of
    /// diameter `d`, packed irregularly, some overlapping.
    fn field(w: usize, h: usize, d: f64, seed: u64) -> Gray {
        let mut g = Gray { w, h, data: vec![220.0; w * h] };
        let mut s = seed;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        let n = (w * h) as f64 / (d * d) * 0.6;
        for _ in 0..n as usize {
            let (cx, cy) = (rnd() * w as f64, rnd() * h as f64);
            let r = d / 2.0 * (0.9 + 0.2 * rnd());
            for y in (cy - r).max(0.0) as usize..((cy + r) as usize + 1).min(h) {
                for x in (cx - r).max(0.0) as usize..((cx + r) as usize + 1).min(w) {
                    let q = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() / r;
                    if q <= 1.0 {
                        g.data[y * w + x] = if q < 0.4 { 185.0 } else { 150.0 };
                    }
                }
            }
        }
        g
    }

    #[test]
    fn measures_the_disc_diameter_at_any_resolution() {
        for (w, h, d) in
            [(640, 480, 60.0), (500, 375, 11.0), (224, 224, 16.0), (1000, 750, 30.0), (575, 575, 120.0)]
        {
            let s = rbc_diameter(&field(w, h, d, 7), None, None).unwrap();
            assert_eq!(
                rbc_diameter_on(&field(w, h, d, 7), None, None, 2),
                Some(s),
                "the same on two threads"
            );
            // Edges sit half a pixel or so inside the painted outline.
            assert!((s.diameter / d - 0.95).abs() < 0.08, "{w}x{h} d={d}: {s:?}");
            assert!(s.contrast > 1.5, "{s:?}");
        }
    }

    #[test]
    fn flat_and_noisy_fields_have_no_scale() {
        let flat = Gray { w: 400, h: 300, data: vec![230.0; 400 * 300] };
        assert_eq!(rbc_diameter(&flat, None, None), None);
        let mut s = 1u32;
        let noise = Gray {
            w: 400,
            h: 300,
            data: (0..400 * 300)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    120.0 + (s % 100) as f32
                })
                .collect(),
        };
        assert!(rbc_diameter(&noise, None, None).is_none_or(|s| s.contrast < 1.5));
    }
}
