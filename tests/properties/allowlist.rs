//! ALLOWED_DOMAINS: parsing and matching any Origin or Referer.

use super::*;

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
