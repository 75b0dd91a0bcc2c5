//! The replay log's records (NDJSON, one record a line).

use std::collections::BTreeMap;

use kradle_sync_core::Fields;
use serde::Deserialize;

/// One line of a replay log.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// A webhook delivery as the provider sent it.
    Delivery {
        /// Provider type.
        provider: String,
        /// Binding name.
        binding: String,
        /// Headers exactly as sent (names are case-insensitive).
        headers: BTreeMap<String, String>,
        /// The raw body that was signed.
        body: String,
    },
    /// A change made in the host application.
    LocalChange {
        /// Provider type.
        provider: String,
        /// Binding name.
        binding: String,
        /// Object kind (`issue`, `comment`, …).
        kind: String,
        /// The provider's id of the object.
        native_id: String,
        /// New field values.
        #[serde(default)]
        fields: Fields,
        /// Whether the host deleted the object instead.
        #[serde(default)]
        delete: bool,
        /// Who made it (`user:alice`, `agent:triage-bot`).
        #[serde(default)]
        actor: Option<String>,
    },
    /// Objects as the provider's REST API returns them.
    Backfill {
        /// Provider type.
        provider: String,
        /// Binding name.
        binding: String,
        /// Object kind.
        kind: String,
        /// The objects.
        objects: Vec<serde_json::Value>,
        /// Whether the listing is the complete set (missing objects become tombstones).
        #[serde(default)]
        complete: bool,
    },
}

impl Record {
    /// The provider and binding the record names.
    pub fn provider_and_binding(&self) -> (&str, &str) {
        match self {
            Record::Delivery {
                provider, binding, ..
            }
            | Record::LocalChange {
                provider, binding, ..
            }
            | Record::Backfill {
                provider, binding, ..
            } => (provider, binding),
        }
    }
}

/// Parses one line, with a message that says what to fix.
pub fn parse(line: &str) -> Result<Record, String> {
    serde_json::from_str(line).map_err(|e| {
        let hint = if e.is_syntax() || e.is_eof() {
            "not a JSON record; each line must be one JSON object"
        } else {
            "not a valid record; expected {\"type\":\"delivery\"|\"local_change\"|\"backfill\", …} as documented in the README"
        };
        format!("{hint} ({e})")
    })
}
