//! The whole field pipeline from photo bytes, with the built-in packs on the
//! real LiteRT engine: typed errors only; a report that comes back is sane
//! (boxes inside the photo, probabilities finite and in 0..1) and
//! serialises.
#![no_main]
use hemalens_core::field::{AnalyzeOptions, Analyzer};
use hemalens_core::DecodeLimits;
use std::sync::OnceLock;

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| {
        let screen = hemalens_packs::builtin("all-screen").expect("built-in screening pack");
        let cells = hemalens_packs::builtin("wbc-type").expect("built-in cell pack");
        // Small photos only: a big header is a valid input, but slows the fuzzer.
        let opts = AnalyzeOptions {
            decode: DecodeLimits { max_pixels: 1 << 21, max_pixels_scaled: 1 << 22, max_file_bytes: 4 << 20 },
            ..AnalyzeOptions::default()
        };
        Analyzer::with_options(&screen, &cells, 2, opts).expect("analyzer")
    })
}

fn sane(probs: &hemalens_core::field::report::Probs) {
    assert!(!probs.0.is_empty(), "a prediction has classes");
    assert!(
        probs.0.iter().all(|p| p.prob.is_finite() && (0.0..=1.0).contains(&p.prob)),
        "probabilities in 0..1"
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(a) = analyzer().analyze_full(data) else { return };
    let r = &a.report;
    let (w, h) = a.photo.displayed();
    for c in &r.cells {
        assert!(c.bbox.w > 0 && c.bbox.h > 0, "a cell has a size");
        assert!(c.bbox.x + c.bbox.w <= w && c.bbox.y + c.bbox.h <= h, "a cell lies inside the photo");
        assert!(c.confidence.is_finite());
        sane(&c.probs);
    }
    if let Some(s) = &r.screen {
        sane(&s.probs);
    }
    assert!(r.quality.focus.is_finite() && r.quality.exposure.is_finite());
    serde_json::to_string(r).expect("a report serialises");
});
