//! Which feed a request reads: an account's own media or a hashtag's,
//! with what its cursors are valid for, its cache keys and its links.

use sha2::{Digest, Sha256};
use url::Url;

use super::Filter;
use crate::domain::Cursor;
use crate::upstream::HashtagEdge;

/// One of the feeds the proxy serves: what its cursors are scoped to, where
/// its pages are cached, and where its links point.
///
/// Each is of one placement of the account's token (its epoch): when the
/// owner puts another token in place, perhaps another user's, the feed has
/// new cache keys and cursors in every process that knows the account.
pub(super) enum Source<'a> {
    Feed {
        account: &'a str,
        epoch: i64,
    },
    Hashtag {
        account: &'a str,
        epoch: i64,
        tag: &'a str,
        edge: HashtagEdge,
    },
}

impl Source<'_> {
    pub(super) fn account(&self) -> &str {
        match self {
            Source::Feed { account, .. } | Source::Hashtag { account, .. } => account,
        }
    }

    /// What a cursor is valid for: this feed alone, under any filter (a
    /// position counts every item, so it is the same place under each).
    pub(super) fn scope(&self) -> String {
        match self {
            Source::Feed { account, epoch } => format!("feed\0{account}\0{epoch}"),
            Source::Hashtag {
                account,
                epoch,
                tag,
                edge,
            } => {
                format!("tag\0{account}\0{epoch}\0{tag}\0{}", edge.as_str())
            }
        }
    }

    /// The cache key of the upstream page that starts at `upstream`, as
    /// kept with trial reels (`trial_reels`) or without. v4: pages carry
    /// `media_product_type` and `is_shared_to_feed`, so no page kept before
    /// can serve a trial reel.
    pub(super) fn key(&self, upstream: Option<&Cursor>, trial_reels: bool) -> String {
        let kept = if trial_reels { "all" } else { "grid" };
        let at = match upstream {
            None => String::new(),
            Some(cursor) => {
                let digest = Sha256::digest(Cursor::key(&Some(cursor.clone())).as_bytes());
                hex::encode(&digest[..16])
            }
        };
        match self {
            Source::Feed { account, epoch } => format!("feed:v4:{kept}:{account}:{epoch}:{at}"),
            Source::Hashtag {
                account,
                epoch,
                tag,
                edge,
            } => {
                format!("tag:v4:{account}:{epoch}:{tag}:{}:{at}", edge.as_str())
            }
        }
    }

    /// The link to a page of this feed, relative to the agent's URL, under
    /// the same filter.
    pub(super) fn link(
        &self,
        base: &Url,
        limit: u32,
        filter: &Filter,
        param: &str,
        cursor: &str,
    ) -> String {
        let path = match self {
            Source::Feed { .. } => "feed.json".to_string(),
            Source::Hashtag { tag, edge, .. } => format!(
                "hashtags/{}/{}.json",
                percent_encoding::utf8_percent_encode(tag, percent_encoding::NON_ALPHANUMERIC),
                edge.as_str()
            ),
        };
        let mut link = base.join(&path).expect("a path joins a URL");
        {
            let mut query = link.query_pairs_mut();
            query
                .append_pair("account", self.account())
                .append_pair("limit", &limit.to_string());
            for (key, value) in filter.params() {
                query.append_pair(key, &value);
            }
            query.append_pair(param, cursor);
        }
        link.to_string()
    }
}
