//! From REST JSON to the core's [`Observed`] objects (through the crate's REST parsing, so
//! a read and a webhook project the same fields), and from targets to safe URL paths.

use kradle_sync_core::object::Canonical;
use kradle_sync_core::{
    Change, DeliveryId, Error, ExternalTarget, NativeId, Observed, Page, ProviderKind, ResourceKind,
};
use serde_json::Value;

use crate::PROVIDER;
use crate::error::JiraError;
use crate::issue_tracking::comment;
use crate::issue_tracking::issue::IssueRef;
use crate::rest;
use crate::wire::{is_project_key, site_of};

fn malformed(reason: String) -> Error {
    Error::MalformedPayload {
        provider: ProviderKind::new(PROVIDER),
        reason,
    }
}

/// The object read back from an event's fields; a field the struct needs but the object
/// lacked takes its default (a REST read asks for every field, so this is rare).
fn object_of<T: Canonical + Default>(
    kind: ResourceKind,
    fields: &kradle_sync_core::Fields,
) -> Result<T, Error> {
    let mut complete = T::default().to_fields();
    for (k, v) in fields {
        complete.insert(k.clone(), v.clone());
    }
    T::from_fields(&complete).map_err(|e| {
        malformed(format!(
            "the REST {kind} object does not read as a {kind}: {e}"
        ))
    })
}

fn observed_of<T: Canonical + Default>(
    kind: ResourceKind,
    event: kradle_sync_core::CanonicalEvent,
) -> Result<Observed<T>, Error> {
    let Change::Observed { version, fields } = event.change else {
        return Err(malformed(format!(
            "the REST {kind} object is not an observation"
        )));
    };
    let object = object_of::<T>(kind, &fields)?;
    // What the struct cannot hold (priority, workflow status, issue type, the original rich
    // text, custom fields) travels beside it.
    let known = T::default().to_fields();
    let extra = fields
        .into_iter()
        .filter(|(name, _)| !known.contains_key(name))
        .collect();
    Ok(Observed::new(event.native_id, version, object)
        .with_link(event.link)
        .with_extra(extra))
}

/// One REST object of `kind` as an [`Observed`] canonical object.
pub(crate) fn observe<T: Canonical + Default>(
    kind: ResourceKind,
    value: &Value,
) -> Result<Observed<T>, Error> {
    let read = DeliveryId::new(format!("rest:{kind}"));
    let event = rest::parse(kind, value, &read)?
        .ok_or_else(|| malformed(format!("the REST {kind} object was not recognised")))?;
    observed_of(kind, event)
}

/// A REST comment of a known issue, as an [`Observed`] comment (its `issue_number` and
/// link filled from the issue).
pub(crate) fn observe_comment<T: Canonical + Default>(
    value: &Value,
    issue: &IssueRef,
) -> Result<Observed<T>, Error> {
    let view = comment::read(value, Some(issue), "REST comment object")?;
    let read = DeliveryId::new("rest:comment");
    let origin = crate::emit::Origin::rest(&read);
    observed_of(
        ResourceKind::Comment,
        view.subject.observed(origin, view.fields),
    )
}

/// Every item of a page, converted.
pub(crate) fn observe_page<T: Canonical + Default>(
    kind: ResourceKind,
    page: Page<Value>,
) -> Result<Page<Observed<T>>, Error> {
    let items = page
        .items
        .iter()
        .map(|item| observe::<T>(kind, item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::new(items, page.next).with_not_modified(page.not_modified))
}

/// A binding's target, `SITE/KEY`, split; refused before any request when it is not one.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    /// The site (`example.atlassian.net`).
    pub site: String,
    /// The project key (`KRADLE`).
    pub key: String,
}

impl Project {
    pub fn of(target: &ExternalTarget) -> Result<Self, Error> {
        parse_target(&target.path).map_err(Error::from)
    }

    /// `KEY-number`.
    pub fn issue_key(&self, number: u64) -> String {
        format!("{}-{number}", self.key)
    }

    /// The issue as an [`IssueRef`] for a comment listing (no `self` known).
    pub fn issue_ref(&self, id: Option<String>, number: u64, api_base: &str) -> IssueRef {
        let key = self.issue_key(number);
        IssueRef {
            id: id.unwrap_or_default(),
            html_url: Some(format!("{api_base}/browse/{key}")),
            key: Some(key),
            api_url: None,
            target: Some(crate::wire::target(&self.site, &self.key)),
        }
    }
}

/// `SITE/KEY` → (site, key); anything else is an error naming the rule.
pub(crate) fn parse_target(path: &str) -> Result<Project, JiraError> {
    let invalid = || JiraError::Invalid {
        rule: "jira-target-is-site-and-key",
        detail: format!(
            "a Jira project is named SITE/KEY (the site's host and the project key, e.g. \
             example.atlassian.net/KRADLE), not `{path}`"
        ),
    };
    let (site, key) = path.split_once('/').ok_or_else(invalid)?;
    let site_ok = !site.is_empty()
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
        && site_of(&format!("https://{site}")).is_some();
    if !site_ok || !is_project_key(key) {
        return Err(invalid());
    }
    Ok(Project {
        site: site.to_ascii_lowercase(),
        key: key.to_owned(),
    })
}

/// A numeric native id (Jira's ids are integers), refused before a request if not.
pub(crate) fn numeric_id(id: &NativeId, what: &str) -> Result<String, Error> {
    let text = id.as_str();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(Error::Validation {
            rule: "jira-native-id-is-numeric",
            detail: format!(
                "{what} id {text:?} is not a Jira id (an integer); pass the `id` Jira returned"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let p = parse_target("example.atlassian.net/KRADLE").map(|p| (p.site, p.key));
        assert_eq!(
            p.ok(),
            Some(("example.atlassian.net".to_owned(), "KRADLE".to_owned()))
        );
        assert!(parse_target("localhost:2990/TEST").is_ok());
        for bad in [
            "KRADLE",
            "site/kradle",
            "a/b/C",
            "/KRADLE",
            "site/K",
            "si te/KRADLE",
            "site/KR?x",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert!(numeric_id(&NativeId::new("10040"), "issue").is_ok());
        assert!(numeric_id(&NativeId::new("../1"), "issue").is_err());
    }
}
