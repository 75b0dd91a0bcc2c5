//! The provider conformance kit itself: the simulated provider conforms, and each rule
//! fails for an adapter that breaks it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use kradle_sync_core::testing::provider::{
    Fixture, ProviderHarness, Rule, Violation, assert_conforms, check,
};
use kradle_sync_core::testing::simulated::{
    EVENT_HEADER, SimChange, SimDelivery, SimObject, SimulatedProvider, TOKEN_HEADER,
};
use kradle_sync_core::{
    CanonicalEvent, Change, DeliveryId, Error, ExternalVersion, Fields, Headers, NormalizedWebhook,
    ProviderDescriptor, ResourceKind, Secret, SignatureScheme, VerifiedWebhook, WebhookAdapter,
    WebhookKey, WebhookRequest,
};

const TOKEN: &str = "kit-token";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn observed(id: &str, native: &str, kind: ResourceKind, secs: i64, title: &str) -> SimDelivery {
    let mut fields = Fields::new();
    fields.insert("title".into(), title.into());
    SimDelivery {
        id: id.into(),
        target: "acme/app".into(),
        change: SimChange::Observed(SimObject {
            kind,
            native_id: native.into(),
            updated_at: at(secs),
            fields,
        }),
    }
}

/// Deliveries in the simulated provider's own format: issue 7 seen three times in order,
/// a comment, a label, and a deletion.
fn deliveries() -> Vec<SimDelivery> {
    vec![
        observed("d1", "7", ResourceKind::Issue, 10, "first"),
        observed("d2", "7", ResourceKind::Issue, 20, "second"),
        observed("d3", "7", ResourceKind::Issue, 30, "third"),
        observed("d4", "70", ResourceKind::Comment, 15, "a comment"),
        observed("d5", "bug", ResourceKind::Label, 5, "bug"),
        SimDelivery {
            id: "d6".into(),
            target: "acme/app".into(),
            change: SimChange::Deleted {
                kind: ResourceKind::Issue,
                native_id: "8".into(),
                updated_at: at(40),
            },
        },
    ]
}

/// What an adapter under test gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    AcceptsAnyToken,
    RefusesEverything,
    SignsHeadersOnly,
    PanicsOnTruncatedBody,
    SaysNothing,
    Nondeterministic,
    UnstableIds,
    UnknownIsAnError,
    TimeRunsBackwards,
    ShowsTheSecret,
}

struct Faulty {
    inner: SimulatedProvider,
    descriptor: ProviderDescriptor,
    fault: Fault,
    calls: AtomicU64,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        let inner = SimulatedProvider::new();
        let mut descriptor = inner.descriptor().clone();
        if fault == Fault::SignsHeadersOnly {
            // Claims a body-signing scheme while checking only a header.
            descriptor.signature = SignatureScheme::HmacSha256;
        }
        Self {
            inner,
            descriptor,
            fault,
            calls: AtomicU64::new(0),
        }
    }
}

impl WebhookAdapter for Faulty {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
    ) -> Result<VerifiedWebhook, Error> {
        match self.fault {
            Fault::AcceptsAnyToken => {
                return Ok(VerifiedWebhook::new("any", "change", "token"));
            }
            Fault::RefusesEverything => {
                return Err(Error::Signature {
                    provider: "simulated".into(),
                    reason: "no".into(),
                });
            }
            Fault::ShowsTheSecret
                if !key
                    .secret
                    .matches(request.headers.get(TOKEN_HEADER).unwrap_or("").as_bytes()) =>
            {
                return Err(Error::Signature {
                    provider: "simulated".into(),
                    reason: format!("expected {}", key.secret.expose()),
                });
            }
            Fault::SignsHeadersOnly => {
                let simulated = WebhookKey::new(key.secret, SignatureScheme::Token, key.now);
                return self.inner.verify_webhook(request, &simulated);
            }
            _ => {}
        }
        self.inner.verify_webhook(request, key)
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        let event = request.headers.get(EVENT_HEADER).unwrap_or_default();
        match self.fault {
            Fault::PanicsOnTruncatedBody if request.body.last() != Some(&b'}') => {
                panic!("the body does not end with a brace")
            }
            Fault::SaysNothing if event == "change" => {
                return Ok(NormalizedWebhook::events(event, Vec::new()));
            }
            Fault::UnknownIsAnError if event != "change" => {
                return Err(Error::MalformedPayload {
                    provider: "simulated".into(),
                    reason: format!("unknown event {event}"),
                });
            }
            _ => {}
        }
        let mut n = self.inner.normalize_webhook(request)?;
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        for e in &mut n.events {
            match self.fault {
                Fault::Nondeterministic => e.action = format!("observed-{call}"),
                Fault::UnstableIds => {
                    e.link.number = Some(1);
                    e.native_id = e.delivery_id.as_str().into();
                }
                Fault::TimeRunsBackwards => {
                    if let Change::Observed { version, .. } = &mut e.change {
                        let t = version.updated_at.unwrap_or_default();
                        *version = ExternalVersion::at(at(1000) - (t - at(0)));
                    }
                }
                _ => {}
            }
        }
        Ok(n)
    }

    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        object: &serde_json::Value,
        read_id: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error> {
        self.inner.parse_rest_object(kind, object, read_id)
    }
}

struct Harness {
    adapter: Faulty,
}

impl Harness {
    fn new(fault: Fault) -> Self {
        Self {
            adapter: Faulty::new(fault),
        }
    }
}

impl ProviderHarness for Harness {
    fn adapter(&self) -> &dyn WebhookAdapter {
        &self.adapter
    }

    fn secret(&self) -> Secret {
        Secret::new(TOKEN)
    }

    fn fixtures(&self) -> Vec<Fixture> {
        deliveries()
            .iter()
            .map(|d| Fixture::new(d.id.clone(), d.request(TOKEN)))
            .collect()
    }

    fn signature_headers(&self) -> Vec<String> {
        vec![TOKEN_HEADER.into()]
    }

    fn resign(&self, request: &WebhookRequest, body: Vec<u8>) -> WebhookRequest {
        WebhookRequest::new(request.headers.clone(), body)
    }

    fn with_unknown_event(&self, request: &WebhookRequest) -> WebhookRequest {
        let headers = Headers::from_pairs(request.headers.iter().map(|(k, v)| {
            if k.eq_ignore_ascii_case(EVENT_HEADER) {
                (k, "kradle-kit-unknown")
            } else {
                (k, v)
            }
        }));
        WebhookRequest::new(headers, request.body.clone())
    }

    fn sequences(&self) -> Vec<Vec<String>> {
        vec![vec!["d1".into(), "d2".into(), "d3".into()]]
    }

    fn secret_holders(&self) -> Vec<String> {
        let holder = format!("{:?}", Secret::new(TOKEN));
        if self.adapter.fault == Fault::ShowsTheSecret {
            vec![holder, format!("Client {{ token: {TOKEN:?} }}")]
        } else {
            vec![holder]
        }
    }
}

fn rules(violations: &[Violation]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = violations.iter().map(|v| v.rule).collect();
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn the_simulated_provider_conforms() {
    assert_conforms(&Harness::new(Fault::None));
}

#[test]
fn each_rule_fails_for_an_adapter_that_breaks_it() {
    let cases = [
        (
            Fault::AcceptsAnyToken,
            vec![Rule::RefusesWrongSecret, Rule::RefusesUnsigned],
        ),
        (Fault::RefusesEverything, vec![Rule::Verifies]),
        (Fault::SignsHeadersOnly, vec![Rule::RefusesTampered]),
        (Fault::PanicsOnTruncatedBody, vec![Rule::Total]),
        (Fault::SaysNothing, vec![Rule::Total]),
        (Fault::Nondeterministic, vec![Rule::Deterministic]),
        (Fault::UnstableIds, vec![Rule::StableIds]),
        (Fault::UnknownIsAnError, vec![Rule::UnknownIgnored]),
        (Fault::TimeRunsBackwards, vec![Rule::Monotone]),
        (Fault::ShowsTheSecret, vec![Rule::SecretsHidden]),
    ];
    for (fault, expected) in cases {
        let found = check(&Harness::new(fault));
        assert_eq!(rules(&found), expected, "{fault:?}: {found:#?}");
    }
}

#[test]
fn a_failing_provider_is_reported_with_every_violation() {
    let result = std::panic::catch_unwind(|| assert_conforms(&Harness::new(Fault::UnstableIds)));
    let message = result
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("StableIds"), "{message}");
}
