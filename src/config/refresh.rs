//! REFRESH_MODE and REFRESH_FREQUENCY: when the refresher renews a token.

use super::{ConfigError, bad};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn period(self) -> chrono::Duration {
        match self {
            Frequency::Daily => chrono::Duration::days(1),
            Frequency::Weekly => chrono::Duration::days(7),
            Frequency::Monthly => chrono::Duration::days(30),
        }
    }
}

/// When the refresher renews a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshMode {
    /// Every period, counted from the last successful refresh.
    Cron(Frequency),
    /// Shortly before the token expires.
    Scheduled,
}

pub(super) fn parse_refresh_mode(
    mode: Option<String>,
    frequency: Option<String>,
) -> Result<RefreshMode, ConfigError> {
    let frequency = match frequency.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("weekly") => Frequency::Weekly,
        Some("daily") => Frequency::Daily,
        Some("monthly") => Frequency::Monthly,
        Some(_) => {
            return Err(bad(
                "REFRESH_FREQUENCY",
                format!(
                    "must be daily, weekly or monthly, got {:?}",
                    frequency.unwrap_or_default()
                ),
            ));
        }
    };
    match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("cron") => Ok(RefreshMode::Cron(frequency)),
        Some("scheduled") => Ok(RefreshMode::Scheduled),
        Some(_) => Err(bad(
            "REFRESH_MODE",
            format!(
                "must be cron or scheduled, got {:?}",
                mode.unwrap_or_default()
            ),
        )),
    }
}
