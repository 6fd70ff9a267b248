//! E9: the subscriber's tables (RFC 3680 section 5.2) and the device
//! changes they go through.

use std::collections::BTreeMap;

use crate::model::{
    Contact, ContactEvent, ContactState, DocState, RegInfo, RegState, Registration,
};
use crate::version::QuirkMode;

/// The registrations a subscriber currently knows: AOR to registration,
/// holding only bound (active) contacts, one row per contact `id`.
///
/// Every mutator returns the device changes it made, in order, so the
/// manager can react to each (locate a new device, drop a gone one).
/// An AOR left with no contact is removed from the set (state init).
///
/// When a notifier splits its full state (E2), the first body is full and
/// the rest partial: applying the first one removes, for a moment, the AORs
/// that the following bodies bring back. A caller that must not see those
/// transient removals can keep a copy of the set, apply the bodies, and
/// [`RegistrationSet::diff`] the copy against the result once the burst is
/// over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrationSet {
    regs: BTreeMap<String, Registration>,
}

/// Identifies a device across notifications.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    /// The address-of-record.
    pub aor: String,
    /// The device within the AOR.
    pub device: DeviceIdent,
}

/// How a device is told apart within its AOR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceIdent {
    /// By its RFC 5626 instance ID (see [`Contact::instance`]): survives
    /// re-registration from a new address and registrar restarts.
    Instance(String),
    /// By the reginfo contact `id`, when no instance was sent (Kamailio:
    /// the id is a memory address, stable while the binding lives).
    ContactId(String),
}

/// One change to the set of bound devices.
// `Updated` carries two contacts: changes are few and short-lived, so a
// box per change would cost more than the size difference.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// A contact was bound.
    Added {
        /// The AOR.
        aor: String,
        /// The new contact.
        contact: Contact,
    },
    /// A bound contact changed (refresh, new expiry, new URI, ...).
    Updated {
        /// The AOR.
        aor: String,
        /// The contact before.
        old: Contact,
        /// The contact now.
        new: Contact,
    },
    /// A contact is no longer bound.
    Removed {
        /// The AOR.
        aor: String,
        /// The contact as last known; when a reason was reported, with the
        /// reported state (`terminated`) and event.
        contact: Contact,
        /// The reported reason (the terminating event), or `None` when the
        /// contact simply disappeared from a full state or its registration
        /// ended.
        reason: Option<ContactEvent>,
    },
}

impl DeviceChange {
    /// The AOR concerned.
    pub fn aor(&self) -> &str {
        match self {
            DeviceChange::Added { aor, .. }
            | DeviceChange::Updated { aor, .. }
            | DeviceChange::Removed { aor, .. } => aor,
        }
    }

    /// The contact as it is now (or was, for a removal).
    pub fn contact(&self) -> &Contact {
        match self {
            DeviceChange::Added { contact, .. } | DeviceChange::Removed { contact, .. } => contact,
            DeviceChange::Updated { new, .. } => new,
        }
    }

    /// The device this change is about.
    pub fn key(&self) -> DeviceKey {
        device_key(self.aor(), self.contact())
    }
}

/// The key of `contact` bound to `aor`: by instance when it has one,
/// else by contact id.
pub fn device_key(aor: &str, contact: &Contact) -> DeviceKey {
    DeviceKey {
        aor: aor.to_owned(),
        device: match contact.instance() {
            Some(i) => DeviceIdent::Instance(i.to_owned()),
            None => DeviceIdent::ContactId(contact.id.clone()),
        },
    }
}

impl RegistrationSet {
    /// An empty set.
    pub fn new() -> Self {
        RegistrationSet::default()
    }

    /// The set a full-state document describes (terminated contacts and
    /// AORs without active contacts left out).
    pub fn from_doc(doc: &RegInfo) -> Self {
        let mut set = RegistrationSet::new();
        for r in &doc.registrations {
            if let Some(r) = bound_only(r) {
                set.regs.insert(r.aor.clone(), r);
            }
        }
        set
    }

    /// Number of AORs with at least one bound contact.
    pub fn len(&self) -> usize {
        self.regs.len()
    }

    /// No AOR has a bound contact.
    pub fn is_empty(&self) -> bool {
        self.regs.is_empty()
    }

    /// Number of bound contacts over all AORs.
    pub fn device_count(&self) -> usize {
        self.regs.values().map(|r| r.contacts.len()).sum()
    }

    /// The registration of `aor`, if it has bound contacts.
    pub fn get(&self, aor: &str) -> Option<&Registration> {
        self.regs.get(aor)
    }

    /// The registrations, ordered by AOR.
    pub fn registrations(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.regs.values()
    }

    /// Every bound contact with its AOR.
    pub fn contacts(&self) -> impl Iterator<Item = (&str, &Contact)> + '_ {
        self.regs
            .values()
            .flat_map(|r| r.contacts.iter().map(move |c| (r.aor.as_str(), c)))
    }

    /// A full-state document of this set (registrations ordered by AOR).
    pub fn to_reginfo(&self, version: u32) -> RegInfo {
        RegInfo {
            version,
            state: DocState::Full,
            registrations: self.regs.values().cloned().collect(),
        }
    }

    /// Applies a document the [`crate::VersionTracker`] accepted: partial
    /// documents update, full ones replace everything
    /// ([`QuirkMode::Rfc3680`]) or only the AORs they name
    /// ([`QuirkMode::KamailioPerAor`]).
    pub fn apply(&mut self, doc: &RegInfo, mode: QuirkMode) -> Vec<DeviceChange> {
        match (doc.state, mode) {
            (DocState::Partial, _) => self.apply_partial(doc),
            (DocState::Full, QuirkMode::Rfc3680) => self.apply_full(doc),
            (DocState::Full, QuirkMode::KamailioPerAor) => self.apply_full_per_aor(doc),
        }
    }

    /// RFC 3680 section 5.2, full state: flush every table and rebuild from
    /// `doc`. Returns what changed compared with before.
    pub fn apply_full(&mut self, doc: &RegInfo) -> Vec<DeviceChange> {
        let new = RegistrationSet::from_doc(doc);
        let mut changes = self.diff(&new);
        *self = new;
        annotate_removals(&mut changes, doc);
        changes
    }

    /// Kamailio per-AOR full state: each registration in `doc` replaces that
    /// AOR's contacts (a bare `<registration state="terminated"/>` removes
    /// them all); AORs that `doc` does not name are left alone.
    pub fn apply_full_per_aor(&mut self, doc: &RegInfo) -> Vec<DeviceChange> {
        let mut changes = Vec::new();
        for r in &doc.registrations {
            let new = bound_only(r);
            let old = self.regs.remove(&r.aor);
            diff_aor(&r.aor, old.as_ref(), new.as_ref(), &mut changes);
            if let Some(new) = new {
                self.regs.insert(new.aor.clone(), new);
            }
        }
        annotate_removals(&mut changes, doc);
        changes
    }

    /// RFC 3680 section 5.2, partial state: each contact row is added,
    /// updated or (when terminated) removed by its `id`. A registration
    /// whose state is `terminated` or `init` has no bound contact left, so
    /// any row not named in the document is removed too.
    pub fn apply_partial(&mut self, doc: &RegInfo) -> Vec<DeviceChange> {
        // Sized once: a download's partial NOTIFYs add every contact they name.
        let mut changes =
            Vec::with_capacity(doc.registrations.iter().map(|r| r.contacts.len()).sum());
        for r in &doc.registrations {
            let mut reg = self.regs.remove(&r.aor).unwrap_or_else(|| {
                let mut reg = Registration::new(r.aor.clone(), r.id.clone(), RegState::Active);
                reg.contacts.reserve_exact(r.contacts.len());
                reg
            });
            reg.id.clone_from(&r.id);
            for c in &r.contacts {
                let pos = reg.contacts.iter().position(|o| o.id == c.id);
                match (c.state, pos) {
                    (ContactState::Active, Some(i)) => {
                        if reg.contacts[i] != *c {
                            let old = std::mem::replace(&mut reg.contacts[i], c.clone());
                            changes.push(DeviceChange::Updated {
                                aor: r.aor.clone(),
                                old,
                                new: c.clone(),
                            });
                        }
                    }
                    (ContactState::Active, None) => {
                        reg.contacts.push(c.clone());
                        changes.push(DeviceChange::Added {
                            aor: r.aor.clone(),
                            contact: c.clone(),
                        });
                    }
                    (ContactState::Terminated, Some(i)) => {
                        let mut contact = reg.contacts.remove(i);
                        merge_terminated(&mut contact, c);
                        changes.push(DeviceChange::Removed {
                            aor: r.aor.clone(),
                            contact,
                            reason: Some(c.event),
                        });
                    }
                    (ContactState::Terminated, None) => {}
                }
            }
            if r.state != RegState::Active {
                for contact in reg.contacts.drain(..) {
                    changes.push(DeviceChange::Removed {
                        aor: r.aor.clone(),
                        contact,
                        reason: None,
                    });
                }
            }
            if !reg.contacts.is_empty() {
                reg.state = RegState::Active;
                self.regs.insert(reg.aor.clone(), reg);
            }
        }
        changes
    }

    /// Removes one AOR (for example when a per-AOR subscription ends).
    pub fn remove_aor(&mut self, aor: &str) -> Vec<DeviceChange> {
        let mut changes = Vec::new();
        if let Some(old) = self.regs.remove(aor) {
            diff_aor(aor, Some(&old), None, &mut changes);
        }
        changes
    }

    /// The changes that turn `self` into `newer`: per AOR, contacts matched
    /// by `id`; removals first within an AOR, then updates and additions in
    /// `newer`'s order. AORs are visited in order.
    pub fn diff(&self, newer: &RegistrationSet) -> Vec<DeviceChange> {
        let mut changes = Vec::new();
        let mut aors: Vec<&String> = self.regs.keys().chain(newer.regs.keys()).collect();
        aors.sort();
        aors.dedup();
        for aor in aors {
            diff_aor(aor, self.regs.get(aor), newer.regs.get(aor), &mut changes);
        }
        changes
    }
}

/// A full-state document may still list a contact as terminated with its
/// reason (Kamailio does, for the contact that just went away): carry that
/// reason into the removal.
fn annotate_removals(changes: &mut [DeviceChange], doc: &RegInfo) {
    for change in changes {
        if let DeviceChange::Removed {
            aor,
            contact,
            reason,
        } = change
        {
            let terminated = doc
                .registrations
                .iter()
                .filter(|r| r.aor == *aor)
                .flat_map(|r| r.contacts.iter())
                .find(|c| c.id == contact.id && c.state == ContactState::Terminated);
            if let Some(t) = terminated {
                merge_terminated(contact, t);
                *reason = Some(t.event);
            }
        }
    }
}

/// Keeps what the last known contact said, marked terminated with the
/// reported event (the terminated element may carry fewer fields).
fn merge_terminated(contact: &mut Contact, terminated: &Contact) {
    contact.state = ContactState::Terminated;
    contact.event = terminated.event;
    if terminated.retry_after.is_some() {
        contact.retry_after = terminated.retry_after;
    }
}

/// `r` with its active contacts only, or `None` when none is active.
fn bound_only(r: &Registration) -> Option<Registration> {
    let contacts: Vec<Contact> = r
        .contacts
        .iter()
        .filter(|c| c.state == ContactState::Active)
        .cloned()
        .collect();
    (!contacts.is_empty()).then(|| Registration {
        aor: r.aor.clone(),
        id: r.id.clone(),
        state: RegState::Active,
        contacts,
    })
}

fn diff_aor(
    aor: &str,
    old: Option<&Registration>,
    new: Option<&Registration>,
    changes: &mut Vec<DeviceChange>,
) {
    let empty: &[Contact] = &[];
    let old = old.map_or(empty, |r| &r.contacts[..]);
    let new = new.map_or(empty, |r| &r.contacts[..]);
    for o in old {
        if !new.iter().any(|n| n.id == o.id) {
            changes.push(DeviceChange::Removed {
                aor: aor.to_owned(),
                contact: o.clone(),
                reason: None,
            });
        }
    }
    for n in new {
        match old.iter().find(|o| o.id == n.id) {
            Some(o) if o == n => {}
            Some(o) => changes.push(DeviceChange::Updated {
                aor: aor.to_owned(),
                old: o.clone(),
                new: n.clone(),
            }),
            None => changes.push(DeviceChange::Added {
                aor: aor.to_owned(),
                contact: n.clone(),
            }),
        }
    }
}
