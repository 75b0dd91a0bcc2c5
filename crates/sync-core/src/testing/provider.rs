//! The provider conformance kit: what every [`WebhookAdapter`] must do, checked with the
//! provider's own real fixtures. Ours (GitHub, GitLab, Jira) and third parties' run the
//! same checks, as the store conformance suite does for stores.
//!
//! A provider's test implements [`ProviderHarness`] (its adapter, its fixtures signed with
//! a test secret, how to re-sign a body and how to name an unknown event) and calls
//! [`assert_conforms`]:
//!
//! ```ignore
//! kradle_sync_core::testing::provider::assert_conforms(&MyHarness::new());
//! ```
//!
//! The rules, each a [`Rule`]:
//!
//! - **Verification.** Every fixture verifies with the right secret; none verifies with a
//!   wrong secret or without its signature headers; a fixture whose body was altered after
//!   signing is refused (for schemes that sign the body: HMAC, JWT).
//! - **Totality.** Normalizing a fixture gives events or an ignored reason; normalizing a
//!   mutated request (truncated, not JSON, another JSON type, deeply nested, bytes flipped,
//!   no event header) gives a result or a typed error, never a panic.
//! - **Determinism.** Normalizing the same request twice gives the same output.
//! - **Stable ids.** One object has one native id across event kinds: events of one kind
//!   that name the same target and number, or the same URL, carry the same native id, and
//!   one native id has one number (within one recording, see
//!   [`ProviderHarness::id_scope`]).
//! - **Unknown events.** An event type the provider does not have is ignored with a
//!   reason, never an error.
//! - **Monotone ordering.** Along a sequence of fixtures known to be in provider time
//!   order, the versions of one object never go down.
//! - **Secrets.** The secret never appears in what the adapter produces (errors of failed
//!   verification, normalized output) nor in the `Debug` text of what holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::Utc;

use crate::{
    Error, NormalizedWebhook, Rank, Secret, SignatureScheme, WebhookAdapter, WebhookKey,
    WebhookRequest,
};

/// One real delivery of the provider, signed (or carrying its token) with the harness's
/// secret.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A name to report it by (its file, say).
    pub name: String,
    /// The request as the provider sends it.
    pub request: WebhookRequest,
}

impl Fixture {
    /// A fixture named `name`.
    pub fn new(name: impl Into<String>, request: WebhookRequest) -> Self {
        Self {
            name: name.into(),
            request,
        }
    }
}

/// What the kit needs from a provider's test.
pub trait ProviderHarness {
    /// The adapter under test.
    fn adapter(&self) -> &dyn WebhookAdapter;

    /// The secret the fixtures are signed with (or whose token they carry).
    fn secret(&self) -> Secret;

    /// The scheme the fixtures are signed with. Default: the descriptor's.
    fn scheme(&self) -> SignatureScheme {
        self.adapter().descriptor().signature
    }

    /// The issuer signed fixtures name, for schemes that carry one. Default: none.
    fn issuer(&self) -> Option<String> {
        None
    }

    /// Every real fixture, as the provider delivers it, signed with [`secret`](Self::secret).
    fn fixtures(&self) -> Vec<Fixture>;

    /// The headers that carry the signature or token (removed to build an unsigned
    /// request).
    fn signature_headers(&self) -> Vec<String>;

    /// `request` with `body` in place of its body, signed again with the secret.
    fn resign(&self, request: &WebhookRequest, body: Vec<u8>) -> WebhookRequest;

    /// `request` claiming an event type the provider does not have (a header, or for a
    /// provider that names its events in the body, the body), signed.
    fn with_unknown_event(&self, request: &WebhookRequest) -> WebhookRequest;

    /// The recording a fixture belongs to. Ids are compared only among fixtures of one
    /// recording: payloads captured on different instances or at different times may
    /// reuse a project's path and numbers for other objects. Default: one recording.
    fn id_scope(&self, fixture: &str) -> String {
        let _ = fixture;
        String::new()
    }

    /// Sequences of fixture names known to be in the provider's time order, oldest first
    /// (one object's deliveries as the provider sent them). Default: none.
    fn sequences(&self) -> Vec<Vec<String>> {
        Vec::new()
    }

    /// The `Debug` text of everything that holds the secret or a credential (a connected
    /// client, its options), to check that none shows it. Default: none.
    fn secret_holders(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A rule of the kit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A fixture verifies with the right secret.
    Verifies,
    /// A fixture does not verify with a wrong secret.
    RefusesWrongSecret,
    /// A fixture without its signature headers does not verify.
    RefusesUnsigned,
    /// A fixture whose body changed after signing does not verify (body-signing schemes).
    RefusesTampered,
    /// Normalization gives events or a reason, and never panics on mutated input.
    Total,
    /// Normalizing twice gives the same output.
    Deterministic,
    /// One object keeps one native id across event kinds.
    StableIds,
    /// Unknown event types are ignored with a reason.
    UnknownIgnored,
    /// Versions of one object never go down along a known sequence.
    Monotone,
    /// The secret never shows.
    SecretsHidden,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The fixture (or sequence) it broke on.
    pub fixture: String,
    /// What went wrong.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} on {}: {}", self.rule, self.fixture, self.detail)
    }
}

struct Checker<'a> {
    harness: &'a dyn ProviderHarness,
    secret: Secret,
    violations: Vec<Violation>,
}

impl Checker<'_> {
    fn fail(&mut self, rule: Rule, fixture: &str, detail: impl Into<String>) {
        self.violations.push(Violation {
            rule,
            fixture: fixture.to_owned(),
            detail: detail.into(),
        });
    }

    fn verify(&self, request: &WebhookRequest, secret: &Secret) -> Result<(), Error> {
        let issuer = self.harness.issuer();
        let key = WebhookKey::new(secret, self.harness.scheme(), Utc::now())
            .with_issuer(issuer.as_deref());
        self.harness
            .adapter()
            .verify_webhook(request, &key)
            .map(|_| ())
    }

    /// Normalizes, turning a panic into `None`.
    fn normalize(&self, request: &WebhookRequest) -> Option<Result<NormalizedWebhook, Error>> {
        let adapter = self.harness.adapter();
        catch_unwind(AssertUnwindSafe(|| adapter.normalize_webhook(request))).ok()
    }

    fn leaks(&self, text: &str) -> bool {
        !self.secret.is_empty() && text.contains(self.secret.expose())
    }

    fn verification(&mut self, fixture: &Fixture) {
        let name = &fixture.name;
        if let Err(e) = self.verify(&fixture.request, &self.secret.clone()) {
            self.fail(
                Rule::Verifies,
                name,
                format!("refused with the right secret: {e}"),
            );
        }
        let wrong = Secret::new(format!("{}-wrong", self.secret.expose()));
        match self.verify(&fixture.request, &wrong) {
            Ok(()) => self.fail(
                Rule::RefusesWrongSecret,
                name,
                "verified with a wrong secret",
            ),
            Err(e) => {
                if self.leaks(&format!("{e} {e:?}")) {
                    self.fail(
                        Rule::SecretsHidden,
                        name,
                        "a verification error shows the secret",
                    );
                }
                if !matches!(e, Error::Signature { .. }) {
                    self.fail(
                        Rule::RefusesWrongSecret,
                        name,
                        format!("a wrong secret is not a signature error: {e}"),
                    );
                }
            }
        }
        let mut unsigned = fixture.request.clone();
        let strip: BTreeSet<String> = self
            .harness
            .signature_headers()
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        unsigned.headers = crate::Headers::from_pairs(
            fixture
                .request
                .headers
                .iter()
                .filter(|(k, _)| !strip.contains(&k.to_ascii_lowercase())),
        );
        if self.verify(&unsigned, &self.secret.clone()).is_ok() {
            self.fail(
                Rule::RefusesUnsigned,
                name,
                "verified without its signature headers",
            );
        }
        if matches!(
            self.harness.scheme(),
            SignatureScheme::HmacSha256 | SignatureScheme::JwtHs256
        ) {
            let mut body = fixture.request.body.clone();
            match body.iter().position(|b| b.is_ascii_alphanumeric()) {
                Some(i) => body[i] = if body[i] == b'0' { b'1' } else { b'0' },
                None => body.push(b' '),
            }
            let mut tampered = fixture.request.clone();
            tampered.body = body;
            if self.verify(&tampered, &self.secret.clone()).is_ok() {
                self.fail(
                    Rule::RefusesTampered,
                    name,
                    "verified a body altered after signing",
                );
            }
        }
    }

    fn mutations(&self, request: &WebhookRequest) -> Vec<(String, WebhookRequest)> {
        let body = &request.body;
        let mut bodies: Vec<(String, Vec<u8>)> = vec![
            ("empty body".into(), Vec::new()),
            ("not JSON".into(), b"<html>502 Bad Gateway</html>".to_vec()),
            ("null".into(), b"null".to_vec()),
            ("an array".into(), b"[1,2,3]".to_vec()),
            ("a string".into(), b"\"x\"".to_vec()),
            ("an empty object".into(), b"{}".to_vec()),
            (
                "deep nesting".into(),
                [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            ),
            (
                "deep objects".into(),
                format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes(),
            ),
        ];
        for cut in [1, body.len() / 2, body.len().saturating_sub(1)] {
            if let Some(prefix) = body.get(..cut) {
                bodies.push((format!("truncated at {cut}"), prefix.to_vec()));
            }
        }
        for step in [7usize, 31, 97] {
            let mut flipped = body.clone();
            for i in (0..flipped.len()).step_by(step.max(1)) {
                if let Some(b) = flipped.get_mut(i) {
                    *b ^= 0x20;
                }
            }
            bodies.push((format!("every {step}th byte flipped"), flipped));
        }
        let mut out: Vec<(String, WebhookRequest)> = bodies
            .into_iter()
            .map(|(what, b)| (what, self.harness.resign(request, b)))
            .collect();
        let mut no_headers = request.clone();
        no_headers.headers = crate::Headers::default();
        out.push(("no headers".into(), no_headers));
        out
    }

    fn totality(&mut self, fixture: &Fixture) -> Option<NormalizedWebhook> {
        let name = &fixture.name;
        let first = match self.normalize(&fixture.request) {
            None => {
                self.fail(Rule::Total, name, "normalizing panicked");
                return None;
            }
            Some(Err(e)) => {
                self.fail(
                    Rule::Total,
                    name,
                    format!("a real fixture fails to normalize: {e}"),
                );
                return None;
            }
            Some(Ok(n)) => n,
        };
        if first.events.is_empty() && first.ignored.is_none() {
            self.fail(
                Rule::Total,
                name,
                "no events and no reason: say why a delivery produces nothing",
            );
        }
        match self.normalize(&fixture.request) {
            Some(Ok(second)) => {
                let a = serde_json::to_string(&first).unwrap_or_default();
                let b = serde_json::to_string(&second).unwrap_or_default();
                if a != b {
                    self.fail(Rule::Deterministic, name, "two normalizations differ");
                }
            }
            _ => self.fail(
                Rule::Deterministic,
                name,
                "the second normalization failed where the first succeeded",
            ),
        }
        if self.leaks(&serde_json::to_string(&first).unwrap_or_default()) {
            self.fail(
                Rule::SecretsHidden,
                name,
                "the normalized output shows the secret",
            );
        }
        for (what, mutated) in self.mutations(&fixture.request) {
            if self.normalize(&mutated).is_none() {
                self.fail(Rule::Total, name, format!("normalizing panicked on {what}"));
            }
        }
        let unknown = self.harness.with_unknown_event(&fixture.request);
        match self.normalize(&unknown) {
            None => self.fail(Rule::Total, name, "normalizing an unknown event panicked"),
            Some(Err(e)) => self.fail(
                Rule::UnknownIgnored,
                name,
                format!("an unknown event is an error: {e}"),
            ),
            Some(Ok(n)) if !n.events.is_empty() || n.ignored.is_none() => self.fail(
                Rule::UnknownIgnored,
                name,
                "an unknown event produced events or no reason",
            ),
            Some(Ok(_)) => {}
        }
        Some(first)
    }

    fn stable_ids(&mut self, normalized: &BTreeMap<String, NormalizedWebhook>) {
        // (kind, target, number) -> native ids, (kind, url) -> native ids,
        // (kind, native id) -> numbers; with the fixtures that said so.
        let mut by_number: BTreeMap<(String, String, u64), BTreeMap<String, String>> =
            BTreeMap::new();
        let mut by_url: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
        let mut numbers: BTreeMap<(String, String), BTreeMap<u64, String>> = BTreeMap::new();
        for (name, n) in normalized {
            let scope = self.harness.id_scope(name);
            for e in &n.events {
                let kind = format!(
                    "{scope}{}{}",
                    if scope.is_empty() { "" } else { ":" },
                    e.kind.as_str()
                );
                let native = e.native_id.to_string();
                let target = e
                    .target
                    .as_ref()
                    .or(n.target.as_ref())
                    .map(|t| t.path.to_ascii_lowercase())
                    .unwrap_or_default();
                if let Some(number) = e.link.number {
                    by_number
                        .entry((kind.clone(), target, number))
                        .or_default()
                        .insert(native.clone(), name.clone());
                    numbers
                        .entry((kind.clone(), native.clone()))
                        .or_default()
                        .insert(number, name.clone());
                }
                if let Some(url) = &e.link.url {
                    by_url
                        .entry((kind, url.clone()))
                        .or_default()
                        .insert(native, name.clone());
                }
            }
        }
        for ((kind, target, number), ids) in by_number {
            if ids.len() > 1 {
                let detail = format!("{kind} {target}#{number} has native ids {ids:?}");
                self.fail(Rule::StableIds, &joined(ids.values()), detail);
            }
        }
        for ((kind, url), ids) in by_url {
            if ids.len() > 1 {
                let detail = format!("{kind} at {url} has native ids {ids:?}");
                self.fail(Rule::StableIds, &joined(ids.values()), detail);
            }
        }
        for ((kind, native), found) in numbers {
            if found.len() > 1 {
                let detail = format!("{kind} {native} has numbers {found:?}");
                self.fail(Rule::StableIds, &joined(found.values()), detail);
            }
        }
    }

    fn monotone(&mut self, normalized: &BTreeMap<String, NormalizedWebhook>) {
        for sequence in self.harness.sequences() {
            let label = sequence.join(" < ");
            let mut last: BTreeMap<(String, String), (Rank, String)> = BTreeMap::new();
            for name in &sequence {
                let Some(n) = normalized.get(name) else {
                    self.fail(Rule::Monotone, &label, format!("no fixture named {name}"));
                    continue;
                };
                for e in &n.events {
                    let version = match &e.change {
                        crate::Change::Observed { version, .. }
                        | crate::Change::Removed { version, .. } => version,
                        _ => continue,
                    };
                    let rank = Rank::of(version, e.authority);
                    let key = (e.kind.as_str().to_owned(), e.native_id.to_string());
                    if let Some((before, at)) = last.get(&key)
                        && rank < *before
                    {
                        let detail = format!(
                            "{} {} goes back from {before:?} ({at}) to {rank:?} ({name})",
                            key.0, key.1
                        );
                        self.fail(Rule::Monotone, &label, detail);
                    }
                    last.insert(key, (rank, name.clone()));
                }
            }
        }
    }
}

fn joined<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs every rule against the harness and returns what broke (empty when it conforms).
pub fn check(harness: &dyn ProviderHarness) -> Vec<Violation> {
    let mut checker = Checker {
        harness,
        secret: harness.secret(),
        violations: Vec::new(),
    };
    let fixtures = harness.fixtures();
    if fixtures.is_empty() {
        checker.fail(Rule::Total, "(none)", "the harness gave no fixtures");
    }
    let mut normalized = BTreeMap::new();
    for fixture in &fixtures {
        checker.verification(fixture);
        if let Some(n) = checker.totality(fixture) {
            normalized.insert(fixture.name.clone(), n);
        }
    }
    checker.stable_ids(&normalized);
    checker.monotone(&normalized);
    for text in harness.secret_holders() {
        if checker.leaks(&text) {
            checker.fail(
                Rule::SecretsHidden,
                "(secret holders)",
                format!("Debug shows the secret: {text}"),
            );
        }
    }
    checker.violations
}

/// Runs every rule and panics listing what broke.
pub fn assert_conforms(harness: &dyn ProviderHarness) {
    let violations = check(harness);
    assert!(
        violations.is_empty(),
        "the provider breaks {} rule(s) of the conformance kit:\n{}",
        violations.len(),
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
