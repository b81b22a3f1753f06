//! The curated dataset catalog (`datasets/catalog.json`): every key a strategy may load, in
//! finlab's spelling, with bilingual names, category, frequency, publication rule, unit,
//! description and why a strategy would use it. The checker's dataset list falls back to it, and
//! the prompt shows it to the model; a test keeps it equal to what the generator writes.

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
}

#[derive(Deserialize)]
struct File {
    datasets: Vec<Entry>,
}

/// Every catalog entry, in catalog order.
pub fn entries() -> Result<Vec<Entry>, DataError> {
    let f: File = serde_json::from_str(CATALOG)
        .map_err(|e| DataError::Catalog(format!("datasets/catalog.json: {e}")))?;
    Ok(f.datasets)
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
        assert_eq!(monthly, synth::MONTHLY_KEYS.len());
    }
}
