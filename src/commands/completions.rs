//! `kafkademo completions SHELL` and the hidden `kafkademo man DIR`: the
//! shell and manual integration every CLI of its kind ships. Completion is
//! clap_complete's dynamic kind: the script calls the binary back
//! (`KAFKADEMO_COMPLETE=SHELL kafkademo -- WORDS`), so flags always match the
//! binary, and topic and group names are asked of the broker live.

use std::io::Write;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};

use crate::cli::{Cli, Completions, Man, Names, Shell};
use crate::client::admin;
use crate::client::cluster::Cluster;
use crate::client::coordinator;
use crate::error::{Error, Result};

/// The variable that turns a run of the binary into a completion request.
/// Our own name, so a `COMPLETE` set for another tool changes nothing.
pub const COMPLETE_VAR: &str = "KAFKADEMO_COMPLETE";

/// How long a completion may wait for the broker: a shell that hangs on
/// Tab is worse than one that offers nothing.
const LIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a completion request and exits when the shell made one;
/// returns at once otherwise. Runs before anything else prints.
pub fn serve_if_asked() {
    let _ = crate::cli::NAMES.set(names);
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
}

pub fn execute(args: Completions) -> Result<()> {
    let shell: &dyn EnvCompleter = match args.shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
    };
    let mut script = Vec::new();
    shell
        .write_registration(
            COMPLETE_VAR,
            "kafkademo",
            "kafkademo",
            "kafkademo",
            &mut script,
        )
        .map_err(Error::Output)?;
    std::io::stdout().write_all(&script).map_err(Error::Output)
}

/// One roff page for the command and one per subcommand, at every depth
/// (`kafkademo-topic-create.1`), as git and cargo lay theirs out.
pub fn man(args: Man) -> Result<()> {
    let failed = |e: std::io::Error| Error::Config {
        message: format!(
            "cannot write the man pages into {}: {e}",
            args.dir.display()
        ),
        hint: None,
    };
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), &args.dir).map_err(failed)?;
    println!("{}", args.dir.display());
    Ok(())
}

/// The names `cli::Names` stands for.
fn names(kind: Names) -> Vec<CompletionCandidate> {
    match kind {
        Names::Topics => topics(),
        Names::Groups => groups(),
        Names::Profiles => profiles(),
        Names::ConsumeFormats => consume_formats(),
    }
}

/// Topic names for completion: none when no broker answers in time.
fn topics() -> Vec<CompletionCandidate> {
    live(|cluster| {
        Ok(admin::list_topics(cluster)?
            .into_iter()
            .filter(|t| !t.internal)
            .map(|t| t.name)
            .collect())
    })
}

/// Consumer group names for completion: none when no broker answers in time.
fn groups() -> Vec<CompletionCandidate> {
    live(|cluster| {
        Ok(coordinator::list_groups(cluster)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    })
}

/// `consume --format`'s named formats (a format string is typed).
fn consume_formats() -> Vec<CompletionCandidate> {
    [
        ("text", "A 42, key<TAB>value or the value"),
        ("json", "one object a line"),
        (
            "changes",
            "Debezium change events as INSERT/UPDATE/DELETE lines",
        ),
    ]
    .into_iter()
    .map(|(name, help)| CompletionCandidate::new(name).help(Some(help.into())))
    .collect()
}

/// Profile names for completion.
fn profiles() -> Vec<CompletionCandidate> {
    crate::profiles::config_dir()
        .and_then(|dir| crate::profiles::names(&dir))
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Names from the brokers the command would use (KAFKA_BROKERS, the active
/// profile, the command config: the environment the shell passes on),
/// asked within `LIVE_TIMEOUT`; any failure offers nothing.
fn live(names: impl FnOnce(&mut Cluster) -> Result<Vec<String>>) -> Vec<CompletionCandidate> {
    let Ok(cli) = Cli::try_parse_from(["kafkademo", "topic", "list"]) else {
        return Vec::new();
    };
    let mut global = cli.global;
    global.timeout = LIVE_TIMEOUT;
    let found = crate::run::broker_config(&global)
        .and_then(|config| Cluster::connect(&config))
        .and_then(|mut cluster| names(&mut cluster));
    match found {
        Ok(mut names) => {
            names.sort();
            names.into_iter().map(CompletionCandidate::new).collect()
        }
        Err(_) => Vec::new(),
    }
}
