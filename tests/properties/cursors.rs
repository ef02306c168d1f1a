//! Feed cursors.

use super::*;

fn cursor_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'+' | b'/' | b'.')
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn a_cursor_is_accepted_only_if_it_is_short_and_plain(
        cursor in prop_oneof![
            "[A-Za-z0-9_=+/.-]{0,2200}",
            "[A-Za-z0-9_=+/.-]{0,20}[^A-Za-z0-9_=+/.-][A-Za-z0-9_=+/.-]{0,20}",
            "\\PC{0,40}",
        ],
    ) {
        let plain = (1..=2048).contains(&cursor.len()) && cursor.bytes().all(cursor_char);
        prop_assert_eq!(is_valid_cursor(&cursor), plain, "{:?}", cursor);
    }

    #[test]
    fn signed_expiry_never_panics(url in prop_oneof![
        "\\PC{0,60}",
        ("[a-z:/.]{0,20}", "[-+0-9a-fA-FxX]{0,20}").prop_map(|(a, b)| format!("https://{a}?x=1&oe={b}")),
    ]) {
        let _ = signed_expiry(&url);
    }
}
