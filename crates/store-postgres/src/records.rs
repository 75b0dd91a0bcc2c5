//! How records map to rows: JSON text for the record, plain columns for what queries
//! filter on, and the few conversions between Rust and PostgreSQL types.

use kradle_sync_core::delivery::DeliveryRecord;
use kradle_sync_core::{EventKey, ObjectKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::PostgresError;

/// Serializes a record as the JSON text stored in a `json` column.
pub(crate) fn to_json<T: Serialize>(
    value: &T,
    what: &'static str,
) -> Result<String, PostgresError> {
    serde_json::to_string(value).map_err(|source| PostgresError::Encode { what, source })
}

/// Parses a stored record.
pub(crate) fn from_json<T: DeserializeOwned>(
    text: &str,
    schema: &str,
    table: &'static str,
) -> Result<T, PostgresError> {
    serde_json::from_str(text).map_err(|source| PostgresError::Decode {
        schema: schema.to_owned(),
        table,
        source,
    })
}

/// A delivery from its record and its body column (the record skips the body).
pub(crate) fn delivery_from_row(
    record: &str,
    body: Vec<u8>,
    schema: &str,
) -> Result<DeliveryRecord, PostgresError> {
    let mut delivery: DeliveryRecord = from_json(record, schema, "deliveries")?;
    delivery.body = body;
    Ok(delivery)
}

/// A `u64` as a PostgreSQL `bigint`.
pub(crate) fn to_i64(value: u64, what: &'static str) -> Result<i64, PostgresError> {
    i64::try_from(value).map_err(|_| PostgresError::OutOfRange { what, value })
}

/// Event keys as five parallel text arrays, for `UNNEST`.
#[derive(Default)]
pub(crate) struct EventColumns {
    pub provider: Vec<String>,
    pub delivery_id: Vec<String>,
    pub action: Vec<String>,
    pub kind: Vec<String>,
    pub native_id: Vec<String>,
}

impl<'a> FromIterator<&'a EventKey> for EventColumns {
    fn from_iter<I: IntoIterator<Item = &'a EventKey>>(iter: I) -> Self {
        let mut c = EventColumns::default();
        for k in iter {
            c.provider.push(k.provider.to_string());
            c.delivery_id.push(k.delivery_id.to_string());
            c.action.push(k.action.clone());
            c.kind.push(k.kind.as_str().to_owned());
            c.native_id.push(k.native_id.to_string());
        }
        c
    }
}

/// Object keys as four parallel text arrays, for `UNNEST`.
#[derive(Default)]
pub(crate) struct KeyColumns {
    pub provider: Vec<String>,
    pub binding: Vec<String>,
    pub kind: Vec<String>,
    pub native_id: Vec<String>,
}

impl KeyColumns {
    pub(crate) fn push(&mut self, key: &ObjectKey) {
        self.provider.push(key.provider.to_string());
        self.binding.push(key.binding.to_string());
        self.kind.push(key.kind.as_str().to_owned());
        self.native_id.push(key.native_id.to_string());
    }
}

impl<'a> FromIterator<&'a ObjectKey> for KeyColumns {
    fn from_iter<I: IntoIterator<Item = &'a ObjectKey>>(iter: I) -> Self {
        let mut c = KeyColumns::default();
        for k in iter {
            c.push(k);
        }
        c
    }
}
