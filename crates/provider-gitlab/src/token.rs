//! Webhook verification and delivery ids: GitLab sends the webhook's secret token as is in
//! `X-Gitlab-Token`, and names a delivery with `Idempotency-Key` (GitLab 17.4 and later,
//! the same on every retry), `X-Gitlab-Webhook-UUID` (one per request) and
//! `X-Gitlab-Event-UUID` (one per triggering request and hook, shared by every delivery it
//! sets off).

use kradle_sync_core::{
    DeliveryId, Headers, SignatureScheme, VerifiedWebhook, WebhookKey, WebhookRequest,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::GitlabError;

/// The header that names the hook (`Issue Hook`, `Push Hook`, …).
pub(crate) const EVENT_HEADER: &str = "X-Gitlab-Event";
/// The header that carries the webhook's secret token.
pub(crate) const TOKEN_HEADER: &str = "X-Gitlab-Token";
/// The header GitLab 17.4 and later send with the same value on every retry of a delivery.
pub(crate) const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header with a new UUID on every request (GitLab 16.2 and later).
pub(crate) const WEBHOOK_UUID_HEADER: &str = "X-Gitlab-Webhook-UUID";
/// The header with the UUID of the request that set the delivery off, shared by every hook
/// that request fired and by webhooks it caused in turn.
pub(crate) const EVENT_UUID_HEADER: &str = "X-Gitlab-Event-UUID";
/// The header naming the instance that sent the delivery (its base URL).
pub(crate) const INSTANCE_HEADER: &str = "X-Gitlab-Instance";
/// What a request without any delivery id lacks.
const ANY_ID: &str = "Idempotency-Key (or X-Gitlab-Webhook-UUID, or X-Gitlab-Event-UUID)";
/// The algorithm name recorded in [`VerifiedWebhook::algorithm`].
const ALGORITHM: &str = "token";
/// The longest delivery id accepted from a header.
const MAX_ID_LEN: usize = 200;

/// A header's value, trimmed; `None` when missing or blank.
pub(crate) fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// A header GitLab always sends, trimmed; missing or blank is an error.
pub(crate) fn required_header<'a>(
    headers: &'a Headers,
    name: &'static str,
) -> Result<&'a str, GitlabError> {
    header(headers, name).ok_or(GitlabError::MissingHeader { header: name })
}

/// The delivery id of a request: its `Idempotency-Key`; on an instance older than 17.4,
/// its `X-Gitlab-Webhook-UUID`; older than 16.2, its `X-Gitlab-Event-UUID` joined with a
/// digest of the hook name and the body (GitLab documents that deliveries set off by one
/// request share that UUID, so it names a delivery only together with what was sent).
pub(crate) fn delivery_id(
    headers: &Headers,
    event: &str,
    body: &[u8],
) -> Result<DeliveryId, GitlabError> {
    let checked = |name: &'static str| -> Result<Option<&str>, GitlabError> {
        match header(headers, name) {
            Some(value) if value.len() > MAX_ID_LEN || value.chars().any(char::is_control) => {
                Err(GitlabError::Shape {
                    context: format!("the {name} header"),
                    detail: format!(
                        "a delivery id must be at most {MAX_ID_LEN} printable characters; \
                         deliver the header exactly as GitLab sent it"
                    ),
                })
            }
            other => Ok(other),
        }
    };
    if let Some(key) = checked(IDEMPOTENCY_HEADER)? {
        return Ok(DeliveryId::new(key));
    }
    if let Some(uuid) = checked(WEBHOOK_UUID_HEADER)? {
        return Ok(DeliveryId::new(uuid));
    }
    if let Some(uuid) = checked(EVENT_UUID_HEADER)? {
        let mut digest = Sha256::new();
        digest.update(event.as_bytes());
        digest.update(b"\n");
        digest.update(body);
        let digest = hex::encode(digest.finalize());
        return Ok(DeliveryId::new(format!(
            "{uuid}:{}",
            digest.get(..16).unwrap_or_default()
        )));
    }
    Err(GitlabError::MissingHeader { header: ANY_ID })
}

/// Checks `X-Gitlab-Token` against the binding's secret in constant time (both are hashed
/// first, so not even their lengths are compared), then reads the hook and the delivery id.
pub(crate) fn verify(
    request: &WebhookRequest,
    key: &WebhookKey<'_>,
) -> Result<VerifiedWebhook, GitlabError> {
    if key.scheme != SignatureScheme::Token {
        return Err(GitlabError::Token {
            reason: format!(
                "the binding expects {} webhooks, but GitLab sends the webhook's secret token \
                 in X-Gitlab-Token; set the binding's webhook scheme to token",
                key.scheme.as_str()
            ),
        });
    }
    let secret = key.secret;
    if secret.is_empty() {
        return Err(GitlabError::Token {
            reason: "the webhook secret configured for this binding is empty; set it to the \
                     secret token of the GitLab webhook"
                .to_owned(),
        });
    }
    let Some(token) = request.headers.get(TOKEN_HEADER) else {
        return Err(GitlabError::Token {
            reason: "the request has no X-Gitlab-Token header: GitLab sends it only when the \
                     webhook has a secret token, so set the binding's secret as the webhook's \
                     secret token"
                .to_owned(),
        });
    };
    let sent = Sha256::digest(token.as_bytes());
    let expected = Sha256::digest(secret.expose().as_bytes());
    if !bool::from(sent.as_slice().ct_eq(expected.as_slice())) {
        return Err(GitlabError::Token {
            reason: "the X-Gitlab-Token does not match the binding's secret: set the GitLab \
                     webhook's secret token to the binding's secret (secret_env)"
                .to_owned(),
        });
    }
    let event = required_header(&request.headers, EVENT_HEADER)?;
    let delivery = delivery_id(&request.headers, event, &request.body)?;
    tracing::debug!(
        event,
        delivery_id = %delivery,
        instance = header(&request.headers, INSTANCE_HEADER).unwrap_or("-"),
        "GitLab webhook token verified"
    );
    Ok(VerifiedWebhook::new(delivery, event, ALGORITHM))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn the_delivery_id_prefers_the_idempotency_key() -> Result<(), GitlabError> {
        let all = headers(&[
            ("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"),
            (
                "X-Gitlab-Webhook-UUID",
                "02affd2d-2cba-4033-917d-ec22d5dc4b38",
            ),
            (
                "X-Gitlab-Event-UUID",
                "13792a34-cac6-4fda-95a8-c58e00a3954e",
            ),
        ]);
        assert_eq!(
            delivery_id(&all, "Push Hook", b"{}")?.as_str(),
            "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"
        );
        let before_17_4 = headers(&[
            (
                "X-Gitlab-Webhook-UUID",
                "02affd2d-2cba-4033-917d-ec22d5dc4b38",
            ),
            (
                "X-Gitlab-Event-UUID",
                "13792a34-cac6-4fda-95a8-c58e00a3954e",
            ),
        ]);
        assert_eq!(
            delivery_id(&before_17_4, "Push Hook", b"{}")?.as_str(),
            "02affd2d-2cba-4033-917d-ec22d5dc4b38"
        );
        Ok(())
    }

    #[test]
    fn the_event_uuid_alone_names_a_delivery_with_its_body() -> Result<(), GitlabError> {
        let only = headers(&[(
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        )]);
        let issue = delivery_id(&only, "Issue Hook", b"{\"a\":1}")?;
        let note = delivery_id(&only, "Note Hook", b"{\"a\":1}")?;
        let other_body = delivery_id(&only, "Issue Hook", b"{\"a\":2}")?;
        assert!(
            issue
                .as_str()
                .starts_with("13792a34-cac6-4fda-95a8-c58e00a3954e:")
        );
        assert_ne!(issue, note);
        assert_ne!(issue, other_body);
        assert_eq!(issue, delivery_id(&only, "Issue Hook", b"{\"a\":1}")?);
        Ok(())
    }

    #[test]
    fn no_id_at_all_names_the_headers() {
        let err = delivery_id(
            &headers(&[("X-Gitlab-Event", "Push Hook")]),
            "Push Hook",
            b"{}",
        );
        match err {
            Err(GitlabError::MissingHeader { header }) => {
                assert!(header.contains("Idempotency-Key") && header.contains("Event-UUID"));
            }
            other => panic!("expected a missing header, got {other:?}"),
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(delivery_id(&headers(&[("Idempotency-Key", &long)]), "Push Hook", b"{}").is_err());
    }
}
