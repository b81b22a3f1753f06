//! Syntax highlighting for strategy source (Python-like): comments, strings, numbers, keywords,
//! calls and operators become `<span>`s; every piece is escaped, so the source cannot inject
//! markup whatever it contains.

use super::escape;

const KEYWORDS: &[&str] = &[
    "from", "import", "as", "def", "return", "if", "else", "elif", "for", "in", "while", "and",
    "or", "not", "is", "lambda", "True", "False", "None", "class", "with", "pass",
];

fn span(out: &mut String, class: &str, text: &str) {
    out.push_str("<span class=\"");
    out.push_str(class);
    out.push_str("\">");
    out.push_str(&escape(text));
    out.push_str("</span>");
}

/// `source` as highlighted, escaped HTML (for a `<pre class="src">`).
pub(crate) fn highlight(source: &str) -> String {
    let mut out = String::with_capacity(source.len() * 2);
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(source.len(), |c| c.0);
    let mut i = 0;
    while let Some(&(start, c)) = chars.get(i) {
        if c == '#' {
            let mut j = i;
            while chars.get(j).is_some_and(|c| c.1 != '\n') {
                j += 1;
            }
            span(&mut out, "com", &source[start..end_of(j)]);
            i = j;
        } else if c == '"' || c == '\'' {
            let mut j = i + 1;
            while let Some(&(_, d)) = chars.get(j) {
                j += 1;
                if d == '\\' {
                    j += 1;
                } else if d == c || d == '\n' {
                    break;
                }
            }
            let j = j.min(chars.len());
            span(&mut out, "str", &source[start..end_of(j)]);
            i = j;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while chars
                .get(j)
                .is_some_and(|c| c.1.is_ascii_alphanumeric() || c.1 == '.' || c.1 == '_')
            {
                j += 1;
            }
            span(&mut out, "num", &source[start..end_of(j)]);
            i = j;
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while chars
                .get(j)
                .is_some_and(|c| c.1.is_alphanumeric() || c.1 == '_')
            {
                j += 1;
            }
            let word = &source[start..end_of(j)];
            if KEYWORDS.contains(&word) {
                span(&mut out, "kw", word);
            } else if chars.get(j).is_some_and(|c| c.1 == '(') {
                span(&mut out, "fn", word);
            } else {
                out.push_str(&escape(word));
            }
            i = j;
        } else if "&|~<>=!+-*/%".contains(c) {
            span(&mut out, "op", &source[start..end_of(i + 1)]);
            i += 1;
        } else {
            out.push_str(&escape(&source[start..end_of(i + 1)]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_and_escapes() {
        let html = highlight("# a <b>\nx = data.get(\"</pre><script>\") & 1.5\n");
        assert!(
            html.contains(r#"<span class="com"># a &lt;b&gt;</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="fn">get</span>"#), "{html}");
        assert!(
            html.contains("&quot;&lt;/pre&gt;&lt;script&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains(r#"<span class="num">1.5</span>"#), "{html}");
        assert!(!html.contains("<script>") && !html.contains("</pre>"));
    }

    #[test]
    fn unterminated_string_and_non_ascii() {
        let html = highlight("s = '收盤價\nt = \"x\\\"");
        assert!(html.contains("收盤價"));
        assert!(html.ends_with("</span>"));
    }
}
