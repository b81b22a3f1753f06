//! Diagnostics as data: a stable kebab-case code, a severity, a message, a primary span with a
//! label and hints. Spans are byte ranges; [`LineIndex`] turns them into line:col only when
//! rendering. Renderers: [`render`] (rustc style, for people), [`render_compact`] (one line
//! each, for the LLM repair prompt and logs) and [`locate`] (records for JSON output).

use serde::Serialize;

use super::ast::Span;

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
    pub code: &'static str,
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
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
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
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
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
        out.push_str(&format!("{kind}[{}]: {}\n", d.code, d.message));
        out.push_str(&format!("{gutter}--> {file}:{line}:{col}\n"));
        out.push_str(&format!("{gutter} |\n"));
        // A very long line is shown as a window around the caret.
        let chars: Vec<char> = text.chars().collect();
        let (from, to) = if chars.len() > MAX_SHOWN {
            let from = (col - 1).saturating_sub(MAX_SHOWN / 4).min(chars.len());
            (from, (from + MAX_SHOWN).min(chars.len()))
        } else {
            (0, chars.len())
        };
        let shown: String = chars[from..to].iter().collect();
        let (lead, trail) = (
            if from > 0 { "…" } else { "" },
            if to < chars.len() { "…" } else { "" },
        );
        out.push_str(&format!("{line} | {lead}{shown}{trail}\n"));
        let pad: String = chars[from..(col - 1).clamp(from, to)]
            .iter()
            .map(|c| if *c == '\t' { '\t' } else { ' ' })
            .collect();
        let lead_pad = if from > 0 { " " } else { "" };
        out.push_str(&format!(
            "{gutter} | {lead_pad}{pad}{} {}\n",
            "^".repeat(width.min(MAX_SHOWN)),
            d.label
        ));
        for h in &d.hints {
            out.push_str(&format!("{gutter} = help: {h}\n"));
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
            let mut s = format!("{file}:{line}:{col}: {kind}[{}]: {}", d.code, d.message);
            for h in &d.hints {
                s.push_str(&format!(" (help: {h})"));
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
    pub code: &'static str,
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
        let d = Diagnostic::error("lookahead-shift", Span::new(start, start + 2), "bad")
            .hint("a")
            .hint("b");
        let l = &locate(&[d], src, "s.strat")[0];
        assert_eq!((l.line, l.col, l.end_line, l.end_col), (2, 17, 2, 19));
        assert_eq!(l.hint.as_deref(), Some("a\nb"));
    }

    #[test]
    fn render_points_at_the_span() {
        let src = "x = close.shift(-1)\n";
        let start = src.find("-1").unwrap();
        let d = Diagnostic::error("lookahead-shift", Span::new(start, start + 2), "bad shift")
            .label("reads the future")
            .hint("use shift(1)");
        let text = render(&[d], src, "s.strat");
        assert!(text.contains("error[lookahead-shift]: bad shift"));
        assert!(text.contains("--> s.strat:1:17"));
        assert!(text.contains("                ^^ reads the future"));
        assert!(text.contains("= help: use shift(1)"));
    }
}
