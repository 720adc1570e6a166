//! Named cluster profiles (rpk profile, kaf config, kcctl contexts): a
//! profile is a Java properties file under the user's config directory
//! (`$XDG_CONFIG_HOME/kafkademo/profiles/NAME.properties`, else
//! `~/.config/kafkademo/…`) holding `bootstrap.servers`, the kafkademo keys
//! `kafkademo.command.config` and `kafkademo.protocol`, and any client
//! property given with -X. `current` names the profile in use. A file
//! holding a password is used only while its owner alone can read it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::client::cluster::DataPath;
use crate::error::{Error, Result};
use crate::properties::{self, Properties};

const COMMAND_CONFIG: &str = "kafkademo.command.config";
const PROTOCOL: &str = "kafkademo.protocol";
const BROKERS: &str = "bootstrap.servers";

/// A profile as read from its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub brokers: Option<String>,
    pub command_config: Option<PathBuf>,
    pub protocol: Option<DataPath>,
    /// Client properties of its own (-X at `profile add`).
    pub properties: Vec<(String, String)>,
}

/// Where profiles live: `$XDG_CONFIG_HOME/kafkademo` (when absolute, as the
/// XDG spec asks), else `$HOME/.config/kafkademo`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Ok(xdg.join("kafkademo"));
        }
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".config/kafkademo")),
        _ => Err(Error::Config {
            message: "cannot find your config directory for profiles: neither XDG_CONFIG_HOME nor HOME is set".into(),
            hint: Some("set HOME (or XDG_CONFIG_HOME)".into()),
        }),
    }
}

fn profiles_dir(dir: &Path) -> PathBuf {
    dir.join("profiles")
}

pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    profiles_dir(dir).join(format!("{name}.properties"))
}

fn current_file(dir: &Path) -> PathBuf {
    dir.join("current")
}

/// Names are file names: letters, digits, '.', '_', '-', not starting with '.'.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "'{name}' is not a profile name: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// The profile to use: the one named (by --profile or KAFKADEMO_PROFILE),
/// else the one `profile use` chose, else none. An empty name is none at
/// all, whatever `profile use` chose (the make targets, which talk to the
/// broker they start, run so).
pub fn active(named: Option<&str>) -> Result<Option<Profile>> {
    let name = match named {
        Some("") => return Ok(None),
        Some(name) => name.to_string(),
        None => {
            // No profile named and no config directory: no profile in use.
            let Ok(dir) = config_dir() else {
                return Ok(None);
            };
            match current(&dir)? {
                Some(name) => name,
                None => return Ok(None),
            }
        }
    };
    load(&config_dir()?, &name).map(Some)
}

/// The name `profile use` recorded, if any.
pub fn current(dir: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(current_file(dir)) {
        Ok(text) => Ok(Some(text.trim().to_string()).filter(|n| !n.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(&current_file(dir), e)),
    }
}

pub fn set_current(dir: &Path, name: Option<&str>) -> Result<()> {
    let file = current_file(dir);
    match name {
        Some(name) => write_private(&file, &format!("{name}\n")),
        None => match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(unwritable(&file, e)),
            _ => Ok(()),
        },
    }
}

/// Every profile's name, sorted.
pub fn names(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(profiles_dir(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(&profiles_dir(dir), e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".properties"))
                .filter(|n| validate_name(n).is_ok())
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Reads a profile; refuses one that holds a password others can read.
pub fn load(dir: &Path, name: &str) -> Result<Profile> {
    read(dir, name, true)
}

/// Reads a profile, with the check of its mode or without (to list it).
pub fn read(dir: &Path, name: &str, check_mode: bool) -> Result<Profile> {
    validate_name(name)?;
    let path = path_of(dir, name);
    // Bytes as Java reads a properties file (what `save` writes is ASCII).
    let text = match std::fs::read(&path) {
        Ok(bytes) => properties::latin1(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config {
                message: format!("no profile '{name}' ({} does not exist)", path.display()),
                hint: Some(format!(
                    "`kafkademo profile list` shows the profiles; `kafkademo profile add {name} --brokers HOST:PORT` makes it"
                )),
            })
        }
        Err(e) => return Err(unreadable(&path, e)),
    };
    let props = properties::parse(&text).map_err(|(line, why)| Error::Config {
        message: format!("{}:{line}: {why}", path.display()),
        hint: None,
    })?;
    if check_mode && holds_password(&props) {
        owner_only(&path)?;
    }
    let mut profile = Profile {
        name: name.to_string(),
        ..Profile::default()
    };
    for (k, v) in props {
        match k.as_str() {
            BROKERS => profile.brokers = Some(v),
            COMMAND_CONFIG => profile.command_config = Some(PathBuf::from(v)),
            PROTOCOL => {
                profile.protocol = Some(v.parse().map_err(|e| Error::Config {
                    message: format!("{}: {PROTOCOL}: {e}", path.display()),
                    hint: None,
                })?)
            }
            _ => profile.properties.push((k, v)),
        }
    }
    Ok(profile)
}

/// Writes a profile, readable by its owner alone (it may hold a password).
pub fn save(dir: &Path, profile: &Profile) -> Result<PathBuf> {
    let mut text = format!(
        "# kafkademo profile '{}' (kafkademo profile add); Java properties\n",
        profile.name
    );
    let command_config = profile
        .command_config
        .as_ref()
        .map(|c| c.to_string_lossy().into_owned());
    let pairs = [
        (BROKERS, profile.brokers.as_deref()),
        (COMMAND_CONFIG, command_config.as_deref()),
        (PROTOCOL, profile.protocol.map(|p| p.name())),
    ];
    text.push_str(&properties::store(
        pairs.into_iter().filter_map(|(k, v)| Some((k, v?))).chain(
            profile
                .properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    ));
    let path = path_of(dir, &profile.name);
    write_private(&path, &text)?;
    Ok(path)
}

pub fn remove(dir: &Path, name: &str) -> Result<bool> {
    let path = path_of(dir, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(unwritable(&path, e)),
    }
}

/// Whether client properties carry a secret: a `*password*` key, or a JAAS
/// config (which holds the SASL password).
pub fn holds_password(props: &Properties) -> bool {
    props.iter().any(|(k, v)| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k == "sasl.jaas.config" || v.contains("password=")
    })
}

/// Refuses a file that holds a password when its group or others may read
/// it, as ssh does with a private key.
pub fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| unreadable(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(Error::Config {
        message: format!(
            "{} holds a password and others can read it (mode {:03o}): not used",
            path.display(),
            mode & 0o777
        ),
        hint: Some(format!("chmod 600 {}", path.display())),
    })
}

/// Creates or replaces a file with mode 0600 (its directory 0700).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| unwritable(parent, e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| unwritable(path, e))?;
    // An existing file keeps its mode through open: set it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(text.as_bytes()))
        .map_err(|e| unwritable(path, e))
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::Config {
        message: format!("cannot read {}: {e}", path.display()),
        hint: None,
    }
}

fn unwritable(path: &Path, e: std::io::Error) -> Error {
    Error::Config {
        message: format!("cannot write {}: {e}", path.display()),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_spotted_in_keys_and_jaas_configs() {
        let props = |pairs: &[(&str, &str)]| -> Properties {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(holds_password(&props(&[("ssl.key.password", "x")])));
        assert!(holds_password(&props(&[(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b\";"
        )])));
        assert!(!holds_password(&props(&[
            ("bootstrap.servers", "h:1"),
            ("security.protocol", "SSL")
        ])));
    }

    #[test]
    fn names_are_file_names() {
        for good in ["prod", "dev-1", "a.b_c"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "sp ace"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
