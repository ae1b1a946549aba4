//! Keeps the index up to date as sessions end: an [`Observer`] that passes everything on
//! to the observer it wraps (the terminal) and, when a session has ended, writes its final
//! record to the index (registering the project on the way).
//!
//! The engine never calls the index: this is one of the watchers of its events. A failure
//! to update the index is a warning, never a failure of the session: the `.mmm/` files
//! hold the truth, and `mmm projects reindex` rebuilds the index from them.

use std::path::PathBuf;
use std::sync::Arc;

use crate::session::events::{Event, Observer};
use crate::state::session::SessionRecord;

type After = Box<dyn Fn(&super::Index, &std::path::Path, &SessionRecord) -> Vec<String> + Send + Sync>;

/// Passes events on to `inner` and records ended sessions in the index at `db`.
pub struct Recorder {
    inner: Arc<dyn Observer>,
    /// The root of the project the sessions belong to (where its `.mmm/` is).
    root: PathBuf,
    /// `None` when there is no data directory (a warning says so once a session ends).
    db: Option<PathBuf>,
    /// What else wants to know when a session ended, given the index once it is up to date
    /// (alerts); each returns warnings.
    after: Vec<After>,
}

impl Recorder {
    pub fn new(inner: Arc<dyn Observer>, root: PathBuf, db: Option<PathBuf>) -> Self {
        Self { inner, root, db, after: Vec::new() }
    }

    /// Runs `then` with the updated index (and the project's root) after each session is
    /// recorded; the warnings it returns are shown.
    pub fn then(
        mut self,
        then: impl Fn(&super::Index, &std::path::Path, &SessionRecord) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.after.push(Box::new(then));
        self
    }

    /// Records the session, then runs what follows; returns their warnings.
    fn record(&self, record: &SessionRecord) -> anyhow::Result<Vec<String>> {
        let db = self.db.as_deref().ok_or_else(|| anyhow::anyhow!("there is no data directory (set XDG_DATA_HOME)"))?;
        let mut index = super::Index::open(db)?;
        index.record_session(&self.root, record)?;
        Ok(self.after.iter().flat_map(|then| then(&index, &self.root, record)).collect())
    }
}

impl Observer for Recorder {
    fn event(&self, session: &str, event: &Event) {
        self.inner.event(session, event);
    }

    fn activity(&self, session: &str, what: Option<String>) {
        self.inner.activity(session, what);
    }

    fn text(&self, session: &str, block: &str) {
        self.inner.text(session, block);
    }

    fn warn(&self, session: &str, message: &str) {
        self.inner.warn(session, message);
    }

    fn ended(&self, record: &SessionRecord) {
        self.inner.ended(record);
        match crate::blocking::call(|| self.record(record)) {
            Ok(warnings) => {
                for warning in warnings {
                    self.inner.warn(&record.id, &warning);
                }
            }
            Err(e) => self.inner.warn(
                &record.id,
                &format!(
                    "could not record session {} in the index: {e:#}\nhint: the session is saved in .mmm/; \
                     `mmm projects reindex` rebuilds the index from it",
                    record.id
                ),
            ),
        }
    }
}
