//! Baseline JPEG entropy decoding in Rust, straight into compact coefficients.
//!
//! The common case of a phone or camera JPEG (one interleaved Huffman scan,
//! 8-bit, with or without restart markers) is decoded here without libjpeg: each block's
//! coefficients land in a zeroed 64-entry square in [`SHELL`](super::dct)
//! order as they are decoded, its extent is known from where the last one
//! fell, and only that square is kept. There is no 128-byte-a-block buffer to
//! fill, hand over, scan and clear.
//!
//! It decodes exactly what libjpeg decodes, or gives up: any JPEG that is not
//! plainly well formed (a bad code, a run past the block's end, data that ends
//! early or is followed by anything but the end-of-image marker, tables it
//! does not like) returns `None`, and libjpeg decodes it as before, with its
//! own warnings and errors. The markers are read here too (libjpeg keeps the
//! scan's parameters private), and the result is only used where the frame
//! agrees with libjpeg's header.
//!
//! With two threads the scan is split in two. Where it has restart markers,
//! the second thread starts at the one nearest the middle: the MCU there is
//! known and the predictors start from zero. Otherwise it starts at a byte in
//! the middle as if an MCU began there. Huffman codes resynchronise
//! within a few blocks, so from some MCU on it decodes what a decode from the
//! start would; the first thread, reaching the middle, finds the first MCU
//! both started at the same bit and stops there. The second's DC values are
//! off by the predictor it lacked, a constant per component, added once the
//! two have met. If they never meet, the first decodes on to the end alone.
use super::dct::{keep, ComponentBuilder};

mod split;

/// Zigzag position -> natural index (row * 8 + column).
const NATURAL: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
    14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39,
    46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Bits looked up at once.
const LOOK: u32 = 9;

/// In [`Table::full`]'s run: sixteen zeros, and the end of the block.
const ZRL: u8 = 16;
const EOB: u8 = 64;

/// Per zigzag position: the stored ([`super::dct`] SHELL order) position and
/// the side of the smallest top-left square holding it.
struct Place {
    pos: [u8; 64],
    side: [u8; 64],
}

static PLACE: Place = {
    let mut pos = [0u8; 64];
    let mut side = [0u8; 64];
    let mut k = 0;
    while k < 64 {
        let z = NATURAL[k] as usize;
        pos[k] = super::dct::POS[z] as u8;
        let m = if z / 8 > z % 8 { z / 8 } else { z % 8 };
        side[k] = if m == 0 {
            1
        } else if m == 1 {
            2
        } else if m < 4 {
            4
        } else {
            8
        };
        k += 1;
    }
    Place { pos, side }
};

/// A Huffman table made ready for decoding.
#[derive(Clone)]
struct Table {
    /// By the next [`LOOK`] bits: code length (0: longer) and symbol.
    fast: Box<[(u8, u8); 1 << LOOK]>,
    /// By the next [`LOOK`] bits: the whole symbol with its magnitude bits
    /// when both fit: total length (0: they do not), zero run ([`ZRL`],
    /// [`EOB`]: those symbols), value.
    full: Box<[(u8, u8, i16); 1 << LOOK]>,
    /// Largest code of each length (-1: none), lengths 1..=16, [17] a sentinel.
    maxcode: [i32; 18],
    /// Symbol index offset of each length's codes.
    valoffset: [i32; 17],
    values: Vec<u8>,
}

impl Table {
    /// jdhuff.c's `jpeg_make_d_derived_tbl`, refusing what it refuses.
    fn new(bits: &[u8; 16], values: &[u8], dc: bool) -> Option<Table> {
        let n: usize = bits.iter().map(|&b| usize::from(b)).sum();
        if n > 256 || values.len() < n {
            return None;
        }
        let values = values[..n].to_vec();
        if dc && values.iter().any(|&v| v > 15) {
            return None;
        }
        let mut sizes = Vec::with_capacity(n);
        for (l, &count) in bits.iter().enumerate() {
            sizes.extend(std::iter::repeat_n(l as u8 + 1, usize::from(count)));
        }
        let mut codes = vec![0u32; n];
        let (mut code, mut p) = (0u32, 0usize);
        let mut si = sizes.first().copied().unwrap_or(1);
        while p < n {
            while p < n && sizes[p] == si {
                codes[p] = code;
                code += 1;
                p += 1;
            }
            if code >= 1 << si {
                return None;
            }
            code <<= 1;
            si += 1;
        }
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 17];
        let mut p = 0usize;
        for l in 1..=16usize {
            let count = usize::from(bits[l - 1]);
            if count > 0 {
                valoffset[l] = p as i32 - codes[p] as i32;
                p += count;
                maxcode[l] = codes[p - 1] as i32;
            }
        }
        maxcode[17] = 0x000F_FFFF;
        let mut fast = Box::new([(0u8, 0u8); 1 << LOOK]);
        let mut full = Box::new([(0u8, 0u8, 0i16); 1 << LOOK]);
        for (i, (&size, &c)) in sizes.iter().zip(&codes).enumerate() {
            let l = u32::from(size);
            if l > LOOK {
                continue;
            }
            let sym = values[i];
            let (run, s) = if dc { (0, u32::from(sym)) } else { (sym >> 4, u32::from(sym & 15)) };
            let first = (c << (LOOK - l)) as usize;
            for idx in first..first + (1 << (LOOK - l)) {
                fast[idx] = (l as u8, sym);
                if !dc && s == 0 {
                    // End of block, or a run of 16 zeros.
                    full[idx] = (l as u8, if run == 15 { ZRL } else { EOB }, 0);
                } else if l + s <= LOOK {
                    let v = if s == 0 { 0 } else { (idx as u32 >> (LOOK - l - s)) & ((1 << s) - 1) };
                    full[idx] = ((l + s) as u8, run, extend(v, s) as i16);
                }
            }
        }
        Some(Table { fast, full, maxcode, valoffset, values })
    }
}

/// JPEG's sign extension of an `s`-bit magnitude.
#[inline(always)]
fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

/// Reads the entropy-coded bits: byte stuffing undone, a marker ends them
/// (zeros after it, as libjpeg gives; using any of those fails the decode).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// The next bits, most significant first; `n` of them valid.
    acc: u64,
    n: u32,
    /// Zero bits appended after the data ended.
    padded: u32,
    /// Where the marker that ended the data starts (its 0xFF), once met.
    marker: Option<usize>,
    /// Data bytes loaded (stuffing not counted), from the scan's first.
    loaded: u64,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize, loaded: u64) -> Self {
        Self { data, pos, acc: 0, n: 0, padded: 0, marker: None, loaded }
    }

    /// Position of the next unread bit, in data bits from the scan's start.
    #[inline(always)]
    fn at(&self) -> u64 {
        self.loaded * 8 - u64::from(self.n)
    }

    /// Whether bits past the end of the data have been used.
    #[inline(always)]
    fn overrun(&self) -> bool {
        self.padded > self.n
    }

    /// At least 32 valid bits.
    #[inline(always)]
    fn fill(&mut self) {
        if self.n >= 32 {
            return;
        }
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            let nw = !w;
            if nw.wrapping_sub(0x0101_0101_0101_0101) & !nw & 0x8080_8080_8080_8080 == 0 {
                // No 0xFF among them: as many whole bytes as fit.
                let take = (63 - self.n) / 8;
                self.acc |= (w & (!0u64 << (64 - 8 * take))) >> self.n;
                self.n += 8 * take;
                self.pos += take as usize;
                self.loaded += u64::from(take);
                return;
            }
        }
        self.fill_slow();
    }

    #[inline(never)]
    fn fill_slow(&mut self) {
        while self.n <= 56 {
            let byte = if self.marker.is_some() {
                None
            } else {
                match self.data.get(self.pos) {
                    None => {
                        self.marker = Some(self.pos);
                        None
                    }
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        self.pos += 2;
                        Some(0xFF)
                    }
                    Some(&0xFF) => {
                        // A marker, or fill bytes (0xFF 0xFF ...): the data ends
                        // here for this decoder. Fill bytes inside the data are
                        // not plainly well formed (libjpeg's fast path pads them
                        // with zero bits, its slow path reads 0xFF.. 0x00 as one
                        // 0xFF, and coefficients of both can land in a block:
                        // found by the jpeg_entropy_differential fuzz target),
                        // so the end checks leave such a file to libjpeg.
                        self.marker = Some(self.pos);
                        None
                    }
                    Some(&b) => {
                        self.pos += 1;
                        Some(b)
                    }
                }
            };
            match byte {
                Some(b) => {
                    self.acc |= u64::from(b) << (56 - self.n);
                    self.loaded += 1;
                }
                None => {
                    self.padded += 8;
                    self.loaded += 1;
                }
            }
            self.n += 8;
        }
    }

    #[inline(always)]
    fn peek(&self, k: u32) -> u32 {
        (self.acc >> (64 - k)) as u32
    }

    #[inline(always)]
    fn skip(&mut self, k: u32) {
        self.acc <<= k;
        self.n -= k;
    }

    /// `s` bits (s <= 16; 32 valid).
    #[inline(always)]
    fn take(&mut self, s: u32) -> u32 {
        if s == 0 {
            return 0;
        }
        let v = self.peek(s);
        self.skip(s);
        v
    }

    /// One symbol (32 valid bits); `None`: no code matches.
    #[inline(always)]
    fn symbol(&mut self, t: &Table) -> Option<u8> {
        let (l, sym) = t.fast[self.peek(LOOK) as usize];
        if l != 0 {
            self.skip(u32::from(l));
            return Some(sym);
        }
        let mut l = LOOK + 1;
        let mut code = self.peek(l) as i32;
        while code > t.maxcode[l as usize] {
            l += 1;
            if l > 16 {
                return None;
            }
            code = self.peek(l) as i32;
        }
        self.skip(l);
        t.values.get((code + t.valoffset[l as usize]) as usize).copied()
    }
}

/// A component of the frame and where its blocks go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameComponent {
    pub id: u8,
    pub h: u32,
    pub v: u32,
}

/// What the markers before the first scan say, for a scan this module decodes.
pub(crate) struct Scan {
    pub width: u32,
    pub height: u32,
    pub comps: Vec<FrameComponent>,
    /// Per scan component in scan order: frame component index, DC and AC tables.
    order: Vec<(usize, Table, Table)>,
    /// First byte of the entropy-coded data.
    start: usize,
    /// MCUs per restart interval (0: no restart markers).
    restart: usize,
}

impl Scan {
    /// Reads the markers up to the first scan; `None` unless it is a single
    /// 8-bit sequential Huffman scan of every component.
    pub fn read(bytes: &[u8]) -> Option<Scan> {
        if bytes.get(..2)? != [0xFF, 0xD8] {
            return None;
        }
        let mut p = 2;
        let mut dc: [Option<([u8; 16], Vec<u8>)>; 4] = Default::default();
        let mut ac: [Option<([u8; 16], Vec<u8>)>; 4] = Default::default();
        let mut frame: Option<(u32, u32, Vec<FrameComponent>)> = None;
        let mut restart = 0u16;
        loop {
            // Fill bytes may precede a marker.
            while bytes.get(p) == Some(&0xFF) && bytes.get(p + 1) == Some(&0xFF) {
                p += 1;
            }
            if bytes.get(p) != Some(&0xFF) {
                return None;
            }
            let marker = *bytes.get(p + 1)?;
            let len = usize::from(u16::from_be_bytes([*bytes.get(p + 2)?, *bytes.get(p + 3)?]));
            if len < 2 {
                return None;
            }
            let seg = bytes.get(p + 4..p + 2 + len)?;
            match marker {
                // Baseline or extended sequential, Huffman.
                0xC0 | 0xC1 => {
                    if frame.is_some() || seg.len() < 6 || seg[0] != 8 {
                        return None;
                    }
                    let height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
                    let width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
                    let n = usize::from(seg[5]);
                    if seg.len() < 6 + 3 * n || n == 0 || n > 4 {
                        return None;
                    }
                    let comps: Vec<FrameComponent> = seg[6..6 + 3 * n]
                        .chunks_exact(3)
                        .map(|c| FrameComponent {
                            id: c[0],
                            h: u32::from(c[1] >> 4),
                            v: u32::from(c[1] & 15),
                        })
                        .collect();
                    if comps.iter().any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v)) {
                        return None;
                    }
                    frame = Some((width, height, comps));
                }
                // Any other frame type (progressive, lossless, arithmetic, ...).
                0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
                0xC4 => {
                    let mut q = seg;
                    while !q.is_empty() {
                        let (class, id) = (q[0] >> 4, usize::from(q[0] & 15));
                        let bits: [u8; 16] = q.get(1..17)?.try_into().ok()?;
                        let n: usize = bits.iter().map(|&b| usize::from(b)).sum();
                        let values = q.get(17..17 + n)?.to_vec();
                        match (class, id) {
                            (0, 0..=3) => dc[id] = Some((bits, values)),
                            (1, 0..=3) => ac[id] = Some((bits, values)),
                            _ => return None,
                        }
                        q = &q[17 + n..];
                    }
                }
                0xDD => {
                    restart = u16::from_be_bytes([*seg.first()?, *seg.get(1)?]);
                }
                0xDA => {
                    let (width, height, comps) = frame?;
                    let n = usize::from(*seg.first()?);
                    if n != comps.len() || seg.len() < 1 + 2 * n + 3 || width == 0 || height == 0 {
                        return None;
                    }
                    let tail = &seg[1 + 2 * n..];
                    if tail[..3] != [0, 63, 0] {
                        return None;
                    }
                    let mut order = Vec::with_capacity(n);
                    for c in seg[1..1 + 2 * n].chunks_exact(2) {
                        let index = comps.iter().position(|f| f.id == c[0])?;
                        if order.iter().any(|(i, _, _)| *i == index) {
                            return None;
                        }
                        let (d, a) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                        let (db, dv) = dc.get(d)?.as_ref()?;
                        let (ab, av) = ac.get(a)?.as_ref()?;
                        order.push((index, Table::new(db, dv, true)?, Table::new(ab, av, false)?));
                    }
                    return Some(Scan {
                        width,
                        height,
                        comps,
                        order,
                        start: p + 2 + len,
                        restart: usize::from(restart),
                    });
                }
                // Start of image again, end of image, restart markers out of place.
                0xD0..=0xD9 | 0x01 => return None,
                _ => {}
            }
            p += 2 + len;
        }
    }
}

/// Where the data ended after the last MCU: its bit, and the marker after it
/// with the data bytes before that ([`Bits::marker_after`]).
type End = (u64, Option<(usize, u64)>);

/// Geometry of the scan's MCUs.
#[derive(Clone, Copy)]
struct Grid {
    mcus_x: usize,
    mcus: usize,
}

/// One component's decoded blocks.
struct Out {
    builder: ComponentBuilder,
    /// Blocks across and down in the image, and per MCU.
    wb: usize,
    hb: usize,
    h: usize,
    v: usize,
}

impl Scan {
    /// The largest sampling factors (h, v) of the frame.
    fn max_sampling(&self) -> (usize, usize) {
        let max = |f: fn(&FrameComponent) -> u32| self.comps.iter().map(f).max().unwrap_or(1) as usize;
        (max(|c| c.h), max(|c| c.v))
    }

    fn grid(&self) -> Grid {
        let (max_h, max_v) = self.max_sampling();
        if self.order.len() == 1 {
            // Non-interleaved: one block an MCU over the component's own blocks.
            let c = &self.comps[self.order[0].0];
            let (wb, hb) = blocks_of(self.width, self.height, c, max_h, max_v);
            return Grid { mcus_x: wb, mcus: wb * hb };
        }
        let mcus_x = (self.width as usize).div_ceil(8 * max_h);
        let mcus_y = (self.height as usize).div_ceil(8 * max_v);
        Grid { mcus_x, mcus: mcus_x * mcus_y }
    }

    /// Decodes the scan; `None` where libjpeg should (see the module docs).
    pub fn decode(&self, bytes: &[u8], threads: usize) -> Option<Vec<ComponentBuilder>> {
        let data = bytes.get(self.start..)?;
        let grid = self.grid();
        let (max_h, max_v) = self.max_sampling();
        let single = self.order.len() == 1;
        let mut outs: Vec<Out> = self
            .comps
            .iter()
            .map(|c| {
                let (wb, hb) = blocks_of(self.width, self.height, c, max_h, max_v);
                let (h, v) = if single { (1, 1) } else { (c.h as usize, c.v as usize) };
                Out { builder: ComponentBuilder::scattered(c.h, c.v, wb as u32, hb as u32), wb, hb, h, v }
            })
            .collect();
        let blocks_per_mcu: usize = self.order.iter().map(|(i, _, _)| self.blocks_per_mcu(*i)).sum();
        if blocks_per_mcu > 10 || grid.mcus == 0 {
            return None;
        }
        let (end_bit, end_marker) = if threads >= 2 && data.len() >= 1 << 16 && self.restart > 0 {
            self.decode_at_restart(data, grid, &mut outs)?
        } else if threads >= 2 && data.len() >= 1 << 16 {
            self.decode_split(data, grid, &mut outs)?
        } else {
            let mut bits = Bits::new(data, 0, 0);
            let mut pred = [0i32; 4];
            self.run(&mut bits, grid, 0..grid.mcus, &mut pred, &mut outs)?;
            (bits.at(), bits.marker_after())
        };
        // The data must end where the last MCU does (bar its last byte's
        // padding), at the end-of-image marker: else libjpeg decides.
        let (end, data_total) = end_marker?;
        if end_bit.div_ceil(8) != data_total || data.get(end..end + 2)? != [0xFF, 0xD9] {
            return None;
        }
        Some(outs.into_iter().map(|o| o.builder).collect())
    }

    /// Decodes MCUs `mcus` from `bits`, predictors `pred`, into `outs`.
    fn run(
        &self,
        bits: &mut Bits<'_>,
        grid: Grid,
        mcus: std::ops::Range<usize>,
        pred: &mut [i32; 4],
        outs: &mut [Out],
    ) -> Option<()> {
        for m in mcus {
            if self.restart > 0 && m > 0 && m % self.restart == 0 {
                self.next_interval(bits, m / self.restart)?;
                *pred = [0; 4];
            }
            self.mcu(bits, grid, m, pred, outs)?;
        }
        (!bits.overrun()).then_some(())
    }

    /// Steps over the restart marker that ends interval `k - 1`: nothing but
    /// the last byte's padding may come before it, and it must be RST((k - 1) mod 8).
    fn next_interval(&self, bits: &mut Bits<'_>, k: usize) -> Option<()> {
        if bits.overrun() {
            return None;
        }
        let at = bits.at();
        let (pos, before) = bits.marker_after()?;
        let data = bits.data;
        if at.div_ceil(8) != before || data.get(pos..pos + 2)? != [0xFF, 0xD0 + ((k - 1) % 8) as u8] {
            return None;
        }
        *bits = Bits::new(data, pos + 2, before);
        Some(())
    }

    /// Decodes MCU `m` into `outs`.
    #[inline(always)]
    fn mcu(
        &self,
        bits: &mut Bits<'_>,
        grid: Grid,
        m: usize,
        pred: &mut [i32; 4],
        outs: &mut [Out],
    ) -> Option<()> {
        let mut block = [0i16; 64];
        let (mx, my) = (m % grid.mcus_x, m / grid.mcus_x);
        for (si, (ci, dc, ac)) in self.order.iter().enumerate() {
            let o = &mut outs[*ci];
            for yy in 0..o.v {
                for xx in 0..o.h {
                    let side = decode_block(bits, dc, ac, &mut pred[si], &mut block)?;
                    let (bx, by) = (mx * o.h + xx, my * o.v + yy);
                    if bx < o.wb && by < o.hb {
                        o.builder.place(by * o.wb + bx, &block, side);
                    }
                    block = [0; 64];
                }
            }
        }
        if mx + 1 == grid.mcus_x && bits.overrun() {
            return None;
        }
        Some(())
    }

    fn blocks_per_mcu(&self, ci: usize) -> usize {
        if self.order.len() == 1 {
            1
        } else {
            (self.comps[ci].h * self.comps[ci].v) as usize
        }
    }
}

impl Bits<'_> {
    /// Where the marker after the data starts and the data bytes before it
    /// (stuffing not counted), reading on to it.
    fn marker_after(&mut self) -> Option<(usize, u64)> {
        while self.marker.is_none() {
            self.n = 0;
            self.acc = 0;
            self.fill_slow();
        }
        Some((self.marker?, self.loaded - u64::from(self.padded / 8)))
    }
}

/// A component's blocks across and down (libjpeg's width_in_blocks, height_in_blocks).
fn blocks_of(width: u32, height: u32, c: &FrameComponent, max_h: usize, max_v: usize) -> (usize, usize) {
    let w = (width as usize * c.h as usize).div_ceil(max_h);
    let h = (height as usize * c.v as usize).div_ceil(max_v);
    (w.div_ceil(8), h.div_ceil(8))
}

/// One block into `block` (zeroed; SHELL order); returns its stored side.
#[inline(always)]
fn decode_block(
    bits: &mut Bits<'_>,
    dc: &Table,
    ac: &Table,
    pred: &mut i32,
    block: &mut [i16; 64],
) -> Option<usize> {
    bits.fill();
    let (l, _, v) = dc.full[bits.peek(LOOK) as usize];
    let diff = if l != 0 {
        bits.skip(u32::from(l));
        i32::from(v)
    } else {
        let s = u32::from(bits.symbol(dc)?);
        extend(bits.take(s), s)
    };
    *pred = pred.wrapping_add(diff);
    block[0] = *pred as i16;
    let mut side = usize::from(block[0] != 0);
    let mut k = 1usize;
    while k < 64 {
        bits.fill();
        let (l, run, v) = ac.full[bits.peek(LOOK) as usize];
        if l != 0 {
            bits.skip(u32::from(l));
            if run >= ZRL {
                if run == EOB {
                    break;
                }
                k += 16;
                continue;
            }
            k += usize::from(run);
            if k > 63 {
                return None;
            }
            block[usize::from(PLACE.pos[k])] = v;
            side = side.max(usize::from(PLACE.side[k]));
            k += 1;
            continue;
        }
        let rs = bits.symbol(ac)?;
        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
        if s != 0 {
            k += r;
            if k > 63 {
                return None;
            }
            let v = extend(bits.take(s), s);
            block[usize::from(PLACE.pos[k])] = v as i16;
            side = side.max(usize::from(PLACE.side[k]));
        } else {
            if r != 15 {
                break;
            }
            k += 15;
        }
        k += 1;
    }
    Some(side)
}
