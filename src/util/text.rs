//! Text from a strategy, a ledger or a data set printed to a terminal: control characters are
//! shown escaped, so such text cannot move the cursor, clear the screen or set the window title.

use std::borrow::Cow;

/// `s` with every control character except newline and tab written as `\u{..}`.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_and_keeps_plain_text() {
        assert_eq!(escape_controls("close 收盤價\n\tx"), "close 收盤價\n\tx");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\u{7}\r\u{9b}"),
            "a\\u{1b}[2Jb\\u{7}\\u{d}\\u{9b}"
        );
    }
}
