//! DATABASE_URL: PostgreSQL or a SQLite file, chosen by the URL's scheme.

use std::path::PathBuf;

use url::Url;

use super::{ConfigError, Secret, bad};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(Secret),
}

impl DatabaseUrl {
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("SQLite at {}", path.display()),
            DatabaseUrl::Postgres(_) => "PostgreSQL".to_string(),
        }
    }
}

pub(super) fn parse_database_url(raw: Option<String>) -> Result<DatabaseUrl, ConfigError> {
    let Some(url) = raw else {
        return Ok(DatabaseUrl::Sqlite(PathBuf::from("data/token-agent.db")));
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Url::parse(&url).map_err(|e| {
            bad(
                "DATABASE_URL",
                format!("is not a valid postgres:// URL ({e})"),
            )
        })?;
        return Ok(DatabaseUrl::Postgres(Secret(url)));
    }
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(bad(
                "DATABASE_URL",
                "must name a SQLite file (sqlite://data/token-agent.db); an in-memory database would lose the token on restart",
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(bad(
        "DATABASE_URL",
        format!("must start with postgres:// or sqlite://, got a {scheme:?} URL"),
    ))
}
