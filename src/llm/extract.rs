//! Finding the strategy in a model's reply: a fenced block (```python, ```strat, ```py or a bare
//! ```), preferring one that calls `sim(`, else the whole reply when it parses as a strategy.

use crate::dsl::parse;

/// A fenced block: its info string and body.
struct Block<'a> {
    lang: &'a str,
    body: &'a str,
}

/// The fenced blocks of `text`; an unclosed last fence runs to the end (a truncated reply).
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let lang = after[..line_end].trim();
        let body_start = (line_end + 1).min(after.len());
        let body_all = &after[body_start..];
        match body_all.find("```") {
            Some(close) => {
                out.push(Block {
                    lang,
                    body: &body_all[..close],
                });
                rest = &body_all[close + 3..];
            }
            None => {
                out.push(Block {
                    lang,
                    body: body_all,
                });
                break;
            }
        }
    }
    out
}

/// The strategy in `reply`, or `None` when there is none.
pub fn extract_code(reply: &str) -> Option<String> {
    let blocks = blocks(reply);
    let wanted = |b: &&Block| {
        let lang = b.lang.to_ascii_lowercase();
        lang.is_empty() || ["python", "py", "strat", "python3"].contains(&lang.as_str())
    };
    let candidates: Vec<&Block> = blocks.iter().filter(wanted).collect();
    // A block in another language counts only when it clearly holds a strategy.
    let pick = candidates
        .iter()
        .find(|b| b.body.contains("sim("))
        .or_else(|| candidates.first())
        .copied()
        .or_else(|| blocks.iter().find(|b| b.body.contains("sim(")));
    if let Some(b) = pick {
        let code = b.body.trim();
        if !code.is_empty() {
            return Some(format!("{code}\n"));
        }
    }
    let whole = reply.trim();
    if !whole.is_empty() && whole.contains("sim(") && parse(whole).is_ok() {
        return Some(format!("{whole}\n"));
    }
    None
}

/// The strategy in a reply written under the DSL's grammar: the whole reply (the grammar leaves
/// no room for prose), or a fenced block when the endpoint ignored the grammar.
pub fn extract_constrained(reply: &str) -> Option<String> {
    if reply.contains("```") {
        return extract_code(reply);
    }
    let code = reply.trim_end();
    (!code.trim().is_empty()).then(|| format!("{code}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "close = data.get(\"price:收盤價\")\nsim(close > 10)";

    #[test]
    fn fenced_blocks_of_each_kind() {
        for lang in ["python", "strat", "", "py"] {
            let reply = format!("Here you go:\n```{lang}\n{CODE}\n```\nThis buys strength.");
            assert_eq!(
                extract_code(&reply).as_deref(),
                Some(format!("{CODE}\n").as_str()),
                "{lang}"
            );
        }
    }

    #[test]
    fn prefers_the_block_with_sim_and_survives_truncation() {
        let reply = format!("```python\nx = 1\n```\ntext\n```python\n{CODE}\n```");
        assert_eq!(extract_code(&reply), Some(format!("{CODE}\n")));
        let cut = format!("```python\n{CODE}\n");
        assert_eq!(extract_code(&cut), Some(format!("{CODE}\n")));
    }

    #[test]
    fn a_constrained_reply_is_the_code() {
        assert_eq!(
            extract_constrained(&format!("{CODE}\n\n")),
            Some(format!("{CODE}\n"))
        );
        // Code that does not parse is still the reply: the checker says what is wrong.
        assert_eq!(extract_constrained("x = (\n"), Some("x = (\n".into()));
        assert_eq!(
            extract_constrained(&format!("```python\n{CODE}\n```")),
            Some(format!("{CODE}\n"))
        );
        assert_eq!(extract_constrained(" \n"), None);
    }

    #[test]
    fn whole_reply_only_when_it_parses() {
        assert_eq!(extract_code(CODE), Some(format!("{CODE}\n")));
        assert_eq!(extract_code("I think you should buy momentum."), None);
        assert_eq!(extract_code(""), None);
        assert_eq!(extract_code("```\n\n```"), None);
        // A block in another language is not a strategy.
        assert_eq!(extract_code("```json\n{\"a\": 1}\n```"), None);
    }
}
