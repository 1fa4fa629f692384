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
//! flat blocks, so this is a fraction of libjpeg's 128 bytes a block. The
//! square is stored in [`SHELL`] order, where each smaller square is a prefix
//! of the larger ones: a coefficient's place does not depend on the block's
//! square, and copying one in is a few fixed-size moves.
//!
//! Speed: a window renders each component's blocks into a plane at its IDCT
//! size, the kernels specialised at compile time for the size (kh, kv) and
//! the block's square: per-coefficient output patterns for small outputs, the
//! 2 x 2 transform as parity sums ([`Quad`]), separable row/column products
//! otherwise; then colour conversion on whole rows. The loops are written to
//! vectorise, and on x86-64 a second build of them for AVX2 is chosen at run
//! time (the same arithmetic, no FMA, so the same pixels; tests compare).
// Without the Rust entropy decoder, its builder's scattered placement is unused.
#![cfg_attr(not(feature = "rust-entropy"), allow(dead_code))]
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
    /// Each block's square, raster order: its start (bits 3..31) in `data`,
    /// or in `more` where bit 31 is set, and its side's code (bits 0..3:
    /// [`SIDES`]).
    blocks: Vec<u32>,
    /// The squares, each in [`SHELL`] order, in any order.
    data: Vec<i16>,
    /// More squares (a second decoding thread's).
    more: Vec<i16>,
}

/// In a block entry: the square is in `more`.
pub(crate) const IN_MORE: u32 = 1 << 31;

/// A stored square's side by code.
static SIDES: [usize; 5] = [0, 1, 2, 4, 8];

/// The code of side `s` (0, 1, 2, 4 or 8).
#[inline(always)]
fn side_code(s: usize) -> u32 {
    usize::BITS - s.leading_zeros()
}

/// A block entry: the square of side code `code` at `start`.
#[inline(always)]
fn entry(start: usize, code: u32) -> u32 {
    (start as u32) << 3 | code
}

/// Start and length of the square of a block entry.
#[inline(always)]
fn square(e: u32) -> (usize, usize) {
    let s = SIDES[(e & 7) as usize % 5];
    (((e & !IN_MORE) >> 3) as usize, s * s)
}

impl Component {
    /// The squares a block entry's start indexes.
    #[inline(always)]
    fn store(&self, e: u32) -> &[i16] {
        if e & IN_MORE == 0 {
            &self.data
        } else {
            &self.more
        }
    }

    /// The blocks' squares alike (`data` may hold them in another order).
    #[cfg(test)]
    fn same_as(&self, o: &Self) -> bool {
        (self.h, self.v, self.wb, self.hb, self.quant) == (o.h, o.v, o.wb, o.hb, o.quant)
            && self.blocks.len() == o.blocks.len()
            && self.blocks.iter().zip(&o.blocks).all(|(&a, &b)| {
                let ((sa, la), (sb, lb)) = (square(a), square(b));
                la == lb && self.store(a)[sa..sa + la] == o.store(b)[sb..sb + lb]
            })
    }
}

/// Side of a stored square from its length (0, 1, 4, 16 or 64).
fn side(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 << (len.trailing_zeros() / 2).min(3)
    }
}

/// Natural index (v * 8 + u) of each stored position: the 1 x 1, 2 x 2 and
/// 4 x 4 top-left squares are the first 1, 4 and 16 positions.
const SHELL: [usize; 64] = {
    let mut t = [0usize; 64];
    let mut p = 0;
    let mut s = 1;
    while s <= 8 {
        // The L-shaped shell added going from side s / 2 to s, row by row.
        let mut v = 0;
        while v < s {
            let mut u = if v < s / 2 { s / 2 } else { 0 };
            while u < s {
                t[p] = v * 8 + u;
                p += 1;
                u += 1;
            }
            v += 1;
        }
        s *= 2;
    }
    t
};

/// Stored position of each natural index (the inverse of [`SHELL`]).
pub(crate) const POS: [usize; 64] = {
    let mut t = [0usize; 64];
    let mut p = 0;
    while p < 64 {
        t[SHELL[p]] = p;
        p += 1;
    }
    t
};

/// The top-left 4 x 4 square of a block in [`SHELL`] order (written out as
/// row pieces, so it compiles to a few moves).
#[inline(always)]
fn shell16(b: &[i16; 64]) -> [i16; 16] {
    let mut o = [0i16; 16];
    o[0..2].copy_from_slice(&b[0..2]);
    o[2..4].copy_from_slice(&b[8..10]);
    o[4..6].copy_from_slice(&b[2..4]);
    o[6..8].copy_from_slice(&b[10..12]);
    o[8..12].copy_from_slice(&b[16..20]);
    o[12..16].copy_from_slice(&b[24..28]);
    o
}

/// A whole block in [`SHELL`] order.
#[inline(always)]
fn shell64(b: &[i16; 64]) -> [i16; 64] {
    let mut o = [0i16; 64];
    o[..16].copy_from_slice(&shell16(b));
    for r in 0..4 {
        o[16 + r * 4..20 + r * 4].copy_from_slice(&b[r * 8 + 4..r * 8 + 8]);
    }
    o[32..].copy_from_slice(&b[32..]);
    o
}

/// Builds a [`Component`] from libjpeg's block rows, in raster order.
#[derive(Debug)]
pub(crate) struct ComponentBuilder {
    c: Component,
}

impl ComponentBuilder {
    pub fn new(h: u32, v: u32, wb: u32, hb: u32) -> Self {
        let blocks = wb as usize * hb as usize;
        Self {
            c: Component {
                h,
                v,
                wb,
                hb,
                quant: [0.0; 64],
                blocks: Vec::with_capacity(blocks),
                more: Vec::new(),
                // Room for the worst case: only the pages written are ever
                // touched, and `finish` gives the rest back.
                data: Vec::with_capacity(blocks * 64),
            },
        }
    }

    /// A builder whose blocks are placed in any order ([`Self::place`]);
    /// blocks never placed are all zero.
    pub fn scattered(h: u32, v: u32, wb: u32, hb: u32) -> Self {
        let mut b = Self::new(h, v, wb, hb);
        b.c.blocks.resize(wb as usize * hb as usize, 0);
        b
    }

    /// Block `i` (raster order) is the top-left square of side `s` of `block` (SHELL order).
    #[inline(always)]
    pub fn place(&mut self, i: usize, block: &[i16; 64], s: usize) {
        self.c.blocks[i] = entry(self.c.data.len(), side_code(s));
        keep(&mut self.c.data, block, s);
    }

    /// Takes `more` as the second store of squares ([`Self::refer`]).
    pub fn set_more(&mut self, more: Vec<i16>) {
        self.c.more = more;
    }

    /// Block `i` (raster order) is the square of side `s` at `start` of the second store.
    #[inline(always)]
    pub fn refer(&mut self, i: usize, start: usize, s: usize) {
        self.c.blocks[i] = entry(start, side_code(s)) | IN_MORE;
    }

    /// Blocks across and down.
    pub fn blocks(&self) -> (u32, u32) {
        (self.c.wb, self.c.hb)
    }

    /// Block rows pushed so far.
    pub fn rows(&self) -> u32 {
        (self.c.blocks.len() / self.c.wb.max(1) as usize) as u32
    }

    /// Appends one block row (`wb` blocks).
    pub fn push_row(&mut self, row: &[[i16; 64]]) {
        for block in row {
            self.push(block);
        }
    }

    /// Appends one block row and zeroes it (cheaply: each block's top-left
    /// 4 x 4, or all of it where it has more), so the buffer can take the
    /// next row.
    pub fn push_row_clearing(&mut self, row: &mut [[i16; 64]]) {
        for block in row {
            if self.push(block) == 8 {
                block.fill(0);
            } else {
                for r in 0..4 {
                    block[r * 8..r * 8 + 4].fill(0);
                }
            }
        }
    }

    /// Appends one block; returns the side of its stored square.
    #[inline(always)]
    fn push(&mut self, block: &[i16; 64]) -> usize {
        let s = extent(block);
        let d = &mut self.c.data;
        self.c.blocks.push(entry(d.len(), side_code(s)));
        if s == 8 {
            d.extend_from_slice(&shell64(block));
        } else {
            // A fixed-size copy, then only the square kept.
            let len = d.len();
            d.extend_from_slice(&shell16(block));
            d.truncate(len + s * s);
        }
        s
    }

    /// The component, with its dequantisation table (natural order).
    pub fn finish(mut self, quant: &[u16; 64]) -> Component {
        self.c.quant = quant.map(f32::from);
        // A short row pushed (corrupt input caught earlier) must not leave
        // a block reading past the offsets.
        let want = self.c.wb as usize * self.c.hb as usize;
        self.c.blocks.resize(want, 0);
        self.c.data.shrink_to_fit();
        self.c.more.shrink_to_fit();
        self.c
    }
}

/// Side of the smallest top-left square (0, 1, 2, 4 or 8) holding every
/// non-zero coefficient. Branch-free: a block's square is hard to predict.
#[inline(always)]
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
    let s8 = usize::from(right | lower != 0);
    let s4 = usize::from(q[4] | q[6] | ((q[0] | q[2]) >> 32) != 0);
    let s2 = usize::from((q[2] & 0xFFFF_FFFF) | ((q[0] >> 16) & 0xFFFF) != 0);
    let s1 = usize::from(q[0] & 0xFFFF != 0);
    // The highest of the flags: 8, 4, 2, 1 or 0.
    let bits = s1 | s2 << 1 | s4 << 2 | s8 << 3;
    (1usize << (usize::BITS - bits.leading_zeros())) >> 1
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

/// Most outputs a block may have to be computed from per-coefficient patterns.
const PATTERN_OUTPUTS: usize = 16;

/// Per-coefficient output patterns: the coefficient at stored position
/// `index[i]` adds `weights[i * lanes(kh * kv)..][..kh * kv]` (its
/// dequantisation included, `[y * kh + x]`). Sorted by position, so the
/// terms of a square of side s are the first [`terms`]`(kh, kv, s)`.
#[derive(Debug, Default)]
struct Patterns {
    index: Vec<usize>,
    weights: Vec<f32>,
}

/// `n` rounded up to a multiple of 4 (whole SIMD lanes).
const fn lanes(n: usize) -> usize {
    (n + 3) & !3
}

/// Index of a stored square side 2, 4, 8 in per-side tables.
fn side_index(s: usize) -> usize {
    (s.trailing_zeros() as usize).saturating_sub(1).min(2)
}

/// Calls `$go!(KH, KV)` with the literal sizes matching `($kh, $kv)`.
macro_rules! by_size {
    ($kh:expr, $kv:expr, $go:ident) => {
        match ($kh, $kv) {
            (1, 1) => $go!(1, 1),
            (1, 2) => $go!(1, 2),
            (1, 4) => $go!(1, 4),
            (1, 8) => $go!(1, 8),
            (2, 1) => $go!(2, 1),
            (2, 2) => $go!(2, 2),
            (2, 4) => $go!(2, 4),
            (2, 8) => $go!(2, 8),
            (4, 1) => $go!(4, 1),
            (4, 2) => $go!(4, 2),
            (4, 4) => $go!(4, 4),
            (4, 8) => $go!(4, 8),
            (8, 1) => $go!(8, 1),
            (8, 2) => $go!(8, 2),
            (8, 4) => $go!(8, 4),
            _ => $go!(8, 8),
        }
    };
}

/// One component's inverse transform at one output size (kh x kv samples a
/// block), ready to apply. Frequencies whose basis vanishes at this size are
/// skipped (at k = 2 only 0, 1, 3, 5, 7 contribute, as in libjpeg's jidctred;
/// at k = 1 only DC), and so is everything outside a block's stored square.
/// Small outputs sum one precomputed output pattern per coefficient, without
/// branches; larger ones go separably (rows along u, then columns along v).
#[derive(Debug)]
struct Kernel {
    /// The output size (what `apply` dispatches on; the hot loops know it
    /// at compile time).
    #[cfg_attr(not(test), allow(dead_code))]
    kh: usize,
    #[cfg_attr(not(test), allow(dead_code))]
    kv: usize,
    /// A DC-only block's level is `dc * coefficient` (before the +128 shift).
    dc: f32,
    patterns: Patterns,
    /// Whether squares of side 2, 4, 8 go by `patterns` (else separably).
    by_pattern: [bool; 3],
    /// Bit u (v): coefficient column u (row v) contributes at this size.
    umask: u8,
    vmask: u8,
    /// `quant(v, u) * ah[u][x]` at `[v * 8 + u][x]`.
    ahq: Box<[[f32; 8]; 64]>,
    /// `av[v][y]`.
    av: [[f32; 8]; 8],
    /// At 2 x 2: the weights of [`quad`].
    quad: Option<Quad>,
}

/// A 2 x 2 transform as sums by frequency parity. At k = 2 a basis vector is
/// even (u = 0: the same for both outputs) or odd (opposite signs), so each
/// output is `128.5 + ee ± eo ± oe ± oo`, the four sums taken over the
/// coefficients (v, u) with v and u zero or odd; each sum is a few products.
#[derive(Debug, Clone, Copy)]
struct Quad {
    /// Weights (output (0, 0)'s) of stored positions 0..4: (0,0) ee, (0,1)
    /// eo, (1,0) oe, (1,1) oo.
    first: [f32; 4],
    /// Positions 5 (0,3) eo, 12 (3,0) oe, 7 (1,3), 13 (3,1), 15 (3,3) oo.
    rest: [f32; 5],
}

impl Quad {
    /// The weights, if the bases have the parity structure (they do, exactly
    /// up to float rounding, for the averaging bases at k = 2).
    fn new(ah: &[[f32; 8]; 8], av: &[[f32; 8]; 8], quant: &[f32; 64]) -> Option<Self> {
        let parity = |a: &[[f32; 8]; 8]| {
            (0..8).all(|u| {
                let want = if u == 0 {
                    a[u][0]
                } else if u % 2 == 1 {
                    -a[u][0]
                } else {
                    0.0
                };
                (a[u][1] - want).abs() <= 1e-6 && (u % 2 == 1 || u == 0 || a[u][0] == 0.0)
            })
        };
        if !parity(ah) || !parity(av) {
            return None;
        }
        let w = |v: usize, u: usize| quant[v * 8 + u] * av[v][0] * ah[u][0];
        Some(Self {
            first: [w(0, 0), w(0, 1), w(1, 0), w(1, 1)],
            rest: [w(0, 3), w(3, 0), w(1, 3), w(3, 1), w(3, 3)],
        })
    }
}

impl Kernel {
    fn new(bases: &Bases, (kh, kv): (usize, usize), quant: &[f32; 64]) -> Self {
        let (ah, av) = (*bases.get(kh), *bases.get(kv));
        let mask = |a: &[[f32; 8]; 8], k: usize| {
            (0..8).filter(|&u| a[u][..k].iter().any(|&w| w != 0.0)).fold(0u8, |m, u| m | 1 << u)
        };
        let (umask, vmask) = (mask(&ah, kh), mask(&av, kv));
        let mut ahq = Box::new([[0f32; 8]; 64]);
        for v in 0..8 {
            for u in 0..8 {
                for x in 0..kh {
                    ahq[v * 8 + u][x] = quant[v * 8 + u] * ah[u][x];
                }
            }
        }
        let outputs = kh * kv;
        let by_pattern = [2usize, 4, 8].map(|s| outputs <= 4 || (outputs <= PATTERN_OUTPUTS && s == 2));
        let mut patterns = Patterns::default();
        if by_pattern.contains(&true) {
            for (p, &n) in SHELL.iter().enumerate() {
                let (v, u) = (n / 8, n % 8);
                if umask & (1 << u) == 0 || vmask & (1 << v) == 0 {
                    continue;
                }
                let mut t = [0f32; PATTERN_OUTPUTS];
                for y in 0..kv {
                    for x in 0..kh {
                        t[y * kh + x] = quant[n] * av[v][y] * ah[u][x];
                    }
                }
                patterns.index.push(p);
                patterns.weights.extend_from_slice(&t[..lanes(outputs)]);
            }
            debug_assert_eq!(
                [4, 16, 64].map(|len| patterns.index.iter().filter(|&&p| p < len).count()),
                [2, 4, 8].map(|s| terms(kh, kv, s))
            );
        }
        let quad = if (kh, kv) == (2, 2) { Quad::new(&ah, &av, quant) } else { None };
        Self { kh, kv, dc: quant[0] / 8.0, patterns, by_pattern, umask, vmask, ahq, av, quad }
    }

    /// Inverse-transforms one block (its s x s stored square, [`SHELL`]
    /// order) to kh x kv samples at `out[y * stride + x]`.
    #[cfg(test)]
    fn apply(&self, coefs: &[i16], s: usize, out: &mut [u8], stride: usize) {
        macro_rules! go {
            ($kh:literal, $kv:literal) => {
                apply_k::<$kh, $kv>(self, coefs, s * s, out, stride)
            };
        }
        by_size!(self.kh, self.kv, go)
    }
}

/// A level (including the +128 shift and +0.5 for rounding) as a sample:
/// truncated and saturated, as `v as u8`, in a form that vectorises.
#[inline(always)]
fn sample(v: f32) -> u8 {
    let v = if v > 0.0 { v } else { 0.0 };
    let v = if v < 255.0 { v } else { 255.0 };
    // SAFETY: v is in 0..=255 (a NaN became 0 above), so its truncation
    // fits an i32.
    unsafe { v.to_int_unchecked::<i32>() as u8 }
}

/// Output samples from levels.
#[inline(always)]
fn store<const N: usize>(a: &[f32], out: &mut [u8]) {
    for (o, &v) in out[..N].iter_mut().zip(&a[..N]) {
        *o = sample(v);
    }
}

/// [`Kernel::apply`] with the output size known at compile time, for a
/// block whose `len` stored values start `data`.
#[inline(always)]
fn apply_k<const KH: usize, const KV: usize>(
    k: &Kernel,
    data: &[i16],
    len: usize,
    out: &mut [u8],
    stride: usize,
) {
    if len <= 1 || (KH == 1 && KV == 1) {
        // Flat, or only DC survives averaging the whole block.
        let dc = if len == 0 { 0.0 } else { f32::from(data[0]) * k.dc };
        let v = sample(dc + 128.5);
        for y in 0..KV {
            out[y * stride..y * stride + KH].fill(v);
        }
        return;
    }
    if let (2, 2, Some(q), 4 | 16) = (KH, KV, &k.quad, len) {
        return quad(q, data, len, out, stride);
    }
    // Branching on the square is cheaper than always doing the 4 x 4's work.
    let s = side(len);
    match (k.by_pattern[side_index(s)], s) {
        (true, 2) => by_patterns::<KH, KV, 2>(k, data, out, stride),
        (true, 4) => by_patterns::<KH, KV, 4>(k, data, out, stride),
        (true, _) => by_patterns::<KH, KV, 8>(k, data, out, stride),
        (false, 2) => separable::<KH, KV, 2>(k, data, out, stride),
        (false, 4) => separable::<KH, KV, 4>(k, data, out, stride),
        (false, _) => separable::<KH, KV, 8>(k, data, out, stride),
    }
}

/// A 2 x 2 output from a square of side 2 or 4 (`len` 4 or 16), by [`Quad`].
#[inline(always)]
fn quad(q: &Quad, data: &[i16], len: usize, out: &mut [u8], stride: usize) {
    let c = |p: usize| f32::from(data[p]);
    let (ee, mut eo, mut oe, mut oo) =
        (c(0) * q.first[0], c(1) * q.first[1], c(2) * q.first[2], c(3) * q.first[3]);
    if len == 16 {
        let r = &q.rest;
        eo += c(5) * r[0];
        oe += c(12) * r[1];
        oo += (c(7) * r[2] + c(13) * r[3]) + c(15) * r[4];
    }
    let (p, m) = (128.5 + ee + eo, 128.5 + ee - eo);
    let (a, b) = (oe + oo, oe - oo);
    out[0] = sample(p + a);
    out[1] = sample(m + b);
    out[stride] = sample(p - a);
    out[stride + 1] = sample(m - b);
}

/// Frequencies (bit u) whose basis contributes to a `k`-point reduced IDCT:
/// averaging 8 / k samples cancels the rest (the same for every quantisation).
const fn contributing(k: usize) -> u8 {
    match k {
        1 => 0b0000_0001,
        2 => 0b1010_1011,
        4 => 0b1110_1111,
        _ => 0b1111_1111,
    }
}

/// How many coefficients of a square of side `s` contribute at kh x kv.
const fn terms(kh: usize, kv: usize, s: usize) -> usize {
    let inside = ((1u32 << s) - 1) as u8;
    ((contributing(kh) & inside).count_ones() * (contributing(kv) & inside).count_ones()) as usize
}

/// A block with a stored square of side `S`, one output pattern per
/// contributing coefficient (a fixed number for the sizes, so unrolled).
#[inline(always)]
fn by_patterns<const KH: usize, const KV: usize, const S: usize>(
    k: &Kernel,
    coefs: &[i16],
    out: &mut [u8],
    stride: usize,
) {
    let n = lanes(KH * KV);
    let count = terms(KH, KV, S);
    let p = &k.patterns;
    let (index, weights) = (&p.index[..count], &p.weights[..count * n]);
    let coefs = &coefs[..S * S];
    // Two interleaved sums: half the dependency chain.
    let (mut a, mut b) = ([128.5f32; PATTERN_OUTPUTS], [0f32; PATTERN_OUTPUTS]);
    for t in 0..count {
        let c = f32::from(coefs[index[t]]);
        let w = &weights[t * n..][..n];
        let acc = if t % 2 == 0 { &mut a } else { &mut b };
        for j in 0..n {
            acc[j] += c * w[j];
        }
    }
    for j in 0..n {
        a[j] += b[j];
    }
    for y in 0..KV {
        store::<KH>(&a[y * KH..], &mut out[y * stride..]);
    }
}

/// A block with a stored square of side `S`, separably: rows along u, then
/// columns along v.
#[inline(always)]
fn separable<const KH: usize, const KV: usize, const S: usize>(
    k: &Kernel,
    coefs: &[i16],
    out: &mut [u8],
    stride: usize,
) {
    let c = &coefs[..S * S];
    // g[v][x]: coefficient row v transformed along u.
    let mut g = [[0f32; KH]; S];
    for v in 0..S {
        if k.vmask & (1 << v) == 0 {
            continue;
        }
        let mut r = [0f32; KH];
        for u in 0..S {
            if k.umask & (1 << u) == 0 {
                continue;
            }
            let cv = f32::from(c[POS[v * 8 + u]]);
            let t = &k.ahq[v * 8 + u];
            for x in 0..KH {
                r[x] += cv * t[x];
            }
        }
        g[v] = r;
    }
    for y in 0..KV {
        let mut a = [128.5f32; KH];
        for v in 0..S {
            if k.vmask & (1 << v) == 0 {
                continue;
            }
            let w = k.av[v][y];
            for x in 0..KH {
                a[x] += w * g[v][x];
            }
        }
        store::<KH>(&a, &mut out[y * stride..]);
    }
}

/// Inverse-transforms blocks `bx.0..=bx.1` x `by.0..=by.1` of `c`, block
/// (bx.0, by.0) at `out[0]`, rows `stride` apart.
#[inline(always)]
fn render_blocks<const KH: usize, const KV: usize>(
    k: &Kernel,
    c: &Component,
    bx: (u32, u32),
    by: (u32, u32),
    out: &mut [u8],
    stride: usize,
) {
    let (wb, n) = (c.wb as usize, (bx.1 - bx.0 + 1) as usize);
    for (j, row) in (by.0..=by.1).enumerate() {
        let first = row as usize * wb + bx.0 as usize;
        let entries = &c.blocks[first..first + n];
        let dst = &mut out[j * KV * stride..];
        if KH == 1 && KV == 1 {
            // One sample a block, from DC alone (0 where nothing is stored).
            for (&e, d) in entries.iter().zip(dst[..n].iter_mut()) {
                let dc = if e & 7 != 0 { f32::from(c.store(e)[square(e).0]) } else { 0.0 };
                *d = sample(dc * k.dc + 128.5);
            }
            continue;
        }
        for (i, &e) in entries.iter().enumerate() {
            let (lo, len) = square(e);
            apply_k::<KH, KV>(k, &c.store(e)[lo..], len, &mut dst[i * KH..], stride);
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

/// How one component becomes samples at one output scale.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// IDCT size.
    kh: u32,
    kv: u32,
    /// Upsampling factor left after the IDCT.
    uh: u32,
    uv: u32,
    /// Valid samples at the IDCT scale (libjpeg's downsampled_width / height
    /// of a scaled decode).
    pw: u32,
    ph: u32,
}

/// A component's samples over an output rectangle: sample (x, y) of the
/// rectangle is `data[(y + oy) * stride + x + ox]`.
#[derive(Debug, Default)]
struct Plane {
    data: Vec<u8>,
    stride: usize,
    ox: usize,
    oy: usize,
}

impl Plane {
    fn row(&self, y: usize, w: usize) -> &[u8] {
        &self.data[(y + self.oy) * self.stride + self.ox..][..w]
    }
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
    /// Per component, per scale 1, 2, 4, 8: its transform at that scale.
    kernels: Vec<Vec<Kernel>>,
}

impl Coefficients {
    pub fn new(width: u32, height: u32, colour: ColourSpace, comps: Vec<Component>) -> Self {
        let max_h = comps.iter().map(|c| c.h).max().unwrap_or(1).max(1);
        let max_v = comps.iter().map(|c| c.v).max().unwrap_or(1).max(1);
        let mut coefs = Self { width, height, max_h, max_v, colour, comps, kernels: Vec::new() };
        let bases = Bases::new();
        coefs.kernels = coefs
            .comps
            .iter()
            .map(|c| {
                [1u32, 2, 4, 8]
                    .into_iter()
                    .map(|k| {
                        let g = coefs.geometry(c, k);
                        Kernel::new(&bases, (g.kh as usize, g.kv as usize), &c.quant)
                    })
                    .collect()
            })
            .collect();
        coefs
    }

    /// Where two decodes differ first (component, block, both squares), or
    /// `None` where they are the same: for the tests' and the fuzzer's messages.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn first_difference(&self, other: &Self) -> Option<String> {
        if (self.width, self.height, self.colour) != (other.width, other.height, other.colour)
            || self.comps.len() != other.comps.len()
        {
            return Some("frames differ".into());
        }
        for (ci, (a, b)) in self.comps.iter().zip(&other.comps).enumerate() {
            if (a.h, a.v, a.wb, a.hb, a.quant) != (b.h, b.v, b.wb, b.hb, b.quant)
                || a.blocks.len() != b.blocks.len()
            {
                return Some(format!("component {ci}: layouts differ"));
            }
            for (bi, (&ea, &eb)) in a.blocks.iter().zip(&b.blocks).enumerate() {
                let ((sa, la), (sb, lb)) = (square(ea), square(eb));
                let (qa, qb) = (&a.store(ea)[sa..sa + la], &b.store(eb)[sb..sb + lb]);
                if qa != qb {
                    return Some(format!("component {ci} block {bi} of {}x{}: {qa:?} vs {qb:?}", a.wb, a.hb));
                }
            }
        }
        None
    }

    /// Whether both hold the same image's coefficients, stored alike.
    #[cfg(test)]
    pub fn same_as(&self, other: &Self) -> bool {
        (self.width, self.height, self.colour) == (other.width, other.height, other.colour)
            && self.comps.len() == other.comps.len()
            && self.comps.iter().zip(&other.comps).all(|(a, b)| a.same_as(b))
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.comps.iter().map(|c| (c.data.capacity() + c.more.capacity()) * 2 + c.blocks.capacity() * 4).sum()
    }

    /// Stored (not EXIF-rotated) size at scale `k`.
    pub fn scaled_size(&self, k: u32) -> (u32, u32) {
        (scaled(self.width, k), scaled(self.height, k))
    }

    fn geometry(&self, c: &Component, k: u32) -> Geometry {
        let (rh, rv) = (self.max_h / c.h.max(1), self.max_v / c.v.max(1));
        let (kh, kv) = (idct_size(k, rh), idct_size(k, rv));
        let (uh, uv) = (k * rh / kh, k * rv / kv);
        let pw =
            div_ceil_u64(u64::from(self.width) * u64::from(c.h) * u64::from(kh), u64::from(self.max_h) * 8);
        let ph =
            div_ceil_u64(u64::from(self.height) * u64::from(c.v) * u64::from(kv), u64::from(self.max_v) * 8);
        let (pw, ph) =
            (pw.min(u64::from(c.wb) * u64::from(kh)) as u32, ph.min(u64::from(c.hb) * u64::from(kv)) as u32);
        Geometry { kh, kv, uh, uv, pw, ph }
    }

    /// Interleaved RGB of the rectangle `x0..x0+w, y0..y0+h` of the stored image
    /// at scale `k`; the rectangle must lie inside [`Self::scaled_size`].
    pub fn render(&self, k: u32, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
        let mut out = vec![0u8; w as usize * h as usize * 3];
        self.render_into(k, (x0, y0, w, h), &mut out, w as usize * 3);
        out
    }

    /// As [`Self::render`] over the whole image, its upper and lower halves
    /// on two threads when `threads` >= 2 (the same pixels: every sample
    /// depends only on its own position).
    pub fn render_all(&self, k: u32, threads: usize) -> Vec<u8> {
        let (w, h) = self.scaled_size(k);
        if threads < 2 || h < 32 {
            return self.render(k, 0, 0, w, h);
        }
        let mut out = vec![0u8; w as usize * h as usize * 3];
        let half = h / 2;
        let stride = w as usize * 3;
        let (top, bottom) = out.split_at_mut(half as usize * stride);
        let (done, ()) = crate::parallel::join(
            || self.render_into(k, (0, half, w, h - half), bottom, stride),
            || self.render_into(k, (0, 0, w, half), top, stride),
        );
        if done.is_none() {
            // The helper panicked: its half again, here.
            let bottom = &mut out[half as usize * stride..];
            self.render_into(k, (0, half, w, h - half), bottom, stride);
        }
        out
    }

    /// As [`Self::render`], row `y` of the rectangle into
    /// `out[y * stride..][..w * 3]`.
    pub fn render_into(&self, k: u32, rect: (u32, u32, u32, u32), out: &mut [u8], stride: usize) {
        #[cfg(target_arch = "x86_64")]
        if super::avx2() {
            // SAFETY: the CPU has AVX2 (checked just now).
            return unsafe { self.render_into_avx2(k, rect, out, stride) };
        }
        self.render_into_body(k, rect, out, stride)
    }

    /// [`Self::render_into`] compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn render_into_avx2(&self, k: u32, rect: (u32, u32, u32, u32), out: &mut [u8], stride: usize) {
        self.render_into_body(k, rect, out, stride)
    }

    #[inline(always)]
    fn render_into_body(&self, k: u32, rect: (u32, u32, u32, u32), out: &mut [u8], stride: usize) {
        let (x0, y0, w, h) = rect;
        if w == 0 || h == 0 {
            return;
        }
        let mut planes: Vec<Plane> = self.comps.iter().map(|_| Plane::default()).collect();
        let mut tmp = Vec::new();
        let wu = w as usize;
        let mut y = y0;
        while y < y0 + h {
            let y1 = (y + STRIP).min(y0 + h);
            for (ci, plane) in planes.iter_mut().enumerate() {
                self.component(ci, k, (x0, x0 + w), (y, y1), plane, &mut tmp);
            }
            for row in 0..(y1 - y) as usize {
                let dst = &mut out[((y - y0) as usize + row) * stride..][..wu * 3];
                match (self.colour, planes.as_slice()) {
                    (ColourSpace::YCbCr, [p0, p1, p2]) => {
                        ycc_row(p0.row(row, wu), p1.row(row, wu), p2.row(row, wu), dst)
                    }
                    (ColourSpace::Rgb, [p0, p1, p2]) => {
                        let (r, g, b) = (p0.row(row, wu), p1.row(row, wu), p2.row(row, wu));
                        for (i, o) in dst.chunks_exact_mut(3).enumerate() {
                            o.copy_from_slice(&[r[i], g[i], b[i]]);
                        }
                    }
                    (_, [p0, ..]) => {
                        for (o, &g) in dst.chunks_exact_mut(3).zip(p0.row(row, wu)) {
                            o.fill(g);
                        }
                    }
                    (_, []) => {}
                }
            }
            y = y1;
        }
    }

    /// Samples of component `ci` at output resolution for output columns
    /// `xs.0..xs.1` and rows `ys.0..ys.1` (both non-empty), into `plane`.
    #[inline(always)]
    fn component(
        &self,
        ci: usize,
        k: u32,
        xs: (u32, u32),
        ys: (u32, u32),
        plane: &mut Plane,
        tmp: &mut Vec<u8>,
    ) {
        let c = &self.comps[ci];
        let kernel = &self.kernels[ci][k.trailing_zeros() as usize & 3];
        let g = self.geometry(c, k);
        let (kh, kv) = (g.kh, g.kv);
        let flat = |plane: &mut Plane| {
            plane.data.clear();
            plane.data.resize((xs.1 - xs.0) as usize * (ys.1 - ys.0) as usize, 128);
            (plane.stride, plane.ox, plane.oy) = ((xs.1 - xs.0) as usize, 0, 0);
        };
        if c.wb == 0 || c.hb == 0 {
            return flat(plane);
        }
        if g.uh == 1 && g.uv == 1 && xs.1 <= c.wb * kh && ys.1 <= c.hb * kv {
            // Output sample x is sample x at the IDCT scale: the blocks'
            // samples are the plane.
            let (bx, by) = ((xs.0 / kh, (xs.1 - 1) / kh), (ys.0 / kv, (ys.1 - 1) / kv));
            let tw = (bx.1 - bx.0 + 1) as usize * kh as usize;
            let th = (by.1 - by.0 + 1) as usize * kv as usize;
            plane.data.resize(tw * th, 0);
            macro_rules! go {
                ($kh:literal, $kv:literal) => {
                    render_blocks::<$kh, $kv>(kernel, c, bx, by, &mut plane.data, tw)
                };
            }
            by_size!(kh, kv, go);
            plane.stride = tw;
            plane.ox = (xs.0 - bx.0 * kh) as usize;
            plane.oy = (ys.0 - by.0 * kv) as usize;
            return;
        }
        let (uh, uv) = (g.uh, g.uv);
        let tx = taps(xs.0, xs.1, uh, g.pw);
        let ty = taps(ys.0, ys.1, uv, g.ph);
        let (Some(fx), Some(lx), Some(fy), Some(ly)) = (tx.first(), tx.last(), ty.first(), ty.last()) else {
            return flat(plane);
        };
        let (bx0, bx1) = (fx.0 / kh, (lx.1 / kh).min(c.wb - 1));
        let (by0, by1) = (fy.0 / kv, (ly.1 / kv).min(c.hb - 1));
        let tw = (bx1 - bx0 + 1) as usize * kh as usize;
        let th = (by1 - by0 + 1) as usize * kv as usize;
        tmp.clear();
        tmp.resize(tw * th, 0);
        macro_rules! go {
            ($kh:literal, $kv:literal) => {
                render_blocks::<$kh, $kv>(kernel, c, (bx0, bx1), (by0, by1), tmp, tw)
            };
        }
        by_size!(kh, kv, go);
        let (ox, oy) = ((bx0 * kh) as usize, (by0 * kv) as usize);
        let w = tx.len();
        plane.data.clear();
        plane.data.reserve(w * ty.len());
        (plane.stride, plane.ox, plane.oy) = (w, 0, 0);
        let (dx, dy) = (2 * uh, 2 * uv);
        let round = dx * dy / 2;
        for &(j0, j1, wy) in &ty {
            let r0 = &tmp[(j0 as usize - oy) * tw..][..tw];
            let r1 = &tmp[(j1 as usize - oy) * tw..][..tw];
            plane.data.extend(tx.iter().map(|&(i0, i1, wx)| {
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

/// [`ycc_to_rgb`] over a row, interleaved into `out`: 16 pixels at a time
/// with libjpeg's constants split so every product fits 16-bit factors
/// (`(c * 2^16 + x) >> 16 == c + (x >> 16)` exactly), which vectorises.
#[inline(always)]
fn ycc_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    const N: usize = 16;
    const HALF: i32 = 1 << 15;
    let n = y.len().min(cb.len()).min(cr.len()).min(out.len() / 3);
    let full = n / N * N;
    let chunks = y[..full].chunks_exact(N).zip(cb[..full].chunks_exact(N)).zip(cr[..full].chunks_exact(N));
    for (((yy, bb), rr), o) in chunks.zip(out.chunks_exact_mut(N * 3)) {
        let (mut r, mut g, mut b) = ([0u8; N], [0u8; N], [0u8; N]);
        for i in 0..N {
            let (y, cb, cr) = (i32::from(yy[i]), i32::from(bb[i]) - 128, i32::from(rr[i]) - 128);
            // 91881 = 2^16 + 26345; -46802 = -2^16 + 18734; 116130 = 2^17 - 14942.
            r[i] = (y + cr + ((26345 * cr + HALF) >> 16)).clamp(0, 255) as u8;
            g[i] = (y - cr + ((-22554 * cb + 18734 * cr + HALF) >> 16)).clamp(0, 255) as u8;
            b[i] = (y + 2 * cb + ((-14942 * cb + HALF) >> 16)).clamp(0, 255) as u8;
        }
        for i in 0..N {
            o[i * 3] = r[i];
            o[i * 3 + 1] = g[i];
            o[i * 3 + 2] = b[i];
        }
    }
    for (((o, &y), &cb), &cr) in
        out[full * 3..].chunks_exact_mut(3).zip(&y[full..n]).zip(&cb[full..n]).zip(&cr[full..n])
    {
        o.copy_from_slice(&ycc_to_rgb(y, cb, cr));
    }
}

/// Appends the top-left square of side `s` of `block` (SHELL order) to `d`:
/// a fixed-size copy, then only the square kept.
#[inline(always)]
pub(crate) fn keep(d: &mut Vec<i16>, block: &[i16; 64], s: usize) {
    let len = d.len();
    if s == 8 {
        d.extend_from_slice(block);
    } else {
        d.extend_from_slice(&block[..16]);
        d.truncate(len + s * s);
    }
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
            Kernel::new(&bases, (8, 8), &quant).apply(&shell64(&b), 8, &mut out, 8);
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
            Kernel::new(&bases, (k, k), &quant).apply(&shell64(&b), 8, &mut out, 8);
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
                Kernel::new(&bases, (kh, kv), &quant).apply(&shell64(&b), 8, &mut out, 8);
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
    fn shell_order_nests_the_squares() {
        let mut seen = [false; 64];
        for (p, &n) in SHELL.iter().enumerate() {
            assert!(!seen[n], "{n} twice");
            seen[n] = true;
            assert_eq!(POS[n], p);
            let side = (n / 8).max(n % 8) + 1;
            let square = [1, 2, 4, 4, 8, 8, 8, 8][side - 1];
            assert!(
                p < square * square,
                "position {p} of ({}, {}) outside the {square} x {square} prefix",
                n / 8,
                n % 8
            );
        }
    }

    #[test]
    fn every_square_and_size_agrees_with_the_whole_block() {
        // A block whose non-zero coefficients fit a square of side s, given
        // as that square and as all 64: the same output, by every path.
        let quant: [f32; 64] = std::array::from_fn(|i| 1.0 + (i % 7) as f32);
        let bases = Bases::new();
        for seed in 0..30 {
            let full = block(seed);
            for s in [1usize, 2, 4, 8] {
                let mut b = [0i16; 64];
                for v in 0..s {
                    for u in 0..s {
                        b[v * 8 + u] = full[v * 8 + u];
                    }
                }
                let stored = shell64(&b);
                for kh in [1usize, 2, 4, 8] {
                    for kv in [1usize, 2, 4, 8] {
                        let kernel = Kernel::new(&bases, (kh, kv), &quant);
                        let (mut small, mut whole) = ([0u8; 64], [0u8; 64]);
                        kernel.apply(&stored[..s * s], s, &mut small, 8);
                        kernel.apply(&stored, 8, &mut whole, 8);
                        for i in 0..64 {
                            assert!(
                                small[i].abs_diff(whole[i]) <= 1,
                                "seed {seed} s {s} {kh}x{kv} at {i}: {} vs {}",
                                small[i],
                                whole[i]
                            );
                        }
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
    fn colour_rows_match_the_per_pixel_formula_everywhere() {
        // Every (cb, cr) pair, with varying luma, through the 16-pixel path
        // and the tail.
        let n = 256 * 256;
        let cb: Vec<u8> = (0..n).map(|i| (i / 256) as u8).collect();
        let cr: Vec<u8> = (0..n).map(|i| (i % 256) as u8).collect();
        for shift in [0usize, 77, 160, 255] {
            let y: Vec<u8> = (0..n).map(|i| ((i * 7 + shift) % 256) as u8).collect();
            for len in [n, n - 5] {
                let mut out = vec![0u8; len * 3];
                ycc_row(&y[..len], &cb[..len], &cr[..len], &mut out);
                for i in 0..len {
                    assert_eq!(out[i * 3..i * 3 + 3], ycc_to_rgb(y[i], cb[i], cr[i]), "pixel {i}");
                }
            }
        }
    }

    #[test]
    fn colour_matches_libjpeg_constants() {
        assert_eq!(ycc_to_rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(ycc_to_rgb(76, 85, 255), [254, 0, 0]);
        assert_eq!(ycc_to_rgb(0, 128, 128), [0, 0, 0]);
    }
}
