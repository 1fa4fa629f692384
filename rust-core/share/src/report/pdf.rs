//! The report as a PDF (A4), written with `pdf-writer`: the standard
//! Helvetica fonts (nothing embedded), the photos as JPEG passed through
//! (DCTDecode), boxes and labels as vector shapes. The layout is a simple
//! flow from the top of the page down; a block that does not fit starts a new
//! page, and every page carries the patient code, the session and the
//! decision-support sentence.

use hemalens_core::field::overlay::class_colour;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::doc::{interval, pct, Doc, Tone, DISCLAIMER, FOOTER, UNCERTAIN};
use super::font::{self, Font};
use super::images::{Jpeg, Overlay};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.0;
/// Where content starts below the running header, and stops above the footer.
const TOP: f32 = 48.0;
const BOTTOM: f32 = 52.0;
const CW: f32 = PAGE_W - 2.0 * MARGIN;

type Rgb = [f32; 3];
const INK: Rgb = [0.10, 0.10, 0.12];
const GREY: Rgb = [0.40, 0.40, 0.44];
const RULE: Rgb = [0.78, 0.78, 0.80];
const ZEBRA: Rgb = [0.955, 0.955, 0.965];
const PANEL: Rgb = [0.945, 0.95, 0.96];
const HEADING: Rgb = [0.12, 0.25, 0.45];

fn tone_colours(t: Tone) -> (Rgb, Rgb) {
    match t {
        Tone::Refer => ([0.76, 0.11, 0.11], [0.99, 0.92, 0.92]),
        Tone::Clear => ([0.13, 0.48, 0.20], [0.91, 0.96, 0.91]),
        Tone::Unsure => ([0.72, 0.42, 0.0], [1.0, 0.95, 0.85]),
    }
}

fn rgb(c: [u8; 3]) -> Rgb {
    c.map(|v| f32::from(v) / 255.0)
}

/// Black or white, whichever reads on `c`.
fn ink_on(c: [u8; 3]) -> Rgb {
    let l = 0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]);
    if l > 150.0 {
        [0.0; 3]
    } else {
        [1.0; 3]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Col {
    title: &'static str,
    width: f32,
    align: Align,
    font: Font,
}

fn col(title: &'static str, width: f32) -> Col {
    Col { title, width, align: Align::Left, font: Font::Regular }
}

struct Page {
    content: Content,
    images: Vec<(String, Ref)>,
}

struct Writer {
    pdf: Pdf,
    next: i32,
    pages: Vec<Page>,
    /// Distance of the flow from the top of the page.
    y: f32,
    images: usize,
}

impl Writer {
    fn new() -> Self {
        let mut w = Self { pdf: Pdf::new(), next: 1, pages: Vec::new(), y: TOP, images: 0 };
        w.new_page();
        w
    }

    fn alloc(&mut self) -> Ref {
        let r = Ref::new(self.next);
        self.next += 1;
        r
    }

    fn new_page(&mut self) {
        self.pages.push(Page { content: Content::new(), images: Vec::new() });
        self.y = TOP;
    }

    fn c(&mut self) -> &mut Content {
        let last = self.pages.len() - 1;
        &mut self.pages[last].content
    }

    /// Room for `h` more points on this page, else a new page.
    fn ensure(&mut self, h: f32) {
        if self.y + h > PAGE_H - BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn gap(&mut self, h: f32) {
        self.y += h;
    }

    /// One line of text whose top is at `top` (from the top of the page).
    #[allow(clippy::too_many_arguments)]
    fn text(&mut self, x: f32, top: f32, font: Font, size: f32, colour: Rgb, s: &str) {
        let bytes = font::encode(s);
        let c = self.c();
        c.begin_text();
        c.set_font(Name(font.name()), size);
        c.set_fill_rgb(colour[0], colour[1], colour[2]);
        c.next_line(x, PAGE_H - top - size * 0.8);
        c.show(Str(&bytes));
        c.end_text();
    }

    #[allow(clippy::too_many_arguments)]
    fn text_right(&mut self, right: f32, top: f32, font: Font, size: f32, colour: Rgb, s: &str) {
        let w = font::width(font, size, s);
        self.text(right - w, top, font, size, colour, s);
    }

    /// A wrapped paragraph in the flow, breaking pages between lines.
    fn para(&mut self, x: f32, width: f32, font: Font, size: f32, colour: Rgb, s: &str) {
        let lead = size * 1.3;
        for line in font::wrap(font, size, s, width) {
            self.ensure(lead);
            let y = self.y;
            self.text(x, y, font, size, colour, &line);
            self.y += lead;
        }
    }

    fn fill(&mut self, x: f32, top: f32, w: f32, h: f32, colour: Rgb) {
        let c = self.c();
        c.set_fill_rgb(colour[0], colour[1], colour[2]);
        c.rect(x, PAGE_H - top - h, w, h);
        c.fill_nonzero();
    }

    #[allow(clippy::too_many_arguments)]
    fn frame(&mut self, x: f32, top: f32, w: f32, h: f32, colour: Rgb, width: f32, dashed: bool) {
        let c = self.c();
        c.save_state();
        c.set_stroke_rgb(colour[0], colour[1], colour[2]);
        c.set_line_width(width);
        if dashed {
            c.set_dash_pattern([3.0, 2.0], 0.0);
        }
        c.rect(x, PAGE_H - top - h, w, h);
        c.stroke();
        c.restore_state();
    }

    fn hline(&mut self, x: f32, top: f32, w: f32, colour: Rgb, width: f32) {
        let c = self.c();
        c.set_stroke_rgb(colour[0], colour[1], colour[2]);
        c.set_line_width(width);
        c.move_to(x, PAGE_H - top);
        c.line_to(x + w, PAGE_H - top);
        c.stroke();
    }

    fn image(&mut self, jpeg: &Jpeg, x: f32, top: f32, w: f32, h: f32) {
        let id = self.alloc();
        let mut xo = self.pdf.image_xobject(id, &jpeg.bytes);
        xo.filter(Filter::DctDecode);
        xo.width(jpeg.width as i32);
        xo.height(jpeg.height as i32);
        xo.color_space().device_rgb();
        xo.bits_per_component(8);
        xo.finish();
        self.images += 1;
        let name = format!("Im{}", self.images);
        let last = self.pages.len() - 1;
        self.pages[last].images.push((name.clone(), id));
        let c = self.c();
        c.save_state();
        c.transform([w, 0.0, 0.0, h, x, PAGE_H - top - h]);
        c.x_object(Name(name.as_bytes()));
        c.restore_state();
    }

    fn heading(&mut self, s: &str) {
        self.ensure(60.0);
        self.gap(10.0);
        let y = self.y;
        self.text(MARGIN, y, Font::Bold, 12.5, HEADING, s);
        self.hline(MARGIN, y + 16.0, CW, HEADING, 0.8);
        self.y += 22.0;
    }

    fn subheading(&mut self, s: &str) {
        self.ensure(40.0);
        self.gap(4.0);
        let y = self.y;
        self.text(MARGIN, y, Font::Bold, 10.0, INK, s);
        self.y += 15.0;
    }

    /// A table with a header row; rows wrap within their columns and a row
    /// that does not fit starts a new page under a repeated header.
    fn table(&mut self, cols: &[Col], rows: &[Vec<String>], size: f32) {
        let pad = 3.0;
        let lead = size * 1.25;
        let header = |w: &mut Writer| {
            let y = w.y;
            let mut x = MARGIN;
            for c in cols {
                match c.align {
                    Align::Left => w.text(x + pad, y + pad, Font::Bold, size - 0.5, GREY, c.title),
                    Align::Right => {
                        w.text_right(x + c.width - pad, y + pad, Font::Bold, size - 0.5, GREY, c.title)
                    }
                }
                x += c.width;
            }
            let total: f32 = cols.iter().map(|c| c.width).sum();
            w.hline(MARGIN, y + lead + pad + 1.0, total, RULE, 0.6);
            w.y += lead + 2.0 * pad;
        };
        self.ensure(2.0 * (lead + 2.0 * pad));
        header(self);
        for (ri, row) in rows.iter().enumerate() {
            let cells: Vec<Vec<String>> =
                cols.iter().zip(row).map(|(c, t)| font::wrap(c.font, size, t, c.width - 2.0 * pad)).collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(1);
            let h = lines as f32 * lead + 2.0 * pad;
            if self.y + h > PAGE_H - BOTTOM {
                self.new_page();
                header(self);
            }
            if ri % 2 == 1 {
                let total: f32 = cols.iter().map(|c| c.width).sum();
                let y = self.y;
                self.fill(MARGIN, y, total, h, ZEBRA);
            }
            let mut x = MARGIN;
            for (c, ls) in cols.iter().zip(&cells) {
                for (li, l) in ls.iter().enumerate() {
                    let top = self.y + pad + li as f32 * lead;
                    match c.align {
                        Align::Left => self.text(x + pad, top, c.font, size, INK, l),
                        Align::Right => self.text_right(x + c.width - pad, top, c.font, size, INK, l),
                    }
                }
                x += c.width;
            }
            self.y += h;
        }
        self.gap(4.0);
    }

    /// Writes the page tree, the running header and footer of each page, and
    /// the fonts; returns the file.
    fn finish(mut self, doc: &Doc, uid: &str) -> Vec<u8> {
        let catalog = self.alloc();
        let tree = self.alloc();
        let info = self.alloc();
        let fonts: Vec<(Font, Ref)> = Font::ALL.iter().map(|&f| (f, self.alloc())).collect();
        let n = self.pages.len();
        let pages = std::mem::take(&mut self.pages);
        let mut ids = Vec::new();
        for (i, mut page) in pages.into_iter().enumerate() {
            running(&mut page.content, &doc.patient, uid, i + 1, n);
            let (pid, cid) = (self.alloc(), self.alloc());
            ids.push(pid);
            let mut p = self.pdf.page(pid);
            p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
            p.parent(tree);
            p.contents(cid);
            let mut res = p.resources();
            {
                let mut f = res.fonts();
                for (font, id) in &fonts {
                    f.pair(Name(font.name()), *id);
                }
            }
            if !page.images.is_empty() {
                let mut x = res.x_objects();
                for (name, id) in &page.images {
                    x.pair(Name(name.as_bytes()), *id);
                }
            }
            res.finish();
            p.finish();
            self.pdf.stream(cid, &page.content.finish());
        }
        for (font, id) in &fonts {
            self.pdf
                .type1_font(*id)
                .base_font(Name(font.base()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        self.pdf.pages(tree).kids(ids).count(n as i32);
        self.pdf.catalog(catalog).pages(tree);
        self.pdf
            .document_info(info)
            .title(TextStr("Hemalens screening report"))
            .producer(TextStr("hemalens-share"));
        self.pdf.finish()
    }
}

/// The header and footer of every page: who and what this is, and what it is not.
fn running(c: &mut Content, patient: &str, uid: &str, page: usize, pages: usize) {
    let line = |c: &mut Content, x: f32, top: f32, font: Font, size: f32, colour: Rgb, s: &str| {
        let bytes = font::encode(s);
        c.begin_text();
        c.set_font(Name(font.name()), size);
        c.set_fill_rgb(colour[0], colour[1], colour[2]);
        c.next_line(x, PAGE_H - top - size * 0.8);
        c.show(Str(&bytes));
        c.end_text();
    };
    // A long patient code is cut here (the first page shows it whole).
    let fits =
        |p: &str| font::width(Font::Regular, 8.0, &format!("Patient {p}  ·  Session {uid}")) <= CW - 140.0;
    let mut shown = patient.to_string();
    if !fits(&shown) {
        while !shown.is_empty() && !fits(&format!("{shown}…")) {
            shown.pop();
        }
        shown.push('…');
    }
    let right = format!("Patient {shown}  ·  Session {uid}");
    line(c, MARGIN, 20.0, Font::Bold, 8.0, GREY, "Hemalens screening report");
    let w = font::width(Font::Regular, 8.0, &right);
    line(c, PAGE_W - MARGIN - w, 20.0, Font::Regular, 8.0, GREY, &right);
    c.set_stroke_rgb(RULE[0], RULE[1], RULE[2]);
    c.set_line_width(0.6);
    c.move_to(MARGIN, PAGE_H - 32.0);
    c.line_to(PAGE_W - MARGIN, PAGE_H - 32.0);
    c.stroke();
    // The footer: a rule 44 pt above the bottom edge, the text under it.
    c.move_to(MARGIN, 44.0);
    c.line_to(PAGE_W - MARGIN, 44.0);
    c.stroke();
    let top = PAGE_H - 38.0;
    line(c, MARGIN, top, Font::Bold, 8.0, GREY, FOOTER);
    let w0 = font::width(Font::Bold, 8.0, FOOTER);
    line(c, MARGIN + w0 + 4.0, top, Font::Regular, 8.0, GREY, "Times are UTC.");
    let p = format!("Page {page} of {pages}");
    let w = font::width(Font::Regular, 8.0, &p);
    line(c, PAGE_W - MARGIN - w, top, Font::Regular, 8.0, GREY, &p);
}

fn title_and_identity(w: &mut Writer, doc: &Doc) {
    w.text(MARGIN, TOP, Font::Bold, 20.0, INK, "Blood smear screening report");
    w.text(
        MARGIN,
        TOP + 25.0,
        Font::Regular,
        9.0,
        GREY,
        "White-cell differential and leukaemia screen from photos of one stained blood smear, read on the device.",
    );
    w.y = TOP + 44.0;
    // The patient block: the code large, then the rest in two columns; long
    // values wrap (nothing is cut).
    let inner = CW - 20.0;
    let colw = inner / 2.0;
    let (code_label, code) = doc.identity.first().cloned().unwrap_or_default();
    let code_lines = font::wrap(Font::Bold, 15.0, &code, inner);
    let rows: Vec<Vec<(String, Vec<String>)>> = doc
        .identity
        .iter()
        .skip(1)
        .map(|(k, v)| (k.clone(), font::wrap(Font::Regular, 10.0, v, colw - 10.0)))
        .collect::<Vec<_>>()
        .chunks(2)
        .map(<[_]>::to_vec)
        .collect();
    let row_h = |row: &Vec<(String, Vec<String>)>| {
        10.0 + row.iter().map(|(_, v)| v.len()).max().unwrap_or(1) as f32 * 12.5 + 1.5
    };
    let h = 18.0 + code_lines.len() as f32 * 18.0 + 6.0 + rows.iter().map(row_h).sum::<f32>() + 6.0;
    w.ensure(h);
    let top = w.y;
    w.fill(MARGIN, top, CW, h, PANEL);
    w.text(MARGIN + 10.0, top + 8.0, Font::Regular, 7.5, GREY, &code_label);
    let mut y = top + 18.0;
    for l in &code_lines {
        w.text(MARGIN + 10.0, y, Font::Bold, 15.0, INK, l);
        y += 18.0;
    }
    y += 6.0;
    for row in &rows {
        for (i, (label, lines)) in row.iter().enumerate() {
            let x = MARGIN + 10.0 + i as f32 * colw;
            w.text(x, y, Font::Regular, 7.5, GREY, label);
            for (j, l) in lines.iter().enumerate() {
                w.text(x, y + 10.0 + j as f32 * 12.5, Font::Regular, 10.0, INK, l);
            }
        }
        y += row_h(row);
    }
    w.y = top + h + 12.0;
}

fn outcome(w: &mut Writer, doc: &Doc) {
    let o = &doc.outcome;
    let (strong, tint) = tone_colours(o.tone);
    let inner = CW - 30.0;
    let step_label = "Next step: ";
    let step_w = font::width(Font::Bold, 10.5, step_label);
    let step = font::wrap(Font::Bold, 10.5, &o.next_step, inner - step_w);
    let reasons: Vec<Vec<String>> =
        o.reasons.iter().map(|r| font::wrap(Font::Regular, 9.0, r, inner - 10.0)).collect();
    let review: Vec<Vec<String>> =
        o.review.iter().map(|r| font::wrap(Font::Regular, 8.5, r, inner)).collect();
    let reason_lines: usize = reasons.iter().map(Vec::len).sum();
    let review_lines: usize = review.iter().map(Vec::len).sum();
    let h = 14.0
        + 10.0
        + 30.0
        + step.len() as f32 * 13.5
        + 6.0
        + if reasons.is_empty() { 0.0 } else { 13.0 + reason_lines as f32 * 11.7 }
        + 4.0
        + review_lines as f32 * 11.0
        + 10.0;
    w.ensure(h);
    let top = w.y;
    w.fill(MARGIN, top, CW, h, tint);
    w.fill(MARGIN, top, 6.0, h, strong);
    w.frame(MARGIN, top, CW, h, strong, 1.0, false);
    let x = MARGIN + 18.0;
    let mut y = top + 12.0;
    w.text(x, y, Font::Bold, 8.0, strong, "OUTCOME");
    y += 12.0;
    w.text(x, y, Font::Bold, 22.0, strong, &o.headline.to_uppercase());
    y += 30.0;
    w.text(x, y, Font::Bold, 10.5, INK, step_label);
    for l in &step {
        w.text(x + step_w, y, Font::Bold, 10.5, INK, l);
        y += 13.5;
    }
    y += 6.0;
    if !reasons.is_empty() {
        let title = if o.overridden { "The machine's reasons" } else { "Why" };
        w.text(x, y, Font::Bold, 8.5, GREY, title);
        y += 13.0;
        for r in &reasons {
            for (i, l) in r.iter().enumerate() {
                if i == 0 {
                    w.text(x, y, Font::Regular, 9.0, strong, "•");
                }
                w.text(x + 10.0, y, Font::Regular, 9.0, INK, l);
                y += 11.7;
            }
        }
    }
    y += 4.0;
    for r in &review {
        for l in r {
            w.text(x, y, Font::Regular, 8.5, GREY, l);
            y += 11.0;
        }
    }
    w.y = top + h + 6.0;
}

fn differential(w: &mut Writer, doc: &Doc) {
    w.heading("White-cell differential");
    let cols = [
        col("Class", 128.0),
        Col { title: "Count", width: 44.0, align: Align::Right, font: Font::Regular },
        Col { title: "Share", width: 50.0, align: Align::Right, font: Font::Regular },
        Col { title: "95% interval", width: 78.0, align: Align::Right, font: Font::Regular },
        Col { title: "Usual range", width: 70.0, align: Align::Right, font: Font::Regular },
        col("", CW - 370.0),
    ];
    let rows: Vec<Vec<String>> = doc
        .differential
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.count.to_string(),
                pct(r.p),
                interval(r.low, r.high),
                r.range_text.clone(),
                String::new(),
            ]
        })
        .collect();
    let start = w.y;
    let page = w.pages.len();
    w.table(&cols, &rows, 9.0);
    // The intervals drawn on a 0-100% scale beside the figures (when the
    // table stayed on one page).
    if w.pages.len() == page {
        let x0 = MARGIN + 370.0 + 6.0;
        let span = CW - 370.0 - 12.0;
        let row_h = 9.0 * 1.25 + 6.0;
        let first = start + 9.0 * 1.25 + 6.0;
        for (i, r) in doc.differential.iter().enumerate() {
            let mid = first + i as f32 * row_h + row_h / 2.0;
            w.fill(x0, mid - 0.4, span, 0.8, RULE);
            if let Some((lo, hi)) = r.range {
                w.fill(x0 + span * lo as f32, mid - 4.0, span * (hi - lo) as f32, 8.0, [0.85, 0.92, 0.86]);
            }
            let (a, b) = (x0 + span * r.low as f32, x0 + span * r.high as f32);
            w.fill(a, mid - 1.0, (b - a).max(0.8), 2.0, HEADING);
            w.fill(a, mid - 3.0, 0.8, 6.0, HEADING);
            w.fill(b - 0.8, mid - 3.0, 0.8, 6.0, HEADING);
            if r.count > 0 || r.p > 0.0 {
                let p = x0 + span * r.p as f32;
                w.fill(p - 2.0, mid - 3.5, 4.0, 7.0, INK);
            }
        }
        w.text(x0, start + 2.0, Font::Regular, 6.5, GREY, "0%");
        w.text_right(x0 + span, start + 2.0, Font::Regular, 6.5, GREY, "100%");
    }
    w.para(MARGIN, CW, Font::Regular, 8.5, GREY, &doc.differential_note);
    w.para(
        MARGIN,
        CW,
        Font::Regular,
        8.0,
        GREY,
        "Graph: the bar is the 95% interval (Wilson), the black mark the share, the green band the usual range the rule accepts.",
    );
}

fn screen(w: &mut Writer, doc: &Doc) {
    w.heading("Leukaemia screen (acute lymphoblastic leukaemia)");
    let Some(s) = &doc.screen else {
        w.para(MARGIN, CW, Font::Regular, 9.5, INK, "No accepted field was screened.");
        return;
    };
    let (strong, _) = tone_colours(s.tone);
    w.para(MARGIN, CW, Font::Bold, 10.0, strong, &s.headline);
    for d in &s.detail {
        w.para(MARGIN, CW, Font::Regular, 9.0, INK, d);
    }
    w.gap(3.0);
    let cols = [
        col("Class", 200.0),
        Col { title: "Probability", width: 80.0, align: Align::Right, font: Font::Regular },
    ];
    let rows: Vec<Vec<String>> = s.probs.iter().map(|(l, p)| vec![l.clone(), p.clone()]).collect();
    w.table(&cols, &rows, 8.5);
}

fn photos(w: &mut Writer, doc: &Doc) {
    w.heading("Photos and cells");
    w.para(MARGIN, CW, Font::Regular, 9.5, INK, &doc.photos_line);
    w.para(MARGIN, CW, Font::Regular, 9.5, INK, &doc.cells_line);
    if !doc.rejected.is_empty() {
        w.gap(4.0);
        w.subheading("Rejected photos (not analysed, not shown)");
        let cols = [col("Field", 40.0), col("Issues", 120.0), col("What the quality gate said", CW - 160.0)];
        let rows: Vec<Vec<String>> = doc
            .rejected
            .iter()
            .map(|r| vec![r.number.to_string(), r.codes.clone(), r.messages.clone()])
            .collect();
        w.table(&cols, &rows, 8.5);
    }
    for n in &doc.notes {
        w.para(MARGIN, CW, Font::Regular, 8.5, GREY, n);
    }
}

fn reviews(w: &mut Writer, doc: &Doc) {
    w.heading("Reviews");
    if doc.reviews.is_empty() {
        w.para(MARGIN, CW, Font::Regular, 9.5, INK, "No one has reviewed this session.");
        return;
    }
    let cols =
        [col("When (UTC)", 100.0), col("Reviewer", 100.0), col("What", 190.0), col("Note", CW - 390.0)];
    let rows: Vec<Vec<String>> = doc
        .reviews
        .iter()
        .map(|r| vec![r.at.clone(), r.who.clone(), r.what.clone(), r.note.clone().unwrap_or_default()])
        .collect();
    w.table(&cols, &rows, 8.5);
}

fn provenance(w: &mut Writer, doc: &Doc) {
    w.heading("Provenance");
    let cols = [
        col("Pack", 80.0),
        col("Version", 50.0),
        Col { title: "SHA-256", width: CW - 130.0, align: Align::Left, font: Font::Mono },
    ];
    let rows: Vec<Vec<String>> =
        doc.models.iter().map(|m| vec![m.id.clone(), m.version.clone(), m.sha256.clone()]).collect();
    w.table(&cols, &rows, 8.0);
    w.gap(4.0);
    // Key-value pairs in two columns.
    let half = CW / 2.0;
    let pairs = |w: &mut Writer, items: &[(String, String)], kw: f32, size: f32| {
        let lead = size * 1.45;
        for chunk in items.chunks(2) {
            w.ensure(lead);
            let y = w.y;
            for (i, (k, v)) in chunk.iter().enumerate() {
                let x = MARGIN + i as f32 * half;
                w.text(x, y, Font::Regular, size, GREY, k);
                w.text(x + kw, y, Font::Regular, size, INK, v);
            }
            w.y += lead;
        }
    };
    pairs(w, &doc.provenance, 110.0, 8.5);
    w.gap(4.0);
    w.subheading("Thresholds the rule compared against");
    pairs(w, &doc.thresholds, 200.0, 7.5);
    w.gap(8.0);
    let lines = font::wrap(Font::Regular, 9.0, DISCLAIMER, CW - 20.0);
    let h = lines.len() as f32 * 11.7 + 16.0;
    w.ensure(h);
    let top = w.y;
    w.fill(MARGIN, top, CW, h, PANEL);
    for (i, l) in lines.iter().enumerate() {
        w.text(MARGIN + 10.0, top + 8.0 + i as f32 * 11.7, Font::Regular, 9.0, INK, l);
    }
    w.y = top + h;
}

fn gallery(w: &mut Writer, doc: &Doc) {
    w.new_page();
    w.heading("Cell gallery");
    w.para(
        MARGIN,
        CW,
        Font::Regular,
        9.0,
        INK,
        "Every cell found in the accepted fields, cut from its photo and grouped under the class that stands \
         (a reviewer's label where one was given). Captions: field·cell and the cell model's confidence.",
    );
    if doc.gallery.is_empty() {
        w.para(MARGIN, CW, Font::Regular, 9.5, INK, "No cells were found.");
    }
    let side = 56.0;
    let gap = 7.0;
    let per_row = ((CW + gap) / (side + gap)).floor().max(1.0) as usize;
    for g in &doc.gallery {
        w.ensure(22.0 + side + 14.0);
        w.gap(6.0);
        let y = w.y;
        let colour =
            if g.key == UNCERTAIN { [150, 150, 150] } else { class_colour(&doc.colour_labels, &g.key) };
        w.fill(MARGIN, y + 1.0, 9.0, 9.0, rgb(colour));
        let title = format!("{} ({})", g.title, g.total);
        w.text(MARGIN + 14.0, y, Font::Bold, 10.0, INK, &title);
        w.y += 16.0;
        for row in g.crops.chunks(per_row) {
            w.ensure(side + 14.0);
            let y = w.y;
            for (i, c) in row.iter().enumerate() {
                let x = MARGIN + i as f32 * (side + gap);
                match &c.image {
                    Some(j) => w.image(j, x, y, side, side),
                    None => {
                        w.fill(x, y, side, side, PANEL);
                        w.text(x + 4.0, y + side / 2.0 - 3.0, Font::Regular, 6.5, GREY, "no photo");
                    }
                }
                if c.cell.relabelled_by.is_some() {
                    w.frame(x, y, side, side, rgb(colour), 1.5, false);
                }
                let cap = font::wrap(Font::Regular, 6.0, &c.caption, side + gap - 1.0);
                w.text(x, y + side + 2.5, Font::Regular, 6.0, GREY, cap.first().map_or("", String::as_str));
            }
            w.y += side + 14.0;
        }
    }
}

fn legend(w: &mut Writer, doc: &Doc) {
    let labels: Vec<&String> = {
        let mut seen: Vec<&String> = Vec::new();
        for f in &doc.fields {
            for c in &f.cells {
                if !seen.contains(&&c.label) {
                    seen.push(&c.label);
                }
            }
        }
        seen
    };
    w.ensure(16.0);
    let y = w.y;
    let mut x = MARGIN;
    for l in labels {
        let colour = class_colour(&doc.colour_labels, l);
        w.frame(x, y, 12.0, 8.0, rgb(colour), 1.6, false);
        w.text(x + 16.0, y, Font::Regular, 8.0, INK, l);
        x += 16.0 + font::width(Font::Regular, 8.0, l) + 12.0;
    }
    w.frame(x, y, 12.0, 8.0, GREY, 1.2, true);
    w.text(x + 16.0, y, Font::Regular, 8.0, INK, "dashed: uncertain, not counted");
    w.y += 16.0;
}

fn overlay_marks(w: &mut Writer, o: &Overlay, x: f32, top: f32, s: f32) {
    let (iw, ih) = (o.image.width as f32 * s, o.image.height as f32 * s);
    let size = 6.5;
    for m in &o.marks {
        // Boxes cut to the picture (the eyepiece crop may clip them).
        let (bx, by) = ((m.x * s).max(0.0), (m.y * s).max(0.0));
        let bw = ((m.x + m.w) * s).min(iw) - bx;
        let bh = ((m.y + m.h) * s).min(ih) - by;
        if bw <= 1.0 || bh <= 1.0 {
            continue;
        }
        // A dark edge under the class colour keeps pale colours visible on a pale smear.
        w.frame(x + bx, top + by, bw, bh, [0.12, 0.12, 0.14], 2.6, !m.counted);
        w.frame(x + bx, top + by, bw, bh, rgb(m.colour), 1.4, !m.counted);
        let tw = font::width(Font::Bold, size, &m.text) + 4.0;
        let th = size + 3.0;
        let lx = (x + bx).min(x + iw - tw).max(x);
        let ly = if by >= th { top + by - th } else { top + by };
        w.fill(lx, ly, tw, th, rgb(m.colour));
        w.text(lx + 2.0, ly + 1.6, Font::Bold, size, ink_on(m.colour), &m.text);
    }
}

fn fields(w: &mut Writer, doc: &Doc) {
    w.new_page();
    w.heading("Fields");
    w.para(
        MARGIN,
        CW,
        Font::Regular,
        9.0,
        INK,
        "Each accepted photo, downscaled (to its eyepiece circle when there is one), with every cell the \
         pipeline found boxed in its class colour. Rejected photos are listed under Photos and cells.",
    );
    w.gap(4.0);
    legend(w, doc);
    // Two fields a page, the first page of the section included.
    let max_h = 290.0;
    for f in &doc.fields {
        let title = format!("Field {}", f.number);
        match &f.overlay {
            Some(o) => {
                let s = (CW / o.image.width as f32).min(max_h / o.image.height as f32);
                let (iw, ih) = (o.image.width as f32 * s, o.image.height as f32 * s);
                let summary = font::wrap(Font::Regular, 8.5, &f.summary, CW - 60.0);
                let lines = summary.len().max(1) as f32;
                w.ensure(6.0 + 4.0 + lines * 11.0 + 3.0 + ih + 8.0);
                w.gap(6.0);
                let y = w.y;
                w.text(MARGIN, y, Font::Bold, 10.0, INK, &title);
                for (i, l) in summary.iter().enumerate() {
                    w.text(MARGIN + 56.0, y + 1.0 + i as f32 * 11.0, Font::Regular, 8.5, GREY, l);
                }
                w.y += 4.0 + lines * 11.0 + 3.0;
                let x = MARGIN + (CW - iw) / 2.0;
                let top = w.y;
                w.image(&o.image, x, top, iw, ih);
                overlay_marks(w, o, x, top, s);
                w.y = top + ih + 8.0;
            }
            None => {
                let why = f.missing.as_deref().unwrap_or("Not shown.");
                w.ensure(26.0);
                w.gap(4.0);
                let y = w.y;
                w.text(MARGIN, y, Font::Bold, 10.0, INK, &title);
                w.y += 1.0;
                w.para(MARGIN + 56.0, CW - 56.0, Font::Regular, 8.5, GREY, &format!("{} {}", f.summary, why));
            }
        }
    }
}

/// The whole report.
pub(crate) fn write(doc: &Doc, uid: &str) -> Vec<u8> {
    let mut w = Writer::new();
    title_and_identity(&mut w, doc);
    outcome(&mut w, doc);
    differential(&mut w, doc);
    screen(&mut w, doc);
    photos(&mut w, doc);
    reviews(&mut w, doc);
    provenance(&mut w, doc);
    gallery(&mut w, doc);
    if !doc.fields.is_empty() {
        fields(&mut w, doc);
    }
    w.finish(doc, uid)
}
