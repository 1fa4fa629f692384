//! Output tensor to calibrated probabilities, in the order fixed by
//! `docs/model-pack.md` so every platform gets bitwise the same numbers.
use crate::pack::{DType, OutputKind, OutputSpec};

/// Dequantises one item's raw output bytes to f64 values (`z` in the spec).
pub fn dequantize(raw: &[u8], spec: &OutputSpec) -> Vec<f64> {
    let (scale, zp) = spec.quantization.map(|q| (q.scale, q.zero_point)).unwrap_or((1.0, 0));
    match spec.dtype {
        DType::Int8 => raw.iter().map(|&b| f64::from((i64::from(b as i8) - zp) as f32 * scale)).collect(),
        DType::Uint8 => raw.iter().map(|&b| f64::from((i64::from(b) - zp) as f32 * scale)).collect(),
        DType::Float32 => {
            raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
    }
}

/// `softmax(z / temperature)` for logits; for probabilities, `p^(1/T)` renormalised.
pub fn calibrated(z: &[f64], kind: OutputKind, temperature: f64) -> Vec<f64> {
    let t: Vec<f64> = match kind {
        OutputKind::Logits => z.iter().map(|v| v / temperature).collect(),
        // log of a zero probability is -inf; exp(-inf) = 0 keeps it zero.
        OutputKind::Probabilities => z.iter().map(|v| v.max(0.0).ln() / temperature).collect(),
    };
    if !t.iter().copied().fold(f64::NEG_INFINITY, f64::max).is_finite() {
        // All -inf (all-zero probabilities): no evidence, uniform.
        return vec![1.0 / z.len() as f64; z.len()];
    }
    softmax(&t)
}

/// `exp(z - max) / sum`, summed in index order (the order every platform uses).
pub(crate) fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let mut s = 0.0;
    for v in &e {
        s += v;
    }
    e.iter().map(|v| v / s).collect()
}

/// Index of the largest value (first on ties).
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::QuantParams;

    #[test]
    fn softmax_sums_to_one_and_temperature_flattens() {
        let z = [2.0, 1.0, -1.0];
        let p1 = calibrated(&z, OutputKind::Logits, 1.0);
        let p2 = calibrated(&z, OutputKind::Logits, 2.0);
        assert!((p1.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p2[0] < p1[0] && p2[2] > p1[2]);
        assert_eq!(argmax(&p1), 0);
    }

    #[test]
    fn int8_dequantisation() {
        let spec = OutputSpec {
            dtype: DType::Int8,
            kind: OutputKind::Logits,
            quantization: Some(QuantParams { scale: 0.5, zero_point: -3 }),
        };
        assert_eq!(dequantize(&[(-3i8) as u8, 1, (-128i8) as u8], &spec), vec![0.0, 2.0, -62.5]);
    }

    #[test]
    fn zero_probabilities_stay_zero() {
        let p = calibrated(&[0.0, 0.25, 0.75], OutputKind::Probabilities, 1.0);
        assert_eq!(p[0], 0.0);
        assert!((p[2] - 0.75).abs() < 1e-12);
        let u = calibrated(&[0.0, 0.0], OutputKind::Probabilities, 1.0);
        assert_eq!(u, vec![0.5, 0.5]);
    }
}
