//! Upstream answers, arbitrary JSON and bytes: the public parsers directly;
//! the crate-private token, code-exchange and profile parsers and the error
//! classifier through the public client against the fake Graph API.

use super::*;

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
    use fake_graph::{FakeGraph, Fault};
    use token_agent::clock::Clock;

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
