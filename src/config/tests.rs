//! Config from a given environment: the defaults, each variable's parsing,
//! and errors that name the variable without echoing a secret.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn error(vars: &[(&str, &str)]) -> String {
    config(vars).unwrap_err().to_string()
}

#[test]
fn stale_pages_live_a_day_without_the_mirror_and_a_month_with_it() {
    let day = Duration::from_secs(86_400);
    assert_eq!(config(&[]).unwrap().feed_stale_ttl, 30 * day);
    let off = config(&[("MIRROR_POSTS", "0")]).unwrap();
    assert_eq!(off.feed_stale_ttl, day);
    let set = config(&[("FEED_STALE_TTL", "7200")]).unwrap();
    assert_eq!(set.feed_stale_ttl, Duration::from_secs(7200));
}

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let c = config(&[]).unwrap();
    assert_eq!(c.port, 3000);
    assert_eq!(
        c.database,
        DatabaseUrl::Sqlite(PathBuf::from("data/token-agent.db"))
    );
    assert_eq!(c.refresh_mode, RefreshMode::Cron(Frequency::Weekly));
    assert_eq!(c.js_constant_name.as_str(), "InstagramToken");
    assert!(c.allowed_domains.is_none());
    assert!(!c.hide_help_pages);
    assert!(!c.allow_empty_referer);
    assert_eq!(c.feed_cache_ttl, Duration::from_secs(300));
    assert_eq!(c.feed_stale_ttl, Duration::from_secs(30 * 86_400));
    assert!(c.app_url.is_none() && c.platform_url.is_none());
    assert_eq!(
        c.upstream.user_agent,
        format!(
            "token-agent/{} (public URL not known yet)",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        c.upstream,
        UpstreamConfig {
            user_agent: c.upstream.user_agent.clone(),
            ..UpstreamConfig::default()
        }
    );
    assert!(c.cache.servers.is_empty());
}

#[test]
fn the_mirror_takes_its_three_variables_and_names_a_bad_one() {
    let c = config(&[]).unwrap();
    assert_eq!(c.mirror, MirrorConfig::default());
    assert_eq!(c.mirror.posts, 24);
    assert_eq!(c.mirror.max_bytes, 100 * 1024 * 1024);
    let c = config(&[
        ("MIRROR_POSTS", "0"),
        ("MIRROR_MAX_MB", "5"),
        ("MEDIA_CDN_HOSTS", "cdninstagram.com 127.0.0.1:4100"),
    ])
    .unwrap();
    assert_eq!((c.mirror.posts, c.mirror.max_bytes), (0, 5 * 1024 * 1024));
    assert!(
        c.mirror
            .cdn_hosts
            .allows(&Url::parse("http://127.0.0.1:4100/cdn/1.jpg").unwrap())
    );
    assert_eq!(
        error(&[("MIRROR_POSTS", "51")]),
        "MIRROR_POSTS must be from 0 to 50 (one upstream page), got 51"
    );
    assert!(error(&[("MIRROR_POSTS", "many")]).starts_with("MIRROR_POSTS "));
    assert!(error(&[("MIRROR_MAX_MB", "0")]).starts_with("MIRROR_MAX_MB "));
    assert!(error(&[("MIRROR_MAX_MB", "-3")]).starts_with("MIRROR_MAX_MB "));
    assert!(error(&[("MEDIA_CDN_HOSTS", "*")]).starts_with("MEDIA_CDN_HOSTS "));
    assert!(
        error(&[("MEDIA_CDN_HOSTS", "https://evil.example/x")]).starts_with("MEDIA_CDN_HOSTS ")
    );
}

#[test]
fn a_bad_refresh_frequency_names_the_variable_and_the_value() {
    assert_eq!(
        error(&[("REFRESH_FREQUENCY", "hourly")]),
        r#"REFRESH_FREQUENCY must be daily, weekly or monthly, got "hourly""#
    );
}

#[test]
fn refresh_mode_and_frequency_combine() {
    let c = config(&[("REFRESH_MODE", "cron"), ("REFRESH_FREQUENCY", "Daily")]).unwrap();
    assert_eq!(c.refresh_mode, RefreshMode::Cron(Frequency::Daily));
    let c = config(&[("REFRESH_MODE", "scheduled")]).unwrap();
    assert_eq!(c.refresh_mode, RefreshMode::Scheduled);
    assert!(error(&[("REFRESH_MODE", "sometimes")]).starts_with("REFRESH_MODE "));
}

#[test]
fn bad_numbers_and_booleans_name_their_variable() {
    assert!(error(&[("PORT", "http")]).starts_with("PORT "));
    assert!(error(&[("PORT", "0")]).starts_with("PORT "));
    assert!(error(&[("FEED_CACHE_TTL", "-1")]).starts_with("FEED_CACHE_TTL "));
    assert!(error(&[("HIDE_HELP_PAGES", "maybe")]).starts_with("HIDE_HELP_PAGES "));
    assert!(error(&[("ALLOW_EMPTY_REFERER", "2")]).starts_with("ALLOW_EMPTY_REFERER "));
}

#[test]
fn empty_values_count_as_unset() {
    let c = config(&[
        ("PORT", ""),
        ("ALLOWED_DOMAINS", "  "),
        ("STARTING_TOKEN", ""),
    ])
    .unwrap();
    assert_eq!(c.port, 3000);
    assert!(c.allowed_domains.is_none());
    assert!(c.starting_token.is_none());
}

#[test]
fn the_database_is_chosen_by_url_scheme() {
    let c = config(&[("DATABASE_URL", "postgres://u:p@db.example.com/app")]).unwrap();
    assert!(matches!(c.database, DatabaseUrl::Postgres(_)));
    let c = config(&[("DATABASE_URL", "sqlite://tmp/x.db")]).unwrap();
    assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("tmp/x.db")));
    let e = error(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
    assert!(e.starts_with("DATABASE_URL "), "{e}");
    assert!(!e.contains("hunter2"), "the password leaked: {e}");
    assert!(error(&[("DATABASE_URL", "sqlite::memory:")]).starts_with("DATABASE_URL "));
}

#[test]
fn a_bare_star_in_allowed_domains_stops_start_up() {
    assert!(error(&[("ALLOWED_DOMAINS", "*")]).starts_with("ALLOWED_DOMAINS "));
    let c = config(&[("ALLOWED_DOMAINS", "example.com, www.example.com")]).unwrap();
    assert!(c.allowed_domains.is_some());
}

#[test]
fn a_bad_js_constant_name_is_refused_without_echoing_it() {
    let e = error(&[("JS_CONSTANT_NAME", "</script><script>alert(1)")]);
    assert!(e.starts_with("JS_CONSTANT_NAME "));
    assert!(!e.contains("alert"));
}

#[test]
fn app_name_is_accepted_and_never_made_into_a_url() {
    // Heroku apps made since 2023 live at NAME-<12 hex>.herokuapp.com.
    let c = config(&[("APP_NAME", "my-tokens")]).unwrap();
    assert!(c.app_name_ignored);
    assert_eq!(c.configured_url(), None);
    assert!(!c.upstream.user_agent.contains("herokuapp"));
}

#[test]
fn app_url_names_the_public_url_and_the_user_agent() {
    let c = config(&[("APP_URL", "https://tokens.example.com")]).unwrap();
    assert_eq!(
        c.configured_url().map(|(u, var)| (u.as_str(), var)),
        Some(("https://tokens.example.com/", "APP_URL"))
    );
    assert_eq!(
        c.upstream.user_agent,
        format!(
            "token-agent/{} (+https://tokens.example.com)",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(error(&[("APP_URL", "not a url")]).starts_with("APP_URL "));
}

#[test]
fn each_platform_variable_gives_the_public_url_and_app_url_wins() {
    let heroku = (
        "HEROKU_APP_DEFAULT_DOMAIN_NAME",
        "my-tokens-1a2b3c4d5e6f.herokuapp.com",
    );
    let render = ("RENDER_EXTERNAL_URL", "https://my-tokens.onrender.com");
    let fly = ("FLY_APP_NAME", "my-tokens");
    let url = |vars: &[(&str, &str)]| {
        let c = config(vars).unwrap();
        c.configured_url().map(|(u, var)| (u.to_string(), var))
    };
    assert_eq!(
        url(&[heroku]),
        Some((
            "https://my-tokens-1a2b3c4d5e6f.herokuapp.com/".into(),
            "HEROKU_APP_DEFAULT_DOMAIN_NAME"
        ))
    );
    assert_eq!(
        url(&[render]),
        Some((
            "https://my-tokens.onrender.com/".into(),
            "RENDER_EXTERNAL_URL"
        ))
    );
    assert_eq!(
        url(&[fly]),
        Some(("https://my-tokens.fly.dev/".into(), "FLY_APP_NAME"))
    );
    assert_eq!(
        url(&[heroku, ("APP_URL", "https://tokens.example.com")]),
        Some(("https://tokens.example.com/".into(), "APP_URL"))
    );
    assert!(
        error(&[("HEROKU_APP_DEFAULT_DOMAIN_NAME", "a b")])
            .starts_with("HEROKU_APP_DEFAULT_DOMAIN_NAME ")
    );
    assert!(error(&[("RENDER_EXTERNAL_URL", "x")]).starts_with("RENDER_EXTERNAL_URL "));
    assert!(error(&[("FLY_APP_NAME", "a.b")]).starts_with("FLY_APP_NAME "));
}

#[test]
fn app_credentials_come_in_pairs() {
    assert_eq!(
        error(&[("INSTAGRAM_APP_ID", "123")]),
        "INSTAGRAM_APP_SECRET must be set together with INSTAGRAM_APP_ID"
    );
    let c = config(&[("FACEBOOK_APP_ID", "1"), ("FACEBOOK_APP_SECRET", "s3cret")]).unwrap();
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "a secret reached Debug output"
    );
}

#[test]
fn memcachier_servers_win_over_memcache_servers() {
    let c = config(&[
        (
            "MEMCACHIER_SERVERS",
            "mc1.example.com:11211,mc2.example.com:11211",
        ),
        ("MEMCACHE_SERVERS", "localhost:11211"),
    ])
    .unwrap();
    assert_eq!(
        c.cache.servers,
        vec!["mc1.example.com:11211", "mc2.example.com:11211"]
    );
    assert!(error(&[("MEMCACHE_SERVERS", "localhost")]).starts_with("MEMCACHE_SERVERS "));
}

#[test]
fn notify_email_needs_an_smtp_url() {
    assert!(error(&[("NOTIFY_EMAIL", "me@example.com")]).starts_with("SMTP_URL "));
    assert!(error(&[("NOTIFY_EMAIL", "nobody")]).starts_with("NOTIFY_EMAIL "));
    let smtp = ("SMTP_URL", "smtps://u:p@smtp.example.com");
    assert!(error(&[("NOTIFY_EMAIL", "not-an-address"), smtp]).starts_with("NOTIFY_EMAIL "));
    let c = config(&[("NOTIFY_EMAIL", "me@example.com"), smtp]).unwrap();
    assert_eq!(c.email.unwrap().smtp.port, 465);
}

#[test]
fn trust_proxy_and_the_miss_bound_name_their_variable() {
    use crate::domain::TrustProxy;
    let c = config(&[]).unwrap();
    assert_eq!(c.guard.trust_proxy, TrustProxy::Nobody);
    assert_eq!(c.guard.feed_misses_per_minute, 60);
    let heroku = config(&[("DYNO", "web.1")]).unwrap();
    assert_eq!(heroku.guard.trust_proxy, TrustProxy::Hops(1));
    let named = config(&[("DYNO", "web.1"), ("TRUST_PROXY", "10.0.0.0/8")]).unwrap();
    assert!(matches!(named.guard.trust_proxy, TrustProxy::Ranges(_)));
    let fly = config(&[("FLY_APP_NAME", "sunny-tokens")]).unwrap();
    assert_eq!(fly.guard.trust_proxy, TrustProxy::FlyProxy);
    let fly_named = config(&[("FLY_APP_NAME", "sunny-tokens"), ("TRUST_PROXY", "2")]).unwrap();
    assert_eq!(fly_named.guard.trust_proxy, TrustProxy::Hops(2));
    assert!(error(&[("TRUST_PROXY", "the router")]).starts_with("TRUST_PROXY "));
    assert!(error(&[("FEED_MISSES_PER_MINUTE", "-1")]).starts_with("FEED_MISSES_PER_MINUTE "));
    assert_eq!(
        config(&[("FEED_MISSES_PER_MINUTE", "0")])
            .unwrap()
            .guard
            .feed_misses_per_minute,
        0
    );
}

#[test]
fn hashtags_are_a_list_of_valid_tags() {
    assert!(config(&[]).unwrap().hashtags.is_empty());
    let c = config(&[("HASHTAGS", "#Bakery, coffee  sourdough")]).unwrap();
    assert_eq!(c.hashtags, ["bakery", "coffee", "sourdough"]);
    assert!(error(&[("HASHTAGS", "ok, not-ok")]).starts_with("HASHTAGS "));
}

#[test]
fn server_limits_have_defaults_and_bounds() {
    let c = config(&[]).unwrap();
    assert_eq!(c.server, ServerConfig::default());
    let c = config(&[
        ("HTTP_HEADER_TIMEOUT_SECONDS", "10"),
        ("HTTP_IDLE_TIMEOUT_SECONDS", "20"),
        ("HTTP_BODY_TIMEOUT_SECONDS", "5"),
        ("HTTP_SEND_TIMEOUT_SECONDS", "90"),
        ("HTTP_MAX_HEADER_BYTES", "8192"),
        ("HTTP_MAX_CONNECTIONS", "100"),
    ])
    .unwrap();
    assert_eq!(c.server.header_timeout, Duration::from_secs(10));
    assert_eq!(c.server.idle_timeout, Duration::from_secs(20));
    assert_eq!(c.server.body_timeout, Duration::from_secs(5));
    assert_eq!(c.server.send_timeout, Duration::from_secs(90));
    assert_eq!(c.server.max_header_bytes, 8192);
    assert_eq!(c.server.max_connections, 100);
    // A quarter of the connections, unless set.
    let bound = |max| ClientBound::At {
        max,
        exempt: Vec::new(),
    };
    assert_eq!(c.server.per_client, bound(25));
    let c = config(&[("HTTP_MAX_CONNECTIONS_PER_CLIENT", "7")]).unwrap();
    assert_eq!(c.server.per_client, bound(7));
    for (var, value) in [
        ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
        ("HTTP_IDLE_TIMEOUT_SECONDS", "soon"),
        ("HTTP_BODY_TIMEOUT_SECONDS", "0"),
        ("HTTP_SEND_TIMEOUT_SECONDS", "-1"),
        ("HTTP_MAX_HEADER_BYTES", "100"),
        ("HTTP_MAX_CONNECTIONS", "0"),
        ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "0"),
        ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "100001"),
    ] {
        let e = error(&[(var, value)]);
        assert!(e.starts_with(var), "{e}");
    }
}

#[test]
fn the_per_client_bound_spares_named_proxies_and_is_off_behind_a_platforms_router() {
    let bound = |vars: &[(&str, &str)]| config(vars).unwrap().server.per_client;
    // No proxy: every peer is a client.
    assert!(matches!(bound(&[]), ClientBound::At { max: 128, ref exempt } if exempt.is_empty()));
    // Named proxies, as a local reverse proxy is named.
    let ClientBound::At { max, exempt } = bound(&[("TRUST_PROXY", "127.0.0.1, 10.0.0.0/8")]) else {
        panic!("a bound");
    };
    assert_eq!(max, 128);
    assert_eq!(exempt.len(), 2);
    assert!(exempt[0].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
    // A hop count, or a platform's router in front: every peer is a proxy.
    assert_eq!(bound(&[("TRUST_PROXY", "1")]), ClientBound::Off);
    assert_eq!(bound(&[("DYNO", "web.1")]), ClientBound::Off);
    assert_eq!(bound(&[("RENDER", "true")]), ClientBound::Off);
    assert_eq!(bound(&[("FLY_APP_NAME", "sunny-tokens")]), ClientBound::Off);
}

#[test]
fn worker_threads_default_to_two_whatever_the_cores_and_are_bounded() {
    assert_eq!(config(&[]).unwrap().worker_threads, 2);
    assert_eq!(
        config(&[("WORKER_THREADS", "1")]).unwrap().worker_threads,
        1
    );
    for value in ["0", "65", "many"] {
        let e = error(&[("WORKER_THREADS", value)]);
        assert!(e.starts_with("WORKER_THREADS "), "{e}");
    }
}

#[test]
fn a_bad_smtp_url_stops_start_up_without_echoing_it() {
    let e = error(&[("SMTP_URL", "smtp://user:hunter2@smtp.example.com?tls=none")]);
    assert!(e.starts_with("SMTP_URL "), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn a_memcachier_password_the_client_cannot_send_stops_start_up() {
    let e = error(&[
        ("MEMCACHIER_SERVERS", "mc.example.com:11211"),
        ("MEMCACHIER_USERNAME", "user"),
        ("MEMCACHIER_PASSWORD", "p@ss word"),
    ]);
    assert!(e.starts_with("MEMCACHIER_PASSWORD "), "{e}");
    assert!(!e.contains("p@ss"), "{e}");
    let e = error(&[
        ("MEMCACHIER_SERVERS", "mc.example.com:11211"),
        ("MEMCACHIER_USERNAME", "user"),
    ]);
    assert!(e.starts_with("MEMCACHIER_PASSWORD "), "{e}");
}

#[test]
fn the_graph_api_version_is_one_setting_for_every_versioned_call() {
    let c = config(&[]).unwrap();
    assert_eq!(c.upstream.graph_version, "v25.0");
    assert_eq!(
        c.upstream.facebook_dialog_url,
        "https://www.facebook.com/v25.0/dialog/oauth"
    );
    let c = config(&[("GRAPH_API_VERSION", "26.0")]).unwrap();
    assert_eq!(c.upstream.graph_version, "v26.0");
    assert_eq!(
        c.upstream.facebook_dialog_url,
        "https://www.facebook.com/v26.0/dialog/oauth"
    );
    for bad in ["latest", "v25", "v25.0.1", "v.0"] {
        assert!(
            error(&[("GRAPH_API_VERSION", bad)])
                .starts_with("GRAPH_API_VERSION must look like v25.0"),
            "{bad}"
        );
    }
}

#[test]
fn a_facebook_login_configuration_needs_the_facebook_app() {
    let app = [("FACEBOOK_APP_ID", "1"), ("FACEBOOK_APP_SECRET", "s3cret")];
    let c = config(&[app[0], app[1], ("FACEBOOK_CONFIG_ID", "123456789")]).unwrap();
    assert_eq!(c.facebook_config_id.as_deref(), Some("123456789"));
    assert_eq!(
        c.upstream.facebook_app_secret.as_ref().map(Secret::expose),
        Some("s3cret")
    );
    assert!(
        error(&[("FACEBOOK_CONFIG_ID", "123")])
            .starts_with("FACEBOOK_CONFIG_ID must be set together with FACEBOOK_APP_ID")
    );
    assert!(
        error(&[app[0], app[1], ("FACEBOOK_CONFIG_ID", "12 3&x")])
            .starts_with("FACEBOOK_CONFIG_ID must be the configuration's id")
    );
    assert!(config(&[]).unwrap().upstream.facebook_app_secret.is_none());
}

#[test]
fn upstream_urls_can_be_pointed_at_a_fake() {
    let c = config(&[(
        "INSTAGRAM_GRAPH_URL",
        "http://127.0.0.1:9/graph.instagram.com/",
    )])
    .unwrap();
    assert_eq!(
        c.upstream.instagram_graph_url,
        "http://127.0.0.1:9/graph.instagram.com"
    );
    assert!(error(&[("FACEBOOK_GRAPH_URL", "ftp://x")]).starts_with("FACEBOOK_GRAPH_URL "));
}
