//! Hashtags, as `/hashtags/{tag}/recent.json` takes them.

/// A hashtag as Instagram accepts it: letters, digits and underscores, at
/// most 100 characters, without the `#`; compared in lower case.
pub fn parse_hashtag(raw: &str) -> Option<String> {
    let tag = raw.strip_prefix('#').unwrap_or(raw);
    let ok = !tag.is_empty()
        && tag.chars().count() <= 100
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| tag.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_letters_digits_and_underscores() {
        assert_eq!(parse_hashtag("BlueBottle").as_deref(), Some("bluebottle"));
        assert_eq!(parse_hashtag("#café_2026").as_deref(), Some("café_2026"));
        for bad in [
            "",
            "#",
            "two words",
            "a-b",
            "<script>",
            "a/b",
            &"x".repeat(101),
        ] {
            assert_eq!(parse_hashtag(bad), None, "{bad}");
        }
        assert!(parse_hashtag(&"x".repeat(100)).is_some());
    }
}
