//! The allow-list from the outside: what each kind of entry lets in, what it
//! keeps out, and the error each bad entry gives.

use super::*;

fn list(raw: &str) -> AllowedDomains {
    AllowedDomains::parse(raw).expect("valid ALLOWED_DOMAINS")
}

fn origin<'a>(list: &AllowedDomains, origin: &'a str) -> Access<'a> {
    list.check(Some(origin), None)
}

fn referer<'a>(list: &AllowedDomains, referer: &'a str) -> Access<'a> {
    list.check(None, Some(referer))
}

fn allowed(origin: &str) -> Access<'static> {
    Access::Allowed {
        origin: origin.to_owned().into(),
    }
}

fn problem(raw: &str) -> EntryProblem {
    match AllowedDomains::parse(raw) {
        Err(AllowListError::Entry { entry, problem }) => {
            assert_eq!(entry, raw);
            problem
        }
        other => panic!("{raw:?} gave {other:?}, expected an entry problem"),
    }
}

#[test]
fn a_bare_domain_allows_its_https_origin() {
    let domains = list("example.com");

    assert_eq!(
        origin(&domains, "https://example.com"),
        allowed("https://example.com")
    );
    assert_eq!(
        origin(&domains, "https://example.com:443"),
        allowed("https://example.com")
    );
}

#[test]
fn a_bare_domain_does_not_allow_http_or_another_port() {
    let domains = list("example.com");

    assert_eq!(origin(&domains, "http://example.com"), Access::Denied);
    assert_eq!(origin(&domains, "https://example.com:8443"), Access::Denied);
    assert_eq!(origin(&domains, "http://example.com:443"), Access::Denied);
}

#[test]
fn a_bare_domain_with_a_port_means_https_on_that_port() {
    let domains = list("example.com:8443");

    assert_eq!(
        origin(&domains, "https://example.com:8443"),
        allowed("https://example.com:8443")
    );
    assert_eq!(origin(&domains, "https://example.com"), Access::Denied);
}

#[test]
fn an_http_entry_with_a_port_allows_exactly_that_origin() {
    let domains = list("http://localhost:8080");

    assert_eq!(
        origin(&domains, "http://localhost:8080"),
        allowed("http://localhost:8080")
    );
    assert_eq!(origin(&domains, "http://localhost:8081"), Access::Denied);
    assert_eq!(origin(&domains, "http://localhost"), Access::Denied);
    assert_eq!(origin(&domains, "https://localhost:8080"), Access::Denied);
}

#[test]
fn an_entry_without_a_port_means_the_default_port_of_its_scheme() {
    let domains = list("http://example.com https://secure.example.com:443");

    assert_eq!(
        origin(&domains, "http://example.com:80"),
        allowed("http://example.com")
    );
    assert_eq!(origin(&domains, "http://example.com:8080"), Access::Denied);
    assert_eq!(
        origin(&domains, "https://secure.example.com"),
        allowed("https://secure.example.com")
    );
}

#[test]
fn a_longer_host_that_ends_with_a_listed_domain_is_denied() {
    let domains = list("example.com");

    assert_eq!(
        origin(&domains, "https://example.com.evil.net"),
        Access::Denied
    );
    assert_eq!(
        referer(&domains, "https://example.com.evil.net/page"),
        Access::Denied
    );
}

#[test]
fn a_listed_domain_in_another_sites_query_is_denied() {
    let domains = list("example.com");

    assert_eq!(
        referer(&domains, "https://evil.com/?https://example.com"),
        Access::Denied
    );
    assert_eq!(
        referer(&domains, "https://evil.com/https://example.com"),
        Access::Denied
    );
    assert_eq!(
        referer(&domains, "https://evil.com#https://example.com"),
        Access::Denied
    );
}

#[test]
fn a_host_that_merely_ends_with_the_same_letters_is_denied() {
    let domains = list("example.com *.example.com");

    assert_eq!(origin(&domains, "https://notexample.com"), Access::Denied);
    assert_eq!(
        origin(&domains, "https://www.notexample.com"),
        Access::Denied
    );
}

#[test]
fn user_info_that_looks_like_a_listed_domain_is_denied() {
    let domains = list("example.com");

    assert_eq!(
        referer(&domains, "https://example.com@evil.com/"),
        Access::Denied
    );
    assert_eq!(
        origin(&domains, "https://example.com@evil.com"),
        Access::Denied
    );
    assert_eq!(
        referer(&domains, "https://example.com:443@evil.com/"),
        Access::Denied
    );
}

#[test]
fn every_listed_entry_is_allowed_not_only_the_first() {
    let domains = list("one.example https://two.example http://localhost:8080 *.blog.net");

    for (request, echoed) in [
        ("https://one.example", "https://one.example"),
        ("https://two.example", "https://two.example"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://me.blog.net", "https://me.blog.net"),
    ] {
        assert_eq!(origin(&domains, request), allowed(echoed), "{request}");
    }
    assert_eq!(origin(&domains, "https://three.example"), Access::Denied);
}

#[test]
fn commas_spaces_and_mixed_separators_all_split_entries() {
    for raw in [
        "a.example,b.example",
        "a.example b.example",
        " a.example ,  b.example, ",
        "a.example,,b.example",
        "a.example\tb.example\n",
    ] {
        let domains = list(raw);

        assert_eq!(
            domains.entries().collect::<Vec<_>>(),
            ["https://a.example", "https://b.example"],
            "{raw:?}"
        );
        assert_eq!(
            origin(&domains, "https://b.example"),
            allowed("https://b.example")
        );
    }
}

#[test]
fn a_wildcard_allows_subdomains_at_any_depth_but_not_the_apex() {
    let domains = list("*.example.com");

    assert_eq!(
        origin(&domains, "https://www.example.com"),
        allowed("https://www.example.com")
    );
    assert_eq!(
        origin(&domains, "https://a.b.example.com"),
        allowed("https://a.b.example.com")
    );
    assert_eq!(origin(&domains, "https://example.com"), Access::Denied);
    assert_eq!(origin(&domains, "https://.example.com"), Access::Denied);
    assert_eq!(origin(&domains, "http://www.example.com"), Access::Denied);
}

#[test]
fn the_apex_is_allowed_when_listed_beside_its_wildcard() {
    let domains = list("example.com, *.example.com");

    assert_eq!(
        origin(&domains, "https://example.com"),
        allowed("https://example.com")
    );
    assert_eq!(
        origin(&domains, "https://www.example.com"),
        allowed("https://www.example.com")
    );
}

#[test]
fn a_wildcard_with_a_scheme_and_port_keeps_them() {
    let domains = list("https://*.blog.net http://*.localhost:3000");

    assert_eq!(
        origin(&domains, "https://me.blog.net"),
        allowed("https://me.blog.net")
    );
    assert_eq!(origin(&domains, "http://me.blog.net"), Access::Denied);
    assert_eq!(
        origin(&domains, "http://app.localhost:3000"),
        allowed("http://app.localhost:3000")
    );
    assert_eq!(origin(&domains, "http://app.localhost"), Access::Denied);
}

#[test]
fn hosts_and_schemes_are_compared_case_insensitively_and_echoed_lowercase() {
    let domains = list("WWW.Example.COM HTTP://LocalHost:8080");

    assert_eq!(
        origin(&domains, "HTTPS://www.EXAMPLE.com"),
        allowed("https://www.example.com")
    );
    assert_eq!(
        origin(&domains, "http://localhost:8080"),
        allowed("http://localhost:8080")
    );
}

#[test]
fn international_domains_match_their_punycode_form() {
    let domains = list("bücher.example *.Münich.example");

    assert_eq!(
        domains.entries().collect::<Vec<_>>(),
        [
            "https://xn--bcher-kva.example",
            "https://*.xn--mnich-kva.example"
        ]
    );
    assert_eq!(
        origin(&domains, "https://xn--bcher-kva.example"),
        allowed("https://xn--bcher-kva.example")
    );
    assert_eq!(
        origin(&domains, "https://www.xn--mnich-kva.example"),
        allowed("https://www.xn--mnich-kva.example")
    );
}

#[test]
fn a_trailing_dot_is_ignored_when_matching() {
    let domains = list("example.com. *.blog.net.");

    assert_eq!(
        domains.entries().collect::<Vec<_>>(),
        ["https://example.com", "https://*.blog.net"]
    );
    assert_eq!(
        origin(&domains, "https://example.com"),
        allowed("https://example.com")
    );
    // Browsers treat the dotted name as its own origin, so the echo keeps the dot.
    assert_eq!(
        origin(&domains, "https://example.com."),
        allowed("https://example.com.")
    );
    assert_eq!(
        origin(&domains, "https://me.blog.net."),
        allowed("https://me.blog.net.")
    );
}

#[test]
fn ip_address_literals_are_allowed() {
    let domains = list("http://[::1]:3000 http://127.0.0.1:8080");

    assert_eq!(
        domains.entries().collect::<Vec<_>>(),
        ["http://[::1]:3000", "http://127.0.0.1:8080"]
    );
    assert_eq!(
        origin(&domains, "http://[::1]:3000"),
        allowed("http://[::1]:3000")
    );
    assert_eq!(
        origin(&domains, "http://[0:0::1]:3000"),
        allowed("http://[0:0::1]:3000")
    );
    assert_eq!(
        referer(&domains, "http://127.0.0.1:8080/x"),
        allowed("http://127.0.0.1:8080")
    );
    assert_eq!(origin(&domains, "http://[::2]:3000"), Access::Denied);
    assert_eq!(origin(&domains, "http://[::1]"), Access::Denied);
}

#[test]
fn a_referer_with_a_path_and_query_is_reduced_to_its_origin() {
    let domains = list("example.com http://localhost:8080");

    assert_eq!(
        referer(
            &domains,
            "https://example.com/blog/post?id=3&x=https://evil.com#top"
        ),
        allowed("https://example.com")
    );
    assert_eq!(
        referer(&domains, "http://localhost:8080/index.html"),
        allowed("http://localhost:8080")
    );
    assert_eq!(
        referer(&domains, "https://example.com?q"),
        allowed("https://example.com")
    );
}

#[test]
fn an_origin_with_a_path_is_denied() {
    let domains = list("example.com");

    assert_eq!(origin(&domains, "https://example.com/"), Access::Denied);
    assert_eq!(origin(&domains, "https://example.com/page"), Access::Denied);
}

#[test]
fn the_origin_header_decides_before_the_referer() {
    let domains = list("example.com");

    assert_eq!(
        domains.check(Some("https://evil.com"), Some("https://example.com/")),
        Access::Denied
    );
    assert_eq!(
        domains.check(Some("https://example.com"), Some("https://evil.com/")),
        allowed("https://example.com")
    );
}

#[test]
fn origin_null_is_denied_even_with_a_listed_referer() {
    let domains = list("example.com");

    assert_eq!(domains.check(Some("null"), None), Access::Denied);
    assert_eq!(
        domains.check(Some("null"), Some("https://example.com/")),
        Access::Denied
    );
}

#[test]
fn an_empty_origin_falls_back_to_the_referer() {
    let domains = list("example.com");

    assert_eq!(
        domains.check(Some(""), Some("https://example.com/page")),
        allowed("https://example.com")
    );
    assert_eq!(
        domains.check(Some("  "), Some("https://evil.com/")),
        Access::Denied
    );
}

#[test]
fn no_headers_or_only_empty_headers_are_missing() {
    let domains = list("example.com");

    assert_eq!(domains.check(None, None), Access::Missing);
    assert_eq!(domains.check(Some(""), None), Access::Missing);
    assert_eq!(domains.check(None, Some("")), Access::Missing);
    assert_eq!(domains.check(Some(" "), Some("")), Access::Missing);
}

#[test]
fn malformed_or_non_web_headers_are_denied() {
    let domains = list("example.com http://localhost:8080");

    for value in [
        "example.com",
        "//example.com",
        "https:/example.com",
        "ftp://example.com",
        "file:///etc/passwd",
        "https://",
        "https://:443",
        "https://example.com:",
        "https://example.com:0443x",
        "https://example.com:99999",
        "https://exa mple.com",
        "https://exam%70le.com",
        "https://example..com",
        "https://bücher.example",
        "https://example.com\\@evil.com",
        "http://localhost:8080:8080",
        "http://[::1",
        "http://[::1]x",
    ] {
        assert_eq!(origin(&domains, value), Access::Denied, "Origin {value:?}");
        assert_eq!(
            referer(&domains, value),
            Access::Denied,
            "Referer {value:?}"
        );
    }
}

#[test]
fn a_bare_star_is_refused() {
    for raw in ["*", "example.com *", "https://*", "*:8080"] {
        assert_eq!(
            AllowedDomains::parse(raw).unwrap_err(),
            AllowListError::EverySite,
            "{raw:?}"
        );
    }
    assert_eq!(
        AllowListError::EverySite.to_string(),
        "\"*\" would allow every site; list your domains, e.g. \"example.com www.example.com\""
    );
}

#[test]
fn a_wildcard_over_a_public_suffix_is_refused() {
    for (raw, suffix) in [
        ("*.com", "com"),
        ("*.co.uk", "co.uk"),
        ("https://*.github.io", "github.io"),
        ("*.CO.UK.", "co.uk"),
        ("*.kawasaki.jp", "kawasaki.jp"),
    ] {
        assert_eq!(
            AllowedDomains::parse(raw).unwrap_err(),
            AllowListError::PublicSuffix {
                entry: raw.to_owned(),
                suffix: suffix.to_owned()
            },
            "{raw:?}"
        );
    }
}

#[test]
fn a_wildcard_under_a_public_suffix_or_over_localhost_is_accepted() {
    for raw in [
        "*.example.com",
        "*.example.co.uk",
        "*.me.github.io",
        "*.blog.net",
        "http://*.localhost:3000",
    ] {
        assert!(AllowedDomains::parse(raw).is_ok(), "{raw:?}");
    }
}

#[test]
fn an_empty_list_is_refused() {
    for raw in ["", "   ", " , ,\n"] {
        assert_eq!(
            AllowedDomains::parse(raw).unwrap_err(),
            AllowListError::Empty,
            "{raw:?}"
        );
    }
}

#[test]
fn an_entry_with_a_path_query_fragment_or_user_info_is_refused() {
    assert_eq!(problem("https://example.com/blog"), EntryProblem::Path);
    assert_eq!(problem("example.com/blog"), EntryProblem::Path);
    assert_eq!(problem("https://example.com//"), EntryProblem::Path);
    assert_eq!(problem("example.com/?u=https://x.com"), EntryProblem::Query);
    assert_eq!(problem("https://example.com?x=1"), EntryProblem::Query);
    assert_eq!(problem("https://example.com#top"), EntryProblem::Fragment);
    assert_eq!(problem("https://me@example.com"), EntryProblem::UserInfo);
    assert_eq!(problem("https://me:pw@example.com"), EntryProblem::UserInfo);
}

#[test]
fn a_trailing_slash_on_an_entry_is_accepted() {
    let domains = list("https://example.com/");

    assert_eq!(
        origin(&domains, "https://example.com"),
        allowed("https://example.com")
    );
}

#[test]
fn an_unparsable_entry_is_refused_with_the_entry_and_the_reason() {
    assert_eq!(problem("ftp://example.com"), EntryProblem::Scheme);
    assert_eq!(problem("https://"), EntryProblem::NoHost);
    assert_eq!(problem(":8080"), EntryProblem::NoHost);
    assert_eq!(problem("example.com:http"), EntryProblem::Port);
    assert_eq!(problem("example.com:0"), EntryProblem::Port);
    assert_eq!(problem("example.com:70000"), EntryProblem::Port);
    assert_eq!(problem("http://::1:3000"), EntryProblem::Ipv6Brackets);
    assert_eq!(problem("foo.*.example.com"), EntryProblem::Wildcard);
    assert_eq!(problem("*example.com"), EntryProblem::Wildcard);
    assert_eq!(problem("*.*.example.com"), EntryProblem::Wildcard);
    assert_eq!(problem("*.*"), EntryProblem::Wildcard);
    assert_eq!(problem("*."), EntryProblem::NoHost);
    assert_eq!(problem("*.127.0.0.1"), EntryProblem::WildcardIp);
    assert_eq!(problem("http://*.[::1]"), EntryProblem::WildcardIp);
    assert_eq!(problem("example..com"), EntryProblem::EmptyLabel);
    assert!(matches!(problem("exa<mple.com"), EntryProblem::Host(_)));
    assert!(matches!(problem("http://[::1"), EntryProblem::Host(_)));
    assert!(matches!(problem("http://[nope]"), EntryProblem::Host(_)));

    let error = AllowedDomains::parse("example.com https://example.com/blog").unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"https://example.com/blog\": a path is not allowed; \
         list the origin only, e.g. \"https://example.com\""
    );
}

#[test]
fn error_messages_do_not_name_the_variable() {
    let errors = [
        AllowedDomains::parse("").unwrap_err(),
        AllowedDomains::parse("*").unwrap_err(),
        AllowedDomains::parse("*.com").unwrap_err(),
        AllowedDomains::parse("ftp://x.com").unwrap_err(),
    ];

    for error in errors {
        assert!(!error.to_string().contains("ALLOWED_DOMAINS"), "{error}");
    }
}

#[test]
fn entries_are_listed_in_normalised_form_without_duplicates() {
    let domains = list(
        "Example.com https://example.com:443 https://example.com/ \
         http://localhost:8080 *.blog.net http://[::1]:3000 https://example.com:8443",
    );

    assert_eq!(
        domains.entries().collect::<Vec<_>>(),
        [
            "https://example.com",
            "http://localhost:8080",
            "https://*.blog.net",
            "http://[::1]:3000",
            "https://example.com:8443",
        ]
    );
}

#[test]
fn an_origin_spelled_as_browsers_do_is_echoed_from_the_header_itself() {
    use std::borrow::Cow;
    let domains = list("example.com http://localhost:8080 *.example.org");
    let echo = |origin: Option<&'static str>, referer: Option<&'static str>| match domains
        .check(origin, referer)
    {
        Access::Allowed { origin } => origin,
        other => panic!("{other:?}"),
    };
    for (origin, referer) in [
        (Some("https://example.com"), None),
        (Some("http://localhost:8080"), None),
        (Some("https://a.example.org"), None),
        (None, Some("https://example.com/page?x=1")),
        (None, Some("http://localhost:8080#top")),
    ] {
        assert!(
            matches!(echo(origin, referer), Cow::Borrowed(_)),
            "{origin:?} {referer:?}"
        );
    }
    // Other spellings of a listed origin are echoed as browsers spell it.
    for (origin, echoed) in [
        ("https://Example.COM", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://localhost:08080", "http://localhost:8080"),
        ("HTTPS://example.com", "https://example.com"),
    ] {
        let origin = echo(Some(origin), None);
        assert!(matches!(origin, Cow::Owned(_)), "{origin}");
        assert_eq!(origin, echoed);
    }
}
