//! "Did you mean" suggestions: the closest candidate by edit distance, offered only when the
//! distance is at most a third of the input's length (as nushell does), so unrelated names are
//! never suggested; for dataset keys, by meaning first (catalog aliases and names), then by
//! spelling, with the candidates grouped by category.

use crate::data::catalog::{self, Entry};

/// The closest candidate to `input`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != input)
        .map(|c| (strsim::levenshtein(input, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// What to tell a strategy that loads a dataset the data set does not have.
#[derive(Debug, Default, PartialEq)]
pub struct DatasetHint {
    /// The dataset it most likely means, and why.
    pub best: Option<(String, String)>,
    /// The query names a catalog dataset this data set lacks.
    pub missing: bool,
    /// Candidates to pick from, grouped by category (category, keys with their English names).
    pub groups: Vec<(String, Vec<String>)>,
}

/// Most candidates listed per category, and in all.
const PER_CATEGORY: usize = 4;
const LISTED: usize = 30;

/// Suggestions for the unknown dataset `query` among the data set's keys `known`, by meaning
/// first — the same column under another table, an alias (`pb`, `P/B`), the English or Chinese
/// name, via the catalog — then by spelling; candidates grouped by category.
pub fn dataset(query: &str, known: &[String]) -> DatasetHint {
    let all = catalog::entries().unwrap_or_default();
    let have: Vec<Entry> = all
        .iter()
        .filter(|e| known.contains(&e.key))
        .cloned()
        .chain(
            known
                .iter()
                .filter(|k| !all.iter().any(|e| &e.key == *k))
                .map(|k| uncatalogued(k)),
        )
        .collect();
    let column = query.split_once(':').map_or(query, |(_, c)| c);
    let mut hint = DatasetHint::default();
    let named = catalog::resolve(&all, query).filter(|e| e.key == query || !query.contains(':'));
    if let Some(e) = named.filter(|e| !known.contains(&e.key)) {
        // A dataset the catalog knows, absent here: no look-alike stands in for it.
        hint.missing = true;
        hint.groups = groups(have.iter().filter(|x| x.category == e.category));
        return hint;
    }
    hint.best = by_meaning(query, column, &have).or_else(|| by_spelling(query, column, &have));
    let hits = catalog::search(&have, column);
    hint.groups = if !hits.is_empty() {
        groups(hits.into_iter().map(|(_, e)| e))
    } else if let Some((table, _)) = query.split_once(':') {
        let family: Vec<&Entry> = have
            .iter()
            .filter(|e| e.key.starts_with(&format!("{table}:")))
            .collect();
        if family.is_empty() {
            groups(
                have.iter()
                    .filter(|e| e.core || !all.iter().any(|a| a.key == e.key)),
            )
        } else {
            groups(family.into_iter())
        }
    } else {
        groups(
            have.iter()
                .filter(|e| e.core || !all.iter().any(|a| a.key == e.key)),
        )
    };
    hint
}

/// A key the catalog does not describe (an imported finlab dataset).
fn uncatalogued(key: &str) -> Entry {
    Entry {
        key: key.to_string(),
        name_zh: String::new(),
        name_en: String::new(),
        category: "other".into(),
        frequency: String::new(),
        publication: String::new(),
        unit: String::new(),
        description: String::new(),
        rationale: String::new(),
        aliases: Vec::new(),
        core: false,
    }
}

fn by_meaning(query: &str, column: &str, have: &[Entry]) -> Option<(String, String)> {
    if let Some(e) = have.iter().find(|e| e.column() == column && e.key != query) {
        let why = match query.split_once(':') {
            Some(_) => "the same column in another table".to_string(),
            None => format!(
                "`{column}` is a column of `{}`",
                e.key.split(':').next().unwrap_or("")
            ),
        };
        return Some((e.key.clone(), why));
    }
    let n = |s: &str| catalog::normalize(s);
    for text in [query, column] {
        let Some(e) = catalog::resolve(have, text) else {
            continue;
        };
        let why = if e.aliases.iter().any(|a| n(a) == n(text)) {
            format!("`{text}` is an alias of {}", e.name_en)
        } else if n(&e.name_en) == n(text) {
            format!("its English name is {}", e.name_en)
        } else {
            format!("{} / {}", e.name_zh, e.name_en)
        };
        return Some((e.key.clone(), why));
    }
    None
}

fn by_spelling(query: &str, column: &str, have: &[Entry]) -> Option<(String, String)> {
    let keys = have.iter().map(|e| e.key.as_str());
    if let Some(k) = did_you_mean(query, keys) {
        return Some((k.to_string(), "a near spelling".into()));
    }
    let columns = have.iter().map(Entry::column);
    let c = did_you_mean(column, columns)?;
    let e = have.iter().find(|e| e.column() == c)?;
    Some((e.key.clone(), "a near spelling".into()))
}

/// Entries grouped by category in [`catalog::CATEGORIES`] order (others last), at most
/// [`PER_CATEGORY`] each and [`LISTED`] in all, a count of the rest at the end of a group.
fn groups<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<(String, Vec<String>)> {
    let entries: Vec<&Entry> = entries.collect();
    let mut cats: Vec<&str> = catalog::CATEGORIES.to_vec();
    cats.push("other");
    let mut out = Vec::new();
    let mut listed = 0;
    for cat in cats {
        let of: Vec<&&Entry> = entries.iter().filter(|e| e.category == cat).collect();
        if of.is_empty() || listed >= LISTED {
            continue;
        }
        let take = PER_CATEGORY.min(LISTED - listed);
        let mut names: Vec<String> = of
            .iter()
            .take(take)
            .map(|e| {
                if e.name_en.is_empty() {
                    format!("\"{}\"", e.key)
                } else {
                    format!("\"{}\" ({})", e.key, e.name_en)
                }
            })
            .collect();
        listed += names.len();
        if of.len() > take {
            names.push(format!("… {} more", of.len() - take));
        }
        out.push((cat.to_string(), names));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggestions_from_a_table() {
        let methods = [
            "average",
            "shift",
            "is_largest",
            "is_smallest",
            "rise",
            "fall",
        ];
        // (input, expected, why)
        let cases = [
            ("averag", Some("average"), "one deletion"),
            (
                "is_larget",
                Some("is_largest"),
                "one deletion in a long name",
            ),
            (
                "shfit",
                None,
                "a transposition costs 2, more than 5/3: refused",
            ),
            ("mean", None, "unrelated name"),
            ("x", None, "too short to guess"),
        ];
        for (input, want, why) in cases {
            assert_eq!(did_you_mean(input, methods), want, "{input}: {why}");
        }
    }

    #[test]
    fn dataset_suggestions_by_meaning_then_spelling() {
        let all = crate::data::catalog::keys();
        let best = |q: &str| super::dataset(q, &all).best.map(|(k, _)| k);
        // (query, suggested key): the measured misses first.
        let cases = [
            ("營業利益成長率", "fundamental_features:營業利益成長率"),
            (
                "financial_statement:營業利益成長率",
                "fundamental_features:營業利益成長率",
            ),
            ("EBITDA", "fundamental_features:EBITDA"),
            ("fundamental_features:ebitda", "fundamental_features:EBITDA"),
            ("股價淨值比", "price_earning_ratio:股價淨值比"),
            ("price:股價淨值比", "price_earning_ratio:股價淨值比"),
            ("P/B", "price_earning_ratio:股價淨值比"),
            ("pb", "price_earning_ratio:股價淨值比"),
            ("price:pb", "price_earning_ratio:股價淨值比"),
            ("pe", "price_earning_ratio:本益比"),
            ("roe", "fundamental_features:ROE稅後"),
            ("revenue_yoy", "monthly_revenue:去年同月增減(%)"),
            ("free cash flow", "fundamental_features:自由現金流量"),
            ("price:Close", "price:收盤價"),
            ("price:收盤", "price:收盤價"),
            (
                "fundamental_features:營業利益成長",
                "fundamental_features:營業利益成長率",
            ),
            ("monthly_revenue:當月營收入", "monthly_revenue:當月營收"),
        ];
        for (q, want) in cases {
            assert_eq!(best(q).as_deref(), Some(want), "{q}");
        }
        assert_eq!(best("zzzz:qqqq"), None);
        // A catalog dataset this data set lacks: no look-alike (營業利益率) stands in for it.
        let old: Vec<String> = all
            .iter()
            .filter(|k| !k.ends_with("成長率") || k.ends_with("營收成長率"))
            .cloned()
            .collect();
        let h = super::dataset("fundamental_features:營業利益成長率", &old);
        assert!(h.missing && h.best.is_none(), "{h:?}");
        assert!(h.groups.iter().all(|(c, _)| c == "fundamental"), "{h:?}");
        // Candidates come grouped by category, a few each, never every key on one line.
        let h = super::dataset("zzzz:qqqq", &all);
        assert_eq!(h.groups.len(), 7, "{h:?}");
        assert!(h.groups.iter().all(|(_, k)| k.len() <= 5), "{h:?}");
    }
}
