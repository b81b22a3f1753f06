//! The one reading of strings and comments in strategy text, shared by the parser's pre-pass and
//! the formatter: a `#` outside a string starts a comment that runs to the line break (`\n` or
//! `\r`); a quote starts a string literal (short or triple-quoted, `\` escapes the next byte)
//! inside which `#`, brackets and quotes are text.

use std::ops::Range;

/// The offset just past the string literal whose opening quote `q` is at `i`, and whether the
/// literal is closed. An unterminated short string stops at its line break, an unterminated
/// triple-quoted one at the end of the text.
pub fn skip_string(bytes: &[u8], mut i: usize, q: u8) -> (usize, bool) {
    let triple = bytes.get(i + 1) == Some(&q) && bytes.get(i + 2) == Some(&q);
    i += if triple { 3 } else { 1 };
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if !triple && bytes[i] == b'\n' {
            return (i, false);
        }
        if bytes[i] == q
            && (!triple || (bytes.get(i + 1) == Some(&q) && bytes.get(i + 2) == Some(&q)))
        {
            return (i + if triple { 3 } else { 1 }, true);
        }
        i += 1;
    }
    (bytes.len().min(i), false)
}

/// The offset of the line break (`\n` or `\r`) at or after `i`, or the end of `bytes`: where a
/// comment starting at `i` ends.
pub fn line_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

/// A piece of strategy text, in order: a comment, a string literal, or one byte of code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// `#` up to, not including, the line break.
    Comment(Range<usize>),
    /// A string literal with its quotes (see [`skip_string`]).
    Str(Range<usize>),
    /// One byte outside comments and strings, at this offset.
    Code(usize),
}

/// The pieces of `bytes`, front to back.
pub fn pieces(bytes: &[u8]) -> impl Iterator<Item = Piece> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i;
        let piece = match *bytes.get(i)? {
            b'#' => {
                i = line_end(bytes, i);
                Piece::Comment(start..i)
            }
            q @ (b'"' | b'\'') => {
                i = skip_string(bytes, i, q).0;
                Piece::Str(start..i)
            }
            _ => {
                i += 1;
                Piece::Code(start)
            }
        };
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_hide_comments_and_quotes() {
        let src = "x = 'a#b' # c\ny = \"\"\"q\n'\"\"\" + \"open\nz # d\re";
        let comments: Vec<&str> = pieces(src.as_bytes())
            .filter_map(|p| match p {
                Piece::Comment(r) => Some(&src[r]),
                _ => None,
            })
            .collect();
        assert_eq!(comments, ["# c", "# d"]);
        let strings: Vec<&str> = pieces(src.as_bytes())
            .filter_map(|p| match p {
                Piece::Str(r) => Some(&src[r]),
                _ => None,
            })
            .collect();
        assert_eq!(strings, ["'a#b'", "\"\"\"q\n'\"\"\"", "\"open"]);
        assert_eq!(skip_string(b"'ab\\'", 0, b'\''), (5, false));
        assert_eq!(skip_string(b"'a\\'b'", 0, b'\''), (6, true));
        assert_eq!(skip_string(b"'''a''", 0, b'\''), (6, false));
    }
}
