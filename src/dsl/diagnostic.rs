//! Diagnostics as data: a stable kebab-case code, a severity, a message, a primary span with a
//! label and hints. Spans are byte ranges; [`LineIndex`] turns them into line:col only when
//! rendering. Renderers: [`render`] (rustc style, for people), [`render_compact`] (one line
//! each, for the LLM repair prompt and logs) and [`locate`] (records for JSON output). The text
//! renderers show control characters from the strategy escaped ([`escape_controls`]).

use std::borrow::Cow;
use std::fmt::Write;

use serde::Serialize;

use super::ast::Span;
use super::codes::Code;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a strategy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Stable kebab-case identifier, e.g. `lookahead-shift`.
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    #[serde(skip)]
    pub span: Span,
    /// Short text shown under the caret.
    pub label: String,
    pub hints: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            hints: Vec::new(),
        }
    }

    /// A warning at `span`.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Sets the caret label.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hints.push(hint.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Maps byte offsets to 1-based line and column (columns count characters).
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `source`.
    pub fn new(source: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, starts }
    }

    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self
            .source
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &'a str {
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let end = self
            .starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(self.source.len());
        self.source
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches('\r')
    }
}

/// Longest source excerpt a rendered diagnostic shows (in characters).
const MAX_SHOWN: usize = 120;

/// Whether a character is shown escaped: a control character other than tab and line break.
fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// How a character is shown: `\u{1b}` for an escaped one, else itself.
fn shown(c: char, out: &mut String) {
    if is_escaped(c) {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// `s` with its control characters other than tab and line break written as `\u{..}`, so text
/// from a strategy (a dataset key, a name, the source line) cannot move the cursor, clear the
/// screen or retitle the terminal when a diagnostic is printed.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        shown(c, &mut out);
    }
    Cow::Owned(out)
}

/// How many columns a character takes in the shown source line.
fn shown_width(c: char) -> usize {
    let mut s = String::new();
    shown(c, &mut s);
    s.chars().count()
}

/// Renders diagnostics rustc-style: `error[code]: message`, `--> file:line:col`, the source line
/// with a caret under the span, the label, and `= help:` lines.
pub fn render(diags: &[Diagnostic], source: &str, file: &str) -> String {
    let index = LineIndex::new(source);
    let mut out = String::new();
    for d in diags {
        let (line, col) = index.line_col(d.span.start);
        let (end_line, end_col) = index.line_col(d.span.end);
        let text = index.line_text(line);
        let width = if end_line == line {
            end_col.saturating_sub(col).max(1)
        } else {
            text.chars().count().saturating_sub(col - 1).max(1)
        };
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let gutter = " ".repeat(line.to_string().len());
        let message = escape_controls(&d.message);
        out.push_str(&format!("{kind}[{}]: {message}\n", d.code));
        out.push_str(&format!(
            "{gutter}--> {}:{line}:{col}\n",
            escape_controls(file)
        ));
        out.push_str(&format!("{gutter} |\n"));
        // A very long line is shown as a window around the caret.
        let chars: Vec<char> = text.chars().collect();
        let (from, to) = if chars.len() > MAX_SHOWN {
            let from = (col - 1).saturating_sub(MAX_SHOWN / 4).min(chars.len());
            (from, (from + MAX_SHOWN).min(chars.len()))
        } else {
            (0, chars.len())
        };
        let mut excerpt = String::new();
        chars[from..to].iter().for_each(|c| shown(*c, &mut excerpt));
        let (lead, trail) = (
            if from > 0 { "…" } else { "" },
            if to < chars.len() { "…" } else { "" },
        );
        out.push_str(&format!("{line} | {lead}{excerpt}{trail}\n"));
        let pad: String = chars[from..(col - 1).clamp(from, to)]
            .iter()
            .map(|c| match c {
                '\t' => "\t".to_string(),
                c => " ".repeat(shown_width(*c)),
            })
            .collect();
        // The caret covers the escaped form of what it points at.
        let under = &chars[(col - 1).min(chars.len())..(col - 1 + width).min(chars.len())];
        let escaped: usize = under.iter().map(|c| shown_width(*c) - 1).sum();
        let lead_pad = if from > 0 { " " } else { "" };
        out.push_str(&format!(
            "{gutter} | {lead_pad}{pad}{} {}\n",
            "^".repeat((width + escaped).min(MAX_SHOWN)),
            escape_controls(&d.label)
        ));
        for h in &d.hints {
            out.push_str(&format!("{gutter} = help: {}\n", escape_controls(h)));
        }
        out.push('\n');
    }
    out
}

/// One line per diagnostic: `file:line:col: error[code]: message (help: ...)`.
pub fn render_compact(diags: &[Diagnostic], source: &str, file: &str) -> String {
    let index = LineIndex::new(source);
    diags
        .iter()
        .map(|d| {
            let (line, col) = index.line_col(d.span.start);
            let kind = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut s = format!(
                "{}:{line}:{col}: {kind}[{}]: {}",
                escape_controls(file),
                d.code,
                escape_controls(&d.message)
            );
            for h in &d.hints {
                s.push_str(&format!(" (help: {})", escape_controls(h)));
            }
            s.push('\n');
            s
        })
        .collect()
}

/// One diagnostic located in its file, as `check --json` prints it: 1-based lines, columns
/// counted in characters, the end exclusive.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub end_line: usize,
    pub end_col: usize,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub label: String,
    /// The hints, one per line; `None` without hints.
    pub hint: Option<String>,
}

/// Locates each diagnostic in `source` (for JSON output).
pub fn locate(diags: &[Diagnostic], source: &str, file: &str) -> Vec<Located> {
    let index = LineIndex::new(source);
    diags
        .iter()
        .map(|d| {
            let (line, col) = index.line_col(d.span.start);
            let (end_line, end_col) = index.line_col(d.span.end);
            Located {
                file: file.to_string(),
                line,
                col,
                end_line,
                end_col,
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                label: d.label.clone(),
                hint: (!d.hints.is_empty()).then(|| d.hints.join("\n")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let src = "a = 1\nb = data.get(\"價格\")\n";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(0), (1, 1));
        let off = src.find("get").unwrap() as u32;
        assert_eq!(idx.line_col(off), (2, 10));
        assert_eq!(idx.line_text(2), "b = data.get(\"價格\")");
    }

    #[test]
    fn locate_gives_start_and_end_in_characters() {
        let src = "x = \"價\"\ny = close.shift(-1)\n";
        let start = src.find("-1").unwrap();
        let d = Diagnostic::error(Code::LookaheadShift, Span::new(start, start + 2), "bad")
            .hint("a")
            .hint("b");
        let l = &locate(&[d], src, "s.strat")[0];
        assert_eq!((l.line, l.col, l.end_line, l.end_col), (2, 17, 2, 19));
        assert_eq!(l.hint.as_deref(), Some("a\nb"));
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_still_points() {
        let src = "k = \"\x1b[2J\x07\"; x = close.shift(-1)\n";
        let start = src.find("-1").unwrap();
        let d = Diagnostic::error(
            Code::LookaheadShift,
            Span::new(start, start + 2),
            "bad \x1b]0;t\x07",
        )
        .label("label \x1b[31m")
        .hint("hint \u{9b}31m\tand a tab");
        let text = render(std::slice::from_ref(&d), src, "s\x1b.strat");
        let compact = render_compact(std::slice::from_ref(&d), src, "s\x1b.strat");
        for out in [&text, &compact] {
            assert!(
                !out.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{out:?}"
            );
            assert!(out.contains("bad \\u{1b}]0;t\\u{7}"), "{out}");
            assert!(out.contains("hint \\u{9b}31m\tand a tab"), "{out}");
            assert!(out.contains("s\\u{1b}.strat:1:"), "{out}");
        }
        assert!(text.contains("label \\u{1b}[31m"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let source = lines.iter().find(|l| l.starts_with("1 | ")).unwrap();
        let caret = lines.iter().find(|l| l.contains('^')).unwrap();
        assert!(source.contains("\"\\u{1b}[2J\\u{7}\""), "{source}");
        assert_eq!(source.find("-1"), caret.find("^^ "), "{text}");
    }

    #[test]
    fn render_points_at_the_span() {
        let src = "x = close.shift(-1)\n";
        let start = src.find("-1").unwrap();
        let d = Diagnostic::error(
            Code::LookaheadShift,
            Span::new(start, start + 2),
            "bad shift",
        )
        .label("reads the future")
        .hint("use shift(1)");
        let text = render(&[d], src, "s.strat");
        assert!(text.contains("error[lookahead-shift]: bad shift"));
        assert!(text.contains("--> s.strat:1:17"));
        assert!(text.contains("                ^^ reads the future"));
        assert!(text.contains("= help: use shift(1)"));
    }
}
