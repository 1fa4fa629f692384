//! The PDF's three fonts: Helvetica, Helvetica-Bold and Courier, the standard
//! fonts every PDF reader has (nothing embedded), in WinAnsiEncoding. Their
//! advance widths (Adobe's AFM files, 1/1000 em) let the report measure, wrap
//! and align text itself.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    /// The resource name the pages use.
    pub(crate) fn name(self) -> &'static [u8] {
        match self {
            Self::Regular => b"F1",
            Self::Bold => b"F2",
            Self::Mono => b"F3",
        }
    }

    pub(crate) fn base(self) -> &'static [u8] {
        match self {
            Self::Regular => b"Helvetica",
            Self::Bold => b"Helvetica-Bold",
            Self::Mono => b"Courier",
        }
    }

    pub(crate) const ALL: [Font; 3] = [Self::Regular, Self::Bold, Self::Mono];
}

/// Helvetica, code points 32..=126.
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Helvetica-Bold, code points 32..=126.
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p..~
];

/// WinAnsiEncoding's code for `c`; `?` for a character it lacks.
pub(crate) fn encode_char(c: char) -> u8 {
    let u = c as u32;
    match u {
        0x20..=0x7e | 0xa0..=0xff => u as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            '\t' | '\n' | '\r' => b' ',
            _ => b'?',
        },
    }
}

/// `s` in WinAnsiEncoding (characters it lacks become `?`).
pub(crate) fn encode(s: &str) -> Vec<u8> {
    s.chars().map(encode_char).collect()
}

/// Advance width of one encoded byte, in 1/1000 em.
fn advance(font: Font, b: u8) -> u16 {
    if font == Font::Mono {
        return 600;
    }
    let table = if font == Font::Bold { &BOLD } else { &REGULAR };
    match b {
        0x20..=0x7e => table[usize::from(b - 0x20)],
        0x95 => 350,
        0x91 | 0x92 | 0x82 => 222,
        0x93 | 0x94 | 0x84 => 333,
        0x85 | 0x89 | 0x97 | 0x99 => 1000,
        0xa0 => 278,
        0xb7 => 278,
        0xb0 => 400,
        0xb1 | 0xd7 | 0xf7 => 584,
        0xc6 | 0x8c => 1000,
        0xe6 | 0x9c => 944,
        // Accented capitals and lower case: about their base letters.
        0xc0..=0xdf => 722,
        _ => 556,
    }
}

/// Width of `s` set in `font` at `size` points.
pub(crate) fn width(font: Font, size: f32, s: &str) -> f32 {
    let em: u32 = s.chars().map(|c| u32::from(advance(font, encode_char(c)))).sum();
    em as f32 * size / 1000.0
}

/// Words into lines no wider than `max` (a word longer than a line is cut).
pub(crate) fn wrap(font: Font, size: f32, text: &str, max: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if width(font, size, &candidate) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word wider than the line (a checksum, a long code): cut it.
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if width(font, size, &piece) > max && piece.chars().count() > 1 {
                piece.pop();
                lines.push(std::mem::take(&mut piece));
                piece.push(c);
            }
        }
        line = piece;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_helvetica_metrics() {
        // "Hello" in Helvetica: 722 + 556 + 222 + 222 + 556 = 2278 / 1000 em.
        assert!((width(Font::Regular, 10.0, "Hello") - 22.78).abs() < 1e-3);
        assert!(width(Font::Bold, 10.0, "Hello") > width(Font::Regular, 10.0, "Hello"));
        assert!((width(Font::Mono, 10.0, "abc") - 18.0).abs() < 1e-3);
    }

    #[test]
    fn encoding_keeps_latin_and_replaces_the_rest() {
        assert_eq!(encode("Aé–•"), vec![b'A', 0xe9, 0x96, 0x95]);
        assert_eq!(encode("P≥1 ☃"), b"P?1 ?".to_vec());
    }

    #[test]
    fn wrap_keeps_words_within_the_width() {
        let text = "The leukaemia screen over 19 fields gives a probability of 0.6% for acute lymphoblastic leukaemia.";
        let lines = wrap(Font::Regular, 9.0, text, 150.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| width(Font::Regular, 9.0, l) <= 150.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let long = "a".repeat(200);
        let cut = wrap(Font::Mono, 8.0, &long, 100.0);
        assert!(cut.len() > 1 && cut.concat() == long);
        assert_eq!(wrap(Font::Regular, 9.0, "", 100.0), vec![String::new()]);
    }
}
