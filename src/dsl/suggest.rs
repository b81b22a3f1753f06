//! "Did you mean" suggestions: the closest candidate by edit distance, offered only when the
//! distance is at most a third of the input's length (as nushell does), so unrelated names are
//! never suggested.

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
}
