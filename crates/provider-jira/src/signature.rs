//! Webhook verification. Admin webhooks registered with a secret carry
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`; webhooks of an OAuth 2.0
//! or Connect app carry `Authorization: Bearer <JWT>` (Connect: `JWT <JWT>`) signed HS256
//! with the app's client secret, checked for its signature, expiry and issuer. Which one a
//! delivery must carry is the binding's scheme ([`WebhookKey::scheme`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use kradle_sync_core::{
    DeliveryId, Headers, Secret, SignatureScheme, VerifiedWebhook, WebhookKey, WebhookRequest,
};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::error::JiraError;

/// The header that carries the delivery id, stable across Jira's retries.
pub(crate) const DELIVERY_HEADER: &str = "X-Atlassian-Webhook-Identifier";
/// The header that counts Jira's retries of a delivery.
pub(crate) const RETRY_HEADER: &str = "X-Atlassian-Webhook-Retry";
/// The header of an admin webhook's HMAC signature.
pub(crate) const SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// The header of an app webhook's JWT.
pub(crate) const AUTHORIZATION_HEADER: &str = "Authorization";
const PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

/// A header Jira always sends, trimmed; missing or blank is an error.
pub(crate) fn required_header<'a>(
    headers: &'a Headers,
    header: &'static str,
) -> Result<&'a str, JiraError> {
    headers
        .get(header)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(JiraError::MissingHeader { header })
}

fn signature_error(reason: impl Into<String>) -> JiraError {
    JiraError::Signature {
        reason: reason.into(),
    }
}

fn mac(secret: &Secret, what: &str) -> Result<HmacSha256, JiraError> {
    if secret.is_empty() {
        return Err(signature_error(format!(
            "the {what} configured for this binding is empty; set it to the secret Jira signs with"
        )));
    }
    HmacSha256::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| signature_error(format!("the {what} cannot be used as an HMAC key")))
}

/// The event a body names (`webhookEvent`), read without the rest of the body.
fn event_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "webhookEvent")]
        webhook_event: Option<String>,
    }
    serde_json::from_slice::<Peek>(body)
        .ok()
        .and_then(|p| p.webhook_event)
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Verifies a delivery with the binding's key.
pub(crate) fn verify(
    request: &WebhookRequest,
    key: &WebhookKey<'_>,
) -> Result<VerifiedWebhook, JiraError> {
    let delivery = required_header(&request.headers, DELIVERY_HEADER)?;
    let algorithm = match key.scheme {
        SignatureScheme::HmacSha256 => {
            verify_hmac(request, key.secret)?;
            "hmac-sha256"
        }
        SignatureScheme::JwtHs256 => {
            verify_jwt(request, key)?;
            "jwt-hs256"
        }
        other => {
            return Err(signature_error(format!(
                "the binding expects {} webhooks, which Jira does not send; set the binding's \
                 webhook_scheme to hmac-sha256 (admin webhooks with a secret) or jwt-hs256 \
                 (OAuth 2.0 and Connect app webhooks)",
                other.as_str()
            )));
        }
    };
    Ok(VerifiedWebhook::new(
        DeliveryId::new(delivery),
        event_of(&request.body),
        algorithm,
    ))
}

fn verify_hmac(request: &WebhookRequest, secret: &Secret) -> Result<(), JiraError> {
    let Some(value) = request.headers.get(SIGNATURE_HEADER) else {
        let reason = if request.headers.get(AUTHORIZATION_HEADER).is_some() {
            "the request carries an app token (Authorization) but no X-Hub-Signature: it comes \
             from an OAuth or Connect app; set the binding's webhook_scheme to jwt-hs256 with \
             the app's client secret"
        } else {
            "the request has no X-Hub-Signature header: Jira sends it only when the webhook is \
             registered with a secret, so set the binding's secret on the Jira webhook"
        };
        return Err(signature_error(reason));
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
        return Err(signature_error(format!(
            "X-Hub-Signature must start with `{PREFIX}`, found scheme `{scheme}`; deliver the \
             header exactly as Jira sent it"
        )));
    };
    let tag = match hex::decode(hex_digest) {
        Ok(tag) if tag.len() == 32 => tag,
        _ => {
            return Err(signature_error(format!(
                "X-Hub-Signature must be `{PREFIX}` followed by 64 hexadecimal digits ({} \
                 characters found); deliver the header exactly as Jira sent it",
                hex_digest.len()
            )));
        }
    };
    let mut mac = mac(secret, "webhook secret")?;
    mac.update(&request.body);
    mac.verify_slice(&tag).map_err(|_| {
        signature_error(
            "the X-Hub-Signature HMAC does not match the body: either the secret differs from \
             the Jira webhook's, or the body was altered after signing (verify the raw bytes \
             received, before any decoding or re-encoding)",
        )
    })
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: Option<String>,
}

#[derive(Deserialize)]
struct JwtClaims {
    exp: Option<serde_json::Value>,
    iss: Option<String>,
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, JiraError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| {
            signature_error(format!(
                "the app token's {what} is not base64url; deliver the Authorization header \
                 exactly as Jira sent it"
            ))
        })
}

fn verify_jwt(request: &WebhookRequest, key: &WebhookKey<'_>) -> Result<(), JiraError> {
    let Some(value) = request.headers.get(AUTHORIZATION_HEADER) else {
        let reason = if request.headers.get(SIGNATURE_HEADER).is_some() {
            "the request carries X-Hub-Signature but no app token: it comes from an admin \
             webhook; set the binding's webhook_scheme to hmac-sha256 with the webhook's secret"
        } else {
            "the request has no Authorization header: webhooks of an OAuth 2.0 or Connect app \
             carry `Authorization: Bearer <JWT>`; check that the webhook was registered by the \
             app this binding names"
        };
        return Err(signature_error(reason));
    };
    let value = value.trim();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("JWT "))
        .map(str::trim)
        .ok_or_else(|| {
            signature_error(
                "the Authorization header must be `Bearer <JWT>` (or `JWT <JWT>`); deliver it \
                 exactly as Jira sent it",
            )
        })?;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(signature_error(
            "the app token is not a JWT (three dot-separated parts); deliver the Authorization \
             header exactly as Jira sent it",
        ));
    };
    let parsed: JwtHeader = serde_json::from_slice(&decode_part(header, "header")?)
        .map_err(|_| signature_error("the app token's header is not a JSON object"))?;
    if parsed.alg.as_deref() != Some("HS256") {
        let alg: String = parsed
            .alg
            .unwrap_or_else(|| "none".to_owned())
            .chars()
            .take(16)
            .collect();
        return Err(signature_error(format!(
            "the app token is signed with `{alg}`, but Jira signs app webhooks with HS256; \
             only HS256 tokens are accepted"
        )));
    }
    let tag = decode_part(signature, "signature")?;
    let mut mac = mac(key.secret, "app's client secret")?;
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(claims.as_bytes());
    mac.verify_slice(&tag).map_err(|_| {
        signature_error(
            "the app token's signature does not match: the binding's secret must be the client \
             secret of the app that registered the webhook",
        )
    })?;
    let claims: JwtClaims = serde_json::from_slice(&decode_part(claims, "claims")?)
        .map_err(|_| signature_error("the app token's claims are not a JSON object"))?;
    let exp = claims
        .exp
        .as_ref()
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            signature_error("the app token has no `exp` claim; Jira's app tokens always expire")
        })?;
    if exp <= key.now.timestamp() {
        let at = DateTime::<Utc>::from_timestamp(exp, 0)
            .map_or_else(|| exp.to_string(), |t| t.to_rfc3339());
        return Err(signature_error(format!(
            "the app token expired at {at}; Jira signs every delivery afresh, so this one is \
             old or replayed (check the receiver's clock)"
        )));
    }
    if let Some(expected) = key.issuer {
        match claims.iss.as_deref() {
            Some(iss) if iss == expected => {}
            Some(iss) => {
                let iss: String = iss.chars().take(64).collect();
                return Err(signature_error(format!(
                    "the app token was issued by `{iss}`, not by `{expected}` as the binding's \
                     webhook_issuer says"
                )));
            }
            None => {
                return Err(signature_error(format!(
                    "the app token has no `iss` claim; the binding expects `{expected}`"
                )));
            }
        }
    }
    Ok(())
}

/// The `X-Hub-Signature` value Jira would send for `body` signed with `secret`: `sha256=`
/// and the lowercase hex HMAC-SHA256. Useful to build test deliveries and to replay
/// recorded bodies.
///
/// ```
/// use kradle_sync_core::Secret;
/// let value = kradle_provider_jira::sign_webhook(&Secret::new("It's a Secret to Everybody"),
///     b"Hello, World!");
/// assert_eq!(value,
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
/// ```
pub fn sign_webhook(secret: &Secret, body: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// An app token as Jira sends it with an app's webhooks (`Authorization: Bearer <this>`):
/// an HS256 JWT signed with the app's client secret, naming `issuer` (`iss`), issued at
/// `issued_at` (`iat`) and expiring at `expires_at` (`exp`). For tests and replays.
///
/// ```
/// use chrono::{Duration, Utc};
/// use kradle_sync_core::{Headers, Secret, SignatureScheme, WebhookAdapter, WebhookKey,
///     WebhookRequest};
/// use kradle_provider_jira::{JiraWebhooks, app_token};
///
/// let secret = Secret::new("the app's client secret");
/// let now = Utc::now();
/// let body = br#"{"webhookEvent":"jira:issue_deleted","timestamp":1562177136176}"#.to_vec();
/// let request = WebhookRequest::new(Headers::from_pairs([
///     ("X-Atlassian-Webhook-Identifier", "3d2f6c1e".to_owned()),
///     ("Authorization", format!("Bearer {}", app_token(&secret, "my-app", now, now + Duration::minutes(3)))),
/// ]), body);
/// let key = WebhookKey::new(&secret, SignatureScheme::JwtHs256, now).with_issuer(Some("my-app"));
/// assert!(JiraWebhooks::new().verify_webhook(&request, &key).is_ok());
/// ```
pub fn app_token(
    secret: &Secret,
    issuer: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": issuer,
        "iat": issued_at.timestamp(),
        "exp": expires_at.timestamp(),
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let mut mac = match HmacSha256::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(claims.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{claims}.{signature}")
}
