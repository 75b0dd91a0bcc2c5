//! The bindings file (`--bindings FILE`, TOML) and the rule that names bindings in a log.

use std::collections::BTreeMap;

use kradle_sync_core::{
    Binding, Credentials, ExternalTarget, Interface, InterfaceBinding, OrgId, ProviderDescriptor,
    Secret, SignatureScheme, SyncPolicy,
};
use serde::Deserialize;

use crate::error::CliError;

/// The file: a list of `[[binding]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingsFile {
    #[serde(default, rename = "binding")]
    bindings: Vec<BindingConfig>,
}

/// One binding as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingConfig {
    name: String,
    provider: String,
    target: Option<String>,
    org: Option<String>,
    secret_env: Option<String>,
    webhook_scheme: Option<SignatureScheme>,
    webhook_issuer: Option<String>,
    api_url: Option<String>,
    token_env: Option<String>,
    token_type: Option<TokenType>,
    username: Option<String>,
    app_id: Option<String>,
    installation_id: Option<u64>,
    private_key_file: Option<String>,
    interfaces: Option<BTreeMap<Interface, InterfaceBinding>>,
    #[serde(default)]
    policy: SyncPolicy,
}

/// What kind of token `token_env` holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenType {
    /// A personal, project or group access token.
    #[default]
    Token,
    /// An OAuth 2.0 bearer token.
    Oauth,
}

/// How a binding reaches its provider's API: references to where its credentials are,
/// never the credentials themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The API's base URL (`None`: the provider's default).
    pub api_url: Option<String>,
    /// The environment variable holding a token.
    pub token_env: Option<String>,
    /// What kind of token it is.
    pub token_type: TokenType,
    /// A user name to send with the token as basic auth (Jira Cloud: the account's e-mail).
    pub username: Option<String>,
    /// A GitHub App's id.
    pub app_id: Option<String>,
    /// The app's installation id.
    pub installation_id: Option<u64>,
    /// The file holding the app's private key.
    pub private_key_file: Option<String>,
}

impl Access {
    /// Whether any credential is named.
    pub fn has_credentials(&self) -> bool {
        self.token_env.is_some() || self.app_id.is_some() || self.private_key_file.is_some()
    }

    /// The credentials these references name, read from the environment and files.
    /// `what` names the binding or the command in errors.
    pub fn credentials(
        &self,
        what: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CliError> {
        match (&self.app_id, self.installation_id, &self.private_key_file) {
            (Some(app_id), Some(installation_id), Some(path)) => {
                let pem = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                    path: path.clone(),
                    source,
                })?;
                return Ok(Credentials::App {
                    app_id: app_id.clone(),
                    installation_id,
                    private_key: Secret::new(pem),
                });
            }
            (None, _, None) => {}
            _ => {
                return Err(CliError::Usage(format!(
                    "{what}: an app needs all three of app_id, installation_id and private_key_file"
                )));
            }
        }
        let Some(var) = &self.token_env else {
            return Ok(Credentials::None);
        };
        let token = env(var)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{what}: the token is read from ${var}, which is not set; export the token there"
                ))
            })?;
        let token = Secret::new(token);
        Ok(match (&self.username, self.token_type) {
            (Some(username), _) => Credentials::Basic {
                username: username.clone(),
                token,
            },
            (None, TokenType::Oauth) => Credentials::OAuth(token),
            (None, TokenType::Token) => Credentials::Token(token),
        })
    }
}

/// One binding of the file, and how it reaches its provider.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The binding.
    pub binding: Binding,
    /// Its API access.
    pub access: Access,
}

/// A TOML error as one line: its position and message, never the line's text (which may
/// hold a secret someone wrote inline).
fn toml_error(path: &str, text: &str, error: &toml::de::Error) -> CliError {
    let position = error
        .span()
        .map(|span| {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, str::len) + 1;
            format!(" (line {line}, column {column})")
        })
        .unwrap_or_default();
    CliError::Usage(format!(
        "{path}: not a valid bindings file{position}: {}; secrets are never written in the file: name the variable that holds them (secret_env, token_env)",
        error.message().trim_end_matches('\n')
    ))
}

/// Reads a bindings file. Secrets come from the environment variables it names, never
/// from the file itself. A binding without an `interfaces` table syncs every interface
/// its provider supports (`supported` names them), bidirectionally.
pub fn load(
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    supported: &dyn Fn(&str) -> Vec<Interface>,
) -> Result<Vec<Declared>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: BindingsFile = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    file.bindings
        .into_iter()
        .map(|c| {
            let target = ExternalTarget::from_path(c.target.unwrap_or_else(|| c.name.clone()));
            let all = supported(&c.provider);
            let mut binding = Binding::new(c.name.as_str(), c.provider.as_str(), target, &all)
                .with_installation_id(c.installation_id)
                .with_policy(c.policy);
            if let Some(org) = c.org {
                binding.org = OrgId::new(org);
            }
            if let Some(interfaces) = c.interfaces {
                binding.interfaces = interfaces;
            }
            if let Some(scheme) = c.webhook_scheme {
                binding = binding.with_webhook_scheme(scheme, c.webhook_issuer);
            }
            if let Some(var) = c.secret_env {
                let secret = env(&var).ok_or_else(|| {
                    CliError::Usage(format!(
                        "{path}: binding {} reads its webhook secret from ${var}, which is not set",
                        c.name
                    ))
                })?;
                binding.webhook_secret = Some(Secret::new(secret));
            }
            let access = Access {
                api_url: c.api_url,
                token_env: c.token_env,
                token_type: c.token_type.unwrap_or_default(),
                username: c.username,
                app_id: c.app_id,
                installation_id: c.installation_id,
                private_key_file: c.private_key_file,
            };
            Ok(Declared { binding, access })
        })
        .collect()
}

/// The binding a log names without declaring it: `OWNER/REPO` (GitHub), `GROUP/…/PROJECT`
/// (GitLab) or `SITE/KEY` (Jira) is bound to that target, its org is the target's top-level
/// segment, and every interface the provider supports is synced bidirectionally.
pub fn implicit(name: &str, descriptor: &ProviderDescriptor, secret: Option<Secret>) -> Binding {
    let mut binding = Binding::new(
        name,
        descriptor.kind.clone(),
        ExternalTarget::from_path(name),
        &descriptor.interfaces,
    );
    binding.webhook_secret = secret;
    binding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile_path::Path {
        tempfile_path::Path::new(text)
    }

    /// A file under the target directory, removed when dropped.
    mod tempfile_path {
        pub struct Path(pub std::path::PathBuf);
        impl Path {
            pub fn new(text: &str) -> Self {
                let dir = std::env::temp_dir().join(format!(
                    "kradle-bindings-{}-{}",
                    std::process::id(),
                    text.len()
                ));
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join("bindings.toml");
                let _ = std::fs::write(&path, text);
                Self(path)
            }
            pub fn as_str(&self) -> &str {
                self.0.to_str().unwrap_or_default()
            }
        }
        impl Drop for Path {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn all(_: &str) -> Vec<Interface> {
        Interface::ALL.to_vec()
    }

    #[test]
    fn an_inline_secret_is_refused_without_being_echoed() {
        let file = write(
            "[[binding]]\nname = \"octo/repo\"\nprovider = \"github\"\nsecret = \"hunter2-inline\"\n",
        );
        let err = load(file.as_str(), &|_| None, &all)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field `secret`"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn credentials_come_from_the_environment_only() {
        let file = write(
            "[[binding]]\nname = \"site.example/KRADLE\"\nprovider = \"jira\"\napi_url = \"https://site.example\"\ntoken_env = \"JIRA_API_TOKEN\"\nusername = \"me@example.com\"\n",
        );
        let declared = load(file.as_str(), &|_| None, &all).unwrap_or_default();
        let access = &declared
            .first()
            .map(|d| d.access.clone())
            .unwrap_or_default();
        assert_eq!(access.api_url.as_deref(), Some("https://site.example"));
        let env = |var: &str| (var == "JIRA_API_TOKEN").then(|| "t0ken".to_owned());
        match access.credentials("b", &env) {
            Ok(Credentials::Basic { username, token }) => {
                assert_eq!(username, "me@example.com");
                assert_eq!(token.expose(), "t0ken");
            }
            other => panic!("{other:?}"),
        }
        let unset = access
            .credentials("b", &|_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(unset.contains("$JIRA_API_TOKEN"), "{unset}");
    }

    #[test]
    fn an_app_needs_all_three_parts() {
        let access = Access {
            app_id: Some("1".into()),
            ..Access::default()
        };
        let err = access
            .credentials("b", &|_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("app_id, installation_id and private_key_file"),
            "{err}"
        );
    }
}
