//! From REST JSON to the core's [`Observed`] objects (through the crate's REST parsing, so
//! a read and a webhook project the same fields), and from values to safe URL segments.

use kradle_sync_core::object::Canonical;
use kradle_sync_core::{
    CanonicalEvent, Change, DeliveryId, Error, NativeId, Observed, Page, ProviderKind, ResourceKind,
};
use serde_json::Value;

use crate::PROVIDER;
use crate::rest;

pub(crate) fn malformed(reason: String) -> Error {
    Error::MalformedPayload {
        provider: ProviderKind::new(PROVIDER),
        reason,
    }
}

/// The id REST reads are parsed under (the engine replaces it per page).
pub(crate) fn read_id(kind: ResourceKind) -> DeliveryId {
    DeliveryId::new(format!("rest:{kind}"))
}

/// An observation event as an [`Observed`] canonical object: identity, links and version
/// from the event, the object read back from its fields (with the defaults of
/// [`absent_from_rest`] for fields REST never sends).
pub(crate) fn observe_event<T: Canonical>(event: CanonicalEvent) -> Result<Observed<T>, Error> {
    let kind = event.kind;
    let Change::Observed {
        version,
        mut fields,
    } = event.change
    else {
        return Err(malformed(format!(
            "the REST {kind} object is not an observation"
        )));
    };
    for (name, value) in absent_from_rest(kind) {
        fields.entry(name.to_owned()).or_insert(value);
    }
    let object = T::from_fields(&fields).map_err(|e| {
        malformed(format!(
            "REST {kind} object lacks a field GitLab always sends: {e}"
        ))
    })?;
    Ok(Observed::new(event.native_id, version, object).with_link(event.link))
}

/// One REST object of `kind` as an [`Observed`] canonical object, or `None` when it is
/// listed under `kind` but is not one (a system note among notes). Bodies come back without
/// the idempotency marker (the parser strips it).
pub(crate) fn observe_opt<T: Canonical>(
    kind: ResourceKind,
    value: &Value,
) -> Result<Option<Observed<T>>, Error> {
    match rest::parse(kind, value, &read_id(kind))? {
        Some(event) => observe_event(event).map(Some),
        None => Ok(None),
    }
}

/// One REST object of `kind` as an [`Observed`] canonical object.
pub(crate) fn observe<T: Canonical>(
    kind: ResourceKind,
    value: &Value,
) -> Result<Observed<T>, Error> {
    observe_opt(kind, value)?
        .ok_or_else(|| malformed(format!("the REST object read is not a {kind}")))
}

/// Fields a REST object of `kind` may lack, which an event leaves out (so it does not
/// overwrite what a webhook said) but a typed object needs: a REST ref does not say whether
/// its last update was forced; a runner listing, and jobs of older instances, name no tags.
fn absent_from_rest(kind: ResourceKind) -> Vec<(&'static str, Value)> {
    match kind {
        ResourceKind::Ref => vec![("forced", Value::Bool(false))],
        // Runners and jobs without `tag_list` (older instances, trimmed bodies) have none.
        ResourceKind::Runner | ResourceKind::Job => vec![("labels", Value::Array(Vec::new()))],
        _ => Vec::new(),
    }
}

/// [`observe`] with the response's ETag as the observation's version tag.
pub(crate) fn observe_tagged<T: Canonical>(
    kind: ResourceKind,
    value: &Value,
    etag: Option<&str>,
) -> Result<Observed<T>, Error> {
    let mut observed = observe::<T>(kind, value)?;
    observed.version.etag = etag.map(str::to_owned);
    Ok(observed)
}

/// Every item of a page that is a `kind`, converted (system notes are left out of a notes
/// page, which may then hold fewer items than asked for).
pub(crate) fn observe_page<T: Canonical>(
    kind: ResourceKind,
    page: Page<Value>,
) -> Result<Page<Observed<T>>, Error> {
    let mut items = Vec::with_capacity(page.items.len());
    for item in &page.items {
        if let Some(observed) = observe_opt::<T>(kind, item)? {
            items.push(observed);
        }
    }
    Ok(Page::new(items, page.next).with_not_modified(page.not_modified))
}

/// One URL path segment, percent-encoded (branch names hold `/`; nothing a value holds can
/// step outside its segment).
pub(crate) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A numeric native id (GitLab's REST ids are integers), refused before a request if not.
pub(crate) fn numeric_id(id: &NativeId, what: &str) -> Result<u64, Error> {
    id.as_str().parse::<u64>().map_err(|_| Error::Validation {
        rule: "gitlab-native-id-is-numeric",
        detail: format!(
            "{what} id {:?} is not a GitLab REST id (an integer); pass the `id` GitLab returned",
            id.as_str()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_ids() {
        assert_eq!(segment("feature/x y"), "feature%2Fx%20y");
        assert_eq!(segment("main"), "main");
        assert!(numeric_id(&NativeId::new("42"), "note").is_ok());
        assert!(numeric_id(&NativeId::new("../1"), "note").is_err());
    }
}
