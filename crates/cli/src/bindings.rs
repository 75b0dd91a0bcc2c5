//! The bindings file (`--bindings FILE`, TOML) and the rule that names bindings in a log.

use std::collections::BTreeMap;

use kradle_sync_core::{
    Binding, ExternalTarget, Interface, InterfaceBinding, OrgId, ProviderDescriptor, Secret,
    SyncPolicy,
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
    installation_id: Option<u64>,
    interfaces: Option<BTreeMap<Interface, InterfaceBinding>>,
    #[serde(default)]
    policy: SyncPolicy,
}

/// Reads a bindings file. Secrets come from the environment variables it names, never
/// from the file itself. A binding without an `interfaces` table syncs every interface
/// its provider supports (`supported` names them), bidirectionally.
pub fn load(
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    supported: &dyn Fn(&str) -> Vec<Interface>,
) -> Result<Vec<Binding>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: BindingsFile = toml::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{path}: not a valid bindings file: {e}")))?;
    file.bindings
        .into_iter()
        .map(|c| {
            let target = ExternalTarget::from_path(c.target.unwrap_or_else(|| c.name.clone()));
            let all = supported(&c.provider);
            let mut binding = Binding::new(c.name.as_str(), c.provider.as_str(), target, &all);
            if let Some(org) = c.org {
                binding.org = OrgId::new(org);
            }
            binding.installation_id = c.installation_id;
            if let Some(interfaces) = c.interfaces {
                binding.interfaces = interfaces;
            }
            binding.policy = c.policy;
            if let Some(var) = c.secret_env {
                let secret = env(&var).ok_or_else(|| {
                    CliError::Usage(format!(
                        "{path}: binding {} reads its webhook secret from ${var}, which is not set",
                        c.name
                    ))
                })?;
                binding.webhook_secret = Some(Secret::new(secret));
            }
            Ok(binding)
        })
        .collect()
}

/// The binding a log names without declaring it: `OWNER/REPO` (GitHub), `GROUP/PROJECT`
/// (GitLab) or a project key (Jira) is bound to that target, its org is the owner, and
/// every interface the provider supports is synced bidirectionally.
pub fn implicit(name: &str, descriptor: &ProviderDescriptor, secret: Option<Secret>) -> Binding {
    let interfaces: Vec<Interface> = descriptor.interfaces.clone();
    let mut binding = Binding::new(
        name,
        descriptor.kind.clone(),
        ExternalTarget::from_path(name),
        &interfaces,
    );
    binding.webhook_secret = secret;
    binding
}
