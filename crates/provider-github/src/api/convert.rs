//! From REST JSON to the core's [`Observed`] objects (through the crate's REST parsing, so
//! a read and a webhook project the same fields), and from targets to safe URL paths.

use kradle_sync_core::object::Canonical;
use kradle_sync_core::{
    Change, DeliveryId, Error, ExternalTarget, NativeId, Observed, Page, ProviderKind, ResourceKind,
};
use serde_json::Value;

use crate::PROVIDER;
use crate::rest;

fn malformed(reason: String) -> Error {
    Error::MalformedPayload {
        provider: ProviderKind::new(PROVIDER),
        reason,
    }
}

/// One REST object of `kind` as an [`Observed`] canonical object: identity, links and
/// version from the crate's REST parser, the object read back from its fields. Bodies come
/// back without the idempotency marker (the parser strips it).
pub(crate) fn observe<T: Canonical>(
    kind: ResourceKind,
    value: &Value,
) -> Result<Observed<T>, Error> {
    let read = DeliveryId::new(format!("rest:{kind}"));
    let event = rest::parse(kind, value, &read)?
        .ok_or_else(|| malformed(format!("the REST {kind} object was not recognised")))?;
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
        fields
            .entry((*name).to_owned())
            .or_insert_with(|| value.clone());
    }
    let object = T::from_fields(&fields).map_err(|e| {
        malformed(format!(
            "REST {kind} object lacks a field GitHub always sends: {e}"
        ))
    })?;
    Ok(Observed::new(event.native_id, version, object).with_link(event.link))
}

/// Fields a REST object of `kind` never carries, which an event leaves out (so it does
/// not overwrite what a webhook said) but a typed object needs: a REST ref does not say
/// whether its last update was forced.
fn absent_from_rest(kind: ResourceKind) -> &'static [(&'static str, Value)] {
    match kind {
        ResourceKind::Ref => &[("forced", Value::Bool(false))],
        _ => &[],
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

/// Every item of a page, converted.
pub(crate) fn observe_page<T: Canonical>(
    kind: ResourceKind,
    page: Page<Value>,
) -> Result<Page<Observed<T>>, Error> {
    observe_page_where(kind, page, |_| true)
}

/// The items of a page that `keep` accepts, converted.
pub(crate) fn observe_page_where<T: Canonical>(
    kind: ResourceKind,
    page: Page<Value>,
    keep: impl Fn(&Value) -> bool,
) -> Result<Page<Observed<T>>, Error> {
    let items = page
        .items
        .iter()
        .filter(|item| keep(item))
        .map(|item| observe::<T>(kind, item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::new(items, page.next).with_not_modified(page.not_modified))
}

/// One URL path segment, percent-encoded (branch names hold `/`, logins and shas are
/// encoded too so no value can step outside its segment).
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

/// `/repos/{owner}/{repo}` of a target `owner/repo`. Anything else (no slash, more than
/// one, empty parts, `.` or `..`) is refused before a request is made.
pub(crate) fn repo_path(target: &ExternalTarget) -> Result<String, Error> {
    let invalid = || Error::Validation {
        rule: "github-target-is-owner-repo",
        detail: format!(
            "GitHub target {:?} is not `owner/repo`; bind the repository by its full name",
            target.path
        ),
    };
    let (owner, repo) = target.path.split_once('/').ok_or_else(invalid)?;
    let fine = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if !fine(owner) || !fine(repo) {
        return Err(invalid());
    }
    Ok(format!("/repos/{owner}/{repo}"))
}

/// A numeric native id (GitHub's REST ids are integers), refused before a request if not.
pub(crate) fn numeric_id(id: &NativeId, what: &str) -> Result<u64, Error> {
    id.as_str().parse::<u64>().map_err(|_| Error::Validation {
        rule: "github-native-id-is-numeric",
        detail: format!(
            "{what} id {:?} is not a GitHub REST id (an integer); pass the `id` GitHub returned",
            id.as_str()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_segments() {
        let ok = ExternalTarget::from_path("octokit-fixture-org/hello-world");
        assert_eq!(
            repo_path(&ok).ok().as_deref(),
            Some("/repos/octokit-fixture-org/hello-world")
        );
        for bad in [
            "no-slash", "a/b/c", "../x", "a/..", "/x", "a/", "a b/c", "a/c?x=1",
        ] {
            assert!(repo_path(&ExternalTarget::from_path(bad)).is_err(), "{bad}");
        }
        assert_eq!(segment("feature/x y"), "feature%2Fx%20y");
        assert_eq!(segment("main"), "main");
        assert!(numeric_id(&NativeId::new("42"), "comment").is_ok());
        assert!(numeric_id(&NativeId::new("../1"), "comment").is_err());
    }
}
