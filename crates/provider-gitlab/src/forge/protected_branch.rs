//! Protected branches: REST protected branch objects, as `branch_protection`.

use kradle_sync_core::object::BranchProtection;
use kradle_sync_core::{CanonicalEvent, ExternalTarget, LinkInfo, NativeId, ResourceKind};
use serde_json::Value;

use crate::emit::{Origin, Subject};

/// A value without its `id` keys, at any depth: GitLab numbers a protection and each of its
/// access levels, and renumbers them when a protection is replaced, so ids are not rules.
fn without_ids(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "id")
                .map(|(k, v)| (k.clone(), without_ids(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

/// The protection of one branch (or wildcard) as the REST API returns it: its native id is
/// the protected name (`main`, `release/*`), `pattern` the same, and `rules` the object
/// without `name` and ids. `None` when the object names nothing.
pub(crate) fn observed(
    value: &Value,
    origin: Origin<'_>,
    target: Option<ExternalTarget>,
) -> Option<CanonicalEvent> {
    let name = value.get("name").and_then(Value::as_str)?.to_owned();
    let mut rules = without_ids(value);
    if let Value::Object(map) = &mut rules {
        map.remove("name");
    }
    let mut protection = BranchProtection::default();
    protection.pattern = name.clone();
    protection.rules = rules;
    let subject = Subject::new(
        ResourceKind::BranchProtection,
        NativeId::new(name),
        None,
        target,
        LinkInfo::default(),
    );
    Some(subject.observed(origin, kradle_sync_core::Canonical::to_fields(&protection)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_and_the_name_are_not_rules() {
        let read = kradle_sync_core::DeliveryId::new("r");
        let value = json!({
            "id": 1, "name": "main",
            "push_access_levels": [{"id": 7, "access_level": 40, "access_level_description": "Maintainers"}],
            "allow_force_push": false
        });
        let event =
            observed(&value, Origin::rest(&read), None).unwrap_or_else(|| panic!("a protection"));
        assert_eq!(event.native_id.as_str(), "main");
        let kradle_sync_core::Change::Observed { fields, .. } = event.change else {
            panic!("an observation")
        };
        assert_eq!(fields["pattern"], "main");
        assert_eq!(
            fields["rules"],
            json!({"push_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}], "allow_force_push": false})
        );
    }
}
