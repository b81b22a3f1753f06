//! Text read back from the source: comments, refused shapes printed as written, brackets and
//! string literals.

use std::ops::Range;

use super::Printer;
use crate::dsl::ast::*;
use crate::dsl::lex::{self, Piece};

/// Byte ranges of the `#` comments in `source` (up to, not including, the line break), read as
/// the parser reads them ([`lex`]).
pub(super) fn scan_comments(source: &str) -> Vec<Range<usize>> {
    lex::pieces(source.as_bytes())
        .filter_map(|p| match p {
            Piece::Comment(range) => Some(range),
            _ => None,
        })
        .collect()
}

impl Printer<'_> {
    /// `source[range]` on one line: comments removed, whitespace runs outside strings (line
    /// breaks and `\` continuations included) collapsed to one space; with `balance` (a refused
    /// `def`-style line, whose text is opaque) brackets left open are closed and line breaks in
    /// strings become spaces.
    pub(super) fn raw(&self, range: Range<usize>, balance: bool) -> String {
        let bytes = self.src.as_bytes();
        let end = range.end.min(bytes.len());
        let mut out = String::new();
        let mut i = range.start.min(end);
        let mut space = false;
        let mut open: Vec<char> = Vec::new();
        while i < end {
            let b = bytes[i];
            // Strings are skipped whole below, so a `#` here starts a comment.
            if b == b'#' {
                i = lex::line_end(&bytes[..end], i);
                continue;
            }
            if b == b'\\' && (i + 1 >= end || matches!(bytes.get(i + 1), Some(b'\n' | b'\r'))) {
                space = true;
                i += 1;
                continue;
            }
            let c = self
                .src
                .get(i..)
                .and_then(|t| t.chars().next())
                .unwrap_or(' ');
            if c.is_whitespace() {
                // Unicode whitespace too: statement ends are found with `str::trim_end`.
                space = true;
                i += c.len_utf8();
                continue;
            }
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            if b == b'"' || b == b'\'' {
                let (next, closed) = lex::skip_string(bytes, i, b);
                let closed = closed && next <= end;
                let next = next.min(end);
                let lit = self.src.get(i..next).unwrap_or("");
                // An unterminated string (only refused shapes can hold one) is closed, or
                // joining its line break would let it run on differently in the next pass; a
                // trailing `\` would escape the closing quote.
                if closed && balance {
                    // A refused line is opaque: keep it on one line even where a string in it
                    // spans lines.
                    out.push_str(&lit.replace(['\n', '\r'], " "));
                } else if closed || !balance {
                    // (A `lambda`'s parameters may hold a lone quote: keep it as written.)
                    out.push_str(lit);
                } else {
                    out.push_str(lit.trim_end_matches('\\'));
                    let triple = bytes.get(i + 1) == Some(&b) && bytes.get(i + 2) == Some(&b);
                    let quote = char::from(b).to_string();
                    out.push_str(&quote.repeat(if triple { 3 } else { 1 }));
                }
                i = next;
                continue;
            }
            match b {
                b'(' => open.push(')'),
                b'[' => open.push(']'),
                b'{' => open.push('}'),
                b')' | b']' | b'}' => {
                    open.pop();
                }
                _ => {}
            }
            // Advance by one character (never split a UTF-8 sequence).
            let next = i + c.len_utf8();
            out.push_str(self.src.get(i..next).unwrap_or(""));
            i = next;
        }
        // A `def`-style line can stop (at a lone `\r`) inside brackets; closing them keeps the
        // next line from being joined to it when the output is parsed again.
        // A final `\` would join the next line.
        while out.ends_with('\\') || out.ends_with(' ') {
            out.pop();
        }
        if balance {
            out.extend(open.iter().rev());
        }
        out
    }
    /// A string literal with double quotes where that keeps its value (short single-quoted
    /// strings that are not f-strings, and raw ones without a `"`); others as written.
    pub(super) fn string(&self, span: Span, prefix: &str) -> String {
        let text = self.slice(span);
        let quoted = &text[prefix.len().min(text.len())..];
        let written_prefix = &text[..prefix.len().min(text.len())];
        if prefix.contains('f')
            || !quoted.starts_with('\'')
            || quoted.starts_with("'''")
            || quoted.len() < 2
        {
            return text.to_string();
        }
        let body = &quoted[1..quoted.len() - 1];
        if prefix.contains('r') {
            if body.contains('"') {
                return text.to_string();
            }
            return format!("{written_prefix}\"{body}\"");
        }
        let mut out = String::with_capacity(text.len() + 2);
        out.push_str(written_prefix);
        out.push('"');
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('\'') => out.push('\''),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                },
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
