//! "Did you mean" suggestions for misspelled names.

/// Returns the candidate closest to `name`, if one is close enough to be a
/// likely typo.
///
/// A candidate must score at least 0.8 on Jaro-Winkler similarity, and it
/// must also need few edits for its length (normalized Damerau-Levenshtein
/// similarity of at least 0.6) unless one name starts with the other, as
/// `upper` and `uppercase` do.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|candidate| {
            let few_edits = strsim::normalized_damerau_levenshtein(name, candidate) >= 0.6;
            let prefix = name.len().min(candidate.len()) >= 3 && (name.starts_with(candidate) || candidate.starts_with(name));
            few_edits || prefix
        })
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Returns the sentence "Did you mean `X`?" for the candidate closest to
/// `name`, if there is one.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|candidate| format!("Did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_name() {
        assert_eq!(closest("prise", ["price", "currency"]), Some("price"));
    }

    #[test]
    fn ignores_distant_names() {
        assert_eq!(closest("zzz", ["price", "currency"]), None);
        assert_eq!(closest("mars-north-1", ["me-south-1"]), None);
    }

    #[test]
    fn suggests_typos_and_prefixes() {
        let cases = [
            ("tennant", "tenant"),
            ("uppercase", "upper"),
            ("EUX", "EUR"),
            ("regoin", "region"),
            ("eu-centrl-1", "eu-central-1"),
            ("acmee", "acme"),
        ];
        for (typo, expected) in cases {
            assert_eq!(closest(typo, [expected, "unrelated"]), Some(expected), "{typo}");
        }
    }
}
