//! Cursor paging as Graph does it: opaque base64 cursors naming the first and
//! last item of a page; `next`/`previous` links only when there is more.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use url::Url;

use super::error::GraphError;

/// The largest page Graph serves whatever `limit` asks for.
const MAX_LIMIT: usize = 100;

/// `limit`, `after`, `before` as the caller sent them.
#[derive(Clone, Debug, Default)]
pub(crate) struct PageQuery {
    pub limit: usize,
    pub after: Option<String>,
    pub before: Option<String>,
}

impl PageQuery {
    pub(crate) fn new(limit: Option<&str>, default_limit: usize) -> Result<Self, GraphError> {
        let limit = match limit {
            None => default_limit,
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                GraphError::param(format!(
                    "(#100) Param limit must be a non-negative integer - got \"{raw}\""
                ))
            })?,
        };
        let limit = if limit == 0 { default_limit } else { limit };
        Ok(PageQuery {
            limit: limit.clamp(1, MAX_LIMIT),
            after: None,
            before: None,
        })
    }
}

/// Where a page's links point and what they carry besides the cursor.
pub(crate) struct Links {
    /// Versioned endpoint URL, e.g. `…/graph.instagram.com/v25.0/1784…/media`.
    pub endpoint: String,
    pub access_token: Option<String>,
    pub fields: Option<String>,
}

pub(crate) fn encode_cursor(id: &str) -> String {
    STANDARD.encode(format!("AQHR{id}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = STANDARD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("AQHR").map(str::to_string)
}

fn position_of(ids: &[String], cursor: &str, name: &str) -> Result<usize, GraphError> {
    decode_cursor(cursor)
        .and_then(|id| ids.iter().position(|i| *i == id))
        .ok_or_else(|| GraphError::param(format!("(#100) The {name} cursor is invalid")))
}

/// The slice of `ids` this page covers.
pub(crate) fn select(ids: &[String], query: &PageQuery) -> Result<Range<usize>, GraphError> {
    if let Some(after) = &query.after {
        let start = position_of(ids, after, "after")? + 1;
        return Ok(start..(start + query.limit).min(ids.len()));
    }
    if let Some(before) = &query.before {
        let end = position_of(ids, before, "before")?;
        return Ok(end.saturating_sub(query.limit)..end);
    }
    Ok(0..query.limit.min(ids.len()))
}

/// `{"data": items, "paging": {...}}`; no `paging` at all when `data` is empty.
pub(crate) fn envelope(
    items: Vec<Value>,
    ids: &[String],
    range: Range<usize>,
    query: &PageQuery,
    links: &Links,
) -> Value {
    let mut body = json!({ "data": items });
    if range.is_empty() {
        return body;
    }
    let first = encode_cursor(&ids[range.start]);
    let last = encode_cursor(&ids[range.end - 1]);
    let mut paging = Map::new();
    paging.insert(
        "cursors".into(),
        json!({ "before": first.clone(), "after": last.clone() }),
    );
    if range.end < ids.len() {
        paging.insert("next".into(), json!(link(links, query, "after", &last)));
    }
    if range.start > 0 {
        paging.insert(
            "previous".into(),
            json!(link(links, query, "before", &first)),
        );
    }
    body["paging"] = Value::Object(paging);
    body
}

fn link(links: &Links, query: &PageQuery, direction: &str, cursor: &str) -> String {
    let Ok(mut url) = Url::parse(&links.endpoint) else {
        return links.endpoint.clone();
    };
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(token) = &links.access_token {
            pairs.append_pair("access_token", token);
        }
        if let Some(fields) = &links.fields {
            pairs.append_pair("fields", fields);
        }
        pairs.append_pair("limit", &query.limit.to_string());
        pairs.append_pair(direction, cursor);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("1800000000000000{i}")).collect()
    }

    fn query(limit: usize) -> PageQuery {
        PageQuery {
            limit,
            ..PageQuery::default()
        }
    }

    #[test]
    fn cursors_round_trip_and_look_like_metas() {
        let cursor = encode_cursor("18150997342277977");
        assert!(cursor.starts_with("QVFIU"));
        assert_eq!(decode_cursor(&cursor).as_deref(), Some("18150997342277977"));
    }

    #[test]
    fn after_and_before_walk_both_ways() {
        let ids = ids(5);
        let first = select(&ids, &query(2)).unwrap();
        assert_eq!(first, 0..2);
        let mut next = query(2);
        next.after = Some(encode_cursor(&ids[1]));
        assert_eq!(select(&ids, &next).unwrap(), 2..4);
        let mut back = query(2);
        back.before = Some(encode_cursor(&ids[2]));
        assert_eq!(select(&ids, &back).unwrap(), 0..2);
    }

    #[test]
    fn a_garbled_cursor_is_a_code_100_error() {
        let mut bad = query(2);
        bad.after = Some("not-a-cursor".into());
        assert_eq!(select(&ids(3), &bad).unwrap_err().code, 100);
    }

    #[test]
    fn limits_are_clamped_and_validated() {
        assert_eq!(PageQuery::new(Some("500"), 25).unwrap().limit, 100);
        assert_eq!(PageQuery::new(None, 25).unwrap().limit, 25);
        assert!(PageQuery::new(Some("ten"), 25).is_err());
    }
}
