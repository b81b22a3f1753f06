//! Terminal tables: columns aligned by display width (CJK counts double), optional ANSI colour
//! that is on only for a terminal and never when `NO_COLOR` is set (<https://no-color.org>).

use std::io::IsTerminal;

/// Whether to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

/// A colour or emphasis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    Green,
    Red,
    Bold,
    Dim,
}

impl Style {
    /// Colour when `is_tty` and `NO_COLOR` is unset or empty.
    pub fn new(is_tty: bool, no_color: Option<&std::ffi::OsStr>) -> Style {
        Style {
            color: is_tty && no_color.is_none_or(|v| v.is_empty()),
        }
    }

    /// The style for stdout in this process.
    pub fn stdout() -> Style {
        Style::new(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }

    /// `text` in `paint` (unchanged without colour).
    pub fn paint(self, text: &str, paint: Option<Paint>) -> String {
        match (self.color, paint) {
            (true, Some(p)) => {
                let code = match p {
                    Paint::Green => "32",
                    Paint::Red => "31",
                    Paint::Bold => "1",
                    Paint::Dim => "2",
                };
                format!("\x1b[{code}m{text}\x1b[0m")
            }
            _ => text.to_string(),
        }
    }
}

/// Green for gains, red for losses, nothing for zero or undefined.
pub fn signed(x: f64) -> Option<Paint> {
    if x > 0.0 {
        Some(Paint::Green)
    } else if x < 0.0 {
        Some(Paint::Red)
    } else {
        None
    }
}

/// Columns a string takes in a terminal: East Asian wide characters count two.
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// How a column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One cell: its text and optional paint.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub text: String,
    pub paint: Option<Paint>,
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Cell {
        Cell {
            text: t.into(),
            paint: None,
        }
    }
}

/// A table: a header row (may be empty) and rows of cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub columns: Vec<(String, Align)>,
    pub rows: Vec<Vec<Cell>>,
    /// Separator between columns.
    pub gap: &'static str,
}

impl Table {
    /// A table with these (header, alignment) columns, separated by two spaces.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
            gap: "  ",
        }
    }

    /// Renders the table, one line per row (header first when any header is non-empty), padding
    /// by display width before painting so colour codes do not break the alignment.
    pub fn render(&self, style: Style) -> String {
        let n = self.columns.len();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| width(&c.0)).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(&c.text));
            }
        }
        let pad = |text: &str, i: usize| {
            let fill = " ".repeat(widths[i].saturating_sub(width(text)));
            match self.columns[i].1 {
                Align::Left if i + 1 == n => text.to_string(),
                Align::Left => format!("{text}{fill}"),
                Align::Right => format!("{fill}{text}"),
            }
        };
        let mut out = String::new();
        let mut line = |cells: Vec<String>| {
            out.push_str(cells.join(self.gap).trim_end());
            out.push('\n');
        };
        if self.columns.iter().any(|c| !c.0.is_empty()) {
            line(
                (0..n)
                    .map(|i| style.paint(&pad(&self.columns[i].0, i), Some(Paint::Bold)))
                    .collect(),
            );
        }
        for row in &self.rows {
            line(
                (0..n)
                    .map(|i| {
                        let cell = row.get(i);
                        let text = cell.map_or("", |c| c.text.as_str());
                        style.paint(&pad(text, i), cell.and_then(|c| c.paint))
                    })
                    .collect(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_tty_without_no_color() {
        use std::ffi::OsStr;
        assert!(Style::new(true, None).color);
        assert!(Style::new(true, Some(OsStr::new(""))).color);
        assert!(!Style::new(true, Some(OsStr::new("1"))).color);
        assert!(!Style::new(false, None).color);
        assert_eq!(Style { color: false }.paint("x", Some(Paint::Red)), "x");
        assert_eq!(
            Style { color: true }.paint("x", Some(Paint::Red)),
            "\x1b[31mx\x1b[0m"
        );
    }

    #[test]
    fn aligns_by_display_width_with_colour() {
        let mut t = Table::new(&[("stock", Align::Left), ("ret", Align::Right)]);
        t.rows.push(vec![
            "台積電".into(),
            Cell {
                text: "-1.0%".into(),
                paint: signed(-1.0),
            },
        ]);
        t.rows.push(vec!["2330".into(), "12.5%".into()]);
        let plain = t.render(Style { color: false });
        assert_eq!(plain, "stock     ret\n台積電  -1.0%\n2330    12.5%\n");
        let coloured = t.render(Style { color: true });
        assert!(coloured.contains("\x1b[31m-1.0%\x1b[0m"));
    }
}
