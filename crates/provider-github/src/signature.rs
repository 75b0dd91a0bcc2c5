//! Webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

use hmac::{Hmac, KeyInit, Mac};
use kradle_sync_core::{
    DeliveryId, Headers, Secret, SignatureScheme, VerifiedWebhook, WebhookKey, WebhookRequest,
};
use sha2::Sha256;

use crate::error::GithubError;

/// The header that names the event (`issues`, `push`, …).
pub(crate) const EVENT_HEADER: &str = "X-GitHub-Event";
/// The header that carries the delivery's GUID.
pub(crate) const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
/// The header that carries the SHA-256 signature.
pub(crate) const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// GitHub's legacy SHA-1 signature header, which kradle-sync does not accept.
const LEGACY_SIGNATURE_HEADER: &str = "X-Hub-Signature";
const PREFIX: &str = "sha256=";
/// The algorithm name recorded in [`VerifiedWebhook::algorithm`].
const ALGORITHM: &str = "hmac-sha256";

type HmacSha256 = Hmac<Sha256>;

/// A header GitHub always sends, trimmed; missing or blank is an error.
pub(crate) fn required_header<'a>(
    headers: &'a Headers,
    header: &'static str,
) -> Result<&'a str, GithubError> {
    headers
        .get(header)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(GithubError::MissingHeader { header })
}

fn mac(secret: &Secret) -> Result<HmacSha256, GithubError> {
    if secret.is_empty() {
        return Err(GithubError::Signature {
            reason: "the webhook secret configured for this binding is empty; set it to the \
                     secret of the GitHub webhook"
                .to_owned(),
        });
    }
    HmacSha256::new_from_slice(secret.expose().as_bytes()).map_err(|_| GithubError::Signature {
        reason: "the webhook secret cannot be used as an HMAC key".to_owned(),
    })
}

/// Checks `X-Hub-Signature-256` against the raw body in constant time.
pub(crate) fn verify(
    request: &WebhookRequest,
    key: &WebhookKey<'_>,
) -> Result<VerifiedWebhook, GithubError> {
    let event = required_header(&request.headers, EVENT_HEADER)?;
    let delivery = required_header(&request.headers, DELIVERY_HEADER)?;
    if key.scheme != SignatureScheme::HmacSha256 {
        return Err(GithubError::Signature {
            reason: format!(
                "the binding expects {} webhooks, but GitHub signs them with HMAC-SHA256; set the binding's scheme to hmac-sha256",
                key.scheme.as_str()
            ),
        });
    }
    let secret = key.secret;
    let Some(value) = request.headers.get(SIGNATURE_HEADER) else {
        let reason = if request.headers.get(LEGACY_SIGNATURE_HEADER).is_some() {
            "the request carries only the SHA-1 X-Hub-Signature header, which is not accepted; \
             GitHub also sends X-Hub-Signature-256 when the webhook has a secret: deliver that \
             header too"
        } else {
            "the request has no X-Hub-Signature-256 header: GitHub sends it only when the \
             webhook has a secret, so set the binding's secret on the GitHub webhook"
        };
        return Err(GithubError::Signature {
            reason: reason.to_owned(),
        });
    };
    let value = value.trim();
    let Some(hex_digest) = value.strip_prefix(PREFIX) else {
        let scheme: String = value
            .split('=')
            .next()
            .unwrap_or_default()
            .chars()
            .take(16)
            .collect();
        return Err(GithubError::Signature {
            reason: format!(
                "X-Hub-Signature-256 must start with `{PREFIX}`, found scheme `{scheme}`; \
                 deliver the header exactly as GitHub sent it"
            ),
        });
    };
    let tag = match hex::decode(hex_digest) {
        Ok(tag) if tag.len() == 32 => tag,
        _ => {
            return Err(GithubError::Signature {
                reason: format!(
                    "X-Hub-Signature-256 must be `{PREFIX}` followed by 64 hexadecimal digits \
                     ({} characters found); deliver the header exactly as GitHub sent it",
                    hex_digest.len()
                ),
            });
        }
    };
    let mut mac = mac(secret)?;
    mac.update(&request.body);
    mac.verify_slice(&tag).map_err(|_| GithubError::Signature {
        reason: "the X-Hub-Signature-256 HMAC does not match the body: either the secret \
                 differs from the GitHub webhook's, or the body was altered after signing \
                 (verify the raw bytes received, before any decoding or re-encoding)"
            .to_owned(),
    })?;
    Ok(VerifiedWebhook::new(
        DeliveryId::new(delivery),
        event,
        ALGORITHM,
    ))
}

/// The `X-Hub-Signature-256` value GitHub would send for `body` signed with `secret`:
/// `sha256=` and the lowercase hex HMAC-SHA256. Useful to build test deliveries and to
/// replay recorded bodies.
///
/// ```
/// use kradle_sync_core::Secret;
/// let value = kradle_provider_github::sign_webhook(&Secret::new("It's a Secret to Everybody"),
///     b"Hello, World!");
/// // The example from GitHub's documentation on validating webhook deliveries.
/// assert_eq!(value,
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
/// ```
pub fn sign_webhook(secret: &Secret, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so keying cannot fail; the fallback keeps this
    // function total without a panic path.
    let mut mac = match HmacSha256::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}
