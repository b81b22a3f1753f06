//! The curated dataset catalog (`datasets/catalog.json`): every key a strategy may load, in
//! finlab's spelling, with bilingual names, aliases (`pb`, `P/B`, `revenue_yoy`), category,
//! frequency, publication rule, unit, description and why a strategy would use it. The checker's
//! dataset list falls back to it and suggests from it, `data search` ranks it, and the prompt
//! shows it to the model; a test keeps it equal to what the generator writes.

use serde::Deserialize;

use super::DataError;

const CATALOG: &str = include_str!("../../datasets/catalog.json");

/// One curated dataset.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Entry {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    /// `daily`, `monthly` or `quarterly`.
    pub frequency: String,
    /// When a value becomes visible (`docs/semantics.md` §6.2).
    pub publication: String,
    pub unit: String,
    pub description: String,
    pub rationale: String,
    /// Other names people write for it (`pb`, `P/B`, `revenue_yoy`, `股價`), unique across the
    /// catalog.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Part of the common core: shown in full in the prompt, and the pool the offline search
    /// swaps datasets in.
    #[serde(default)]
    pub core: bool,
}

impl Entry {
    /// The column part of the key (`收盤價` of `price:收盤價`).
    pub fn column(&self) -> &str {
        self.key.split_once(':').map_or(&self.key, |(_, c)| c)
    }
}

#[derive(Deserialize)]
struct File {
    datasets: Vec<Entry>,
}

/// Every catalog entry, in catalog order (parsed once per process).
pub fn entries() -> Result<Vec<Entry>, DataError> {
    static PARSED: std::sync::OnceLock<Result<Vec<Entry>, String>> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| {
            serde_json::from_str::<File>(CATALOG)
                .map(|f| f.datasets)
                .map_err(|e| format!("datasets/catalog.json: {e}"))
        })
        .clone()
        .map_err(DataError::Catalog)
}

/// The catalog entry of `key`, if any.
pub fn entry(key: &str) -> Option<Entry> {
    entries().ok()?.into_iter().find(|e| e.key == key)
}

/// Every catalog key, sorted.
pub fn keys() -> Vec<String> {
    let mut k: Vec<String> = entries()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.key)
        .collect();
    k.sort();
    k
}

/// `text` reduced for matching names: lower case, without spaces, `/`, `_`, `-`, `(`, `)`
/// and `%` (so `P/B`, `pb` and `PB` agree, and `revenue_yoy` matches `revenue yoy`).
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '/' | '_' | '-' | '(' | ')' | '%' | '（' | '）'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The entry a name denotes exactly: its key, its column, an alias, or its Chinese or English
/// name, compared after [`normalize`]; among `keys` when given. A column shared by several
/// families (`流動資產`) resolves to the first in catalog order.
pub fn resolve<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    let n = normalize(name);
    if n.is_empty() {
        return None;
    }
    let exact = |e: &&Entry| {
        normalize(&e.key) == n
            || normalize(e.column()) == n
            || e.aliases.iter().any(|a| normalize(a) == n)
            || normalize(&e.name_zh) == n
            || normalize(&e.name_en) == n
    };
    entries.iter().find(exact)
}

/// How well one entry matches one query word (0 = not at all).
fn word_score(e: &Entry, word: &str) -> u32 {
    let w = normalize(word);
    if w.is_empty() {
        return 0;
    }
    let names: Vec<String> = [e.key.as_str(), e.column(), &e.name_zh, &e.name_en]
        .into_iter()
        .chain(e.aliases.iter().map(String::as_str))
        .map(normalize)
        .collect();
    if names.contains(&w) {
        return 100;
    }
    if names.iter().any(|x| x.starts_with(&w)) {
        return 60;
    }
    if names.iter().any(|x| x.contains(&w)) {
        return 45;
    }
    let text = format!("{} {}", e.description, e.rationale).to_lowercase();
    if text.contains(&word.to_lowercase()) {
        return 20;
    }
    let limit = (w.chars().count() / 3).max(1);
    if w.chars().count() >= 3 && names.iter().any(|x| strsim::levenshtein(x, &w) <= limit) {
        return 15;
    }
    0
}

/// Entries matching `query` (words separated by spaces), best first: every word must match
/// the key, a name, an alias, or the description; exact names rank above prefixes, prefixes
/// above substrings, those above the description, near-spellings last, core datasets first on
/// ties.
pub fn search<'a>(entries: &'a [Entry], query: &str) -> Vec<(u32, &'a Entry)> {
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut hits: Vec<(u32, usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let scores: Vec<u32> = words.iter().map(|w| word_score(e, w)).collect();
            (!scores.is_empty() && scores.iter().all(|&s| s > 0))
                .then(|| (scores.iter().sum::<u32>() + u32::from(e.core) * 5, i, e))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    hits.into_iter().map(|(s, _, e)| (s, e)).collect()
}

/// The categories in the order they are listed.
pub const CATEGORIES: [&str; 7] = [
    "price",
    "valuation",
    "revenue",
    "fundamental",
    "institutional",
    "margin",
    "benchmark",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth;

    #[test]
    fn catalog_is_complete_and_matches_the_generator() {
        let e = entries().unwrap();
        assert!(e.len() >= 50, "{} entries", e.len());
        for x in &e {
            assert!(
                ["daily", "monthly", "quarterly"].contains(&x.frequency.as_str()),
                "{x:?}"
            );
            for text in [&x.name_zh, &x.name_en, &x.category, &x.publication, &x.unit] {
                assert!(!text.trim().is_empty(), "{}: empty field", x.key);
            }
            assert!(
                x.description.len() > 10 && x.rationale.len() > 10,
                "{}",
                x.key
            );
        }
        let mut generated: Vec<String> = synth::keys().iter().map(|k| k.to_string()).collect();
        generated.sort();
        assert_eq!(keys(), generated, "catalog keys = generated keys");
        let monthly = e.iter().filter(|x| x.frequency == "monthly").count();
        assert_eq!(
            monthly,
            synth::MONTHLY_KEYS.len() + 1,
            "revenue and insider holdings"
        );
        assert!(e.len() >= 100, "{} entries", e.len());
        let mut aliases = std::collections::BTreeMap::new();
        for x in &e {
            assert!(CATEGORIES.contains(&x.category.as_str()), "{}", x.key);
            for a in &x.aliases {
                let first = aliases.entry(normalize(a)).or_insert(&x.key);
                assert_eq!(*first, &x.key, "alias `{a}` names two datasets");
            }
        }
        // Every fundamental_features key finlab documents and held-out strategies use.
        for k in [
            "營業利益成長率",
            "稅後淨利成長率",
            "流動比率",
            "速動比率",
            "自由現金流量",
            "營運現金流",
            "經常稅後淨利",
            "業外收支營收率",
            "EBITDA",
            "ROE稅後",
            "ROA稅後息前",
            "營業毛利率",
            "營業利益率",
            "稅後淨利率",
            "營收成長率",
            "負債比率",
        ] {
            assert!(entry(&format!("fundamental_features:{k}")).is_some(), "{k}");
        }
        let ff = e
            .iter()
            .filter(|x| x.key.starts_with("fundamental_features:"));
        assert_eq!(
            ff.count(),
            53,
            "finlab documents 53 fundamental_features keys"
        );
    }

    #[test]
    fn search_ranks_exact_names_and_aliases_first() {
        let e = entries().unwrap();
        let top = |q: &str| search(&e, q).first().map(|(_, x)| x.key.clone());
        // (query, best hit)
        let cases = [
            ("pb", "price_earning_ratio:股價淨值比"),
            ("P/B", "price_earning_ratio:股價淨值比"),
            ("本益比", "price_earning_ratio:本益比"),
            ("ebitda", "fundamental_features:EBITDA"),
            ("free cash flow", "fundamental_features:自由現金流量"),
            ("current ratio", "fundamental_features:流動比率"),
            ("revenue_yoy", "monthly_revenue:去年同月增減(%)"),
            ("營業利益成長", "fundamental_features:營業利益成長率"),
            ("融資", "margin_transactions:融資今日餘額"),
            (
                "foreign",
                "institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)",
            ),
        ];
        for (q, want) in cases {
            assert_eq!(top(q).as_deref(), Some(want), "{q}");
        }
        assert!(search(&e, "zzzz").is_empty());
        assert_eq!(
            resolve(&e, "P/B").map(|x| x.key.as_str()),
            Some("price_earning_ratio:股價淨值比")
        );
    }
}
