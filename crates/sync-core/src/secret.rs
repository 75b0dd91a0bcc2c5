//! The one redacting type for tokens, keys and webhook secrets.

use std::fmt;

use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret value (token, private key, webhook secret).
///
/// - Its `Debug` prints `[redacted]`; it has no `Display` and no `Serialize`, so a secret
///   cannot end up in a log line, an error, an audit record or a status document, and
///   cannot be written back out as a placeholder that would later read as a wrong secret.
/// - Two secrets compare in constant time (for equal lengths), so comparing a received
///   token with the configured one leaks nothing through timing.
/// - Its memory is overwritten with zeros when it is dropped.
///
/// Read it with [`expose`](Self::expose) only at the point of use.
///
/// ```
/// use kradle_sync_core::Secret;
/// let s = Secret::new("ghp_example");
/// assert_eq!(format!("{s:?}"), "[redacted]");
/// assert_eq!(s.expose(), "ghp_example");
/// assert_eq!(s, Secret::new("ghp_example"));
/// ```
#[derive(Clone, Default)]
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

    /// Whether `candidate` equals the secret, compared in constant time (the length is
    /// not hidden). Use it to check a token a sender presents.
    ///
    /// ```
    /// use kradle_sync_core::Secret;
    /// assert!(Secret::new("t0ken").matches(b"t0ken"));
    /// assert!(!Secret::new("t0ken").matches(b"t0keN"));
    /// ```
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
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
    fn never_printed() {
        let s = Secret::new("hunter2-very-secret");
        let shown = format!("{s:?} {:#?} {:?}", Some(&s), vec![s.clone()]);
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn reads_from_configuration() {
        let s: Secret = serde_json::from_str("\"from-a-file\"").unwrap_or_default();
        assert_eq!(s.expose(), "from-a-file");
    }

    /// `Secret` has no `Serialize`: this does not compile if one is added.
    #[test]
    fn cannot_be_serialized() {
        trait NotSerialize {
            const IMPLEMENTED: bool = false;
        }
        impl<T> NotSerialize for T {}
        struct Probe<T>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: serde::Serialize> Probe<T> {
            const IMPLEMENTED: bool = true;
        }
        const { assert!(!Probe::<Secret>::IMPLEMENTED) };
    }
}
