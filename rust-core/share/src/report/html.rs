//! The report as one self-contained HTML page: inline CSS, the pictures as
//! `data:` URIs, boxes and labels as inline SVG over them. Every piece of
//! text from the record is escaped (patient codes, reviewer names and notes
//! are typed by people).

use std::fmt::Write as _;

use hemalens_core::field::overlay::class_colour;

use super::doc::{interval, pct, Doc, Tone, DISCLAIMER, UNCERTAIN};
use super::images::{Jpeg, Overlay};

/// Text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, padded).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn data_uri(j: &Jpeg) -> String {
    format!("data:image/jpeg;base64,{}", base64(&j.bytes))
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn ink_on(c: [u8; 3]) -> &'static str {
    let l = 0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]);
    if l > 150.0 {
        "#000"
    } else {
        "#fff"
    }
}

const CSS: &str = r#"
:root{--ink:#1a1a1f;--grey:#66666f;--rule:#c7c7cc;--panel:#f1f2f5;--head:#1f4073}
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:860px;margin:0 auto;padding:20px 22px 40px}
header.top{display:flex;justify-content:space-between;color:var(--grey);font-size:12px;border-bottom:1px solid var(--rule);padding-bottom:6px}
h1{font-size:26px;margin:14px 0 2px}
.sub{color:var(--grey);font-size:13px;margin:0 0 12px}
h2{color:var(--head);font-size:18px;border-bottom:1.5px solid var(--head);padding-bottom:3px;margin:26px 0 10px}
h3{font-size:14px;margin:16px 0 6px}
.id{background:var(--panel);padding:10px 14px;display:grid;grid-template-columns:1fr 1fr;gap:6px 18px}
.id div span{display:block;color:var(--grey);font-size:11px}
.id .patient{grid-column:1/3;font-size:20px;font-weight:700}
.outcome{border:1.5px solid;border-left-width:8px;padding:10px 16px;margin:14px 0}
.outcome .k{font-size:11px;font-weight:700;letter-spacing:.08em}
.outcome .h{font-size:30px;font-weight:800;text-transform:uppercase;margin:0 0 4px}
.outcome .next{font-weight:700;font-size:15px}
.outcome ul{margin:4px 0 6px;padding-left:20px}
.outcome .rev{color:var(--grey);font-size:12.5px;margin:2px 0}
.refer{border-color:#c21c1c;background:#fdebeb}.refer .k,.refer .h{color:#c21c1c}
.clear{border-color:#217a33;background:#e8f5e9}.clear .k,.clear .h{color:#217a33}
.unsure{border-color:#b86b00;background:#fff2d9}.unsure .k,.unsure .h{color:#b86b00}
.t-refer{color:#c21c1c}.t-clear{color:#217a33}.t-unsure{color:#b86b00}
table{border-collapse:collapse;width:100%;font-size:13px}
th{color:var(--grey);font-size:12px;text-align:left;border-bottom:1px solid var(--rule);padding:3px 6px}
td{padding:3px 6px;vertical-align:top}
tr:nth-child(even) td{background:#f4f4f6}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.note{color:var(--grey);font-size:12.5px}
.gallery{display:flex;flex-wrap:wrap;gap:8px}
.gallery figure{margin:0;width:96px;font-size:11px;color:var(--grey)}
.gallery img{width:96px;height:96px;display:block}
.gallery figure.rev img{outline:3px solid var(--c)}
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
.field{margin:14px 0 22px}
.field svg{width:100%;height:auto;display:block}
.legend span{margin-right:14px;font-size:12.5px;white-space:nowrap}
.legend i{display:inline-block;width:16px;height:10px;border:2px solid;margin-right:5px;vertical-align:-1px}
.disclaimer{background:var(--panel);padding:10px 14px;margin-top:18px}
.pairs{display:grid;grid-template-columns:auto 1fr auto 1fr;gap:2px 12px;font-size:13px}
.pairs span:nth-child(odd){color:var(--grey)}
@media print{main{max-width:none}.field,.outcome{break-inside:avoid}}
"#;

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Refer => "refer",
        Tone::Clear => "clear",
        Tone::Unsure => "unsure",
    }
}

fn pairs(out: &mut String, items: &[(String, String)]) {
    out.push_str("<div class=\"pairs\">");
    for (k, v) in items {
        let _ = write!(out, "<span>{}</span><span>{}</span>", escape(k), escape(v));
    }
    out.push_str("</div>");
}

fn overlay_svg(out: &mut String, o: &Overlay, title: &str) {
    let (w, h) = (o.image.width, o.image.height);
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><image href=\"{}\" width=\"{w}\" height=\"{h}\"/>",
        escape(title),
        data_uri(&o.image)
    );
    let size = (f64::from(w.max(h)) / 60.0).max(9.0);
    for m in &o.marks {
        let (x, y) = (f64::from(m.x).max(0.0), f64::from(m.y).max(0.0));
        let bw = (f64::from(m.x + m.w)).min(f64::from(w)) - x;
        let bh = (f64::from(m.y + m.h)).min(f64::from(h)) - y;
        if bw <= 1.0 || bh <= 1.0 {
            continue;
        }
        let c = hex(m.colour);
        let dash = if m.counted { "" } else { " stroke-dasharray=\"6 4\"" };
        // A dark edge under the class colour keeps pale colours visible.
        for (stroke, width) in [("#1f1f24", size / 2.2), (c.as_str(), size / 4.0)] {
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width:.1}\"{dash}/>"
            );
        }
        let tw = m.text.chars().count() as f64 * size * 0.6 + 6.0;
        let th = size * 1.35;
        let lx = x.min(f64::from(w) - tw).max(0.0);
        let ly = if y >= th { y - th } else { y };
        let _ = write!(
            out,
            "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"{tw:.1}\" height=\"{th:.1}\" fill=\"{c}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{size:.1}\" font-weight=\"700\" font-family=\"Helvetica,Arial,sans-serif\" fill=\"{}\">{}</text>",
            lx + 3.0,
            ly + size * 1.05,
            ink_on(m.colour),
            escape(&m.text)
        );
    }
    out.push_str("</svg>");
}

/// The whole page.
pub(crate) fn write(doc: &Doc, uid: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Hemalens screening report</title><style>{CSS}</style></head><body><main>"
    );
    let _ = write!(
        o,
        "<header class=\"top\"><b>Hemalens screening report</b><span>Patient {} · Session {}</span></header>",
        escape(&doc.patient),
        escape(uid)
    );
    o.push_str("<h1>Blood smear screening report</h1><p class=\"sub\">White-cell differential and leukaemia screen from photos of one stained blood smear, read on the device. Times are UTC.</p>");

    o.push_str("<section class=\"id\">");
    for (i, (k, v)) in doc.identity.iter().enumerate() {
        let cls = if i == 0 { " class=\"patient\"" } else { "" };
        let _ = write!(o, "<div{cls}><span>{}</span>{}</div>", escape(k), escape(v));
    }
    o.push_str("</section>");

    let oc = &doc.outcome;
    let _ = write!(
        o,
        "<section class=\"outcome {}\"><div class=\"k\">OUTCOME</div><div class=\"h\">{}</div><div class=\"next\">Next step: {}</div>",
        tone_class(oc.tone),
        escape(&oc.headline),
        escape(&oc.next_step)
    );
    if !oc.reasons.is_empty() {
        let _ = write!(
            o,
            "<div class=\"k\" style=\"color:#66666f;margin-top:6px\">{}</div><ul>",
            if oc.overridden { "THE MACHINE'S REASONS" } else { "WHY" }
        );
        for r in &oc.reasons {
            let _ = write!(o, "<li>{}</li>", escape(r));
        }
        o.push_str("</ul>");
    }
    for r in &oc.review {
        let _ = write!(o, "<p class=\"rev\">{}</p>", escape(r));
    }
    o.push_str("</section>");

    o.push_str("<h2>White-cell differential</h2><table><tr><th>Class</th><th class=\"n\">Count</th><th class=\"n\">Share</th><th class=\"n\">95% interval</th><th class=\"n\">Usual range</th><th style=\"width:30%\">0–100%</th></tr>");
    for r in &doc.differential {
        let mut bar = String::from(
            "<svg viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" style=\"width:100%;height:12px\">",
        );
        bar.push_str("<rect x=\"0\" y=\"4.6\" width=\"100\" height=\"0.8\" fill=\"#c7c7cc\"/>");
        if let Some((lo, hi)) = r.range {
            let _ = write!(
                bar,
                "<rect x=\"{:.2}\" y=\"1\" width=\"{:.2}\" height=\"8\" fill=\"#d9ebdb\"/>",
                lo * 100.0,
                (hi - lo) * 100.0
            );
        }
        let _ = write!(
            bar,
            "<rect x=\"{:.2}\" y=\"4\" width=\"{:.2}\" height=\"2\" fill=\"#1f4073\"/>",
            r.low * 100.0,
            ((r.high - r.low) * 100.0).max(0.5)
        );
        if r.count > 0 {
            let _ = write!(
                bar,
                "<rect x=\"{:.2}\" y=\"1\" width=\"1.2\" height=\"8\" fill=\"#1a1a1f\"/>",
                r.p * 100.0 - 0.6
            );
        }
        bar.push_str("</svg>");
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{bar}</td></tr>",
            escape(&r.name),
            r.count,
            pct(r.p),
            interval(r.low, r.high),
            escape(&r.range_text)
        );
    }
    let _ = write!(
        o,
        "</table><p class=\"note\">{} The bar is the 95% interval (Wilson), the black mark the share, the green band the usual range the rule accepts.</p>",
        escape(&doc.differential_note)
    );

    o.push_str("<h2>Leukaemia screen (acute lymphoblastic leukaemia)</h2>");
    match &doc.screen {
        Some(s) => {
            let _ = write!(o, "<p class=\"t-{}\"><b>{}</b></p>", tone_class(s.tone), escape(&s.headline));
            for d in &s.detail {
                let _ = write!(o, "<p>{}</p>", escape(d));
            }
            o.push_str("<table style=\"width:auto\"><tr><th>Class</th><th class=\"n\">Probability</th></tr>");
            for (l, p) in &s.probs {
                let _ = write!(o, "<tr><td>{}</td><td class=\"n\">{}</td></tr>", escape(l), escape(p));
            }
            o.push_str("</table>");
        }
        None => o.push_str("<p>No accepted field was screened.</p>"),
    }

    let _ = write!(
        o,
        "<h2>Photos and cells</h2><p>{}<br>{}</p>",
        escape(&doc.photos_line),
        escape(&doc.cells_line)
    );
    if !doc.rejected.is_empty() {
        o.push_str("<h3>Rejected photos (not analysed, not shown)</h3><table><tr><th>Field</th><th>Issues</th><th>What the quality gate said</th></tr>");
        for r in &doc.rejected {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.number,
                escape(&r.codes),
                escape(&r.messages)
            );
        }
        o.push_str("</table>");
    }
    for n in &doc.notes {
        let _ = write!(o, "<p class=\"note\">{}</p>", escape(n));
    }

    o.push_str("<h2>Reviews</h2>");
    if doc.reviews.is_empty() {
        o.push_str("<p>No one has reviewed this session.</p>");
    } else {
        o.push_str("<table><tr><th>When (UTC)</th><th>Reviewer</th><th>What</th><th>Note</th></tr>");
        for r in &doc.reviews {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.at),
                escape(&r.who),
                escape(&r.what),
                escape(r.note.as_deref().unwrap_or(""))
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Provenance</h2><table><tr><th>Pack</th><th>Version</th><th>SHA-256</th></tr>");
    for m in &doc.models {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            escape(&m.id),
            escape(&m.version),
            escape(&m.sha256)
        );
    }
    o.push_str("</table><p></p>");
    pairs(&mut o, &doc.provenance);
    o.push_str("<h3>Thresholds the rule compared against</h3>");
    pairs(&mut o, &doc.thresholds);
    let _ = write!(o, "<p class=\"disclaimer\">{}</p>", escape(DISCLAIMER));

    o.push_str("<h2>Cell gallery</h2><p>Every cell found in the accepted fields, cut from its photo and grouped under the class that stands (a reviewer's label where one was given). Captions: field·cell and the cell model's confidence.</p>");
    for g in &doc.gallery {
        let colour =
            if g.key == UNCERTAIN { [150, 150, 150] } else { class_colour(&doc.colour_labels, &g.key) };
        let _ = write!(
            o,
            "<h3><span class=\"sw\" style=\"background:{}\"></span>{} ({})</h3><div class=\"gallery\" style=\"--c:{}\">",
            hex(colour),
            escape(&g.title),
            g.total,
            hex(colour)
        );
        for c in &g.crops {
            let cls = if c.cell.relabelled_by.is_some() { " class=\"rev\"" } else { "" };
            let img = c.image.as_ref().map_or_else(
                || "<div style=\"width:96px;height:96px;background:#f1f2f5\"></div>".to_string(),
                |j| format!("<img alt=\"\" src=\"{}\">", data_uri(j)),
            );
            let _ = write!(o, "<figure{cls}>{img}<figcaption>{}</figcaption></figure>", escape(&c.caption));
        }
        o.push_str("</div>");
    }

    if !doc.fields.is_empty() {
        o.push_str("<h2>Fields</h2><p>Each accepted photo, downscaled (to its eyepiece circle when there is one), with every cell the pipeline found boxed in its class colour. Rejected photos are listed under Photos and cells.</p><p class=\"legend\">");
        let mut seen: Vec<&String> = Vec::new();
        for c in doc.fields.iter().flat_map(|f| &f.cells) {
            if !seen.contains(&&c.label) {
                seen.push(&c.label);
                let _ = write!(
                    o,
                    "<span><i style=\"border-color:{}\"></i>{}</span>",
                    hex(class_colour(&doc.colour_labels, &c.label)),
                    escape(&c.label)
                );
            }
        }
        o.push_str("<span><i style=\"border-color:#66666f;border-style:dashed\"></i>dashed: uncertain, not counted</span></p>");
        for f in &doc.fields {
            let title = format!("Field {}", f.number);
            let _ = write!(
                o,
                "<div class=\"field\"><h3>{} <span class=\"note\">{}</span></h3>",
                escape(&title),
                escape(&f.summary)
            );
            match &f.overlay {
                Some(ov) => overlay_svg(&mut o, ov, &title),
                None => {
                    let _ = write!(
                        o,
                        "<p class=\"note\">{}</p>",
                        escape(f.missing.as_deref().unwrap_or("Not shown."))
                    );
                }
            }
            o.push_str("</div>");
        }
    }
    o.push_str("</main></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape("<b>P&1\"'"), "&lt;b&gt;P&amp;1&quot;&#39;");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
}
