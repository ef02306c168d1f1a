//! Property tests for everything that reads untrusted input: the domain
//! allow-list, the `const` name of token.js, Meta's `signed_request`, feed
//! cursors, and every upstream answer parser (the public ones directly, the
//! crate-private token, code and profile parsers through the public client
//! against the fake Graph API). Case counts stay moderate so the suite is fast.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};
use token_agent::domain::allowlist::{Access, AllowListError, AllowedDomains};
use token_agent::domain::is_valid_cursor;
use token_agent::domain::jsident::JsIdentifier;
use token_agent::feed::{Links, Page, Paging, render};
use token_agent::mirror::Dressing;
use token_agent::signed_request::{self, SignedRequestError};
use token_agent::upstream::media::{MediaPage, signed_expiry};
use token_agent::upstream::{
    MediaOwner, PageRequest, Upstream, UpstreamConfig, Usage, classify_debug_token,
};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is reported with its minimal input; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// ALLOWED_DOMAINS

fn label() -> impl Strategy<Value = String> {
    // "xn--" starts a punycode label, which must then decode.
    "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?".prop_filter("not punycode", |l| !l.starts_with("xn--"))
}

/// A registrable domain under a real public suffix: `*.` over it is allowed.
fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 1..3),
        prop::sample::select(vec!["com", "net", "org", "io", "co.uk", "de"]),
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

#[derive(Clone, Debug)]
struct ListedEntry {
    text: String,
    scheme: &'static str,
    host: String,
    port: u16,
    wildcard: bool,
}

fn listed_entry() -> impl Strategy<Value = ListedEntry> {
    (
        domain(),
        prop::sample::select(vec![
            ("", "https", None),
            ("https://", "https", None),
            ("http://", "http", None),
            ("https://", "https", Some(8443u16)),
            ("http://", "http", Some(3000)),
        ]),
        any::<bool>(),
    )
        .prop_map(|(host, (prefix, scheme, port), wildcard)| {
            let default = if scheme == "https" { 443 } else { 80 };
            let star = if wildcard { "*." } else { "" };
            let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
            ListedEntry {
                text: format!("{prefix}{star}{host}{port_text}"),
                scheme,
                host,
                port: port.unwrap_or(default),
                wildcard,
            }
        })
}

/// Header values built around the listed host, with the tricks that fool
/// substring and prefix checks, plus plain noise.
fn claimed_origin(host: String) -> impl Strategy<Value = String> {
    let upper = host.to_uppercase();
    let hosts = vec![
        host.clone(),
        format!("www.{host}"),
        format!("a.b.{host}"),
        format!("{host}.evil.net"),
        format!("evil{host}"),
        format!("{host}evil"),
        format!("evil-{host}"),
        format!("{host}."),
        format!("www.{host}."),
        upper.clone(),
        format!("WWW.{upper}"),
        format!("user@{host}"),
        format!("{host}@evil.net"),
        format!("evil.net@{host}"),
        format!("{host}%2eevil.net"),
        format!("{host}\\@evil.net"),
        format!("{host}\\.evil.net"),
        format!("evil.net\\{host}"),
        format!("{host}..evil.net"),
        format!(".{host}"),
        format!("{host} .evil.net"),
        format!("{host}\t"),
        format!("[::1]{host}"),
        "evil.net".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
        "null".to_string(),
    ];
    let schemes = vec![
        "https://",
        "http://",
        "HTTPS://",
        "HtTp://",
        "ftp://",
        "",
        "//",
        "https:/",
        "https:",
        "ws://",
        " https://",
    ];
    let ports = vec![
        "", ":443", ":80", ":8443", ":3000", ":0", ":65536", ":abc", ":", ":+443", ":0443", ":443:",
    ];
    let tails = vec![
        "".to_string(),
        "/".to_string(),
        "/blog/post".to_string(),
        "?q=1".to_string(),
        "#top".to_string(),
        format!("/{host}"),
        format!("?ref=https://{host}"),
        "\\evil".to_string(),
        " ".to_string(),
        "\r\n".to_string(),
    ];
    prop_oneof![
        8 => (
            prop::sample::select(schemes),
            prop::sample::select(hosts),
            prop::sample::select(ports),
            prop::sample::select(tails),
        )
            .prop_map(|(s, h, p, t)| format!("{s}{h}{p}{t}")),
        1 => ("[ -~]{0,12}", "[ -~]{0,12}").prop_map(move |(a, b)| format!("{a}{host}{b}")),
        1 => "\\PC{0,40}",
    ]
}

/// The parsed list; a generated wildcard over a (private) public suffix,
/// such as `*.uk.com`, is rightly refused and the case skipped.
fn listed(entry: &ListedEntry) -> Result<AllowedDomains, TestCaseError> {
    match AllowedDomains::parse(&entry.text) {
        Ok(list) => Ok(list),
        Err(AllowListError::PublicSuffix { .. }) if entry.wildcard => {
            Err(TestCaseError::reject("a public suffix"))
        }
        Err(e) => panic!("{:?} must parse: {e}", entry.text),
    }
}

/// The oracle: WHATWG URL parsing (the `url` crate, as browsers parse).
fn url_host_port(value: &str) -> Option<(String, String, u16)> {
    let url = url::Url::parse(value.trim()).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_string();
    Some((url.scheme().to_string(), host, url.port_or_known_default()?))
}

fn covered(entry: &ListedEntry, host: &str) -> bool {
    if entry.wildcard {
        host.len() > entry.host.len() + 1 && host.ends_with(&format!(".{}", entry.host))
    } else {
        host == entry.host
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn the_allow_list_never_matches_a_host_that_is_not_the_entry_or_its_subdomain(
        (entry, claimed) in listed_entry()
            .prop_flat_map(|e| { let h = e.host.clone(); (Just(e), claimed_origin(h)) }),
        as_referer in any::<bool>(),
    ) {
        let list = listed(&entry)?;
        let (origin, referer) = if as_referer {
            (None, Some(claimed.as_str()))
        } else {
            (Some(claimed.as_str()), None)
        };
        if let Access::Allowed { origin: echoed } = list.check(origin, referer) {
            let (scheme, host, port) = url_host_port(&claimed).unwrap_or_else(|| {
                panic!("{claimed:?} was allowed by {:?} but is not a URL", entry.text)
            });
            prop_assert_eq!(&scheme, entry.scheme, "{:?} allowed by {:?}", claimed, entry.text);
            prop_assert_eq!(port, entry.port, "{:?} allowed by {:?}", claimed, entry.text);
            prop_assert!(
                covered(&entry, &host),
                "{:?} (host {:?}) allowed by {:?}", claimed, host, entry.text
            );
            // The echoed origin names the same site and is a valid header value.
            let (_, echoed_host, echoed_port) = url_host_port(&echoed)
                .unwrap_or_else(|| panic!("echoed {echoed:?} is not an origin"));
            prop_assert!(covered(&entry, &echoed_host), "echoed {:?}", echoed);
            prop_assert_eq!(echoed_port, entry.port);
            let authority = echoed.split_once("://").map_or("", |(_, rest)| rest);
            prop_assert!(
                !authority.is_empty() && !authority.contains(['\r', '\n', ' ', '\t', '/', '@', '\\']),
                "echoed {:?}", echoed
            );
        }
    }

    #[test]
    fn an_origin_header_decides_alone(
        entry in listed_entry(),
        referer in "\\PC{0,30}",
    ) {
        let list = listed(&entry)?;
        // A foreign Origin is not rescued by a listed Referer.
        let listed = format!("{}://{}{}/", entry.scheme,
            if entry.wildcard { format!("www.{}", entry.host) } else { entry.host.clone() },
            format_args!(":{}", entry.port));
        prop_assert_eq!(list.check(Some("https://evil.net"), Some(&listed)), Access::Denied);
        prop_assert_eq!(list.check(Some("null"), Some(&listed)), Access::Denied);
        // And the listed site itself is allowed, whatever the Referer says.
        let origin = listed.trim_end_matches('/');
        prop_assert!(
            matches!(list.check(Some(origin), Some(&referer)), Access::Allowed { .. }),
            "{:?} refused by {:?}", origin, entry.text
        );
    }

    #[test]
    fn parsing_any_allowed_domains_value_never_panics(raw in "\\PC{0,60}") {
        if let Ok(list) = AllowedDomains::parse(&raw) {
            // Every listed entry can be printed and re-parsed to the same list.
            let printed: Vec<String> = list.entries().collect();
            prop_assert!(!printed.is_empty());
            let again = AllowedDomains::parse(&printed.join(" "))
                .unwrap_or_else(|e| panic!("{printed:?} from {raw:?} does not re-parse: {e}"));
            prop_assert_eq!(again.entries().collect::<Vec<_>>(), printed);
            let _ = list.check(Some(&raw), Some(&raw));
        }
    }
}

/// Found by the property above: the host parser maps some Unicode
/// compatibility characters to ASCII punctuation ("🄁" → "0,") and lets `'`
/// and `` ` `` through. Such an entry can never match a request (request
/// hosts must be letters, digits, `-`, `_`), and "🄁" prints as
/// "https://0," which reads back as 0.0.0.0. A bad value is a start-up error.
#[test]
fn an_entry_that_is_not_a_dns_name_is_refused() {
    for raw in [
        "🄁",
        "🄁.example.com",
        "o'neil.example.com",
        "x`y.example.com",
    ] {
        let parsed = AllowedDomains::parse(raw);
        assert!(
            parsed.is_err(),
            "{raw:?} was accepted as {:?}",
            parsed.map(|l| l.entries().collect::<Vec<_>>())
        );
    }
}

// ---------------------------------------------------------------------------
// token.js `const`

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

// ---------------------------------------------------------------------------
// signed_request

fn payload() -> impl Strategy<Value = (String, Value)> {
    (
        "[0-9]{1,20}",
        any::<i64>(),
        prop::option::of(any::<i64>()),
        "\\PC{0,20}",
    )
        .prop_map(|(user_id, issued_at, expires, extra)| {
            let mut value = json!({
                "user_id": user_id,
                "algorithm": "HMAC-SHA256",
                "issued_at": issued_at,
                "extra": extra,
            });
            if let Some(expires) = expires {
                value["expires"] = json!(expires);
            }
            (user_id, value)
        })
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..48)
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn verifying_any_string_never_panics_and_never_passes(
        raw in prop_oneof![
            "\\PC{0,120}",
            "[A-Za-z0-9_=.-]{0,120}",
            ("[A-Za-z0-9_-]{0,60}", "[A-Za-z0-9_=-]{0,120}").prop_map(|(a, b)| format!("{a}.{b}")),
        ],
        key in secret(),
    ) {
        let result = signed_request::verify(&raw, &key);
        prop_assert!(result.is_err(), "an unsigned string passed: {:?}", raw);
        let _ = signed_request::verify_any(&raw, &[&key, b"other"]);
    }

    #[test]
    fn a_correct_hmac_passes_and_any_other_fails(
        (user_id, body) in payload(),
        key in secret(),
        other_key in secret(),
        flip in any::<prop::sample::Index>(),
        forged in prop::collection::vec(any::<u8>(), 32),
    ) {
        let signed = signed_request::sign(&body, &key);
        let verified = signed_request::verify(&signed, &key)
            .unwrap_or_else(|e| panic!("a correctly signed request failed: {e}"));
        prop_assert_eq!(&verified.user_id, &user_id);
        prop_assert_eq!(verified.algorithm.as_str(), "HMAC-SHA256");

        if other_key != key {
            prop_assert_eq!(
                signed_request::verify(&signed, &other_key),
                Err(SignedRequestError::BadSignature)
            );
        }
        let (signature, encoded) = signed.split_once('.').unwrap();
        // One changed character of the signature.
        let mut bytes = signature.as_bytes().to_vec();
        let at = flip.index(bytes.len());
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{}.{encoded}", String::from_utf8(bytes).unwrap());
        prop_assert!(signed_request::verify(&tampered, &key).is_err());
        // A made-up signature over the real payload.
        let made_up = format!("{}.{encoded}", URL_SAFE_NO_PAD.encode(&forged));
        prop_assert!(signed_request::verify(&made_up, &key).is_err());
        // The payload of another request under this signature.
        let other_payload = URL_SAFE_NO_PAD.encode(json!({"user_id": "1", "algorithm": "HMAC-SHA256"}).to_string());
        prop_assume!(other_payload != encoded);
        let swapped = format!("{signature}.{other_payload}");
        prop_assert!(signed_request::verify(&swapped, &key).is_err());
        // An empty secret verifies nothing, not even what it signed.
        let empty_signed = signed_request::sign(&body, b"");
        prop_assert!(signed_request::verify(&empty_signed, b"").is_err());
    }

    #[test]
    fn a_signed_payload_of_any_shape_never_panics(
        body in json_value(),
        key in secret(),
    ) {
        let signed = signed_request::sign(&body, &key);
        if let Ok(request) = signed_request::verify(&signed, &key) {
            prop_assert_eq!(request.algorithm.as_str(), "HMAC-SHA256");
            prop_assert!(!request.user_id.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------
// Feed cursors

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

// ---------------------------------------------------------------------------
// Upstream answers: arbitrary JSON and bytes

/// Any JSON value, with numbers at the edges (ids past 2^53, floats,
/// negatives) and the keys the parsers look for.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "data",
        "id",
        "media_type",
        "media_url",
        "thumbnail_url",
        "caption",
        "timestamp",
        "children",
        "paging",
        "cursors",
        "after",
        "before",
        "next",
        "previous",
        "error",
        "code",
        "message",
        "error_subcode",
        "is_valid",
        "access_token",
        "expires_in",
        "user_id",
        "username",
        "like_count",
        "comments_count",
        "x",
    ])
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        Just(json!(9_007_199_254_740_993_u64)),
        Just(json!(u64::MAX)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::String),
        Just(json!("2026-05-01T10:00:00+0000")),
        Just(json!(
            "https://scontent.cdninstagram.com/v/1.jpg?oe=6A000000"
        )),
        Just(json!("https://x/y.jpg?oe=7FFFFFFFFFFFFFFF")),
        Just(json!("https://x/y.jpg?oe=-8000000000000000")),
        Just(json!("QVFIUk1")),
        Just(json!("IMAGE")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Something close to a media page, so that many cases get past the first check.
fn media_page_like() -> impl Strategy<Value = Value> {
    let media = (
        prop_oneof![
            "[0-9]{1,20}".prop_map(Value::String),
            any::<u64>().prop_map(|n| json!(n)),
            json_value()
        ],
        prop_oneof![
            Just(json!("IMAGE")),
            Just(json!("CAROUSEL_ALBUM")),
            json_value()
        ],
        json_value(),
        json_value(),
    )
        .prop_map(|(id, media_type, url, extra)| {
            json!({
                "id": id, "media_type": media_type, "media_url": url,
                "timestamp": "2026-05-01T10:00:00+0000",
                "access_token": "IGAAsecret", "extra": extra,
            })
        });
    (
        prop::collection::vec(media, 0..4),
        json_value(),
        prop::option::of("[A-Za-z0-9=]{1,12}"),
    )
        .prop_map(|(data, paging, after)| {
            let mut page = json!({ "data": data, "paging": paging });
            if let Some(after) = after {
                page["paging"] = json!({
                    "cursors": {"after": after},
                    "next": "https://graph.instagram.com/v25.0/1/media?access_token=IGAAsecret&after=x",
                });
            }
            page
        })
}

/// The first half of `text`, cut on a character boundary.
fn half(text: &str) -> &str {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

const PAGE_KEYS: &[&str] = &["data", "paging"];
const MEDIA_KEYS: &[&str] = &[
    "id",
    "caption",
    "media_type",
    "media_url",
    "permalink",
    "thumbnail_url",
    "timestamp",
    "username",
    "like_count",
    "comments_count",
    "children",
];

fn check_served_page(page: &mut MediaPage) -> Result<(), TestCaseError> {
    let _ = page.media_expiry();
    let kept = Page::from_media(
        page,
        chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        Paging::Cursors,
    )
    .unwrap();
    let links = Links {
        after: Some("C".into()),
        next: Some("https://agent.example.com/feed.json?after=C".into()),
        ..Links::default()
    };
    let body = render(kept.items.iter(), &links, &Dressing::plain());
    let text = String::from_utf8(body.to_vec()).unwrap();
    prop_assert!(
        !text.contains("IGAAsecret"),
        "a token passed through: {}",
        text
    );
    prop_assert!(!text.contains("access_token"), "{}", text);
    let served: Value = serde_json::from_str(&text).unwrap();
    for key in served.as_object().unwrap().keys() {
        prop_assert!(
            PAGE_KEYS.contains(&key.as_str()),
            "unknown key {:?} served",
            key
        );
    }
    for media in served["data"].as_array().unwrap() {
        for key in media.as_object().unwrap().keys() {
            prop_assert!(
                MEDIA_KEYS.contains(&key.as_str()),
                "unknown key {:?} served",
                key
            );
        }
        // Ids are served as exact strings of digits or as given.
        prop_assert!(media["id"].is_string());
    }
    if let Some(next) = served["paging"]["next"].as_str() {
        prop_assert!(
            next.starts_with("https://agent.example.com/feed.json?after="),
            "{}",
            next
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn a_media_page_parser_never_panics_on_any_json(body in json_value()) {
        if let Ok(mut page) = MediaPage::from_upstream(body) {
            check_served_page(&mut page)?;
        }
    }

    #[test]
    fn a_media_page_parser_keeps_only_known_fields(body in media_page_like()) {
        if let Ok(mut page) = MediaPage::from_upstream(body) {
            check_served_page(&mut page)?;
        }
    }

    #[test]
    fn a_media_page_parser_never_panics_on_any_bytes(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "\\PC{0,200}".prop_map(String::into_bytes),
            json_value().prop_map(|v| {
                // Cut a valid body somewhere, as a dropped connection does.
                // (byte-wise: it may end inside a character)
                let text = v.to_string();
                text.as_bytes()[..text.len() / 2].to_vec()
            }),
        ],
    ) {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
            && let Ok(mut page) = MediaPage::from_upstream(value)
        {
            check_served_page(&mut page)?;
        }
    }

    #[test]
    fn media_ids_past_2_pow_53_stay_exact(id in (1u64 << 53)..=u64::MAX) {
        // As upstream would send it: a bare JSON number in the body text.
        let text = format!(r#"{{"data":[{{"id":{id},"media_type":"IMAGE"}}]}}"#);
        let page = MediaPage::from_upstream(serde_json::from_str(&text).unwrap()).unwrap();
        prop_assert_eq!(&page.data[0].id, &id.to_string());
        let served = serde_json::to_string(&page).unwrap();
        let expected = format!("\"id\":\"{id}\"");
        prop_assert!(served.contains(&expected), "{}", served);
    }

    #[test]
    fn usage_headers_of_any_text_never_panic(
        app in prop::option::of(prop_oneof!["\\PC{0,60}", json_value().prop_map(|v| v.to_string())]),
        business in prop::option::of(prop_oneof!["\\PC{0,60}", json_value().prop_map(|v| v.to_string())]),
        page in prop::option::of("\\PC{0,60}"),
    ) {
        let usage = Usage::parse(app.as_deref(), business.as_deref(), page.as_deref());
        let _ = (usage.is_exhausted(), usage.is_reported());
    }

    #[test]
    fn debug_token_answers_of_any_shape_never_panic(body in json_value()) {
        if let Some(error) = classify_debug_token(&body) {
            let _ = error.to_string();
        }
    }
}

// ---------------------------------------------------------------------------
// The crate-private token, code-exchange and profile parsers, and the error
// classifier, through the public client: the fake Graph API answers each
// call with an arbitrary status and body.

mod through_the_client {
    use super::*;
    use token_agent::clock::Clock;
    use token_agent::fake::{FakeGraph, Fault};

    struct Rig {
        rt: tokio::runtime::Runtime,
        fake: FakeGraph,
        upstream: Upstream,
    }

    const TOKEN: &str = "IGAAsecretTokenValue0123456789";

    fn rig() -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let clock = Clock::manual(chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap());
        let fake = rt.block_on(FakeGraph::start(clock));
        let upstream = Upstream::new(&UpstreamConfig {
            instagram_graph_url: fake.instagram_graph_url(),
            instagram_oauth_url: fake.instagram_oauth_url(),
            facebook_graph_url: fake.facebook_graph_url(),
            timeout: std::time::Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            ..UpstreamConfig::default()
        })
        .unwrap();
        Rig { rt, fake, upstream }
    }

    fn status() -> impl Strategy<Value = u16> {
        prop_oneof![
            4 => Just(200u16),
            1 => prop::sample::select(vec![201u16, 400, 401, 403, 404, 429, 500, 502, 503]),
            1 => 200u16..600,
        ]
        .prop_filter("a status with a body", |s| *s != 204 && *s != 304)
    }

    /// Bodies that echo the token, so that scrubbing is checked too.
    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => json_value().prop_map(|v| v.to_string()),
            1 => json_value().prop_map(|v| {
                json!({"error": {"message": format!("bad token {TOKEN}"), "code": v,
                                 "type": "OAuthException", "error_subcode": 460}})
                .to_string()
            }),
            1 => (json_value(), json_value()).prop_map(|(token, expires)| {
                json!({"access_token": token, "token_type": "bearer", "expires_in": expires}).to_string()
            }),
            1 => (json_value(), json_value()).prop_map(|(id, user_id)| {
                json!({"id": id, "user_id": user_id, "username": "x", "access_token": "IGAAx"}).to_string()
            }),
            1 => "\\PC{0,80}",
            1 => json_value().prop_map(|v| half(&v.to_string()).to_string()),
        ]
    }

    fn no_secret(text: &str) -> Result<(), TestCaseError> {
        prop_assert!(!text.contains(TOKEN), "an error shows the token: {}", text);
        Ok(())
    }

    #[test]
    fn any_refresh_answer_is_a_usable_grant_or_an_error() {
        let rig = rig();
        proptest!(config(96), |(status in status(), body in body())| {
            rig.fake.inject("/refresh_access_token", Fault::Status(status, body.clone()), 1);
            let result = rig.rt.block_on(rig.upstream.refresh_instagram_token(TOKEN));
            match result {
                Ok(grant) => {
                    prop_assert!((200..300).contains(&status), "{} {}", status, body);
                    prop_assert!(!grant.access_token.trim().is_empty());
                    prop_assert!(grant.expires_in.is_some_and(|s| s > 0), "{:?}", grant.expires_in);
                }
                Err(e) => no_secret(&e.to_string())?,
            }
        });
    }

    #[test]
    fn any_profile_answer_is_a_usable_profile_or_an_error() {
        let rig = rig();
        proptest!(config(96), |(status in status(), body in body())| {
            rig.fake.inject("/me", Fault::Status(status, body.clone()), 1);
            match rig.rt.block_on(rig.upstream.instagram_me(TOKEN)) {
                Ok(profile) => {
                    prop_assert!((200..300).contains(&status), "{} {}", status, body);
                    prop_assert!(!profile.id.is_empty());
                }
                Err(e) => no_secret(&e.to_string())?,
            }
        });
    }

    #[test]
    fn any_code_exchange_answer_is_a_usable_grant_or_an_error() {
        let rig = rig();
        proptest!(config(96), |(status in status(), body in body())| {
            rig.fake.inject("/oauth/access_token", Fault::Status(status, body.clone()), 1);
            let result = rig.rt.block_on(rig.upstream.exchange_instagram_code(
                "990602627938098", TOKEN, "http://127.0.0.1/connect/callback", "AQcode",
            ));
            match result {
                Ok(grant) => {
                    prop_assert!((200..300).contains(&status), "{} {}", status, body);
                    prop_assert!(!grant.access_token.is_empty() && !grant.user_id.is_empty());
                }
                Err(e) => no_secret(&e.to_string())?,
            }
        });
    }

    #[test]
    fn any_media_answer_is_a_page_of_known_fields_or_an_error() {
        let rig = rig();
        let request = PageRequest {
            limit: 25,
            cursor: &None,
        };
        proptest!(config(96), |(status in status(), body in body())| {
            rig.fake.inject("/me/media", Fault::Status(status, body.clone()), 1);
            let answer = rig.upstream.media_page(MediaOwner::InstagramLogin, TOKEN, request);
            match rig.rt.block_on(answer) {
                Ok((mut page, _usage)) => {
                    prop_assert!((200..300).contains(&status), "{} {}", status, body);
                    check_served_page(&mut page)?;
                }
                Err(e) => no_secret(&e.to_string())?,
            }
        });
    }
}
