//! Stock names and TWSE industries by code, from the reference data compiled into the binary
//! (`datasets/securities.csv`, `industries.csv`), for every table that lists stocks.

use std::collections::HashMap;

use crate::data::reference;

/// Name and industry of each stock in the directory.
#[derive(Clone, Debug, Default)]
pub struct Names {
    by_code: HashMap<String, (String, String)>,
}

impl Names {
    /// The directory's names and industries (Chinese names, as TWSE lists them). Empty when the
    /// reference data cannot be read: tables then show codes alone.
    pub fn load() -> Names {
        let industries: HashMap<String, String> = reference::industries()
            .unwrap_or_default()
            .into_iter()
            .map(|i| (i.code, i.name_zh))
            .collect();
        let by_code = reference::securities()
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let industry = industries.get(&s.industry).cloned().unwrap_or_default();
                (s.code, (s.name, industry))
            })
            .collect();
        Names { by_code }
    }

    /// The stock's name, or "" when the directory does not list it.
    pub fn name(&self, code: &str) -> &str {
        self.by_code.get(code).map_or("", |e| e.0.as_str())
    }

    /// The stock's TWSE industry, or "".
    pub fn industry(&self, code: &str) -> &str {
        self.by_code.get(code).map_or("", |e| e.1.as_str())
    }

    /// `2330 台積電`, or the code alone.
    pub fn label(&self, code: &str) -> String {
        match self.name(code) {
            "" => code.to_string(),
            name => format!("{code} {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_industries_come_from_the_directory() {
        let n = Names::load();
        assert_eq!(n.name("2330"), "台積電");
        assert_eq!(n.industry("2330"), "半導體業");
        assert_eq!(n.label("2330"), "2330 台積電");
        assert_eq!(n.label("ZZZZ"), "ZZZZ");
        assert_eq!(n.industry("ZZZZ"), "");
    }
}
