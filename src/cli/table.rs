//! `token-agent status`: every account as a table for the terminal. Never
//! prints a token.

use chrono::{DateTime, Duration, Utc};

use crate::store::Account;

/// "in 3d 4h", "2h ago", "—" for unknown.
fn relative(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else {
        return "—".into();
    };
    let span = |d: Duration| {
        let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
        match (days, hours) {
            (0, 0) => format!("{minutes}m"),
            (0, _) => format!("{hours}h {minutes}m"),
            _ => format!("{days}d {hours}h"),
        }
    };
    if t >= now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

pub fn status_table(accounts: &[Account], now: DateTime<Utc>) -> String {
    if accounts.is_empty() {
        return "no accounts yet: set STARTING_TOKEN or run `token-agent accounts add NAME --token …`\n".into();
    }
    let header = [
        "ACCOUNT",
        "KIND",
        "USER",
        "EXPIRES",
        "LAST REFRESH",
        "RESULT",
        "NEXT REFRESH",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 8]> = accounts
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.kind.as_str().into(),
                a.username.clone().unwrap_or_else(|| "—".into()),
                match a.expires_at {
                    Some(t) if t <= now => format!("EXPIRED {}", relative(Some(t), now)),
                    None if a.never_expires => "never".into(),
                    t => relative(t, now),
                },
                relative(a.last_attempt_at, now),
                if a.needs_reconnect {
                    "needs reconnect".into()
                } else {
                    a.last_result.clone().unwrap_or_else(|| "—".into())
                },
                relative(a.next_refresh_at, now),
                a.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(relative(None, now), "—");
        assert_eq!(
            relative(Some(now + Duration::days(45) + Duration::hours(3)), now),
            "in 45d 3h"
        );
        assert_eq!(relative(Some(now - Duration::hours(2)), now), "2h 0m ago");
        assert_eq!(relative(Some(now + Duration::minutes(7)), now), "in 7m");
    }
}
