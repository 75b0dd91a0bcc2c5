//! What a batch has staged but not yet committed, so later steps in the same batch see
//! earlier ones.

use std::collections::{HashMap, HashSet};

use crate::projection::ObjectState;
use crate::store::Transition;
use crate::write_intent::WriteIntent;
use crate::{EventKey, ObjectKey};

/// Objects, intents and event keys staged by earlier transitions of a batch.
#[derive(Default)]
pub(crate) struct Stage {
    objects: HashMap<ObjectKey, ObjectState>,
    intents: HashMap<String, WriteIntent>,
    events: HashSet<EventKey>,
}

impl Stage {
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
