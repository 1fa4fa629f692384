//! A JPEG's quantised DCT coefficients in Rust-owned memory, and pixels made
//! from them only where asked, at 1/8, 1/4, 1/2 or 1/1 scale.
//!
//! Scale `k` (1, 2, 4 or 8) means k x k output pixels per 8 x 8 block of the
//! full-resolution image. Each component's blocks are inverse-transformed at a
//! reduced size kh x kv whose output sample is exactly the mean of the full
//! 8 x 8 IDCT's outputs it covers, computed straight from the coefficients
//! (libjpeg-turbo's jidctred does the same; k = 1 is the DC term alone). So a
//! reduced view equals a full decode box-averaged, as the other formats' views
//! are made. (The "k x k IDCT of the top-left k x k coefficients", as
//! jpeg-decoder does, reads fewer coefficients but is another filter: on the
//! test photos it was 0.6-0.7 levels mean off libjpeg at 1/2-1/8 for 4:2:0,
//! against 0.001-0.05 for this, and further from the box-averaged original.)
//!
//! A subsampled chroma component is transformed at up to 8 x 8 so that it lands
//! at (or as near as possible to) the output resolution, like libjpeg-turbo
//! does for scaled decodes; whatever factor is left is made up by bilinear
//! upsampling with JPEG's centred sample siting and replicated edges (libjpeg's
//! "fancy" upsampling at 1/1 for 4:2:0, 4:2:2 and 4:4:0 is the same triangle
//! filter; libjpeg replicates where it cannot use it, e.g. 4:1:1, or 4:2:2 at
//! 1/8). Colour: JFIF YCbCr to RGB in libjpeg's own fixed-point arithmetic.
//!
//! Storage: each 8 x 8 block keeps only its smallest top-left s x s square
//! (s = 0, 1, 2, 4 or 8) holding every non-zero coefficient; photos have many
//! flat blocks, so this is a fraction of libjpeg's 128 bytes a block.

// Fixed-size index loops over lanes read like the maths and vectorise.
#![allow(clippy::needless_range_loop)]

/// The colour space of the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColourSpace {
    Grey,
    YCbCr,
    Rgb,
}

/// One component's coefficients.
#[derive(Debug)]
pub(crate) struct Component {
    h: u32,
    v: u32,
    wb: u32,
    hb: u32,
    /// Dequantisation factors, natural order.
    quant: [f32; 64],
    /// Start of each block's square in `data`; one more entry than blocks.
    offsets: Vec<u32>,
    /// The squares, each row-major (natural order), side = sqrt(length).
    data: Vec<i16>,
}

impl Component {
    fn block(&self, bx: u32, by: u32) -> (&[i16], usize) {
        let b = by as usize * self.wb as usize + bx as usize;
        let (lo, hi) = (self.offsets[b] as usize, self.offsets[b + 1] as usize);
        let s = match hi - lo {
            0 => 0,
            1 => 1,
            4 => 2,
            16 => 4,
            _ => 8,
        };
        (&self.data[lo..hi], s)
    }
}

/// Builds a [`Component`] from libjpeg's block rows.
#[derive(Debug)]
pub(crate) struct ComponentBuilder {
    c: Component,
}

impl ComponentBuilder {
    pub fn new(h: u32, v: u32, wb: u32, hb: u32, quant: &[u16; 64]) -> Self {
        let blocks = wb as usize * hb as usize;
        let mut offsets = Vec::with_capacity(blocks + 1);
        offsets.push(0);
        Self {
            c: Component {
                h,
                v,
                wb,
                hb,
                quant: quant.map(f32::from),
                offsets,
                // Room for the worst case: only the pages written are ever
                // touched, and `finish` gives the rest back.
                data: Vec::with_capacity(blocks * 64),
            },
        }
    }

    pub fn push_row(&mut self, row: &[[i16; 64]]) {
        for block in row {
            match extent(block) {
                0 => {}
                8 => self.c.data.extend_from_slice(block),
                s => {
                    for r in 0..s {
                        self.c.data.extend_from_slice(&block[r * 8..r * 8 + s]);
                    }
                }
            }
            self.c.offsets.push(self.c.data.len() as u32);
        }
    }

    pub fn finish(mut self) -> Component {
        // A short row pushed (corrupt input caught earlier) must not leave
        // `block` reading past the offsets.
        let want = self.c.wb as usize * self.c.hb as usize + 1;
        let last = *self.c.offsets.last().unwrap_or(&0);
        self.c.offsets.resize(want, last);
        self.c.data.shrink_to_fit();
        self.c
    }
}

/// Side of the smallest top-left square (0, 1, 2, 4 or 8) holding every non-zero coefficient.
fn extent(block: &[i16; 64]) -> usize {
    // Row r's columns 0-3 are q[2r], columns 4-7 q[2r + 1]; column c of a quad
    // is bits 16c.. (composed explicitly, so independent of byte order).
    let mut q = [0u64; 16];
    for (i, l) in q.iter_mut().enumerate() {
        let b = &block[i * 4..i * 4 + 4];
        *l = u64::from(b[0] as u16)
            | u64::from(b[1] as u16) << 16
            | u64::from(b[2] as u16) << 32
            | u64::from(b[3] as u16) << 48;
    }
    let right = q[1] | q[3] | q[5] | q[7];
    let lower = q[8..].iter().fold(0, |a, &b| a | b);
    if right | lower != 0 {
        return 8;
    }
    if q[4] | q[6] | ((q[0] | q[2]) >> 32) != 0 {
        return 4;
    }
    if (q[2] & 0xFFFF_FFFF) | ((q[0] >> 16) & 0xFFFF) != 0 {
        return 2;
    }
    usize::from(q[0] & 0xFFFF != 0)
}

/// A whole JPEG as coefficients.
#[derive(Debug)]
pub(crate) struct Coefficients {
    width: u32,
    height: u32,
    max_h: u32,
    max_v: u32,
    colour: ColourSpace,
    comps: Vec<Component>,
}

/// IDCT bases for reduced output, `[log2 k][u][x]`: `C(u)/2` times the mean of
/// `cos((2i+1) u pi / 16)` over the full-size outputs i of output group x
/// (C(0) = 1/sqrt(2), C(u>0) = 1). Output sample x of a k-point transform is
/// thus exactly the mean of the 8/k full-resolution samples it covers; at k = 8
/// this is the ordinary JPEG IDCT.
struct Bases([[[f32; 8]; 8]; 4]);

impl Bases {
    fn new() -> Self {
        let pi = std::f64::consts::PI;
        let cu = |u: usize| if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
        let mut a = [[[0f32; 8]; 8]; 4];
        for (l, table) in a.iter_mut().enumerate() {
            let k = 1usize << l;
            let group = 8 / k;
            for (u, row) in table.iter_mut().enumerate() {
                for (x, v) in row.iter_mut().enumerate().take(k) {
                    let mean = (x * group..(x + 1) * group)
                        .map(|i| ((2 * i + 1) as f64 * u as f64 * pi / 16.0).cos())
                        .sum::<f64>()
                        / group as f64;
                    // Exact zeros let the kernels skip frequencies that cancel.
                    *v = if mean.abs() < 1e-9 { 0.0 } else { (cu(u) / 2.0 * mean) as f32 };
                }
            }
        }
        Self(a)
    }

    fn get(&self, k: usize) -> &[[f32; 8]; 8] {
        &self.0[k.trailing_zeros() as usize & 3]
    }
}

/// Coefficients along one axis that a reduced IDCT of size k reads, of the
/// block's `s` stored ones: all of them, except that only DC survives
/// averaging a whole block.
fn used(s: usize, k: usize) -> usize {
    if k == 1 {
        s.min(1)
    } else {
        s
    }
}

fn clamp_u8(v: f32) -> u8 {
    // v already includes the +128 level shift and +0.5 for rounding.
    v.clamp(0.0, 255.0) as u8
}

/// A coefficient's index in its block's stored square, and its output pattern.
type Pattern = (usize, [f32; 4]);

/// One component's inverse transform at one output size, ready to apply:
/// separable, columns first, skipping coefficient rows and columns whose
/// basis vanishes (Box at k = 2 needs only frequencies 0, 1, 3, 5, 7, as in
/// libjpeg's jidctred) and rows that are all zero.
struct Kernel {
    kh: usize,
    kv: usize,
    quant: [f32; 64],
    /// `ah[u][x]`, `av[v][y]`.
    ah: [[f32; 8]; 8],
    av: [[f32; 8]; 8],
    /// Bit u (v): coefficient column u (row v) contributes at this size.
    cols: u8,
    rows: u8,
    /// For outputs of at most 4 samples, per stored square side 2, 4, 8: each
    /// contributing coefficient's index in the square and its whole output
    /// pattern (dequantisation included), applied without branches.
    small: Option<[Vec<Pattern>; 3]>,
}

impl Kernel {
    fn new(bases: &Bases, (kh, kv): (usize, usize), quant: &[f32; 64]) -> Self {
        let (ah, av) = (*bases.get(kh), *bases.get(kv));
        let mask = |a: &[[f32; 8]; 8], k: usize| {
            (0..8).filter(|&u| a[u][..k].iter().any(|&w| w != 0.0)).fold(0u8, |m, u| m | 1 << u)
        };
        let (cols, rows) = (mask(&ah, kh), mask(&av, kv));
        let small = (kh * kv <= 4).then(|| {
            [2usize, 4, 8].map(|s| {
                let mut list = Vec::new();
                for v in (0..s).filter(|v| rows & (1 << v) != 0) {
                    for u in (0..s).filter(|u| cols & (1 << u) != 0) {
                        let mut t = [0f32; 4];
                        for y in 0..kv {
                            for x in 0..kh {
                                t[y * kh + x] = quant[v * 8 + u] * av[v][y] * ah[u][x];
                            }
                        }
                        list.push((v * s + u, t));
                    }
                }
                list
            })
        });
        Self { kh, kv, quant: *quant, ah, av, cols, rows, small }
    }

    /// Inverse-transforms one block (its s x s stored square) to kh x kv
    /// samples at `out[y * stride + x]`.
    fn apply(&self, coefs: &[i16], s: usize, out: &mut [u8], stride: usize) {
        let (kh, kv) = (self.kh, self.kv);
        let (nu, nv) = (used(s, kh), used(s, kv));
        if nu <= 1 && nv <= 1 {
            let dc = if s == 0 { 0.0 } else { f32::from(coefs[0]) * self.quant[0] / 8.0 };
            let v = clamp_u8(dc + 128.5);
            for y in 0..kv {
                out[y * stride..y * stride + kh].fill(v);
            }
            return;
        }
        if let Some(small) = &self.small {
            let list = &small[match s {
                2 => 0,
                4 => 1,
                _ => 2,
            }];
            let mut acc = [128.5f32; 4];
            for &(i, t) in list {
                let c = f32::from(coefs[i]);
                for j in 0..4 {
                    acc[j] += c * t[j];
                }
            }
            for y in 0..kv {
                for x in 0..kh {
                    out[y * stride + x] = clamp_u8(acc[y * kh + x]);
                }
            }
            return;
        }
        // g[y][u] = sum over v of av[v][y] * dequantised coefficient (v, u).
        let mut g = [[0f32; 8]; 8];
        for v in 0..nv {
            if self.rows & (1 << v) == 0 {
                continue;
            }
            let row: [i16; 8] = if nu == 8 {
                coefs[v * 8..v * 8 + 8].try_into().unwrap_or([0; 8])
            } else {
                let mut r = [0i16; 8];
                for (u, c) in r.iter_mut().enumerate().take(nu) {
                    *c = coefs[v * s + u];
                }
                r
            };
            if row == [0; 8] {
                continue;
            }
            let q = &self.quant[v * 8..v * 8 + 8];
            let mut f = [0f32; 8];
            for u in 0..8 {
                f[u] = f32::from(row[u]) * q[u];
            }
            for (y, gy) in g.iter_mut().enumerate().take(kv) {
                let w = self.av[v][y];
                for u in 0..8 {
                    gy[u] += w * f[u];
                }
            }
        }
        if kh <= 2 {
            // Few outputs a row: dot products over the contributing columns.
            for (y, gy) in g.iter().enumerate().take(kv) {
                for x in 0..kh {
                    let mut a = 128.5f32;
                    for (u, &gu) in gy.iter().enumerate().take(nu) {
                        if self.cols & (1 << u) != 0 {
                            a += gu * self.ah[u][x];
                        }
                    }
                    out[y * stride + x] = clamp_u8(a);
                }
            }
            return;
        }
        for (y, gy) in g.iter().enumerate().take(kv) {
            let mut acc = [128.5f32; 8];
            for (u, &gu) in gy.iter().enumerate().take(nu) {
                if self.cols & (1 << u) == 0 {
                    continue;
                }
                for x in 0..8 {
                    acc[x] += gu * self.ah[u][x];
                }
            }
            for (o, a) in out[y * stride..y * stride + kh].iter_mut().zip(acc) {
                *o = clamp_u8(a);
            }
        }
    }
}

/// Largest power of two <= 8 dividing `k * ratio`: the IDCT size of a component
/// subsampled by `ratio` for output scale `k`.
fn idct_size(k: u32, ratio: u32) -> u32 {
    let want = k * ratio;
    let mut s = 8;
    while s > 1 && want % s != 0 {
        s /= 2;
    }
    s
}

/// One source sample pair and the weight (out of `2 * up`) of the second, for
/// each output position in `lo..hi`, upsampling by `up` with centred siting
/// and edges replicated within `0..len` source samples.
fn taps(lo: u32, hi: u32, up: u32, len: u32) -> Vec<(u32, u32, u32)> {
    let d = 2 * i64::from(up);
    let last = i64::from(len.max(1) - 1);
    (lo..hi)
        .map(|x| {
            // Source coordinate (x + 1/2) / up - 1/2, in units of 1 / (2 up).
            let c = 2 * i64::from(x) + 1 - i64::from(up);
            let i0 = c.div_euclid(d);
            let w = c.rem_euclid(d);
            let a = i0.clamp(0, last) as u32;
            let b = (i0 + 1).clamp(0, last) as u32;
            (a, b, w as u32)
        })
        .collect()
}

/// Output rows per strip when rendering a large area: bounds the temporary planes.
const STRIP: u32 = 256;

impl Coefficients {
    pub fn new(width: u32, height: u32, colour: ColourSpace, comps: Vec<Component>) -> Self {
        let max_h = comps.iter().map(|c| c.h).max().unwrap_or(1).max(1);
        let max_v = comps.iter().map(|c| c.v).max().unwrap_or(1).max(1);
        Self { width, height, max_h, max_v, colour, comps }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.comps.iter().map(|c| c.data.capacity() * 2 + c.offsets.capacity() * 4).sum()
    }

    /// Stored (not EXIF-rotated) size at scale `k`.
    pub fn scaled_size(&self, k: u32) -> (u32, u32) {
        (scaled(self.width, k), scaled(self.height, k))
    }

    /// Interleaved RGB of the rectangle `x0..x0+w, y0..y0+h` of the stored image
    /// at scale `k`; the rectangle must lie inside [`Self::scaled_size`].
    pub fn render(&self, k: u32, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
        let bases = Bases::new();
        let mut out = vec![0u8; w as usize * h as usize * 3];
        let mut planes: Vec<Vec<u8>> = vec![Vec::new(); self.comps.len()];
        let mut y = y0;
        while y < y0 + h {
            let y1 = (y + STRIP).min(y0 + h);
            for (c, plane) in self.comps.iter().zip(planes.iter_mut()) {
                self.component(c, k, (x0, x0 + w), (y, y1), &bases, plane);
            }
            let n = w as usize * (y1 - y) as usize;
            let dst = &mut out[(y - y0) as usize * w as usize * 3..][..n * 3];
            match self.colour {
                ColourSpace::Grey => {
                    for (o, &g) in dst.chunks_exact_mut(3).zip(&planes[0][..n]) {
                        o.fill(g);
                    }
                }
                ColourSpace::Rgb => {
                    for (i, o) in dst.chunks_exact_mut(3).enumerate() {
                        o.copy_from_slice(&[planes[0][i], planes[1][i], planes[2][i]]);
                    }
                }
                ColourSpace::YCbCr => {
                    for (i, o) in dst.chunks_exact_mut(3).enumerate() {
                        o.copy_from_slice(&ycc_to_rgb(planes[0][i], planes[1][i], planes[2][i]));
                    }
                }
            }
            y = y1;
        }
        out
    }

    /// Samples of component `c` at output resolution for output columns
    /// `xs.0..xs.1` and rows `ys.0..ys.1`, into `plane` (row-major, no padding).
    fn component(
        &self,
        c: &Component,
        k: u32,
        xs: (u32, u32),
        ys: (u32, u32),
        bases: &Bases,
        plane: &mut Vec<u8>,
    ) {
        let (rh, rv) = (self.max_h / c.h, self.max_v / c.v);
        let (kh, kv) = (idct_size(k, rh), idct_size(k, rv));
        let (uh, uv) = (k * rh / kh, k * rv / kv);
        // Valid samples of this component at its IDCT scale (libjpeg's
        // downsampled_width / height of a scaled decode).
        let pw =
            div_ceil_u64(u64::from(self.width) * u64::from(c.h) * u64::from(kh), u64::from(self.max_h) * 8);
        let ph =
            div_ceil_u64(u64::from(self.height) * u64::from(c.v) * u64::from(kv), u64::from(self.max_v) * 8);
        let (pw, ph) =
            (pw.min(u64::from(c.wb) * u64::from(kh)) as u32, ph.min(u64::from(c.hb) * u64::from(kv)) as u32);
        let tx = taps(xs.0, xs.1, uh, pw);
        let ty = taps(ys.0, ys.1, uv, ph);
        let (Some(fx), Some(lx), Some(fy), Some(ly)) = (tx.first(), tx.last(), ty.first(), ty.last()) else {
            plane.clear();
            return;
        };
        let (bx0, bx1) = (fx.0 / kh, lx.1 / kh);
        let (by0, by1) = (fy.0 / kv, ly.1 / kv);
        let (bx1, by1) = (bx1.min(c.wb.saturating_sub(1)), by1.min(c.hb.saturating_sub(1)));
        let (kh_, kv_) = (kh as usize, kv as usize);
        let tw = (bx1 - bx0 + 1) as usize * kh_;
        let th = (by1 - by0 + 1) as usize * kv_;
        let kernel = Kernel::new(bases, (kh_, kv_), &c.quant);
        let mut src = vec![128u8; tw * th];
        for by in by0..=by1 {
            for bx in bx0..=bx1 {
                let (coefs, s) = c.block(bx, by);
                let at = (by - by0) as usize * kv_ * tw + (bx - bx0) as usize * kh_;
                kernel.apply(coefs, s, &mut src[at..], tw);
            }
        }
        let (ox, oy) = ((bx0 * kh) as usize, (by0 * kv) as usize);
        let w = tx.len();
        plane.clear();
        plane.reserve(w * ty.len());
        if uh == 1 && uv == 1 {
            for &(j, _, _) in &ty {
                let row = &src[(j as usize - oy) * tw..];
                plane.extend(tx.iter().map(|&(i, _, _)| row[i as usize - ox]));
            }
            return;
        }
        let (dx, dy) = (2 * uh, 2 * uv);
        let round = dx * dy / 2;
        for &(j0, j1, wy) in &ty {
            let r0 = &src[(j0 as usize - oy) * tw..][..tw];
            let r1 = &src[(j1 as usize - oy) * tw..][..tw];
            plane.extend(tx.iter().map(|&(i0, i1, wx)| {
                let (i0, i1) = (i0 as usize - ox, i1 as usize - ox);
                let top = u32::from(r0[i0]) * (dx - wx) + u32::from(r0[i1]) * wx;
                let bottom = u32::from(r1[i0]) * (dx - wx) + u32::from(r1[i1]) * wx;
                ((top * (dy - wy) + bottom * wy + round) / (dx * dy)) as u8
            }));
        }
    }
}

fn div_ceil_u64(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// Size of `n` full-resolution pixels at scale `k` (libjpeg's rounding up).
pub(crate) fn scaled(n: u32, k: u32) -> u32 {
    div_ceil_u64(u64::from(n) * u64::from(k), 8) as u32
}

/// JFIF YCbCr to RGB exactly as libjpeg's jdcolor.c (16-bit fixed point).
fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const HALF: i32 = 1 << 15;
    let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    let r = y + ((91881 * cr + HALF) >> 16);
    let g = y + ((-22554 * cb - 46802 * cr + HALF) >> 16);
    let b = y + ((116130 * cb + HALF) >> 16);
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook 8x8 JPEG IDCT, in f64.
    fn reference_idct(coefs: &[i16; 64], quant: &[f32; 64]) -> [f64; 64] {
        let mut out = [0f64; 64];
        let c = |u: usize| if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
        for y in 0..8 {
            for x in 0..8 {
                let mut s = 0.0;
                for v in 0..8 {
                    for u in 0..8 {
                        let f = f64::from(coefs[v * 8 + u]) * f64::from(quant[v * 8 + u]);
                        s += c(u) * c(v) / 4.0
                            * f
                            * (((2 * x + 1) * u) as f64 * std::f64::consts::PI / 16.0).cos()
                            * (((2 * y + 1) * v) as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                out[y * 8 + x] = s + 128.0;
            }
        }
        out
    }

    fn block(seed: u32) -> [i16; 64] {
        let mut b = [0i16; 64];
        let mut s = seed;
        for (i, v) in b.iter_mut().enumerate() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = ((s >> 16) % 21) as i16 - 10;
            *v = if i == 0 { r * 3 } else { r / (1 + i as i16 / 4) };
        }
        b
    }

    #[test]
    fn full_idct_matches_the_textbook_formula() {
        let quant = [2.0f32; 64];
        let bases = Bases::new();
        for seed in 0..20 {
            let b = block(seed);
            let want = reference_idct(&b, &quant);
            let mut out = [0u8; 64];
            Kernel::new(&bases, (8, 8), &quant).apply(&b, 8, &mut out, 8);
            for i in 0..64 {
                let w = want[i].round().clamp(0.0, 255.0);
                assert!((f64::from(out[i]) - w).abs() <= 1.0, "seed {seed} at {i}: {} vs {w}", out[i]);
            }
        }
    }

    #[test]
    fn reduced_idct_of_a_flat_block_is_flat_and_dc_is_the_mean() {
        let quant = [1.0f32; 64];
        let bases = Bases::new();
        let mut b = [0i16; 64];
        b[0] = 400; // mean = 400 / 8 + 128 = 178
        for k in [1usize, 2, 4, 8] {
            let mut out = [0u8; 64];
            Kernel::new(&bases, (k, k), &quant).apply(&b, 8, &mut out, 8);
            for y in 0..k {
                for x in 0..k {
                    assert_eq!(out[y * 8 + x], 178, "k={k}");
                }
            }
        }
    }

    #[test]
    fn box_reduction_is_the_mean_of_the_full_idct() {
        let quant = [3.0f32; 64];
        let bases = Bases::new();
        for seed in 0..20 {
            let b = block(seed);
            let full = reference_idct(&b, &quant);
            for (kh, kv) in [(4usize, 4usize), (2, 2), (1, 1), (4, 2), (8, 4), (2, 8)] {
                let mut out = [0u8; 64];
                Kernel::new(&bases, (kh, kv), &quant).apply(&b, 8, &mut out, 8);
                let (gx, gy) = (8 / kh, 8 / kv);
                for y in 0..kv {
                    for x in 0..kh {
                        let mean = (0..gy)
                            .flat_map(|j| (0..gx).map(move |i| (y * gy + j) * 8 + x * gx + i))
                            .map(|i| full[i])
                            .sum::<f64>()
                            / (gx * gy) as f64;
                        let want = mean.round().clamp(0.0, 255.0);
                        let got = f64::from(out[y * 8 + x]);
                        assert!(
                            (got - want).abs() <= 1.0,
                            "seed {seed} {kh}x{kv} at {x},{y}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn extent_is_the_smallest_square() {
        let mut b = [0i16; 64];
        assert_eq!(extent(&b), 0);
        b[0] = 1;
        assert_eq!(extent(&b), 1);
        b[8] = 1; // (row 1, col 0)
        assert_eq!(extent(&b), 2);
        b[2] = -1; // (row 0, col 2)
        assert_eq!(extent(&b), 4);
        b[63] = 5;
        assert_eq!(extent(&b), 8);
    }

    #[test]
    fn taps_centre_and_clamp() {
        // Upsampling by 2: output 0 is source 0 (clamped), output 1 is 3/4 s0 + 1/4 s1.
        let t = taps(0, 4, 2, 2);
        assert_eq!(t[0], (0, 0, 3));
        assert_eq!(t[1], (0, 1, 1));
        assert_eq!(t[2], (0, 1, 3));
        assert_eq!(t[3], (1, 1, 1));
        // By 1: identity.
        assert_eq!(taps(3, 5, 1, 10), vec![(3, 4, 0), (4, 5, 0)]);
    }

    #[test]
    fn colour_matches_libjpeg_constants() {
        assert_eq!(ycc_to_rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(ycc_to_rgb(76, 85, 255), [254, 0, 0]);
        assert_eq!(ycc_to_rgb(0, 128, 128), [0, 0, 0]);
    }
}
