//! The name of the constant in `/token.js?const=Name` (and JS_CONSTANT_NAME).
//!
//! The name is written into JavaScript as `const Name = "…";`, so it must be a plain
//! identifier that cannot break out of the statement or shadow an important global.

use std::fmt;

use thiserror::Error;

/// The longest name accepted, in characters.
const MAX_LEN: usize = 64;

/// ECMAScript reserved words (including strict-mode and future reserved words), plus globals
/// that a `const` would shadow badly.
const RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    // Not reserved, but shadowing them breaks the page.
    "arguments",
    "eval",
    "undefined",
    "NaN",
    "Infinity",
    // Browser globals: `const window = …` throws (the global object's own
    // unforgeable properties), `const Object = …` shadows what page code needs.
    "window",
    "self",
    "globalThis",
    "document",
    "location",
    "top",
    "parent",
    "frames",
    "opener",
    "navigator",
    "history",
    "name",
    "status",
    "origin",
    "length",
    "event",
    "console",
    "alert",
    "fetch",
    "localStorage",
    "sessionStorage",
    "Object",
    "Array",
    "Function",
    "String",
    "Number",
    "Boolean",
    "Symbol",
    "BigInt",
    "Math",
    "JSON",
    "Date",
    "RegExp",
    "Error",
    "Promise",
    "Map",
    "Set",
    "WeakMap",
    "Reflect",
    "Proxy",
];

/// A JavaScript identifier safe to emit as `const Name = …;`: ASCII letters, digits, `_` and
/// `$`, not starting with a digit, 1 to 64 characters, and not a reserved word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsIdentifier(String);

/// Which rule a rejected name broke. Messages never repeat the name: it is never echoed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum JsIdentError {
    /// The empty string.
    #[error("const must not be empty")]
    Empty,
    /// More than 64 characters.
    #[error("const must be at most 64 characters long")]
    TooLong,
    /// Starts with a digit or any other character that cannot start an identifier.
    #[error("const must start with a letter, _ or $")]
    BadStart,
    /// Contains a character other than ASCII letters, digits, `_` and `$`.
    #[error("const may contain only ASCII letters, digits, _ and $")]
    BadCharacter,
    /// A reserved word or a global such as `undefined`.
    #[error("const must not be a JavaScript reserved word or a built-in global name")]
    Reserved,
}

impl JsIdentifier {
    /// Checks `s` against the rules above.
    pub fn parse(s: &str) -> Result<JsIdentifier, JsIdentError> {
        let first = s.chars().next().ok_or(JsIdentError::Empty)?;
        if s.chars().count() > MAX_LEN {
            return Err(JsIdentError::TooLong);
        }
        if !(first.is_ascii_alphabetic() || first == '_' || first == '$') {
            return Err(JsIdentError::BadStart);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            return Err(JsIdentError::BadCharacter);
        }
        if RESERVED.contains(&s) {
            return Err(JsIdentError::Reserved);
        }
        Ok(JsIdentifier(s.to_owned()))
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for JsIdentifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_identifiers_are_accepted_unchanged() {
        for name in [
            "InstagramToken",
            "token",
            "_private",
            "$",
            "_",
            "a1",
            "$_9",
            "Z",
        ] {
            let ident = JsIdentifier::parse(name).expect(name);

            assert_eq!(ident.as_str(), name);
            assert_eq!(ident.to_string(), name);
            assert_eq!(ident.as_ref(), name);
        }
    }

    #[test]
    fn an_empty_name_is_refused() {
        assert_eq!(JsIdentifier::parse(""), Err(JsIdentError::Empty));
    }

    #[test]
    fn a_name_starting_with_a_digit_is_refused() {
        assert_eq!(JsIdentifier::parse("1token"), Err(JsIdentError::BadStart));
        assert_eq!(JsIdentifier::parse("9"), Err(JsIdentError::BadStart));
    }

    #[test]
    fn a_name_starting_with_another_character_is_refused() {
        for name in ["-a", " a", ".a", "\"a", "éa"] {
            assert_eq!(
                JsIdentifier::parse(name),
                Err(JsIdentError::BadStart),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_name_containing_other_characters_is_refused() {
        for name in [
            "a-b",
            "a b",
            "a.b",
            "café",
            "a;alert(1)",
            "a=1;b",
            "x</script>",
            "a\u{200b}",
            "a\n",
            "token\"",
        ] {
            assert_eq!(
                JsIdentifier::parse(name),
                Err(JsIdentError::BadCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_name_of_64_characters_is_accepted_and_65_is_refused() {
        let longest = "a".repeat(64);

        assert!(JsIdentifier::parse(&longest).is_ok());
        assert_eq!(
            JsIdentifier::parse(&"a".repeat(65)),
            Err(JsIdentError::TooLong)
        );
        assert_eq!(
            JsIdentifier::parse(&"é".repeat(65)),
            Err(JsIdentError::TooLong)
        );
    }

    #[test]
    fn every_reserved_word_and_shadowed_global_is_refused() {
        let words = "break case catch class const continue debugger default delete do else \
                     enum export extends false finally for function if import in instanceof \
                     new null return super switch this throw true try typeof var void while \
                     with yield let static implements interface package private protected \
                     public await arguments eval undefined NaN Infinity";

        for word in words.split_whitespace() {
            assert_eq!(
                JsIdentifier::parse(word),
                Err(JsIdentError::Reserved),
                "{word}"
            );
        }
    }

    #[test]
    fn the_browsers_globals_are_refused() {
        for name in [
            "window", "document", "location", "top", "self", "Object", "JSON",
        ] {
            assert_eq!(
                JsIdentifier::parse(name),
                Err(JsIdentError::Reserved),
                "{name}"
            );
        }
        assert!(JsIdentifier::parse("InstagramToken").is_ok());
        assert!(JsIdentifier::parse("windowToken").is_ok());
    }

    #[test]
    fn reserved_words_are_matched_case_sensitively_and_whole() {
        for name in [
            "Class", "NULL", "nan", "classes", "newToken", "_this", "async", "of",
        ] {
            assert!(JsIdentifier::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn every_ascii_character_follows_the_rules_in_both_positions() {
        for byte in 0u8..=127 {
            let c = char::from(byte);
            let word_char = c.is_ascii_alphanumeric() || c == '_' || c == '$';

            assert_eq!(
                JsIdentifier::parse(&format!("a{c}")).is_ok(),
                word_char,
                "{c:?} after a letter"
            );
            assert_eq!(
                JsIdentifier::parse(&format!("{c}a")).is_ok(),
                word_char && !c.is_ascii_digit(),
                "{c:?} first"
            );
        }
    }

    #[test]
    fn error_messages_never_contain_the_rejected_input() {
        for name in [
            "",
            "1<script>",
            "a<script>alert(1)</script>",
            "undefined",
            &"x".repeat(100),
        ] {
            let message = JsIdentifier::parse(name).unwrap_err().to_string();

            assert!(message.starts_with("const "), "{message}");
            if !name.is_empty() {
                assert!(!message.contains(name), "{message}");
            }
            assert!(!message.contains('<'), "{message}");
        }
    }
}
