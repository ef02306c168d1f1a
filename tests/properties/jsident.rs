//! token.js `const`: only safe identifiers, never a reserved word or a global.

use super::*;

/// ECMAScript reserved words (all modes), the literals, and the globals the
/// product says a const must not shadow.
const JS_RESERVED: &[&str] = &[
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

fn is_safe_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= 64
        && (first.is_ascii_alphabetic() || first == '_' || first == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !JS_RESERVED.contains(&s)
}

fn const_candidate() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z_$0-9]{0,70}",
        2 => prop::sample::select(JS_RESERVED.to_vec()).prop_map(str::to_string),
        2 => (prop::sample::select(JS_RESERVED.to_vec()), "[A-Za-z_$0-9 ]{0,2}")
            .prop_map(|(w, s)| format!("{w}{s}")),
        2 => ("[A-Za-z_$]{1,8}", "[^A-Za-z0-9_$]", "[A-Za-z_$0-9]{0,8}")
            .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        1 => "\\PC{0,12}",
        1 => ".{0,12}",
    ]
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn the_const_validator_accepts_only_safe_identifiers(s in const_candidate()) {
        match JsIdentifier::parse(&s) {
            Ok(name) => {
                prop_assert!(is_safe_identifier(&s), "accepted {:?}", s);
                prop_assert_eq!(name.as_str(), s.as_str());
            }
            Err(_) => prop_assert!(!is_safe_identifier(&s), "refused {:?}", s),
        }
    }

    #[test]
    fn every_safe_identifier_is_accepted(s in "[A-Za-z_$][A-Za-z0-9_$]{0,63}") {
        prop_assume!(!JS_RESERVED.contains(&s.as_str()));
        prop_assert!(JsIdentifier::parse(&s).is_ok(), "refused {:?}", s);
    }
}
