//! Strategy files as text: a leading UTF-8 byte-order mark is dropped (editors on Windows write
//! one), and bytes that are not UTF-8 become an `invalid-utf8` diagnostic that points at them.

use super::ast::Span;
use super::codes::Code;
use super::diagnostic::Diagnostic;

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A strategy file that is not UTF-8: the diagnostic, and the file decoded lossily (each bad
/// sequence a U+FFFD) so the diagnostic can be rendered against it.
#[derive(Clone, Debug)]
pub struct Undecodable {
    pub text: String,
    pub diagnostic: Diagnostic,
}

/// The text of a strategy file, or where it stops being UTF-8 (the span is in
/// [`Undecodable::text`]; the message gives the byte offset in the file).
pub fn decode(mut bytes: Vec<u8>) -> Result<String, Undecodable> {
    let skipped = if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
        BOM.len()
    } else {
        0
    };
    let err = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(err) => err,
    };
    let at = err.utf8_error().valid_up_to();
    let bytes = err.into_bytes();
    let bad = bytes.get(at).copied().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let diagnostic = Diagnostic::error(
        Code::InvalidUtf8,
        // The replacement character that stands for the bad bytes.
        Span::new(at, at + char::REPLACEMENT_CHARACTER.len_utf8()),
        format!(
            "the strategy is not UTF-8 text: the byte at offset {} (0x{bad:02X}) is not valid UTF-8",
            at + skipped
        ),
    )
    .label("not UTF-8")
    .hint("save the file as UTF-8 (a strategy may hold any Unicode text, e.g. \"price:收盤價\")");
    Err(Undecodable { text, diagnostic })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::locate;

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(decode(b"\xEF\xBB\xBFx = 1\n".to_vec()).unwrap(), "x = 1\n");
        assert_eq!(decode("x = \"價\"\n".into()).unwrap(), "x = \"價\"\n");
    }

    #[test]
    fn invalid_bytes_are_located_by_line_column_and_offset() {
        let mut bytes = b"\xEF\xBB\xBFa = 1\nb = \"".to_vec();
        bytes.extend(b"\xFF\xFEx\"\n");
        let bad = decode(bytes).unwrap_err();
        assert_eq!(bad.diagnostic.code, Code::InvalidUtf8);
        assert!(
            bad.diagnostic.message.contains("offset 14 (0xFF)"),
            "{}",
            bad.diagnostic.message
        );
        let l = &locate(&[bad.diagnostic], &bad.text, "s.strat")[0];
        assert_eq!((l.line, l.col, l.end_line, l.end_col), (2, 6, 2, 7));
    }
}
