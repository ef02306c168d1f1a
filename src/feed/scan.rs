//! Which items an answer takes, upstream page by upstream page: from its
//! start on (or back from it, for a `previous` link), the items a filter
//! keeps, up to `limit`, reading no more upstream pages than the same
//! answer without a filter would. So a filtered answer may hold fewer than
//! `limit` items, or none, and still link on to where it stopped.
//!
//! Offsets count every item of an upstream page, kept or not, so a
//! position means the same place in the feed under any filter.

use bytes::Bytes;

use super::cursor::Position;
use super::page::Page;
use crate::domain::Cursor;

/// Upstream pages one answer may read: a `limit` spans at most three, and
/// this only guards that (upstream may send short pages).
const MAX_PAGES: usize = 4;

/// An answer being read: feed it the pages it asks for.
pub(super) struct Scan {
    want: usize,
    back: bool,
    /// The upstream page to read next, and where in it to begin (backward,
    /// `None` for its end); `None` once the answer is complete.
    at: Option<(Option<Cursor>, Option<usize>)>,
    /// Items passed over, kept or not. An unfiltered answer stops reading
    /// pages once it has passed `want` items, and so does a filtered one.
    passed: usize,
    pages: usize,
    /// The kept items in the order read: (page read, item index).
    kept: Vec<(usize, usize)>,
    /// Where the neighbouring answer on the side of the start begins.
    near: Option<Position>,
    /// Where the one on the far side begins: none at the end of the feed.
    far: Option<Position>,
}

/// The items an answer serves, in feed order, as (page read, item index),
/// and where the answers after and before it begin.
pub(super) struct Scanned {
    pub items: Vec<(usize, usize)>,
    pub after: Option<Position>,
    pub before: Option<Position>,
}

impl Scan {
    pub(super) fn new(start: &Position, limit: u32) -> Scan {
        Scan {
            want: limit as usize,
            back: start.back,
            at: Some((start.upstream.clone(), Some(start.offset as usize))),
            passed: 0,
            pages: 0,
            kept: Vec::new(),
            near: None,
            far: None,
        }
    }

    /// The upstream page to read next, if the answer needs one.
    pub(super) fn wants(&self) -> Option<Option<&Cursor>> {
        self.at.as_ref().map(|(upstream, _)| upstream.as_ref())
    }

    /// Reads the page `wants` asked for, keeping the items `keeps` keeps.
    pub(super) fn read(&mut self, page: &Page, keeps: impl Fn(&Bytes) -> bool) {
        let (upstream, from) = self.at.take().expect("a page was wanted");
        let index = self.pages;
        self.pages += 1;
        let len = page.items.len();
        if self.back {
            let end = from.map_or(len, |f| f.min(len));
            if index == 0 {
                self.near = forward(upstream.clone(), end, page);
            }
            for i in (0..end).rev() {
                if self.take(index, i, &page.items[i], &keeps) {
                    self.far = backward(upstream, i, page);
                    return;
                }
            }
            match page.around.previous.clone() {
                Some(previous) if self.more() => self.at = Some((Some(previous), None)),
                _ => self.far = backward(upstream, 0, page),
            }
        } else {
            let from = from.unwrap_or(0).min(len);
            if index == 0 {
                self.near = backward(upstream.clone(), from, page);
            }
            for i in from..len {
                if self.take(index, i, &page.items[i], &keeps) {
                    self.far = forward(upstream, i + 1, page);
                    return;
                }
            }
            match page.around.next.clone() {
                Some(next) if self.more() => self.at = Some((Some(next), Some(0))),
                _ => self.far = forward(upstream, len, page),
            }
        }
    }

    /// Passes an item, keeping it if `keeps` does; true once the answer is full.
    fn take(
        &mut self,
        page: usize,
        index: usize,
        item: &Bytes,
        keeps: impl Fn(&Bytes) -> bool,
    ) -> bool {
        self.passed += 1;
        if keeps(item) {
            self.kept.push((page, index));
        }
        self.kept.len() == self.want
    }

    /// Whether a page read whole calls for the next one: an unfiltered
    /// answer would read it.
    fn more(&self) -> bool {
        self.passed < self.want && self.pages < MAX_PAGES
    }

    pub(super) fn finish(mut self) -> Scanned {
        let (after, before) = if self.back {
            self.kept.reverse();
            (self.near, self.far)
        } else {
            (self.far, self.near)
        };
        Scanned {
            items: self.kept,
            after,
            before,
        }
    }
}

/// The answer from `offset` on in `page`: at its end, upstream's next
/// page; none past the end of the feed.
fn forward(upstream: Option<Cursor>, offset: usize, page: &Page) -> Option<Position> {
    if offset < page.items.len() {
        return Some(Position {
            upstream,
            offset: offset as u32,
            back: false,
        });
    }
    page.around.next.clone().map(|next| Position {
        upstream: Some(next),
        offset: 0,
        back: false,
    })
}

/// The answer before `offset` in `page`: none before the start of the feed.
/// At offset 0 it reads this (cached) page again to reach the one before,
/// since where that page ends is known only once it is read.
fn backward(upstream: Option<Cursor>, offset: usize, page: &Page) -> Option<Position> {
    (offset > 0 || page.around.previous.is_some()).then_some(Position {
        upstream,
        offset: offset as u32,
        back: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::page::Around;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    /// A feed of upstream pages of these sizes; items are numbered in feed
    /// order. Page `k` is reached by `After(k)` or `Before(k)` (None: 0).
    fn feed(sizes: &[usize]) -> Vec<Page> {
        let mut n = 0;
        let name = |k: usize| k.to_string();
        (0..sizes.len())
            .map(|k| {
                let items = (n..n + sizes[k])
                    .map(|i| Bytes::from(i.to_string()))
                    .collect();
                n += sizes[k];
                Page {
                    items,
                    around: Around {
                        next: (k + 1 < sizes.len()).then(|| Cursor::After(name(k + 1))),
                        previous: (k > 0).then(|| Cursor::Before(name(k - 1))),
                    },
                    fetched_at: Utc.timestamp_opt(0, 0).unwrap(),
                    media_expires_at: None,
                }
            })
            .collect()
    }

    fn page_of<'a>(pages: &'a [Page], cursor: Option<&Cursor>) -> &'a Page {
        let k = match cursor {
            None => 0,
            Some(Cursor::After(k) | Cursor::Before(k)) => k.parse().unwrap(),
            Some(other) => panic!("{other:?}"),
        };
        &pages[k]
    }

    /// One answer: its items (by number), links, and the pages it read.
    fn answer(
        pages: &[Page],
        start: &Position,
        limit: u32,
        keeps: impl Fn(&Bytes) -> bool,
    ) -> (Vec<usize>, Scanned, usize) {
        let mut scan = Scan::new(start, limit);
        let mut read = Vec::new();
        while let Some(cursor) = scan.wants() {
            let page = page_of(pages, cursor);
            scan.read(page, &keeps);
            read.push(page);
        }
        let scanned = scan.finish();
        let numbers = scanned
            .items
            .iter()
            .map(|&(p, i)| {
                std::str::from_utf8(&read[p].items[i])
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        (numbers, scanned, read.len())
    }

    fn kept_by(keep: &[bool]) -> impl Fn(&Bytes) -> bool + '_ {
        |item| keep[std::str::from_utf8(item).unwrap().parse::<usize>().unwrap()]
    }

    #[test]
    fn an_unfiltered_answer_takes_limit_items_across_pages() {
        let pages = feed(&[50, 50, 20]);
        let (items, scanned, read) = answer(&pages, &Position::default(), 60, |_| true);
        assert_eq!(items, (0..60).collect::<Vec<_>>());
        assert_eq!(read, 2);
        let after = scanned.after.unwrap();
        assert_eq!(
            (after.upstream, after.offset),
            (Some(Cursor::After("1".into())), 10)
        );
        assert!(scanned.before.is_none(), "the start of the feed");
    }

    #[test]
    fn a_filtered_answer_reads_no_page_an_unfiltered_one_would_not() {
        let pages = feed(&[50, 50, 20]);
        // Limit 25 from the start reads one page of 50: four of its items match.
        let keep: Vec<bool> = (0..120).map(|i| i % 12 == 0).collect();
        let (items, scanned, read) = answer(&pages, &Position::default(), 25, kept_by(&keep));
        assert_eq!(items, [0, 12, 24, 36, 48]);
        assert_eq!(read, 1);
        let after = scanned.after.unwrap();
        assert_eq!(
            (after.upstream, after.offset),
            (Some(Cursor::After("1".into())), 0)
        );
        // Nothing matches: an empty answer that still links on.
        let (items, scanned, read) = answer(&pages, &Position::default(), 25, |_| false);
        assert!(items.is_empty());
        assert_eq!(read, 1);
        assert!(scanned.after.is_some());
        // Only the end of the feed has no next.
        let last = Position {
            upstream: Some(Cursor::After("2".into())),
            ..Position::default()
        };
        let (_, scanned, _) = answer(&pages, &last, 25, |_| false);
        assert!(scanned.after.is_none());
    }

    #[test]
    fn a_full_answer_stops_just_after_its_last_item() {
        let pages = feed(&[50, 50]);
        let keep: Vec<bool> = (0..100).map(|i| i % 2 == 1).collect();
        let (items, scanned, _) = answer(&pages, &Position::default(), 3, kept_by(&keep));
        assert_eq!(items, [1, 3, 5]);
        let after = scanned.after.unwrap();
        assert_eq!((&after.upstream, after.offset), (&None, 6));
        let (items, _, _) = answer(&pages, &after, 3, kept_by(&keep));
        assert_eq!(items, [7, 9, 11]);
    }

    /// Every answer of a walk, following `next` (or `previous`) links from
    /// `start` to the end: what they held, in the order met.
    fn walk(
        pages: &[Page],
        start: Position,
        limit: u32,
        keep: &[bool],
        back: bool,
    ) -> Vec<(Position, Vec<usize>)> {
        let mut answers = Vec::new();
        let mut at = Some(start);
        while let Some(position) = at {
            let (items, scanned, _) = answer(pages, &position, limit, kept_by(keep));
            at = if back { scanned.before } else { scanned.after };
            answers.push((position, items));
            assert!(answers.len() < 1000, "a walk ends");
        }
        answers
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        /// Filtered paging is the unfiltered feed, filtered: each kept item
        /// once, in order, forward and back, and no answer reads a page the
        /// unfiltered answer from its start would not.
        #[test]
        fn filtered_paging_is_the_filtered_feed(
            sizes in prop::collection::vec(0usize..=50, 1..6),
            seed in prop::collection::vec(any::<bool>(), 250),
            limit in 1u32..=100,
        ) {
            let pages = feed(&sizes);
            let total: usize = sizes.iter().sum();
            let keep = &seed[..total];
            let expected: Vec<usize> = (0..total).filter(|&i| keep[i]).collect();

            let forward = walk(&pages, Position::default(), limit, keep, false);
            let seen: Vec<usize> = forward.iter().flat_map(|(_, items)| items.clone()).collect();
            prop_assert_eq!(&seen, &expected);
            for (position, items) in &forward {
                prop_assert!(items.len() <= limit as usize);
                let (_, _, read) = answer(&pages, position, limit, kept_by(keep));
                let (_, _, unfiltered) = answer(&pages, position, limit, |_| true);
                prop_assert!(read <= unfiltered, "{} pages, unfiltered {}", read, unfiltered);
            }

            // Back from the end of the feed: the same items, answer by answer.
            let last = pages.len() - 1;
            let upstream = (last > 0).then(|| Cursor::After(last.to_string()));
            if let Some(end) = backward(upstream, pages[last].items.len(), &pages[last]) {
                let back = walk(&pages, end, limit, keep, true);
                let seen: Vec<usize> = back.iter().rev().flat_map(|(_, items)| items.clone()).collect();
                prop_assert_eq!(&seen, &expected);
                for (position, items) in &back {
                    prop_assert!(items.len() <= limit as usize);
                    let (_, _, read) = answer(&pages, position, limit, kept_by(keep));
                    let (_, _, unfiltered) = answer(&pages, position, limit, |_| true);
                    prop_assert!(read <= unfiltered);
                }
            }
        }
    }
}
