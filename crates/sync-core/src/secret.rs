//! The one redacting type for tokens, keys and webhook secrets.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A secret value (token, private key, webhook secret). Its `Debug`, `Display` and
/// `Serialize` print `[redacted]`, so a secret that ends up in a log line, an error, an
/// audit record or a status document shows nothing. Read it with [`expose`](Self::expose)
/// only at the point of use.
///
/// ```
/// use kradle_sync_core::Secret;
/// let s = Secret::new("ghp_example");
/// assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
/// assert_eq!(s.expose(), "ghp_example");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where it is used (signing, an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_or_serialized() {
        let s = Secret::new("hunter2-very-secret");
        let shown = format!(
            "{s:?} {s} {:#?} {}",
            Some(&s),
            serde_json::json!({ "s": s })
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
