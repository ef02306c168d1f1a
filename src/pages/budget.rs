//! The weekly hashtag budget of each Facebook-Login account, as /admin and
//! /status show it.

use super::time::Moment;
use crate::app::App;
use crate::store::{Account, AccountKind};

pub(super) struct Budget {
    pub account: String,
    pub used: i64,
    pub frees: Option<Moment>,
}

/// The weekly hashtag budget of each Facebook-Login account, from the
/// database (none when it does not answer).
pub(super) async fn budgets(app: &App, accounts: &[Account]) -> Vec<Budget> {
    let now = app.clock.now();
    let mut out = Vec::new();
    for a in accounts.iter().filter(|a| a.kind == AccountKind::Facebook) {
        let window = crate::feed::HASHTAG_WINDOW;
        if let Ok((used, frees)) = app.store.hashtag_budget(&a.name, now, window).await {
            out.push(Budget {
                account: a.name.clone(),
                used,
                frees: Moment::of(frees, now),
            });
        }
    }
    out
}
