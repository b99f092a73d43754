//! The rate limit of `notify`, as pure logic (time is a parameter, so it is tested without
//! waiting): at most `max` posts per sliding window. When more entries arrive than the window has
//! room for, the first ones are posted one by one and the rest become a single "…and K more"
//! post (which counts as a post itself); entries arriving while the window is full are held and
//! summarized in one post as soon as a slot frees. No entry is ever silently dropped.

use std::collections::{BTreeMap, VecDeque};
use std::mem;
use std::time::{Duration, Instant};

/// One entry to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Note {
    /// Stream key it came from.
    pub stream: String,
    /// Entry id.
    pub id: String,
    /// `executed`, `failed`, ... (for summaries).
    pub outcome: String,
    /// The message.
    pub text: String,
}

/// Several entries announced together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// How many.
    pub count: usize,
    /// How many per outcome.
    pub tally: BTreeMap<String, usize>,
    /// Last id covered, per stream (what to save as the position once posted).
    pub upto: BTreeMap<String, String>,
}

impl Summary {
    fn add(&mut self, n: Note) {
        self.count += 1;
        *self.tally.entry(n.outcome).or_insert(0) += 1;
        self.upto.insert(n.stream, n.id);
    }

    /// `…and 8 more (executed 5, failed 3)`.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.tally.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("…and {} more ({})", self.count, parts.join(", "))
    }
}

/// What to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Post {
    /// One entry.
    One(Note),
    /// The excess, summarized.
    Summary(Summary),
}

/// At most `max` posts per `window`.
#[derive(Debug)]
pub(crate) struct Limiter {
    max: usize,
    window: Duration,
    sent: VecDeque<Instant>,
    held: Summary,
}

impl Limiter {
    /// A limiter allowing `max` (at least 1) posts per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max: (max as usize).max(1), window, sent: VecDeque::new(), held: Summary::default() }
    }

    /// Entries waiting for a free slot, to be summarized.
    pub fn held(&self) -> usize {
        self.held.count
    }

    /// Decides what to post at `now` for the `new` entries (none: only flush what is held).
    /// The returned posts are counted against the window.
    pub fn plan(&mut self, now: Instant, new: Vec<Note>) -> Vec<Post> {
        while self.sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            self.sent.pop_front();
        }
        let room = self.max.saturating_sub(self.sent.len());
        let mut posts = Vec::new();
        if self.held.count > 0 || (room == 0 && !new.is_empty()) {
            // Already over the limit: everything joins the pending summary.
            for n in new {
                self.held.add(n);
            }
            if room > 0 {
                posts.push(Post::Summary(mem::take(&mut self.held)));
            }
        } else if new.len() <= room {
            posts.extend(new.into_iter().map(Post::One));
        } else {
            let mut rest = new.into_iter();
            posts.extend(rest.by_ref().take(room - 1).map(Post::One));
            for n in rest {
                self.held.add(n);
            }
            posts.push(Post::Summary(mem::take(&mut self.held)));
        }
        self.sent.extend(std::iter::repeat_n(now, posts.len()));
        posts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(stream: &str, range: std::ops::Range<u32>, outcome: &str) -> Vec<Note> {
        range
            .map(|i| Note {
                stream: stream.into(),
                id: format!("{i}-0"),
                outcome: outcome.into(),
                text: format!("e{i}"),
            })
            .collect()
    }

    fn texts(posts: &[Post]) -> Vec<String> {
        posts
            .iter()
            .map(|p| match p {
                Post::One(n) => n.text.clone(),
                Post::Summary(s) => s.text(),
            })
            .collect()
    }

    #[test]
    fn under_the_limit_every_entry_is_posted() {
        let mut l = Limiter::new(5, Duration::from_secs(60));
        assert_eq!(texts(&l.plan(Instant::now(), notes("a", 0..3, "executed"))), ["e0", "e1", "e2"]);
    }

    #[test]
    fn a_burst_is_cut_into_posts_and_one_summary() {
        let mut l = Limiter::new(3, Duration::from_secs(60));
        let mut burst = notes("a", 0..7, "executed");
        burst.extend(notes("f", 7..10, "failed"));
        let posts = l.plan(Instant::now(), burst);
        assert_eq!(texts(&posts), ["e0", "e1", "…and 8 more (executed 5, failed 3)"]);
        let Post::Summary(s) = &posts[2] else { panic!("summary expected") };
        assert_eq!(s.upto.get("a").map(String::as_str), Some("6-0"));
        assert_eq!(s.upto.get("f").map(String::as_str), Some("9-0"));
    }

    #[test]
    fn a_full_window_holds_entries_until_a_slot_frees() {
        let t0 = Instant::now();
        let mut l = Limiter::new(2, Duration::from_secs(60));
        assert_eq!(l.plan(t0, notes("a", 0..2, "executed")).len(), 2);
        assert!(l.plan(t0 + Duration::from_secs(10), notes("a", 2..5, "executed")).is_empty());
        assert!(l.plan(t0 + Duration::from_secs(30), notes("a", 5..6, "rejected")).is_empty());
        assert_eq!(l.held(), 4);
        assert!(l.plan(t0 + Duration::from_secs(59), Vec::new()).is_empty());
        let posts = l.plan(t0 + Duration::from_secs(60), Vec::new());
        assert_eq!(texts(&posts), ["…and 4 more (executed 3, rejected 1)"]);
        assert_eq!(l.held(), 0);
        // One slot is left in this window: the next entry goes out by itself.
        assert_eq!(texts(&l.plan(t0 + Duration::from_secs(61), notes("a", 6..7, "executed"))), ["e6"]);
        assert!(l.plan(t0 + Duration::from_secs(62), notes("a", 7..8, "executed")).is_empty());
    }

    #[test]
    fn a_limit_of_one_still_reports_everything() {
        let mut l = Limiter::new(1, Duration::from_secs(60));
        assert_eq!(texts(&l.plan(Instant::now(), notes("a", 0..3, "executed"))), ["…and 3 more (executed 3)"]);
    }
}
