//! `kradle-sync normalize`: one payload's canonical events, as JSON lines.

use kradle_sync_core::ProviderPlugin;

use crate::error::CliError;

/// Normalizes one payload file with `plugin`'s adapter, as if it had arrived with `event`
/// (guessed from the payload when `None`). Returns the lines to print.
pub fn run(
    plugin: &dyn ProviderPlugin,
    event: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<String>, CliError> {
    let request = plugin.unsigned_request(event, body)?;
    let normalized = plugin.webhooks().normalize_webhook(&request)?;
    let mut lines = Vec::new();
    for event in &normalized.events {
        lines.push(serde_json::to_string(event).map_err(|e| CliError::Usage(e.to_string()))?);
    }
    if let Some(reason) = normalized.ignored {
        lines.push(format!("ignored: {reason}"));
    }
    Ok(lines)
}
