//! Small raster tools the field stages share: masks, components, thresholds.
//! Plain loops over row-major buffers; fast enough at analysis resolution.

/// A binary mask, row-major.
#[derive(Debug, Clone)]
pub struct Mask {
    pub w: usize,
    pub h: usize,
    pub data: Vec<bool>,
}

impl Mask {
    pub fn from_fn(w: usize, h: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                data.push(f(x, y));
            }
        }
        Self { w, h, data }
    }

    #[cfg(test)]
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.data[y * self.w + x]
    }

    pub fn count(&self) -> usize {
        self.data.iter().filter(|v| **v).count()
    }

    /// 3x3 erosion applied `n` times.
    pub fn erode(&self, n: usize) -> Self {
        let mut m = self.clone();
        for _ in 0..n {
            m = m.morph(false);
        }
        m
    }

    /// 3x3 dilation applied `n` times.
    pub fn dilate(&self, n: usize) -> Self {
        let mut m = self.clone();
        for _ in 0..n {
            m = m.morph(true);
        }
        m
    }

    /// Opening: removes specks smaller than about `2n+1` pixels.
    pub fn open(&self, n: usize) -> Self {
        self.erode(n).dilate(n)
    }

    fn morph(&self, dilate: bool) -> Self {
        // Separable: rows then columns (a 3x3 square is the product of two 3-runs);
        // edges repeat. Plain slice loops the compiler vectorises.
        let (w, h) = (self.w, self.h);
        if w == 0 || h == 0 {
            return self.clone();
        }
        let op = |a: bool, b: bool, c: bool| if dilate { a | b | c } else { a & b & c };
        let mut tmp = vec![false; w * h];
        for (src, dst) in self.data.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            dst[0] = op(src[0], src[0], src[1.min(w - 1)]);
            for x in 1..w.saturating_sub(1) {
                dst[x] = op(src[x - 1], src[x], src[x + 1]);
            }
            if w > 1 {
                dst[w - 1] = op(src[w - 2], src[w - 1], src[w - 1]);
            }
        }
        let mut out = vec![false; w * h];
        for y in 0..h {
            let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
            let (ru, rc, rd) = (&tmp[u * w..(u + 1) * w], &tmp[y * w..(y + 1) * w], &tmp[d * w..(d + 1) * w]);
            for (((o, &a), &b), &c) in out[y * w..(y + 1) * w].iter_mut().zip(ru).zip(rc).zip(rd) {
                *o = op(a, b, c);
            }
        }
        Self { w, h, data: out }
    }

    /// Fills holes: background regions not connected to the border become foreground.
    pub fn fill_holes(&self) -> Self {
        let (w, h) = (self.w, self.h);
        let mut outside = vec![false; w * h];
        let mut stack = Vec::new();
        for x in 0..w {
            stack.push((x, 0));
            stack.push((x, h.saturating_sub(1)));
        }
        for y in 0..h {
            stack.push((0, y));
            stack.push((w.saturating_sub(1), y));
        }
        while let Some((x, y)) = stack.pop() {
            let i = y * w + x;
            if self.data[i] || outside[i] {
                continue;
            }
            outside[i] = true;
            if x > 0 {
                stack.push((x - 1, y));
            }
            if x + 1 < w {
                stack.push((x + 1, y));
            }
            if y > 0 {
                stack.push((x, y - 1));
            }
            if y + 1 < h {
                stack.push((x, y + 1));
            }
        }
        Self { w, h, data: outside.into_iter().map(|o| !o).collect() }
    }
}

/// A connected component's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    pub area: usize,
    pub x0: usize,
    pub y0: usize,
    /// Exclusive.
    pub x1: usize,
    /// Exclusive.
    pub y1: usize,
    pub cx: f64,
    pub cy: f64,
    pub touches_border: bool,
}

/// 8-connected components; returns per-pixel labels (0 = background, k+1 = component k)
/// and the components.
pub fn components(m: &Mask) -> (Vec<u32>, Vec<Component>) {
    let (w, h) = (m.w, m.h);
    let mut labels = vec![0u32; w * h];
    let mut parent: Vec<u32> = vec![0];
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !m.data[i] {
                continue;
            }
            let mut best = 0u32;
            let mut neigh = [0u32; 4];
            if x > 0 {
                neigh[0] = labels[i - 1];
            }
            if y > 0 {
                neigh[1] = labels[i - w];
                if x > 0 {
                    neigh[2] = labels[i - w - 1];
                }
                if x + 1 < w {
                    neigh[3] = labels[i - w + 1];
                }
            }
            for &n in &neigh {
                if n != 0 {
                    let r = find(&mut parent, n);
                    if best == 0 || r < best {
                        best = r;
                    }
                }
            }
            if best == 0 {
                best = parent.len() as u32;
                parent.push(best);
            } else {
                for &n in &neigh {
                    if n != 0 {
                        let r = find(&mut parent, n);
                        if r != best {
                            parent[r as usize] = best;
                        }
                    }
                }
            }
            labels[i] = best;
        }
    }
    // Compact roots to 1..=k and gather statistics.
    let mut remap = vec![0u32; parent.len()];
    let mut comps: Vec<Component> = Vec::new();
    let mut sums: Vec<(f64, f64)> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if labels[i] == 0 {
                continue;
            }
            let r = find(&mut parent, labels[i]) as usize;
            if remap[r] == 0 {
                comps.push(Component {
                    area: 0,
                    x0: x,
                    y0: y,
                    x1: x + 1,
                    y1: y + 1,
                    cx: 0.0,
                    cy: 0.0,
                    touches_border: false,
                });
                sums.push((0.0, 0.0));
                remap[r] = comps.len() as u32;
            }
            let k = remap[r];
            labels[i] = k;
            let c = &mut comps[k as usize - 1];
            c.area += 1;
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x + 1);
            c.y1 = c.y1.max(y + 1);
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                c.touches_border = true;
            }
            let s = &mut sums[k as usize - 1];
            s.0 += x as f64;
            s.1 += y as f64;
        }
    }
    for (c, s) in comps.iter_mut().zip(&sums) {
        c.cx = s.0 / c.area as f64;
        c.cy = s.1 / c.area as f64;
    }
    (labels, comps)
}

/// Otsu's threshold over byte values (returns t: "above t" is the bright class).
pub fn otsu(values: impl Iterator<Item = u8>) -> u8 {
    let mut hist = [0u64; 256];
    let mut n = 0u64;
    for v in values {
        hist[v as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 128;
    }
    let total: f64 = hist.iter().enumerate().map(|(i, c)| i as f64 * *c as f64).sum();
    let (mut sum_b, mut w_b, mut best, mut best_t) = (0.0, 0.0, -1.0, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w_b += c as f64;
        if w_b == 0.0 {
            continue;
        }
        let w_f = n as f64 - w_b;
        if w_f == 0.0 {
            break;
        }
        sum_b += t as f64 * c as f64;
        let m_b = sum_b / w_b;
        let m_f = (total - sum_b) / w_f;
        let between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Luminance averaged over `k`x`k` blocks: (values, width, height). Blocks at
/// the edge of a frame narrower than `k` reuse its last row or column.
pub fn box_luma(img: &image::RgbImage, k: u32) -> (Vec<f32>, usize, usize) {
    let k = k.max(1) as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (bw, bh) = ((w / k).max(1), (h / k).max(1));
    let raw = img.as_raw();
    let mut acc = vec![0u32; bw];
    let mut out = Vec::with_capacity(bw * bh);
    for by in 0..bh {
        acc.fill(0);
        for dy in 0..k {
            let y = (by * k + dy).min(h - 1);
            let row = &raw[y * w * 3..(y + 1) * w * 3];
            for (bx, a) in acc.iter_mut().enumerate() {
                for dx in 0..k {
                    let x = (bx * k + dx).min(w - 1);
                    *a += u32::from(luma([row[3 * x], row[3 * x + 1], row[3 * x + 2]]));
                }
            }
        }
        out.extend(acc.iter().map(|&a| a as f32 / (k * k) as f32));
    }
    (out, bw, bh)
}

/// A single-channel float image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Gray {
    /// One channel (0 red, 1 green, 2 blue) of an RGB image.
    pub fn channel(img: &image::RgbImage, c: usize) -> Self {
        let data = img.as_raw().chunks_exact(3).map(|p| f32::from(p[c])).collect();
        Self { w: img.width() as usize, h: img.height() as usize, data }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// The `w` x `h` rectangle at (`x0`, `y0`), which must lie inside.
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Self {
        let mut data = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            data.extend_from_slice(&self.data[y * self.w + x0..y * self.w + x0 + w]);
        }
        Self { w, h, data }
    }

    /// Half the size, each pixel the mean of a 2x2 block (odd edges dropped).
    pub fn half(&self) -> Self {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            let (y0, y1) = ((2 * y).min(self.h - 1), (2 * y + 1).min(self.h - 1));
            for x in 0..w {
                let (x0, x1) = ((2 * x).min(self.w - 1), (2 * x + 1).min(self.w - 1));
                data.push(0.25 * (self.at(x0, y0) + self.at(x1, y0) + self.at(x0, y1) + self.at(x1, y1)));
            }
        }
        Self { w, h, data }
    }

    /// 3x3 binomial blur (edges repeat).
    pub fn blur3(&self) -> Self {
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![0f32; w * h];
        for y in 0..h {
            let row = &self.data[y * w..(y + 1) * w];
            for x in 0..w {
                let l = row[x.saturating_sub(1)];
                let r = row[(x + 1).min(w - 1)];
                tmp[y * w + x] = 0.25 * l + 0.5 * row[x] + 0.25 * r;
            }
        }
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
            for x in 0..w {
                data[y * w + x] = 0.25 * tmp[u * w + x] + 0.5 * tmp[y * w + x] + 0.25 * tmp[d * w + x];
            }
        }
        Self { w, h, data }
    }
}

/// Integer luminance (Rec. 601 weights) of an RGB pixel.
#[inline]
pub fn luma(p: [u8; 3]) -> u8 {
    ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_holes() {
        // Two blobs, one ring with a hole.
        let m = Mask::from_fn(12, 8, |x, y| {
            let ring = (1..6).contains(&x) && (1..6).contains(&y) && !(x == 3 && y == 3);
            let dot = (8..10).contains(&x) && (2..4).contains(&y);
            ring || dot
        });
        let (_, c) = components(&m);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].area, 24);
        assert_eq!((c[0].x0, c[0].y0, c[0].x1, c[0].y1), (1, 1, 6, 6));
        assert_eq!(c[1].area, 4);
        let filled = m.fill_holes();
        assert!(filled.get(3, 3));
        assert!(!filled.get(7, 7));
        assert!(!m.open(1).get(8, 2), "a 2x2 speck does not survive opening");
    }

    #[test]
    fn otsu_splits_two_modes() {
        let v: Vec<u8> = (0..100).map(|i| if i < 50 { 20 } else { 200 }).collect();
        let t = otsu(v.into_iter());
        assert!((20..200).contains(&t));
    }
}
