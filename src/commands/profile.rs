//! `kafkademo profile add|use|list|remove`: named clusters, so switching
//! between a laptop broker and a secured cluster is one word (src/profiles.rs
//! keeps the files; run.rs applies the profile in use).

use std::io::Write;

use crate::cli::{Format, Global, ProfileCommand};
use crate::client::cluster::BrokerConfig;
use crate::error::{Error, Result};
use crate::profiles::{self, Profile};

pub fn execute(global: &Global, cmd: ProfileCommand) -> Result<()> {
    let dir = profiles::config_dir()?;
    let mut out = std::io::stdout().lock();
    match cmd {
        ProfileCommand::Add { name, force } => {
            profiles::validate_name(&name)?;
            let path = profiles::path_of(&dir, &name);
            if path.exists() && !force {
                return Err(Error::Config {
                    message: format!("profile '{name}' exists ({})", path.display()),
                    hint: Some("--force replaces it".into()),
                });
            }
            let profile = from_options(global, &name)?;
            let path = profiles::save(&dir, &profile)?;
            writeln!(out, "Added profile {name} ({}).", path.display())
        }
        ProfileCommand::Use { name } => {
            let profile = profiles::load(&dir, &name)?;
            profiles::set_current(&dir, Some(&name))?;
            writeln!(out, "Using profile {name} ({}).", summary(&profile))
        }
        ProfileCommand::Remove { name } => {
            profiles::validate_name(&name)?;
            if !profiles::remove(&dir, &name)? {
                return Err(Error::Config {
                    message: format!(
                        "no profile '{name}' ({} does not exist)",
                        profiles::path_of(&dir, &name).display()
                    ),
                    hint: Some("`kafkademo profile list` shows the profiles".into()),
                });
            }
            if profiles::current(&dir)?.as_deref() == Some(name.as_str()) {
                profiles::set_current(&dir, None)?;
            }
            writeln!(out, "Removed profile {name}.")
        }
        ProfileCommand::List { format } => {
            let current = profiles::current(&dir)?;
            let mut rows = Vec::new();
            for name in profiles::names(&dir)? {
                rows.push(profiles::read(&dir, &name, false)?);
            }
            match format {
                Format::Json => {
                    let list: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|p| {
                            serde_json::json!({
                                "name": p.name,
                                "in_use": current.as_deref() == Some(p.name.as_str()),
                                "brokers": p.brokers,
                                "command_config": p.command_config.as_ref().map(|c| c.display().to_string()),
                                "protocol": p.protocol.map(|d| d.name()),
                            })
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::Value::from(list))
                }
                Format::Text => {
                    if rows.is_empty() {
                        return writeln!(
                            out,
                            "No profiles in {}: `kafkademo profile add NAME --brokers HOST:PORT` makes one.",
                            dir.join("profiles").display()
                        )
                        .map_err(Error::Output);
                    }
                    for p in &rows {
                        let mark = if current.as_deref() == Some(p.name.as_str()) {
                            '*'
                        } else {
                            ' '
                        };
                        writeln!(out, "{mark} {}\t{}", p.name, summary(p)).map_err(Error::Output)?;
                    }
                    Ok(())
                }
            }
        }
    }
    .map_err(Error::Output)
}

/// The profile `profile add` makes of the global options given with it.
fn from_options(global: &Global, name: &str) -> Result<Profile> {
    if global.brokers.is_none() && global.command_config.is_none() {
        return Err(Error::Usage(
            "a profile needs --brokers or --command-config (or both)".into(),
        ));
    }
    if let Some(list) = &global.brokers {
        // The same check every command makes of a broker list.
        BrokerConfig::new(list, global.timeout)?;
    }
    let command_config = match &global.command_config {
        Some(path) => Some(std::fs::canonicalize(path).map_err(|e| Error::Config {
            message: format!("cannot read the client config {}: {e}", path.display()),
            hint: Some("--command-config names a Java client.properties file".into()),
        })?),
        None => None,
    };
    let properties = crate::properties::load(None, &global.property)?
        .into_iter()
        .collect();
    Ok(Profile {
        name: name.to_string(),
        brokers: global.brokers.clone(),
        command_config,
        protocol: global.protocol,
        properties,
    })
}

/// `brokers k1:9092, command config FILE, protocol modern`.
fn summary(p: &Profile) -> String {
    let mut parts = vec![format!(
        "brokers {}",
        p.brokers.as_deref().unwrap_or("from the command config")
    )];
    if let Some(c) = &p.command_config {
        parts.push(format!("command config {}", c.display()));
    }
    if let Some(d) = p.protocol {
        parts.push(format!("protocol {}", d.name()));
    }
    if !p.properties.is_empty() {
        let keys: Vec<&str> = p.properties.iter().map(|(k, _)| k.as_str()).collect();
        parts.push(format!("-X {}", keys.join(", ")));
    }
    parts.join(", ")
}
