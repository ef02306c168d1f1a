//! `account=a,b`: several accounts' posts in one feed, newest first. Each
//! page is made of each account's own answers (its cache, its budget, its
//! misses, as its own feed would cost), merged by time; the next page's
//! cursor holds each account's own signed cursor, so a cursor made up or
//! taken from another feed is refused as each account's would be.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};
use url::Url;

use super::{Answer, FeedError, FeedQuery, Feeds};

/// The most accounts one feed merges.
pub const MAX_ACCOUNTS: usize = 10;
/// Starts a merged feed's cursor.
const PREFIX: &str = "m.";

/// Where one account's part of a merged feed stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Start,
    At(String),
    End,
}

/// One account's part of a page.
struct Part {
    items: Vec<Value>,
    next: Option<String>,
}

impl Feeds {
    /// The merged feed of `query.account` and `query.also`.
    pub(super) async fn merged(&self, query: &FeedQuery, base: &Url) -> Result<Answer, FeedError> {
        let accounts: Vec<&str> = std::iter::once(query.account.as_str())
            .chain(query.also.iter().map(String::as_str))
            .collect();
        let places = match &query.cursor {
            None => vec![Place::Start; accounts.len()],
            Some(cursor) => open(cursor, &accounts).ok_or(FeedError::BadCursor)?,
        };
        let (mut parts, mut answers) = (Vec::new(), Vec::new());
        for (account, place) in accounts.iter().zip(&places) {
            match place {
                Place::End => parts.push(None),
                _ => {
                    let answer = self.part(query, account, place, query.limit, base).await?;
                    parts.push(Some(read(&answer.body)?));
                    answers.push(answer);
                }
            }
        }
        // Newest first; of two at the same time, the earlier account's.
        let mut order: Vec<(&str, usize, usize)> = parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| part.as_ref().map(|p| (i, p)))
            .flat_map(|(i, part)| {
                part.items
                    .iter()
                    .enumerate()
                    .map(move |(j, item)| (item["timestamp"].as_str().unwrap_or(""), i, j))
            })
            .collect();
        order.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        order.truncate(query.limit as usize);
        let mut taken = vec![0usize; accounts.len()];
        for &(_, i, _) in &order {
            taken[i] += 1;
        }
        let data: Vec<Value> = order
            .iter()
            .filter_map(|&(_, i, j)| parts[i].as_ref().map(|p| p.items[j].clone()))
            .collect();
        // Where each account stands after this page.
        let mut next = Vec::with_capacity(accounts.len());
        for (i, part) in parts.iter().enumerate() {
            let place = match part {
                None => Place::End,
                // All of it, or nothing to take (a filter may leave a page
                // empty and still link on): on to its next page.
                Some(part) if taken[i] == part.items.len() => {
                    part.next.clone().map_or(Place::End, Place::At)
                }
                Some(_) if taken[i] == 0 => places[i].clone(),
                // Part of its items: its own answer of that many says where
                // the rest starts (the same cached pages, no call upstream).
                Some(_) => {
                    let fewer = u32::try_from(taken[i]).unwrap_or(query.limit);
                    let answer = self
                        .part(query, accounts[i], &places[i], fewer, base)
                        .await?;
                    read(&answer.body)?.next.map_or(Place::End, Place::At)
                }
            };
            next.push(place);
        }
        let body = body(data, &accounts, &next, query, base);
        let now = self.handles.clock.now();
        let fetched_at = answers.iter().map(|a| a.fetched_at).min().unwrap_or(now);
        let stale = answers.iter().any(|a| a.stale);
        Ok(Answer::new(body, fetched_at, stale, now, self.settings.ttl))
    }

    /// One account's own answer from `place`, `limit` items long.
    async fn part(
        &self,
        query: &FeedQuery,
        account: &str,
        place: &Place,
        limit: u32,
        base: &Url,
    ) -> Result<Answer, FeedError> {
        let one = FeedQuery {
            account: account.to_string(),
            also: Vec::new(),
            limit,
            cursor: match place {
                Place::At(cursor) => Some(cursor.clone()),
                Place::Start | Place::End => None,
            },
            filter: query.filter.clone(),
            client: query.client,
        };
        Box::pin(self.feed(&one, base)).await
    }
}

/// The items of an account's answer and its next cursor.
fn read(body: &[u8]) -> Result<Part, FeedError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| FeedError::Encode(e.to_string()))?;
    let items = match value["data"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let next = value["paging"]["next"]
        .as_str()
        .and(value["paging"]["cursors"]["after"].as_str())
        .map(str::to_string);
    Ok(Part { items, next })
}

/// The page's JSON: its items and, unless every account has ended, the
/// link to the next page.
fn body(
    data: Vec<Value>,
    accounts: &[&str],
    next: &[Place],
    query: &FeedQuery,
    base: &Url,
) -> Bytes {
    let mut page = json!({ "data": data });
    if next.iter().any(|p| *p != Place::End) {
        let cursor = seal(accounts, next);
        let mut link = base.join("feed.json").expect("a path joins a URL");
        {
            let mut pairs = link.query_pairs_mut();
            pairs
                .append_pair("account", &accounts.join(","))
                .append_pair("limit", &query.limit.to_string());
            for (key, value) in query.filter.params() {
                pairs.append_pair(key, &value);
            }
            pairs.append_pair("after", &cursor);
        }
        page["paging"] = json!({ "cursors": { "after": cursor }, "next": link.as_str() });
    }
    Bytes::from(page.to_string())
}

/// The merged cursor: each account and where it stands.
fn seal(accounts: &[&str], places: &[Place]) -> String {
    let lines: Vec<String> = accounts
        .iter()
        .zip(places)
        .map(|(account, place)| match place {
            Place::Start => format!("{account}\t"),
            Place::At(cursor) => format!("{account}\t{cursor}"),
            Place::End => format!("{account}\t~"),
        })
        .collect();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(lines.join("\n")))
}

/// The places a merged cursor holds, if it is one for exactly `accounts`.
fn open(cursor: &str, accounts: &[&str]) -> Option<Vec<Place>> {
    let text = URL_SAFE_NO_PAD.decode(cursor.strip_prefix(PREFIX)?).ok()?;
    let text = String::from_utf8(text).ok()?;
    let places: Vec<(&str, Place)> = text
        .split('\n')
        .map(|line| {
            let (account, at) = line.split_once('\t')?;
            let place = match at {
                "" => Place::Start,
                "~" => Place::End,
                cursor if crate::domain::is_valid_cursor(cursor) => Place::At(cursor.to_string()),
                _ => return None,
            };
            Some((account, place))
        })
        .collect::<Option<_>>()?;
    let same =
        places.len() == accounts.len() && places.iter().zip(accounts).all(|((a, _), b)| a == b);
    same.then(|| places.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_cursor_opens_for_its_own_accounts_only() {
        let places = [Place::At("QVFIabc".into()), Place::End, Place::Start];
        let sealed = seal(&["shop", "brand", "team"], &places);
        assert!(crate::domain::is_valid_cursor(&sealed), "{sealed}");
        assert_eq!(
            open(&sealed, &["shop", "brand", "team"]),
            Some(places.to_vec())
        );
        assert_eq!(open(&sealed, &["shop", "brand"]), None);
        assert_eq!(open(&sealed, &["brand", "shop", "team"]), None);
        assert_eq!(open("QVFIabc", &["shop"]), None);
        assert_eq!(open("m.!!", &["shop"]), None);
    }
}
