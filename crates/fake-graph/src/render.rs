//! Users and media as JSON, with Graph field selection: only requested
//! fields, `id` always, absent optional fields omitted (never `null`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::error::GraphError;
use super::fields::{self, Field};
use super::model::{FakeMedia, MediaType, State, User};
use super::paging::{self, Links, PageQuery};
use super::request::{Host, Request};

/// `2019-04-05T07:56:32+0000`: no colon in the offset.
pub(crate) fn graph_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

/// The `fields=` parameter, or `default` when absent.
pub(crate) fn requested_fields(
    request: &Request,
    default: &[&str],
) -> Result<Vec<Field>, GraphError> {
    match request.param("fields") {
        Some(raw) => fields::parse(raw).map_err(|e| GraphError::param(format!("(#100) {e}"))),
        None => Ok(default_fields(default)),
    }
}

fn default_fields(names: &[&str]) -> Vec<Field> {
    names
        .iter()
        .map(|name| Field {
            name: (*name).to_string(),
            limit: None,
            sub: None,
        })
        .collect()
}

/// Everything a renderer needs besides the object itself.
pub(crate) struct View<'a> {
    pub state: &'a State,
    pub request: &'a Request,
    pub access_token: &'a str,
}

impl View<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    pub(crate) fn user(&self, user: &User, fields: &[Field]) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.user_id(user)));
        for field in fields {
            out.insert(field.name.clone(), self.user_field(user, field)?);
        }
        Ok(Value::Object(out))
    }

    /// graph.instagram.com calls the app-scoped id `id`; graph.facebook.com the IG user id.
    fn user_id<'u>(&self, user: &'u User) -> &'u str {
        match self.request.host {
            Host::InstagramGraph => &user.public.app_scoped_id,
            _ => &user.public.ig_user_id,
        }
    }

    fn user_field(&self, user: &User, field: &Field) -> Result<Value, GraphError> {
        let p = &user.public;
        let value = match field.name.as_str() {
            "id" => json!(self.user_id(user)),
            "user_id" | "ig_id" => json!(p.ig_user_id),
            "username" => json!(p.username),
            "name" => json!(user.name),
            "account_type" => json!("BUSINESS"),
            "profile_picture_url" => json!(self.picture_url(&p.ig_user_id)),
            "followers_count" => json!(user.followers_count),
            "follows_count" => json!(user.follows_count),
            "media_count" => json!(user.media.len()),
            "media" => self.embedded_media(user, field)?,
            other => return Err(GraphError::nonexisting_field(other, "IGUser")),
        };
        Ok(value)
    }

    /// `fields=media.limit(n){…}` on a user: the first page of the media edge.
    fn embedded_media(&self, user: &User, field: &Field) -> Result<Value, GraphError> {
        let mut query = PageQuery::new(None, self.state.options.page_size)?;
        if let Some(limit) = field.limit {
            query.limit = limit.clamp(1, 100);
        }
        let sub = field.sub.clone().unwrap_or_else(|| default_fields(&["id"]));
        let path = format!("/{}/media", user.public.ig_user_id);
        self.media_page(&user.media, &sub, &query, &path)
    }

    /// One page of a media edge, items rendered with `fields`.
    pub(crate) fn media_page(
        &self,
        ids: &[String],
        fields: &[Field],
        query: &PageQuery,
        path: &str,
    ) -> Result<Value, GraphError> {
        let range = paging::select(ids, query)?;
        let items = ids[range.clone()]
            .iter()
            .filter_map(|id| self.state.media.get(id))
            .map(|media| self.media(media, fields))
            .collect::<Result<Vec<_>, _>>()?;
        let links = Links {
            endpoint: self.request.link_base(path),
            access_token: Some(self.access_token.to_string()),
            fields: Some(fields::render(fields)),
        };
        Ok(paging::envelope(items, ids, range, query, &links))
    }

    pub(crate) fn media(&self, media: &FakeMedia, fields: &[Field]) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(media.id));
        for field in fields {
            if let Some(value) = self.media_field(media, field)? {
                out.insert(field.name.clone(), value);
            }
        }
        Ok(Value::Object(out))
    }

    fn media_field(&self, media: &FakeMedia, field: &Field) -> Result<Option<Value>, GraphError> {
        let value = match field.name.as_str() {
            "id" => Some(json!(media.id)),
            "caption" => media.caption.as_ref().map(|c| json!(c)),
            "alt_text" if self.state.options.without_alt_text_field => {
                return Err(GraphError::nonexisting_field("alt_text", "IGMedia"));
            }
            "alt_text" => media.alt_text.as_ref().map(|t| json!(t)),
            "media_type" => Some(json!(media.media_type.as_str())),
            "media_product_type" => Some(json!(media.media_product_type())),
            "media_url" => (!self.state.without_media_url.contains(&media.id))
                .then(|| json!(self.media_url(media))),
            "thumbnail_url" => (media.media_type == MediaType::Video
                && !self.state.without_thumbnail_url.contains(&media.id))
            .then(|| json!(self.image_url(&format!("{}_thumb", media.id)))),
            "permalink" => (!self.state.without_permalink.contains(&media.id))
                .then(|| json!(media.permalink())),
            "shortcode" => Some(json!(media.shortcode)),
            "timestamp" => Some(json!(graph_timestamp(media.timestamp))),
            "username" => self.owner(media).map(|u| json!(u.public.username)),
            "owner" => Some(json!({ "id": media.owner })),
            "like_count" => media.like_count.map(|n| json!(n)),
            "comments_count" => Some(json!(media.comments_count)),
            "is_comment_enabled" => Some(json!(true)),
            "is_shared_to_feed" => media.shared_to_feed.map(|shared| json!(shared)),
            "children" => self.children(media, field)?,
            other => return Err(GraphError::nonexisting_field(other, "IGMedia")),
        };
        Ok(value)
    }

    fn owner(&self, media: &FakeMedia) -> Option<&User> {
        self.state
            .users
            .iter()
            .find(|u| u.public.ig_user_id == media.owner)
    }

    /// `children` inside a media object: `{"data":[…]}`, albums only.
    fn children(&self, media: &FakeMedia, field: &Field) -> Result<Option<Value>, GraphError> {
        if media.children.is_empty() {
            return Ok(None);
        }
        let sub = field.sub.clone().unwrap_or_else(|| default_fields(&["id"]));
        let items = media
            .children
            .iter()
            .filter_map(|id| self.state.media.get(id))
            .map(|child| self.media(child, &sub))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(json!({ "data": items })))
    }

    /// Albums show their first child's URL, as Instagram does.
    fn media_url(&self, media: &FakeMedia) -> String {
        let first_child = media
            .children
            .first()
            .and_then(|id| self.state.media.get(id));
        match first_child {
            Some(child) => self.media_url(child),
            None if media.media_type == MediaType::Video => self.video_url(&media.id),
            None => self.image_url(&media.id),
        }
    }

    fn expiry(&self) -> String {
        let oe = self.now() + Duration::days(self.state.options.media_url_expiry_days);
        format!("{:08X}", oe.timestamp())
    }

    fn image_url(&self, name: &str) -> String {
        let oe = self.expiry();
        match &self.state.options.media_base_url {
            Some(base) => format!("{}/{name}.jpg?oe={oe}", base.trim_end_matches('/')),
            None => format!(
                "https://scontent.cdninstagram.com/v/t51.2885-15/{name}_n.jpg\
                 ?stp=dst-jpg_e35&_nc_cat=104&ccb=1-7&_nc_sid=18de74\
                 &_nc_ht=scontent.cdninstagram.com&oh=00_{}&oe={oe}",
                signature(name, &oe)
            ),
        }
    }

    fn video_url(&self, name: &str) -> String {
        let oe = self.expiry();
        match &self.state.options.media_base_url {
            Some(base) => format!("{}/{name}.mp4?oe={oe}", base.trim_end_matches('/')),
            None => format!(
                "https://video.cdninstagram.com/o1/v/t16/f2/m86/{name}.mp4\
                 ?efg=eyJ2ZW5jb2RlX3RhZyI6InZ0c192b2RfdXJsZ2VuIn0&_nc_ht=video.cdninstagram.com\
                 &_nc_cat=108&ccb=9-4&oh=00_{}&oe={oe}",
                signature(name, &oe)
            ),
        }
    }

    fn picture_url(&self, ig_user_id: &str) -> String {
        self.image_url(&format!("{ig_user_id}_profile"))
    }
}

/// A stand-in for the CDN's `oh=` signature: stable for a name and expiry.
fn signature(name: &str, oe: &str) -> String {
    let digest = Sha256::digest(format!("{name}|{oe}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_no_colon_in_the_offset() {
        let at = Utc.with_ymd_and_hms(2022, 10, 27, 5, 3, 6).unwrap();
        assert_eq!(graph_timestamp(at), "2022-10-27T05:03:06+0000");
    }
}
