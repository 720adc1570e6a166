//! What `main` runs: parse the command line, set up logging and Ctrl-C, run
//! the subcommand, and map its outcome to an exit code and one stderr line.

use clap::Parser;

use crate::cli::{Cli, Command, Global};
use crate::client::cluster::{BrokerConfig, DataPath};
use crate::client::security::Security;
use crate::commands;
use crate::error::{Error, ExitCode, Result};

pub fn run() -> i32 {
    commands::completions::serve_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap knows which is which.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                ExitCode::Success.code()
            };
        }
    };
    init_logging(&cli.global);
    crate::signal::install();
    match execute(cli) {
        Ok(()) => ExitCode::Success.code(),
        Err(e) if e.is_broken_pipe() => ExitCode::Success.code(),
        Err(Error::Interrupted) => ExitCode::Interrupted.code(),
        Err(e) => {
            e.report();
            e.exit_code().code()
        }
    }
}

fn execute(cli: Cli) -> Result<()> {
    // What needs no broker runs before the broker settings (and the
    // profile in use, which `profile` must be able to mend) are read.
    let Cli { global, command } = cli;
    match command {
        Command::Completions(args) => commands::completions::execute(args),
        Command::Man(args) => commands::completions::man(args),
        Command::Profile(cmd) => commands::profile::execute(&global, cmd),
        command => {
            let brokers = broker_config(&global)?;
            let user = brokers.security.user().map(str::to_string);
            dispatch(Cli { global, command }, &brokers).map_err(|e| e.with_user(user.as_deref()))
        }
    }
}

/// The global options, the profile in use and the client properties as
/// one `BrokerConfig`. Each setting: the flag (or its env variable), else
/// the profile's, else the command config's, else the default.
pub fn broker_config(global: &Global) -> Result<BrokerConfig> {
    let profile = crate::profiles::active(global.profile.as_deref())?;
    let profile = profile.as_ref();
    let command_config = match (&global.command_config, profile) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(p)) => {
            if let Some(path) = &p.command_config {
                // A profile's command config may hold its password: only
                // while its owner alone can read it, as the profile itself.
                let props = crate::properties::load(Some(path), &[])?;
                if crate::profiles::holds_password(&props) {
                    crate::profiles::owner_only(path)?;
                }
            }
            p.command_config.clone()
        }
        (None, None) => None,
    };
    let mut overrides: Vec<String> = profile
        .map(|p| {
            p.properties
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        })
        .unwrap_or_default();
    overrides.extend(global.property.iter().cloned());
    let props = crate::properties::load(command_config.as_deref(), &overrides)?;
    let (security, warnings) = Security::from_properties(&props)?;
    for w in warnings {
        log::warn!("{w}");
    }
    let from_profile = profile.and_then(|p| p.brokers.as_ref());
    let list = match (
        &global.brokers,
        from_profile,
        props.get("bootstrap.servers"),
    ) {
        (Some(list), _, _) | (None, Some(list), _) | (None, None, Some(list)) => list.as_str(),
        (None, None, None) => "127.0.0.1:9092",
    };
    let protocol = global
        .protocol
        .or(profile.and_then(|p| p.protocol))
        .unwrap_or_default();
    if security.is_secured() {
        match protocol {
            DataPath::Classic => {
                return Err(Error::Config {
                    message: format!(
                        "security.protocol {} needs the modern data path: the kafka crate (--protocol classic) speaks neither TLS nor SASL",
                        security.protocol.name()
                    ),
                    hint: Some("leave --protocol at auto (or modern)".into()),
                })
            }
            DataPath::Auto => log::info!(
                "modern data path: security.protocol {} (the kafka crate cannot do it)",
                security.protocol.name()
            ),
            DataPath::Modern => {}
        }
    }
    let data_path = if security.is_secured() {
        DataPath::Modern
    } else {
        protocol
    };
    Ok(BrokerConfig::new(list, global.timeout)?
        .with_data_path(data_path)
        .with_security(security))
}

fn dispatch(cli: Cli, brokers: &BrokerConfig) -> Result<()> {
    match cli.command {
        Command::Topic(cmd) => commands::topic::execute(brokers, cmd),
        Command::Produce(args) => commands::produce::execute(brokers, args),
        Command::Consume(args) => commands::consume::execute(brokers, args),
        Command::Group(cmd) => commands::group::execute(brokers, cmd),
        Command::Chat(args) => commands::chat::execute(brokers, args),
        Command::Web(args) => commands::web::execute(brokers, args),
        Command::Bench(cmd) => commands::bench::execute(brokers, cmd, cli.global.quiet),
        Command::Stream(cmd) => commands::stream::execute(brokers, cmd, cli.global.quiet),
        Command::Top(args) => commands::top::execute(brokers, args),
        Command::Cluster(cmd) => commands::cluster::execute(brokers, cmd),
        Command::Transactions(cmd) => commands::transactions::execute(brokers, cmd),
        Command::Connect(args) => {
            commands::connect::execute(args, cli.global.timeout, cli.global.verbose > 0)
        }
        Command::Completions(args) => commands::completions::execute(args),
        Command::Man(args) => commands::completions::man(args),
        Command::Profile(cmd) => commands::profile::execute(&cli.global, cmd),
    }
}

fn init_logging(global: &Global) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // The `kafka` crate logs its own retries at error level; our errors say it
    // better. (A plain `kafka=` would also match `kafkademo`: filters are prefixes.)
    let default = if global.verbose >= 2 {
        default.to_string()
    } else {
        format!("{default},kafka::=off")
    };
    // env_logger's own layout; the message escaped, as it may carry a
    // record's key or a broker's words (crate::escape::printable).
    let mut layout = env_logger::fmt::ConfigurableFormat::default();
    layout.timestamp(Some(env_logger::TimestampPrecision::Millis));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(move |buf, record| {
            let message = record.args().to_string();
            let message = crate::escape::printable(&message);
            layout.format(
                buf,
                &log::Record::builder()
                    .level(record.level())
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .args(format_args!("{message}"))
                    .build(),
            )
        })
        .init();
}
