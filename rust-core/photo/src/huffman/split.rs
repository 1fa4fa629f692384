//! The scan split between two threads (see the parent module's docs): at
//! the restart marker nearest the middle, or mid-scan by resynchronisation.
use super::{decode_block, keep, Bits, End, Grid, Out, Scan};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

impl Scan {
    /// Two threads on a JPEG with restart markers: the second starts at the
    /// marker nearest the middle, where the predictors are reset and the MCU
    /// it begins is known, so nothing is guessed.
    pub(super) fn decode_at_restart(&self, data: &[u8], grid: Grid, outs: &mut [Out]) -> Option<End> {
        // The restart marker at or after the middle, and how many come before it.
        let mut p = data.len() / 2;
        loop {
            let q = p + data.get(p..)?.iter().position(|&b| b == 0xFF)?;
            match data.get(q + 1) {
                Some(0xD0..=0xD7) => {
                    p = q;
                    break;
                }
                _ => p = q + 1,
            }
        }
        let mut before = 0;
        let mut i = 0;
        while let Some(off) = data[i..p].iter().position(|&b| b == 0xFF) {
            before += usize::from(matches!(data.get(i + off + 1), Some(0xD0..=0xD7)));
            i += off + 1;
        }
        // That marker ends interval `before`; the second thread takes the rest.
        let m0 = (before + 1).checked_mul(self.restart)?;
        if m0 >= grid.mcus || data[p + 1] != 0xD0 + (before % 8) as u8 {
            return None;
        }
        let room = self.room(grid);
        let (tail, head) = crate::parallel::join(
            || self.decode_tail(data, p + 2, m0, grid, room),
            || {
                let mut bits = Bits::new(data, 0, 0);
                let mut pred = [0i32; 4];
                self.run(&mut bits, grid, 0..m0, &mut pred, outs)?;
                // It must end at that very marker.
                self.next_interval(&mut bits, m0 / self.restart)?;
                (bits.pos == p + 2).then_some(())
            },
        );
        head?;
        let tail = tail??;
        self.scatter(grid, m0, &tail.entries, tail.data, &[0; 4], outs)?;
        Some((tail.end_bit, tail.marker))
    }

    /// MCUs `m0..` from byte `start` (just after a restart marker) into the
    /// second thread's own stores.
    fn decode_tail(
        &self,
        data: &[u8],
        start: usize,
        m0: usize,
        grid: Grid,
        room: Room,
    ) -> Option<Speculation> {
        let Room { data: mut store, mut entries, .. } = room;
        let mut bits = Bits::new(data, start, 0);
        let mut pred = [0i32; 4];
        let mut block = [0i16; 64];
        for m in m0..grid.mcus {
            if m > m0 && m % self.restart == 0 {
                self.next_interval(&mut bits, m / self.restart)?;
                pred = [0; 4];
            }
            for (si, (ci, dc, ac)) in self.order.iter().enumerate() {
                for _ in 0..self.blocks_per_mcu(*ci) {
                    let side = decode_block(&mut bits, dc, ac, &mut pred[si], &mut block)?;
                    entries.push((store[*ci].len(), side));
                    keep(&mut store[*ci], &block, side);
                    block = [0; 64];
                }
            }
            if (m + 1) % grid.mcus_x == 0 && bits.overrun() {
                return None;
            }
        }
        if bits.overrun() {
            return None;
        }
        let end_bit = bits.at();
        let marker = bits.marker_after();
        Some(Speculation { data: store, entries, chain: 0, end_bit, marker })
    }

    /// The second thread's blocks, from MCU `m` on, into `outs`, their DC
    /// values put right by `delta` (per scan component).
    fn scatter(
        &self,
        grid: Grid,
        m: usize,
        entries: &[(usize, usize)],
        mut more: Vec<Vec<i16>>,
        delta: &[i32; 4],
        outs: &mut [Out],
    ) -> Option<()> {
        let mut e = 0;
        for mm in m..grid.mcus {
            let (mx, my) = (mm % grid.mcus_x, mm / grid.mcus_x);
            for (si, (ci, _, _)) in self.order.iter().enumerate() {
                let (o, d) = (&mut outs[*ci], &mut more[*ci]);
                for yy in 0..o.v {
                    for xx in 0..o.h {
                        let (start, side) = *entries.get(e)?;
                        e += 1;
                        let (bx, by) = (mx * o.h + xx, my * o.v + yy);
                        if bx < o.wb && by < o.hb {
                            let side = if side == 0 {
                                0
                            } else {
                                let dc = d.get_mut(start)?;
                                *dc = i32::from(*dc).wrapping_add(delta[si]) as i16;
                                // A block of DC alone that is 0 (now) stores nothing.
                                if side == 1 && *dc == 0 {
                                    0
                                } else {
                                    side
                                }
                            };
                            o.builder.refer(by * o.wb + bx, start, side);
                        }
                    }
                }
            }
        }
        for (o, d) in outs.iter_mut().zip(more) {
            o.builder.set_more(d);
        }
        Some(())
    }

    /// Buffers for the second thread, taken on this one: a thread's own
    /// allocations come from its own arena, which glibc gives back (and
    /// faults in again).
    fn room(&self, grid: Grid) -> Room {
        // Every block the scan codes (MCU padding too), at most: only the
        // pages written are touched.
        let per_mcu =
            |ci: usize| if self.order.iter().any(|o| o.0 == ci) { self.blocks_per_mcu(ci) } else { 0 };
        let total: usize = (0..self.comps.len()).map(per_mcu).sum::<usize>() * grid.mcus;
        Room {
            data: (0..self.comps.len())
                .map(|ci| Vec::with_capacity(per_mcu(ci) * grid.mcus * 64 + 64))
                .collect(),
            entries: Vec::with_capacity(total + 64),
            starts: Vec::with_capacity(grid.mcus + 64),
        }
    }

    /// Two threads: see the module docs. Returns the end bit and the marker.
    pub(super) fn decode_split(&self, data: &[u8], grid: Grid, outs: &mut [Out]) -> Option<End> {
        let shared = Shared {
            starts: Mutex::new(Vec::with_capacity(grid.mcus + 64)),
            published: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        };
        let room = self.room(grid);
        // The second thread starts at a byte not inside a stuffed 0xFF 0x00.
        let mut mid = data.len() / 2;
        while mid > 0 && data[mid - 1] == 0xFF {
            mid -= 1;
        }
        let (second, first) = crate::parallel::join(
            || self.speculate(data, &shared, room, mid),
            || {
                let mut bits = Bits::new(data, 0, 0);
                let mut pred = [0i32; 4];
                let mut met = None;
                let mut next = 0usize;
                let mut m = 0usize;
                let mut ok = true;
                while m < grid.mcus {
                    // Is this MCU one the second thread began at? (It starts
                    // at byte `mid`: no need to look before.)
                    let seen = if bits.pos >= mid { shared.published.load(Ordering::Acquire) } else { 0 };
                    if next < seen {
                        if let Ok(st) = shared.starts.lock() {
                            let at = bits.at();
                            while next < seen && st[next].bit < at {
                                next += 1;
                            }
                            if next < seen && st[next].bit == at {
                                met = Some((m, next, pred));
                                break;
                            }
                        }
                    }
                    if self.mcu(&mut bits, grid, m, &mut pred, outs).is_none() {
                        ok = false;
                        break;
                    }
                    m += 1;
                }
                if met.is_none() {
                    shared.stop.store(true, Ordering::Release);
                }
                (bits, m, met, ok)
            },
        );
        let (mut bits, m, met, ok) = first;
        if !ok || bits.overrun() {
            return None;
        }
        let Some((m, j, pa)) = met else {
            // Never met: the first thread went on to the end by itself.
            return (m == grid.mcus).then(|| (bits.at(), bits.marker_after()));
        };
        let spec = second??;
        let starts = shared.starts.into_inner().ok()?;
        // Its MCUs from j on are MCUs m.. of the image, if it went on in
        // step to the end (else the data is bad: libjpeg's to report).
        if j < spec.chain || starts.len() - j != grid.mcus - m {
            return None;
        }
        let mut delta = [0i32; 4];
        for (si, d) in delta.iter_mut().enumerate().take(self.order.len()) {
            *d = pa[si].wrapping_sub(starts[j].pred[si]);
        }
        // Blocks decoded before the chain are not the image's.
        self.scatter(grid, m, spec.entries.get(starts[j].entry..)?, spec.data, &delta, outs)?;
        Some((spec.end_bit, spec.marker))
    }

    /// The second thread: decodes from a byte in the middle to the end,
    /// recording where each MCU it takes for one began; stops when told.
    fn speculate(&self, data: &[u8], shared: &Shared, room: Room, mid: usize) -> Option<Speculation> {
        let before = data_bytes_before(data, mid)? as u64;
        let mut bits = Bits::new(data, mid, before);
        let mut pred = [0i32; 4];
        let mut block = [0i16; 64];
        // Per component, as the MCU's layout says (garbage before the chain, unused).
        if shared.stop.load(Ordering::Acquire) {
            // Started too late to be of use.
            return None;
        }
        let Room { data: mut data_b, mut entries, starts: mut local } = room;
        let (mut chain, mut end_bit) = (0usize, bits.at());
        let publish = |local: &[Start]| {
            if let Ok(mut st) = shared.starts.lock() {
                let have = st.len();
                st.extend_from_slice(&local[have..]);
                shared.published.store(st.len(), Ordering::Release);
            }
        };
        'mcus: loop {
            if local.len() % 32 == 0 && !local.is_empty() {
                if shared.stop.load(Ordering::Acquire) {
                    return None;
                }
                publish(&local);
            }
            let start = Start { bit: bits.at(), pred, entry: entries.len() };
            for (si, (ci, dc, ac)) in self.order.iter().enumerate() {
                for _ in 0..self.blocks_per_mcu(*ci) {
                    let decoded = decode_block(&mut bits, dc, ac, &mut pred[si], &mut block);
                    if bits.overrun() {
                        break 'mcus;
                    }
                    match decoded {
                        Some(side) => {
                            // Never more than the room taken for it: data that
                            // is not the image's (in step or not) is libjpeg's.
                            if data_b[*ci].len() + 64 > data_b[*ci].capacity()
                                || entries.len() == entries.capacity()
                            {
                                return None;
                            }
                            // DC is always stored: it changes when the predictor is put right.
                            let side = side.max(1);
                            entries.push((data_b[*ci].len(), side));
                            keep(&mut data_b[*ci], &block, side);
                            block = [0; 64];
                        }
                        None => {
                            // Not in step yet (or bad data): a new chain from
                            // a bit further on.
                            bits.fill();
                            bits.skip(1);
                            block = [0; 64];
                            chain = local.len();
                            continue 'mcus;
                        }
                    }
                }
            }
            if local.len() == local.capacity() {
                return None;
            }
            local.push(start);
            end_bit = bits.at();
        }
        publish(&local);
        let marker = bits.marker_after();
        Some(Speculation { data: data_b, entries, chain, end_bit, marker })
    }
}

/// An MCU start the second thread saw.
#[derive(Clone, Copy)]
struct Start {
    /// Data bit it began at.
    bit: u64,
    /// Its predictors then.
    pred: [i32; 4],
    /// Its first block's index in the second thread's entries.
    entry: usize,
}

/// Buffers for the second thread.
struct Room {
    data: Vec<Vec<i16>>,
    entries: Vec<(usize, usize)>,
    starts: Vec<Start>,
}

/// Between the two threads.
struct Shared {
    starts: Mutex<Vec<Start>>,
    published: AtomicUsize,
    stop: AtomicBool,
}

/// What the second thread decoded.
struct Speculation {
    /// Per frame component, the squares of its blocks.
    data: Vec<Vec<i16>>,
    /// Per block decoded: start in its component's `data` and stored side.
    entries: Vec<(usize, usize)>,
    /// First start of its last unbroken chain of MCUs.
    chain: usize,
    /// Bit after its last whole MCU.
    end_bit: u64,
    marker: Option<(usize, u64)>,
}

/// Data bytes (stuffing not counted) in `data[..end]`.
fn data_bytes_before(data: &[u8], end: usize) -> Option<usize> {
    let head = data.get(..end)?;
    let mut stuffed = 0;
    let mut i = 0;
    while let Some(off) = head[i..].iter().position(|&b| b == 0xFF) {
        let at = i + off;
        match head.get(at + 1) {
            Some(0) => {
                stuffed += 1;
                i = at + 2;
            }
            // Fill bytes or a marker inside the data: libjpeg's business.
            _ => return None,
        }
    }
    Some(end - stuffed)
}
