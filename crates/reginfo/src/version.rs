//! E9: the subscriber's version rules (RFC 3680 section 5.2).

use crate::model::{DocState, RegInfo};

/// How strictly the subscriber applies the RFC 3680 version rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuirkMode {
    /// RFC 3680 section 5.2 exactly: a version not above the last one is
    /// stale, whatever the document's state.
    #[default]
    Rfc3680,
    /// Kamailio's `presence_reginfo` (DESIGN.md section 6): one subscription
    /// per AOR, and every NOTIFY is `state="full"` with `version="0"`. In
    /// this mode a `version="0"` full-state document is always accepted, as
    /// the full state of the AORs it names only (apply it with
    /// [`crate::RegistrationSet::apply_full_per_aor`]). Every other document
    /// follows the RFC rules.
    KamailioPerAor,
}

/// What to do with a received document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Apply {
    /// Process the document.
    Accepted,
    /// The version is not newer than the last one: discard the document
    /// without processing (but still answer the NOTIFY 200).
    Stale,
    /// A partial document skipped at least one version (or arrived before
    /// any full state). Process it, as RFC 3680 section 5.2 says, and
    /// refresh the subscription (re-SUBSCRIBE) to get full state: changes in
    /// the missed documents are otherwise lost.
    Gap,
}

impl Apply {
    /// Should the document be applied to the inventory?
    pub fn should_process(self) -> bool {
        matches!(self, Apply::Accepted | Apply::Gap)
    }

    /// Should the subscriber send a refresh SUBSCRIBE for full state?
    pub fn needs_refresh(self) -> bool {
        matches!(self, Apply::Gap)
    }
}

/// Tracks the version of one subscription's documents.
///
/// Call [`VersionTracker::apply`] with each parsed NOTIFY body, in arrival
/// order, then act on the answer. Call [`VersionTracker::reset`] when a new
/// subscription dialog starts (versions are scoped to a subscription).
///
/// Rules in [`QuirkMode::Rfc3680`] (RFC 3680 section 5.2):
/// - first document: a full one is accepted and sets the version; a partial
///   one is a [`Apply::Gap`] (there is no full state to apply it to yet);
/// - a version lower than or equal to the last one is [`Apply::Stale`];
/// - a full document with a higher version is accepted: it replaces
///   everything and the version becomes its own;
/// - a partial document must be exactly last + 1 to be accepted; higher is
///   a [`Apply::Gap`] and the version becomes its own.
///
/// In [`QuirkMode::KamailioPerAor`] a full document with version 0 is
/// accepted every time; everything else follows the rules above.
///
/// Once the version reaches `u32::MAX` no later document can be newer: the
/// subscriber should then start a new subscription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionTracker {
    mode: QuirkMode,
    last: Option<u32>,
}

impl VersionTracker {
    /// A tracker that has seen no document yet.
    pub fn new(mode: QuirkMode) -> Self {
        VersionTracker { mode, last: None }
    }

    /// The mode given at construction.
    pub fn mode(&self) -> QuirkMode {
        self.mode
    }

    /// The version of the last processed document, if any.
    pub fn version(&self) -> Option<u32> {
        self.last
    }

    /// Forgets the version: the next document starts afresh (a new
    /// subscription dialog).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Decides what to do with `doc` and updates the tracked version.
    pub fn apply(&mut self, doc: &RegInfo) -> Apply {
        self.apply_version(doc.version, doc.state)
    }

    /// [`VersionTracker::apply`] from the two attributes alone.
    pub fn apply_version(&mut self, version: u32, state: DocState) -> Apply {
        if self.mode == QuirkMode::KamailioPerAor && state == DocState::Full && version == 0 {
            self.last = Some(0);
            return Apply::Accepted;
        }
        let verdict = match (self.last, state) {
            (None, DocState::Full) => Apply::Accepted,
            (None, DocState::Partial) => Apply::Gap,
            (Some(last), _) if version <= last => return Apply::Stale,
            (Some(_), DocState::Full) => Apply::Accepted,
            (Some(last), DocState::Partial) if version == last + 1 => Apply::Accepted,
            (Some(_), DocState::Partial) => Apply::Gap,
        };
        self.last = Some(version);
        verdict
    }
}
