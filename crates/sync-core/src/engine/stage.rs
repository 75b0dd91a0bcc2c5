//! What a batch has staged but not yet committed, so later steps in the same batch see
//! earlier ones.

use std::collections::{HashMap, HashSet};

use crate::projection::ObjectState;
use crate::store::Transition;
use crate::write_intent::WriteIntent;
use crate::{EventKey, ObjectKey};

/// Objects, intents and event keys staged by earlier transitions of a batch, and what the
/// store held before the batch, read ahead in bulk.
#[derive(Default)]
pub(crate) struct Stage {
    objects: HashMap<ObjectKey, ObjectState>,
    intents: HashMap<String, WriteIntent>,
    events: HashSet<EventKey>,
    stored_objects: HashMap<ObjectKey, Option<ObjectState>>,
    stored_events: HashMap<EventKey, bool>,
}

impl Stage {
    /// Remembers objects as the store held them (`None`: not stored), so staging reads
    /// them from here instead of asking the store one by one.
    pub(crate) fn read_ahead_objects(
        &mut self,
        keys: Vec<ObjectKey>,
        states: Vec<Option<ObjectState>>,
    ) {
        self.stored_objects.extend(keys.into_iter().zip(states));
    }

    /// Remembers whether the store had applied event keys.
    pub(crate) fn read_ahead_events(&mut self, keys: Vec<EventKey>, applied: Vec<bool>) {
        self.stored_events.extend(keys.into_iter().zip(applied));
    }

    /// An object as the store held it before the batch: `None` when it was not read
    /// ahead, `Some(None)` when it was not stored.
    pub(crate) fn stored_object(&self, key: &ObjectKey) -> Option<Option<&ObjectState>> {
        self.stored_objects.get(key).map(Option::as_ref)
    }

    /// Whether the store had applied an event key before the batch: `None` when it was
    /// not read ahead.
    pub(crate) fn stored_event(&self, key: &EventKey) -> Option<bool> {
        self.stored_events.get(key).copied()
    }

    /// The object as the store will hold it once the staged transitions commit, with the
    /// revision they will give it.
    pub(crate) fn object(&self, key: &ObjectKey) -> Option<&ObjectState> {
        self.objects.get(key)
    }

    /// A write intent as staged.
    pub(crate) fn intent(&self, id: &str) -> Option<&WriteIntent> {
        self.intents.get(id)
    }

    /// Whether an event key is staged.
    pub(crate) fn has_event(&self, key: &EventKey) -> bool {
        self.events.contains(key)
    }

    /// Records a transition that will be committed after the ones before it.
    pub(crate) fn record(&mut self, t: &Transition) {
        if let Some((state, expected)) = &t.object {
            let mut next = state.clone();
            next.revision = expected.map_or(1, |r| r + 1);
            self.objects.insert(next.key.clone(), next);
        }
        for intent in &t.write_intents {
            self.intents.insert(intent.id.clone(), intent.clone());
        }
        self.events.extend(t.events.iter().cloned());
    }
}
