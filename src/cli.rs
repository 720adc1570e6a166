//! Every flag and subcommand, in one place, as clap derive types. Values are
//! checked here only as far as their type goes; `Config` building and the
//! commands do the rest.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate, ValueCandidates};

use crate::client::cluster::DataPath;
use crate::client::produce::{Acks, Compression};

#[derive(Debug, Parser)]
#[command(
    name = "kafkademo",
    version,
    about = "Apache Kafka's core ideas, hands on: topics, producers, consumers, groups, against a real broker",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 65 bad data, 69 broker (or Connect worker) unavailable, 74 output error, \
        76 protocol refused, 77 not allowed (authentication, certificate, ACL), 78 client configuration, \
        130 interrupted (docs/exit-codes.md)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Brokers to bootstrap from, comma-separated host:port list
    /// [default: the profile's, else bootstrap.servers of --command-config,
    /// else 127.0.0.1:9092]
    #[arg(
        long,
        short = 'b',
        global = true,
        env = "KAFKA_BROKERS",
        value_name = "HOST:PORT,..."
    )]
    pub brokers: Option<String>,

    /// Client properties as Kafka's tools read them (security.protocol,
    /// sasl.mechanism, sasl.jaas.config, ssl.truststore.location, …;
    /// docs/security.md)
    #[arg(
        long,
        global = true,
        env = "KAFKADEMO_COMMAND_CONFIG",
        value_name = "FILE"
    )]
    pub command_config: Option<std::path::PathBuf>,

    /// A client property, over the file's (repeatable), e.g.
    /// -X security.protocol=SSL -X ssl.truststore.location=ca.pem
    #[arg(short = 'X', global = true, value_name = "KEY=VALUE", action = clap::ArgAction::Append)]
    pub property: Vec<String>,

    /// How long to wait for a broker to accept and answer (e.g. 500ms, 10s)
    #[arg(
        long,
        global = true,
        env = "KAFKADEMO_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub timeout: Duration,

    /// Which data path produces and fetches: auto (the `kafka` crate where
    /// every broker accepts its requests, Kafka 0.11 to 3.9; record batches
    /// over kafka-protocol otherwise, Kafka 4.x), classic or modern
    /// [default: the profile's, else auto]
    #[arg(long, global = true, env = "KAFKADEMO_PROTOCOL", value_name = "PATH")]
    pub protocol: Option<DataPath>,

    /// Use this named profile (`kafkademo profile add`) [default: the one
    /// `profile use` chose]; --brokers, --command-config and --protocol
    /// (flags or their env variables) win over its settings
    #[arg(long, global = true, env = "KAFKADEMO_PROFILE", value_name = "NAME",
          add = ArgValueCandidates::new(Names::Profiles))]
    pub profile: Option<String>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG also works
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe, delete, alter, truncate and reassign topics
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Write numbers of one parity on a schedule (`produce even`), or stdin lines
    Produce(Produce),
    /// Print records as they arrive, labelled with their origin
    Consume(Consume),
    /// Measure throughput and latency against the broker
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Serve a web page that shows a topic's records live and sends messages to it
    Web(Web),
    /// Chat in a room (topic chat.ROOM) with everyone else in it
    Chat(Chat),
    /// Consumer groups: list, describe with lag, reset offsets
    #[command(subcommand)]
    Group(GroupCommand),
    /// Stream processing: windowed counts whose state survives crashes
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Kafka Connect: connectors and their tasks, through a worker's REST API
    Connect(Connect),
    /// A live dashboard of brokers, topics and consumer groups (lag in
    /// records and time, a health judgement), or one snapshot with --once
    Top(Top),
    /// The cluster: its brokers and controller, preferred leader elections
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Transactional producers as their coordinators see them: list, describe
    #[command(subcommand)]
    Transactions(TransactionsCommand),
    /// Print the shell completion script for bash, zsh or fish (topic and
    /// group names complete live, asked of the broker)
    #[command(
        after_help = "Load it in the current shell: `source <(kafkademo completions bash)`; \
zsh: `source <(kafkademo completions zsh)`; fish: `kafkademo completions fish | source`. \
Or save it where the shell looks (`make install` does). The script calls kafkademo back \
(KAFKADEMO_COMPLETE=SHELL) for each completion, so names come from the brokers of \
KAFKA_BROKERS or the active profile, within 2 s; none are offered when no broker answers."
    )]
    Completions(Completions),
    /// Named clusters: brokers, command config and protocol under a name
    /// (stored in ~/.config/kafkademo), picked with --profile or `profile use`
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Write the man pages (kafkademo.1 and one page per subcommand) into DIR
    #[command(hide = true)]
    Man(Man),
}

#[derive(Debug, Subcommand)]
pub enum TransactionsCommand {
    /// Every transactional id the brokers coordinate, with its producer id
    /// and state (kafka-transactions.sh list)
    List {
        /// Only ids in this state (Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort, Empty, Dead, PrepareEpochFence);
        /// repeat for several
        #[arg(long, value_name = "STATE")]
        state: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One transactional id: producer id and epoch, state, timeout, and the
    /// partitions of its open transaction (kafka-transactions.sh describe)
    Describe {
        /// The transactional id
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Save a profile from the global options given with it: --brokers,
    /// --command-config, --protocol and -X KEY=VALUE (written mode 0600)
    #[command(
        after_help = "Example: kafkademo profile add prod --brokers k1:9093,k2:9093 \
--command-config ~/prod.properties --protocol modern. Stored in \
$XDG_CONFIG_HOME/kafkademo/profiles/NAME.properties (else ~/.config/kafkademo/…). \
A profile or its command config that holds a password is refused while anyone but \
its owner can read it (chmod 600). docs/cli.md."
    )]
    Add {
        /// The profile's name: letters, digits, '.', '_', '-'
        name: String,
        /// Replace a profile of that name
        #[arg(long)]
        force: bool,
    },
    /// Use this profile from now on (--profile and KAFKADEMO_PROFILE still win)
    Use {
        #[arg(add = ArgValueCandidates::new(Names::Profiles))]
        name: String,
    },
    /// Every profile, the one in use marked with *
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete a profile (and stop using it)
    Remove {
        #[arg(add = ArgValueCandidates::new(Names::Profiles))]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct Completions {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct Man {
    /// Directory to write the pages into (created if missing)
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Keys: Tab / arrows move between panes and rows, Enter opens a topic or group, \
Esc goes back, q or Ctrl-C quits. Not on a terminal (or with --once) it prints one snapshot and \
exits. See docs/monitoring.md for what every number means."
)]
pub struct Top {
    /// How often to take a snapshot of the cluster
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How far back rates, lag in time and the judgements look
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub window: Duration,
    /// Print one snapshot and exit (implied when stdout is not a terminal)
    #[arg(long)]
    pub once: bool,
    /// With --once: watch for this long (a snapshot every --interval)
    /// before printing, so rates, lag in time and judgements have a history
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub collect: Duration,
    /// What --once prints: text tables or one JSON document
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show internal topics (__consumer_offsets, __transaction_state) too
    #[arg(long)]
    pub internal: bool,
    /// Only topics whose name contains TEXT, and groups whose name or topics do
    #[arg(long = "match", value_name = "TEXT")]
    pub matching: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The cluster id, the controller, and every broker with its address and rack
    Describe {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Move leadership back to each partition's preferred replica (the first
    /// in its replica list), e.g. after a broker restart
    ElectLeaders(ElectLeaders),
}

#[derive(Debug, Args)]
pub struct ElectLeaders {
    /// Only this topic's partitions [default: every partition of the cluster]
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Only this partition of --topic
    #[arg(long, short = 'p', requires = "topic", value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A worker to try it on: `make connect-up` (docs/connect.md). \
    Every call waits at most --timeout; no worker answering exits 69."
)]
pub struct Connect {
    /// The Kafka Connect worker's REST address
    #[arg(
        long,
        global = true,
        env = "KAFKADEMO_CONNECT_URL",
        default_value = "http://127.0.0.1:8083",
        value_name = "URL"
    )]
    pub connect_url: String,

    #[command(subcommand)]
    pub command: ConnectCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Every connector with its state and each task's: a FAILED task shows
    /// even when its connector says RUNNING
    List {
        /// Output format (json: Connect's own answer)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The connector plugins the worker has (with --all: transforms,
    /// converters and predicates too)
    Plugins {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Create a connector from a config file (Java .properties as in Kafka's
    /// config/connect-*.properties, or JSON), checked by the worker first;
    /// waits up to --timeout for its tasks to start
    Create {
        /// Its name [default: the file's `name`]
        name: Option<String>,
        /// The connector's config
        #[arg(long, short = 'c', value_name = "FILE")]
        config: std::path::PathBuf,
    },
    /// Check a connector config without creating anything: each refused
    /// setting on a line of its own (exit 65 when any)
    Validate {
        #[arg(long, short = 'c', value_name = "FILE")]
        config: std::path::PathBuf,
    },
    /// One connector: its config (secrets masked), tasks, the worker each
    /// runs on, its topics; a failed task's reason in one line (-v: the trace)
    Describe {
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Pause a connector and its tasks (they keep their resources)
    Pause { name: String },
    /// Resume a paused or stopped connector
    Resume { name: String },
    /// Stop a connector: its tasks shut down (its offsets can then be reset)
    Stop { name: String },
    /// Restart a connector and its tasks (--failed-only: just the failed ones)
    Restart {
        name: String,
        #[arg(long)]
        failed_only: bool,
    },
    /// Delete a connector (its offsets stay, so a new one of that name resumes)
    Delete { name: String },
    /// A connector's committed offsets (Kafka Connect 3.6 or later, KIP-875);
    /// --reset forgets them (the connector must be stopped first)
    Offsets {
        name: String,
        #[arg(long)]
        reset: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Count records per key per time window into a compacted topic of upserts
    #[command(after_help = "Output records: key KEY@WINDOW_START_MS, value \
        {\"key\":…,\"window_start\":…,\"window_end\":…,\"count\":…} (ms since the epoch). \
        State and input position live together in the changelog topic ID-count-store-changelog, \
        so a restarted instance neither loses nor double-counts a record (docs/streams.md).")]
    Count(StreamCount),
    /// Pass on the records that meet every condition (a stateless step),
    /// partition by partition, each exactly once through crashes
    Filter(StreamFilter),
    /// A table view: the latest value per key of a (compacted) topic,
    /// printed as it changes
    Table(StreamTable),
    /// Forget an application: delete its internal topics and its group's offsets
    Reset(StreamReset),
}

#[derive(Debug, Args)]
pub struct StreamCount {
    /// Topic to read
    #[arg(long, short = 'i')]
    pub input: String,
    /// Compacted topic the counts go to (created if missing)
    #[arg(long, short = 'o')]
    pub output: String,
    /// The consumer group, and the prefix of every internal topic
    #[arg(long)]
    pub application_id: String,
    /// Window size; windows are aligned to the epoch
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub window: Duration,
    /// Hopping windows: a new window every DURATION (at most --window)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub hop: Option<Duration>,
    /// How long after a window's end a late record still counts
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub grace: Duration,
    /// updates: every change of a count; final: each window once, when it closes
    #[arg(long, value_enum, default_value_t = Emit::Updates)]
    pub emit: Emit,
    /// Event time from this JSON field of the value (ms since the epoch or
    /// RFC 3339) instead of the record's timestamp
    #[arg(long, value_name = "NAME")]
    pub time_field: Option<String>,
    /// Event time without --time-field: record (the record's timestamp), or
    /// wallclock (when this processor reads it: counts then depend on when
    /// they are read, and a replay gives others)
    #[arg(long, value_enum, default_value_t = Timestamps::Record, conflicts_with = "time_field")]
    pub timestamps: Timestamps,
    /// Key from this JSON field of the value instead of the record key (an
    /// input of several partitions is repartitioned by it first)
    #[arg(long, value_name = "NAME")]
    pub key_field: Option<String>,
    /// With no input for this long, stream time moves to the wall clock, so
    /// a quiet topic's last windows close (--emit final)
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub idle_flush: Duration,
    /// Stop after this long [default: run until Ctrl-C]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Stop once every input partition is read to its end (after restoring)
    #[arg(long)]
    pub exit_at_end: bool,
    /// Without a heartbeat for this long, the group drops this instance
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub session_timeout: Duration,
    /// exactly-once: each flush is a Kafka transaction with the input
    /// offsets under the group's generation, so an instance the group
    /// dropped (a pause) cannot write (modern data path); unfenced: exact
    /// through crashes only, no transactions (either data path)
    #[arg(long, value_enum, default_value = "exactly-once")]
    pub guarantee: Guarantee,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Guarantee {
    ExactlyOnce,
    Unfenced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    Updates,
    Final,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Timestamps {
    Record,
    Wallclock,
}

#[derive(Debug, Args)]
pub struct StreamFilter {
    /// Topic to read
    #[arg(long, short = 'i')]
    pub input: String,
    /// Topic to write, partition for partition (created if missing)
    #[arg(long, short = 'o')]
    pub output: String,
    /// The consumer group, and the prefix of the position topic
    #[arg(long)]
    pub application_id: String,
    /// Pass records with this key
    #[arg(long)]
    pub key: Option<String>,
    /// Pass records whose JSON value has FIELD equal to VALUE
    #[arg(long = "where", value_name = "FIELD=VALUE", value_parser = parse_field_value)]
    pub field: Option<(String, String)>,
    /// Pass records whose value is an even or odd whole number
    #[arg(long, value_enum)]
    pub parity: Option<Parity>,
    /// Stop once every input partition is read to its end
    #[arg(long)]
    pub exit_at_end: bool,
    /// Without a heartbeat for this long, the group drops this instance
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub session_timeout: Duration,
    /// exactly-once: each write a Kafka transaction with the input offsets
    /// under the group's generation (modern data path); unfenced: exact
    /// through crashes only
    #[arg(long, value_enum, default_value = "exactly-once")]
    pub guarantee: Guarantee,
}

fn parse_field_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((field, value)) if !field.is_empty() => Ok((field.to_string(), value.to_string())),
        _ => Err("expected FIELD=VALUE, e.g. city=Oslo".into()),
    }
}

#[derive(Debug, Args)]
pub struct StreamTable {
    /// Topic to read from its beginning, e.g. the output of `stream count`
    #[arg(long, short = 't', add = ArgValueCandidates::new(Names::Topics))]
    pub topic: String,
    /// Stop once every partition is read to its end, then print the table
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Output format: text lines, or one JSON object per change
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StreamReset {
    /// The application to forget
    #[arg(long)]
    pub application_id: String,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the consumer groups of the cluster, with their state
    List,
    /// Show a group's state, members, and each partition's committed offset, end offset and lag
    Describe(GroupDescribe),
    /// Move a group's committed offsets (prints the plan; --execute applies it)
    ResetOffsets(GroupReset),
}

#[derive(Debug, Args)]
pub struct GroupDescribe {
    /// Group name
    #[arg(add = ArgValueCandidates::new(Names::Groups))]
    pub group: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime"])))]
pub struct GroupReset {
    /// Group name
    #[arg(add = ArgValueCandidates::new(Names::Groups))]
    pub group: String,
    /// Topic whose offsets to move
    #[arg(long, short = 't', add = ArgValueCandidates::new(Names::Topics))]
    pub topic: String,
    /// To the oldest record still kept
    #[arg(long)]
    pub to_earliest: bool,
    /// To the end: skip everything not yet read
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset; one outside [earliest, latest] is clamped, with a note
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub to_offset: Option<i64>,
    /// To the first record stamped at or after TIME (RFC 3339, e.g.
    /// 2026-12-01T10:00:00Z); the log end when every record is older
    #[arg(long, value_name = "TIME", value_parser = parse_datetime)]
    pub to_datetime: Option<std::time::SystemTime>,
    /// Apply the plan (the group must have no members)
    #[arg(long)]
    pub execute: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Parity {
    Even,
    Odd,
}

#[derive(Debug, Args)]
#[command(
    after_help = "With a parity, writes records keyed by origin (A for even, B for odd) whose value is the number. \
Without one, every stdin line becomes a record; empty lines are skipped."
)]
pub struct Produce {
    /// even or odd; leave out to send stdin lines instead
    #[arg(value_enum, value_name = "PARITY")]
    pub parity_arg: Option<Parity>,
    /// Same as the positional PARITY
    #[arg(long, value_enum, conflicts_with = "parity_arg")]
    pub parity: Option<Parity>,
    /// Topic to write to
    #[arg(long, short = 't', default_value = "sample", add = ArgValueCandidates::new(Names::Topics))]
    pub topic: String,
    /// Replicas that must have a record before it counts as sent: 0, 1 or
    /// all [default: 1; all with --transactional-id]
    #[arg(long, value_parser = parse_acks)]
    pub acks: Option<Acks>,
    /// Time between two numbers [default: 1s for even, 2s for odd]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Label carried in each record's key [default: A for even, B for odd]
    #[arg(long)]
    pub origin: Option<String>,
    /// Stop after this many numbers [default: run until Ctrl-C]
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Stop after this long, e.g. 20s [default: run until Ctrl-C]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// First number [default: 0 for even, 1 for odd]
    #[arg(long, allow_negative_numbers = true)]
    pub start: Option<i64>,
    /// Keep retrying a send through leader changes and broker restarts for this long (0s: fail at once)
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_for: Duration,
    /// Stdin lines: split each line at the first SEP into key and value
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Stdin lines: write every record to this partition
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
    /// Stdin lines: a batch that cannot be sent (after --retry-for) is
    /// reported on stderr with its line numbers, and the next lines are
    /// sent, as Kafka's console producer does; exit 1 at end of input if
    /// any line was not acknowledged
    #[arg(long, conflicts_with = "transactional_id")]
    pub keep_going: bool,

    /// A record header for every record, KEY=VALUE (repeatable; needs the
    /// modern data path, which auto picks on Kafka 4.x: --protocol modern
    /// on 3.9)
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, Vec<u8>)>,
    /// Stdin lines: write in Kafka transactions under this id (modern data
    /// path, acks all): a transaction per batch of lines read (or per
    /// --transaction-size), committed at end of input, aborted on Ctrl-C or
    /// an error, so a read_committed reader sees none of an aborted one
    #[arg(long, value_name = "ID")]
    pub transactional_id: Option<String>,
    /// With --transactional-id: commit every N records instead of every batch
    #[arg(long, value_name = "N", requires = "transactional_id", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_size: Option<u64>,
}

#[derive(Debug, Args)]
#[command(after_help = crate::render::format::HELP)]
pub struct Consume {
    /// Topic to read
    #[arg(long, short = 't', default_value = "sample", add = ArgValueCandidates::new(Names::Topics))]
    pub topic: String,
    /// Start at the oldest record (without it: only new records)
    #[arg(long)]
    pub from_beginning: bool,
    /// Join this consumer group: members share the partitions, offsets are
    /// committed, a restart resumes after the last commit
    #[arg(long, short = 'g', add = ArgValueCandidates::new(Names::Groups))]
    pub group: Option<String>,
    /// Group: the coordinator drops a member silent for this long
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", requires = "group")]
    pub session_timeout: Duration,
    /// Group: how often a member sends a heartbeat
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION", requires = "group")]
    pub heartbeat_interval: Duration,
    /// Group: how long the coordinator waits for members to rejoin a rebalance
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", requires = "group")]
    pub rebalance_timeout: Duration,
    /// Exit after this many records
    #[arg(long)]
    pub count: Option<u64>,
    /// Start at the first record stamped at or after TIME: RFC 3339
    /// (2026-12-01T10:00:00Z) or a time ago (-5m); the log end where all
    /// records are older
    #[arg(long, value_name = "TIME", value_parser = parse_start_time, conflicts_with_all = ["from_beginning", "group"], allow_hyphen_values = true)]
    pub from_time: Option<std::time::SystemTime>,
    /// Exit once every partition is read to its end
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Stop each partition at its first record stamped at or after TIME
    /// (not printed), and exit when all have stopped (kcat's -o e@TIME):
    /// RFC 3339 (2026-12-01T10:00:00Z) or a time ago (-5m); a TIME still
    /// to come is waited for
    #[arg(long, value_name = "TIME", value_parser = parse_start_time, conflicts_with = "group", allow_hyphen_values = true)]
    pub until_time: Option<std::time::SystemTime>,
    /// Read only this partition (repeatable) [default: all]
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..), conflicts_with = "group")]
    pub partition: Vec<i32>,
    /// How each record is shown, one line a record: text (`A 42`,
    /// `key<TAB>value` or the value), json (one object a line: topic,
    /// partition, offset, key, value, timestamp, headers), changes
    /// (Debezium change events as `INSERT numbers {id: 4, n: 8}`, other
    /// records as text), or a format string with kcat's -f letters, e.g.
    /// '%t [%p] @%o %k: %s' (any value holding '%'; one line a record, a
    /// final \n optional; keys, values and headers escaped as in text)
    #[arg(long, default_value = "text", value_parser = parse_consume_format, value_name = "FORMAT",
          add = ArgValueCandidates::new(Names::ConsumeFormats))]
    pub format: ConsumeFormat,
    /// Text lines with each key and value byte as stored: no escapes, so a
    /// value holding a newline or a terminal escape is written as is (for
    /// piping to tools that want the bytes; without it, text lines show
    /// control characters escaped, on a terminal and in a pipe alike)
    #[arg(long)]
    pub raw: bool,
    /// read-committed: records of aborted transactions never show, and
    /// reading stops at the last stable offset (on the modern data path,
    /// which it then picks under --protocol auto); read-uncommitted: every
    /// record. [default: read-committed on the modern data path, as kcat;
    /// read-uncommitted on the classic one, which has no transactions]
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationArg>,
}

/// `consume`'s output formats: `Format`'s, Debezium change events, and
/// kcat's format strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeFormat {
    /// `A 42`, `key<TAB>value` or the value
    Text,
    /// one object a line: topic, partition, offset, key, value, …
    Json,
    /// Debezium change events (Kafka Connect JSON, with or without schema)
    /// as `INSERT numbers {id: 4, n: 8}`, `UPDATE numbers id=4 n: 8 → 10`,
    /// `DELETE numbers id=4`; other records as text
    Changes,
    /// A format string with kcat's letters (any value holding '%')
    Template(crate::render::format::Template),
}

fn parse_consume_format(s: &str) -> Result<ConsumeFormat, String> {
    match s {
        "text" => Ok(ConsumeFormat::Text),
        "json" => Ok(ConsumeFormat::Json),
        "changes" => Ok(ConsumeFormat::Changes),
        s if s.contains('%') => s.parse().map(ConsumeFormat::Template),
        _ => Err(
            "expected text, json, changes, or a format string with kcat's letters such as '%t [%p] @%o %k: %s'"
                .into(),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    ReadCommitted,
    ReadUncommitted,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Type a line to send it. /who lists who is here, /quit (or Ctrl-D, or Ctrl-C) leaves; \
//text sends /text. Stdin may be a pipe. Record format, presence and timings: docs/chat.md."
)]
pub struct Chat {
    /// Your name in the room: 1 to 32 characters, no control characters
    #[arg(long, short = 'u')]
    pub user: String,
    /// Room to join: ASCII letters, digits, '_' and '-'; created on first use
    #[arg(long, short = 'r', default_value = "general")]
    pub room: String,
    /// How many earlier messages (and join/leave notices) to show on joining
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub history: u32,
    /// Time between two presence heartbeats (100ms to 20s); a member is gone after 3 missed
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub heartbeat: Duration,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Open the printed URL in a browser. Records appear as they arrive (newest first); \
the form at the top sends a message to the topic. Window counts (`stream count`'s output) also show \
as a live bar chart; a compacted topic is read up to 10 000 records back so the chart starts with \
the current counts. Ctrl-C stops the server. See docs/web.md."
)]
pub struct Web {
    /// Topic to show and send to
    #[arg(long, short = 't', default_value = "sample", add = ArgValueCandidates::new(Names::Topics))]
    pub topic: String,
    /// Address to listen on; anything but loopback lets other machines in
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: std::net::IpAddr,
    /// Port to listen on; 0 picks a free one
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How many of the latest records a newly opened page shows
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub history: u32,
    /// Time between two cluster snapshots for /metrics and the cluster page
    /// (taken only while scraped or a cluster page is open)
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub metrics_interval: Duration,
}

/// The longest duration any flag takes. Far beyond any real use, and far
/// below where `Instant::now() + d` overflows (and panics).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Every duration flag: humantime's syntax (500ms, 10s, 2h), at most
/// `MAX_DURATION`, so a typo like `300000000000years` is a usage error.
/// `KEY=VALUE` for `--header`: the key up to the first '=', not empty.
fn parse_header(s: &str) -> Result<(String, Vec<u8>), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.as_bytes().to_vec())),
        _ => Err("expected KEY=VALUE with a non-empty key".into()),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d > MAX_DURATION {
        return Err("at most 365 days".into());
    }
    Ok(d)
}

/// An RFC 3339 time with its offset (Z or ±HH:MM), e.g. 2026-12-01T10:00:00Z.
fn parse_datetime(s: &str) -> Result<std::time::SystemTime, String> {
    s.parse::<jiff::Timestamp>()
        .and_then(std::time::SystemTime::try_from)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-12-01T10:00:00Z ({e})"))
}

/// An RFC 3339 time, or `-DURATION` for that long ago (`-5m`, `-1h30m`).
pub fn parse_start_time(s: &str) -> Result<std::time::SystemTime, String> {
    match s.strip_prefix('-') {
        Some(ago) => {
            let d = parse_duration(ago)?;
            std::time::SystemTime::now()
                .checked_sub(d)
                .ok_or_else(|| format!("{s} is before the epoch"))
        }
        None => parse_datetime(s).map_err(|e| format!("{e}, or a time ago such as -5m")),
    }
}

fn parse_acks(s: &str) -> Result<Acks, String> {
    s.parse()
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write records as fast as the broker takes them: records/s, MB/s, request latency
    Produce(BenchProduce),
    /// Read records from the start of a topic: records/s, MB/s
    Consume(BenchConsume),
    /// Produce at a steady rate and time each record until it is consumed
    E2e(BenchE2e),
    /// Feed a running stream processor at a steady rate and time each record
    /// until its window count is in the output (docs/performance.md)
    StreamE2e(BenchStreamE2e),
    /// Run and measure the clients scripts/bench-compare.sh compares, on one
    /// Kafka line, appending to its results.tsv
    #[command(hide = true)]
    Compare(BenchCompare),
    /// Measure what watching a cluster costs (top, web's /metrics), for scripts/top-cost.sh
    #[command(hide = true)]
    TopCost(BenchTopCost),
    /// Run and measure the stream processors scripts/stream-bench.sh compares,
    /// writing its results.tsv
    #[command(hide = true)]
    StreamCompare(BenchStreamCompare),
    /// Draw scripts/bench-compare.sh's throughput chart (SVG) from its results.tsv
    #[command(hide = true)]
    Plot(BenchPlot),
    /// Print scripts/bench-compare.sh's Markdown tables from its results.tsv
    #[command(hide = true)]
    Table(BenchTable),
    /// Print scripts/stream-bench.sh's Markdown tables and goal lines from its results.tsv
    #[command(hide = true)]
    StreamTable(BenchStreamTable),
}

#[derive(Debug, Args)]
pub struct BenchStreamTable {
    /// The results.tsv scripts/stream-bench.sh wrote
    pub results: std::path::PathBuf,
    /// Where to write the goal lines
    #[arg(long)]
    pub goals: std::path::PathBuf,
    /// The run's settings, as the script was given them (for the row labels)
    #[arg(long)]
    pub records: String,
    #[arg(long)]
    pub keys: String,
    #[arg(long)]
    pub partitions: String,
    #[arg(long)]
    pub rounds: String,
    #[arg(long)]
    pub rate: String,
    #[arg(long)]
    pub restore_processors: String,
    #[arg(long)]
    pub retention_processors: String,
    #[arg(long)]
    pub spans: String,
    #[arg(long)]
    pub grace: String,
}

#[derive(Debug, Args)]
pub struct BenchCompare {
    /// The Kafka line measured (results.tsv's first column), e.g. 3.9.2 or "3.9.2 stock"
    #[arg(long)]
    pub kafka: String,
    /// The results.tsv to append to (its header is written when it is new)
    #[arg(long)]
    pub results: std::path::PathBuf,
    /// Where each run's output and the record files go
    #[arg(long)]
    pub work: std::path::PathBuf,
    /// The clients, in round 1's order (later rounds rotate it)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "classic,modern,java,kcat"
    )]
    pub clients: Vec<BenchClient>,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    #[arg(long, default_value_t = 3_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records_100: u64,
    #[arg(long, default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records_1k: u64,
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records_console: u64,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// The broker's pid, for its CPU time (/proc/PID/stat); without it broker CPU reads -1
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// scripts/kafka-class.sh, which runs the Java perf tools of --kafka's version
    #[arg(long)]
    pub java_runner: Option<std::path::PathBuf>,
    /// Prefix of every topic's name (secure.a. on a secured broker)
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// Part of every topic's name, to tell runs apart
    #[arg(long, default_value_t = std::process::id())]
    pub run_id: u32,
    /// The SSL listener: adds the modern-tls and kcat-tls rows
    #[arg(long, requires = "tls_dir")]
    pub tls_brokers: Option<String>,
    /// Where ca.pem, alice.pem and alice-key.pem are
    #[arg(long, requires = "tls_brokers")]
    pub tls_dir: Option<std::path::PathBuf>,
    /// Only the console producers (the stock broker's rows)
    #[arg(long)]
    pub console_only: bool,
    /// Produce this many records of 100 B first, not measured (a broker just started)
    #[arg(long)]
    pub warm: Option<u64>,
}

/// `bench stream-compare`'s options: scripts/stream-bench.sh's, which its
/// header explains. Lists are blank-separated, as the script takes them.
#[derive(Debug, Args)]
pub struct BenchStreamCompare {
    /// The results.tsv to write (a fresh one)
    #[arg(long)]
    pub results: std::path::PathBuf,
    /// Where the processors' logs and Kafka Streams' state directory go
    #[arg(long)]
    pub work: std::path::PathBuf,
    /// scripts/kstreams.sh, which runs the Kafka Streams peer
    #[arg(long)]
    pub kstreams: std::path::PathBuf,
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub keys: u32,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// E2E_RATE: records/s of the latency figure
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// E2E_DURATION (Ns or Nms)
    #[arg(long, default_value = "20s", value_parser = parse_bench_duration)]
    pub duration: String,
    /// E2E_WARMUP (Ns or Nms)
    #[arg(long, default_value = "2s", value_parser = parse_bench_duration)]
    pub warmup: String,
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub restore_records: u64,
    #[arg(
        long,
        default_value = "kafkademo-eos kafkademo-unfenced kstreams-eos kstreams-alos"
    )]
    pub processors: String,
    #[arg(long, default_value = "kafkademo-eos kstreams-eos")]
    pub restore_processors: String,
    /// Spans of event time: Ns, Nm, Nh or Nd each
    #[arg(long, default_value = "1h 1d")]
    pub spans: String,
    /// Grace of the retention figure's windows (Ns or Nms)
    #[arg(long, default_value = "300s", value_parser = parse_bench_duration)]
    pub retention_grace: String,
    #[arg(long, default_value = "kafkademo-eos kafkademo-unfenced kstreams-eos")]
    pub retention_processors: String,
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_ticks: u32,
    #[arg(long, default_value = "throughput latency restore retention")]
    pub figures: String,
    /// Part of every topic's and application's name, to tell runs apart
    #[arg(long, default_value_t = std::process::id())]
    pub run_id: u32,
}

/// A duration as the stream processors and `bench stream-e2e` take it.
fn parse_bench_duration(s: &str) -> Result<String, String> {
    let digits = s.strip_suffix("ms").or_else(|| s.strip_suffix('s'));
    match digits {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not a duration such as 20s or 500ms")),
    }
}

#[cfg(test)]
mod bench_stream_compare_tests {
    use super::*;

    #[test]
    fn stream_compare_takes_the_scripts_durations_and_numbers() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["kafkademo", "bench", "stream-compare", "--results", "r"];
            argv.extend(["--work", "w", "--kstreams", "k"]);
            argv.extend(extra);
            Cli::try_parse_from(argv)
        };
        let Command::Bench(BenchCommand::StreamCompare(a)) =
            parse(&["--duration", "500ms", "--spans", "1h 1d"])
                .unwrap()
                .command
        else {
            panic!("not bench stream-compare")
        };
        assert_eq!((a.duration.as_str(), a.warmup.as_str()), ("500ms", "2s"));
        assert_eq!(a.spans, "1h 1d");
        for bad in ["20", "s", "1.5s", "2m", "ms"] {
            assert!(parse(&["--warmup", bad]).is_err(), "{bad}");
        }
        assert!(parse(&["--records", "0"]).is_err());
    }
}

/// A client `bench compare` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchClient {
    /// kafkademo on the kafka crate's data path (Kafka 3.x only)
    Classic,
    /// kafkademo on record batches over kafka-protocol
    Modern,
    /// Kafka's ProducerPerformance and ConsumerPerformance
    Java,
    Kcat,
}

#[derive(Debug, Args)]
pub struct BenchTable {
    /// The results.tsv scripts/bench-compare.sh wrote
    pub results: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchPlot {
    /// The results.tsv scripts/bench-compare.sh wrote
    pub results: std::path::PathBuf,
    /// The Kafka line to draw (the file's first column), e.g. 3.9.2
    #[arg(long)]
    pub kafka: String,
    /// Write the SVG here [default: stdout]
    #[arg(long, short = 'o')]
    pub out: Option<std::path::PathBuf>,
}

/// `bench top-cost`: the sizes and durations of scripts/top-cost.sh.
#[derive(Debug, Args)]
pub struct BenchTopCost {
    /// Topics kd-cost-NNNN to make (and consumer groups, one per topic)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub topics: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Records per topic
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Seconds of each measured stretch (idle, top --collect, web unscraped, scraped)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..))]
    pub duration: u64,
    /// How many times `top --once` is run
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Seconds of `top --collect` whose requests the broker's request log counts
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub verify: u64,
    /// The broker's JVM, for its CPU time (/proc/PID/stat) and its log directory
    #[arg(long)]
    pub broker_pid: u32,
    /// The broker's server.log, when its command line names no kafka.logs.dir
    #[arg(long)]
    pub server_log: Option<std::path::PathBuf>,
    /// The broker's Kafka version, for the machine lines
    #[arg(long, default_value = "?")]
    pub kafka: String,
    /// The table (metric, value, unit, how)
    #[arg(long, default_value = "target/top-cost.tsv")]
    pub out: std::path::PathBuf,
    /// Where the raw outputs go
    #[arg(long, default_value = "target/top-cost")]
    pub work: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchStreamE2e {
    /// The processor's input topic
    #[arg(long, short = 'i')]
    pub input: String,
    /// The processor's output topic (it must exist: start the processor first)
    #[arg(long, short = 'o')]
    pub output: String,
    /// Records per second to produce, each with a key of its own
    #[arg(long, short = 'r', default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rate: u64,
    /// How long to produce, e.g. 20s
    #[arg(long, short = 'd', default_value = "20s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub duration: Duration,
    /// Records of the first DURATION are not in the figures
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub warmup: Duration,
    /// Output format of the report
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Where a benchmark runs and how it reports; shared by every bench mode.
#[derive(Debug, Args)]
pub struct BenchTarget {
    /// Topic to use [default: a temporary topic, created for the run and deleted after]
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Partitions of the temporary topic
    #[arg(long, default_value_t = 4, conflicts_with = "topic",
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub partitions: i32,
    /// text for people, json for machines (one object)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(
    after_help = "MB/s counts key and value bytes in MiB (2^20), as Kafka's own perf tools do. \
Each connection runs on its own thread and writes its own share of the partitions."
)]
pub struct BenchProduce {
    /// Records to send
    #[arg(long, short = 'n', default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Bytes in each record's value (no key)
    #[arg(long, short = 's', default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    pub record_size: u64,
    /// Replicas that must have a record before the broker answers: 0, 1 or all
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    pub acks: Acks,
    /// Records per produce request [default: about 256 KiB worth, at most 5000 (1000 on the modern data path)]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: Option<u64>,
    /// Compression of each request: none, gzip, snappy, lz4 or zstd (lz4 and zstd on the modern data path)
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// Producer connections to the broker, each on its own thread
    #[arg(long, short = 'c', default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub connections: u64,
    #[command(flatten)]
    pub target: BenchTarget,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Reads from the earliest offset of every partition until --records are read. \
Without --topic, a temporary topic is filled with --records records of --record-size bytes first (not timed)."
)]
pub struct BenchConsume {
    /// Records to read
    #[arg(long, short = 'n', default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Bytes in each record's value, when filling the temporary topic
    #[arg(long, short = 's', default_value_t = 100, conflicts_with = "topic",
          value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    pub record_size: u64,
    /// Bytes asked for per partition in each fetch
    #[arg(long, default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(i32).range(1024..=64 * 1024 * 1024))]
    pub fetch_bytes: i32,
    /// Skip the check of each record's CRC (librdkafka skips it by default; Java checks)
    #[arg(long)]
    pub no_crc_check: bool,
    /// Reader connections to the broker, each on its own thread with its own partitions
    #[arg(long, short = 'c', default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub connections: u64,
    #[command(flatten)]
    pub target: BenchTarget,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each record carries the time it was due; its latency is from then until a reader \
on another connection has it, so a producer that falls behind shows up in the figures."
)]
pub struct BenchE2e {
    /// Records per second to produce
    #[arg(long, short = 'r', default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,
    /// How long to produce, e.g. 10s
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub duration: Duration,
    /// Bytes in each record's value (at least 24: time, sequence and run id)
    #[arg(long, short = 's', default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(24..=1024 * 1024))]
    pub record_size: u64,
    /// Replicas that must have a record before the broker answers: 0, 1 or all
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    pub acks: Acks,
    #[command(flatten)]
    pub target: BenchTarget,
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create(TopicCreate),
    /// List topics
    List(TopicList),
    /// Show a topic's partitions with leader, replicas and in-sync replicas
    Describe(TopicDescribe),
    /// Delete a topic
    Delete(TopicDelete),
    /// Add partitions, or set and delete topic settings
    Alter(TopicAlter),
    /// Every setting of a topic: its value, where it comes from, and the
    /// default a topic override replaces
    Configs(TopicConfigs),
    /// Delete the records before an offset or a time (DeleteRecords): the
    /// partitions' log start moves up
    Truncate(TopicTruncate),
    /// Move partitions' replicas to other brokers (or another order), and
    /// wait until Kafka has copied them
    Reassign(TopicReassign),
    /// Each partition's earliest and latest offset, and with --time the
    /// first offset stamped at or after a time (as kafka-get-offsets)
    Offsets(TopicOffsets),
}

#[derive(Debug, Args)]
pub struct TopicOffsets {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    /// Also each partition's first offset stamped at or after TIME: RFC
    /// 3339 (2026-12-01T10:00:00Z) or a time ago (-5m); the log end where
    /// every record is older
    #[arg(long, value_name = "TIME", value_parser = parse_start_time, allow_hyphen_values = true)]
    pub time: Option<std::time::SystemTime>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["partitions", "configs", "delete_configs"])))]
pub struct TopicAlter {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    /// The new partition count: more than now (Kafka cannot take partitions away)
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: Option<i32>,
    /// Set a topic setting, e.g. retention.ms=60000 (repeatable)
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// Remove the topic's own value of a setting: it goes back to the
    /// broker's default (repeatable)
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopicConfigs {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TopicTruncate {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    /// Delete the records before this offset, or stamped before this TIME:
    /// RFC 3339 (2026-12-01T10:00:00Z) or a time ago (-5m); `end` deletes all
    #[arg(long, value_name = "OFFSET|TIME", value_parser = parse_before, allow_hyphen_values = true)]
    pub before: Before,
    /// Only this partition [default: every partition]
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
}

/// Where `topic truncate` cuts a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Offset(i64),
    Time(std::time::SystemTime),
    End,
}

fn parse_before(s: &str) -> Result<Before, String> {
    if s == "end" {
        return Ok(Before::End);
    }
    if let Ok(n) = s.parse::<i64>() {
        if n >= 0 {
            return Ok(Before::Offset(n));
        }
    }
    parse_start_time(s)
        .map(Before::Time)
        .map_err(|e| format!("expected an offset, `end`, or a time: {e}"))
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples: --replicas 2,0,1 (every partition, or --partition P), \
    --replicas 0:1,2 --replicas 1:2,0 (partition:brokers). The first broker of a list is \
    the partition's preferred leader. A list longer or shorter than now changes the \
    replication factor: Kafka allows it, and the plan says so."
)]
pub struct TopicReassign {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    /// Broker ids for the replicas: ID,ID,… or PARTITION:ID,ID,… (repeatable)
    #[arg(long, required = true, value_name = "[P:]IDS", value_parser = parse_replicas)]
    pub replicas: Vec<(Option<i32>, Vec<i32>)>,
    /// Only this partition (with a list without PARTITION:)
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
    /// How long to wait for Kafka to finish (0s: only start it)
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Duration,
}

fn parse_replicas(s: &str) -> Result<(Option<i32>, Vec<i32>), String> {
    let (partition, list) = match s.split_once(':') {
        Some((p, list)) => (
            Some(
                p.trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| format!("'{p}' is not a partition number"))?,
            ),
            list,
        ),
        None => (None, s),
    };
    let ids: Vec<i32> = list
        .split(',')
        .map(|id| {
            id.trim()
                .parse::<i32>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| format!("'{id}' is not a broker id"))
        })
        .collect::<Result<_, _>>()?;
    if let Some(dup) = ids
        .iter()
        .find(|id| ids.iter().filter(|x| x == id).count() > 1)
    {
        return Err(format!(
            "broker {dup} is named twice: a broker holds one replica of a partition"
        ));
    }
    Ok((partition, ids))
}

#[derive(Debug, Args)]
pub struct TopicCreate {
    /// Topic name: letters, digits, '.', '_', '-', at most 249 characters
    pub name: String,
    /// Number of partitions
    #[arg(long, short = 'p', default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,
    /// Copies of each partition, on distinct brokers
    #[arg(long, short = 'r', default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
    pub replication_factor: i16,
    /// A topic setting, e.g. retention.ms=60000 (repeatable)
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// Succeed quietly when the topic already exists
    #[arg(long)]
    pub if_not_exists: bool,
}

#[derive(Debug, Args)]
pub struct TopicList {
    /// Include internal topics such as __consumer_offsets
    #[arg(long)]
    pub internal: bool,
}

#[derive(Debug, Args)]
pub struct TopicDescribe {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TopicDelete {
    /// Topic name
    #[arg(add = ArgValueCandidates::new(Names::Topics))]
    pub name: String,
    /// Succeed quietly when the topic does not exist
    #[arg(long)]
    pub if_exists: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Output format for records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Values only the brokers or the profile store know (topic, group and
/// profile names), offered at Tab. The arguments say which kind they take;
/// the completion command registers the source (`NAMES`) when the shell
/// asks, so this module depends on no command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Topics,
    Groups,
    Profiles,
    ConsumeFormats,
}

/// Where `Names` come from; unset (nothing offered) outside completion.
pub static NAMES: std::sync::OnceLock<fn(Names) -> Vec<CompletionCandidate>> =
    std::sync::OnceLock::new();

impl ValueCandidates for Names {
    fn candidates(&self) -> Vec<CompletionCandidate> {
        NAMES.get().map_or_else(Vec::new, |source| source(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kafkademo").chain(args.iter().copied()))
    }

    #[test]
    fn topic_create_takes_partitions_and_configs() {
        let cli = parse(&[
            "topic",
            "create",
            "t",
            "--partitions",
            "3",
            "--config",
            "retention.ms=1000",
            "-c",
            "cleanup.policy=compact",
        ])
        .unwrap();
        let Command::Topic(TopicCommand::Create(c)) = cli.command else {
            panic!("not topic create")
        };
        assert_eq!(c.partitions, 3);
        assert_eq!(
            c.configs,
            vec![
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact".into())
            ]
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(parse(&["topic", "create", "t", "--partitions", "0"]).is_err());
        assert!(parse(&["topic", "create", "t", "--config", "novalue"]).is_err());
        assert!(parse(&["--timeout", "soon", "topic", "list"]).is_err());
        assert!(parse(&["-q", "-v", "topic", "list"]).is_err());
    }

    #[test]
    fn reset_offsets_takes_an_rfc3339_time() {
        let Command::Group(GroupCommand::ResetOffsets(r)) = parse(&[
            "group",
            "reset-offsets",
            "g",
            "-t",
            "t",
            "--to-datetime",
            "2026-12-01T10:00:00.5+01:00",
        ])
        .unwrap()
        .command
        else {
            panic!("not reset-offsets")
        };
        let at = r.to_datetime.unwrap();
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(ms, 1_796_115_600_500);
        for bad in ["2026-12-01", "2026-12-01T10:00:00", "yesterday"] {
            let e = parse(&[
                "group",
                "reset-offsets",
                "g",
                "-t",
                "t",
                "--to-datetime",
                bad,
            ]);
            assert!(e.unwrap_err().to_string().contains("RFC 3339"), "{bad}");
        }
        assert!(parse(&[
            "group",
            "reset-offsets",
            "g",
            "-t",
            "t",
            "--to-latest",
            "--to-datetime",
            "2026-12-01T10:00:00Z"
        ])
        .is_err());
    }

    #[test]
    fn truncate_takes_an_offset_end_or_a_time() {
        let before = |v: &str| {
            parse(&["topic", "truncate", "t", "--before", v]).map(|cli| match cli.command {
                Command::Topic(TopicCommand::Truncate(t)) => t.before,
                _ => panic!("not topic truncate"),
            })
        };
        assert_eq!(before("42").unwrap(), Before::Offset(42));
        assert_eq!(before("end").unwrap(), Before::End);
        assert!(matches!(before("-5m").unwrap(), Before::Time(_)));
        assert!(matches!(
            before("2026-12-01T10:00:00Z").unwrap(),
            Before::Time(_)
        ));
        assert!(before("soon").is_err());
    }

    #[test]
    fn replicas_are_a_list_or_partition_and_list() {
        assert_eq!(parse_replicas("2,0,1"), Ok((None, vec![2, 0, 1])));
        assert_eq!(parse_replicas("3:1,2"), Ok((Some(3), vec![1, 2])));
        assert!(parse_replicas("1,1").unwrap_err().contains("named twice"));
        assert!(parse_replicas("x:1").is_err());
        assert!(parse_replicas("1,-2").is_err());
        assert!(parse(&["topic", "reassign", "t"]).is_err());
        assert!(parse(&["topic", "alter", "t"]).is_err());
        assert!(parse(&["cluster", "elect-leaders", "--partition", "1"]).is_err());
    }

    #[test]
    fn durations_are_capped_at_365_days() {
        assert_eq!(parse_duration("365days"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("366days"), Err("at most 365 days".into()));
        assert!(parse(&["--timeout", "300000000000years", "topic", "list"]).is_err());
        assert!(parse(&["produce", "even", "--interval", "2years"]).is_err());
        assert!(parse(&["consume", "-g", "g", "--session-timeout", "1000years"]).is_err());
    }

    #[test]
    fn parity_is_positional_or_a_flag() {
        for args in [&["produce", "even"][..], &["produce", "--parity", "even"]] {
            let Command::Produce(p) = parse(args).unwrap().command else {
                panic!("not produce")
            };
            assert_eq!(p.parity_arg.or(p.parity), Some(Parity::Even));
        }
        assert!(parse(&["produce", "even", "--parity", "odd"]).is_err());
        assert!(parse(&["produce", "seven"]).is_err());
        assert!(parse(&["produce", "even", "--interval", "fast"]).is_err());
        assert!(parse(&["produce", "even", "--acks", "2"]).is_err());
        assert!(parse(&["produce", "even", "--count", "3", "--duration", "1s"]).is_err());
    }

    #[test]
    fn keep_going_is_off_by_default_and_not_for_transactions() {
        let Command::Produce(p) = parse(&["produce"]).unwrap().command else {
            panic!("not produce")
        };
        assert!(!p.keep_going);
        let Command::Produce(p) = parse(&["produce", "--keep-going"]).unwrap().command else {
            panic!("not produce")
        };
        assert!(p.keep_going);
        assert!(parse(&["produce", "--keep-going", "--transactional-id", "t"]).is_err());
    }

    #[test]
    fn chat_needs_a_user_and_defaults_the_room() {
        let Command::Chat(c) = parse(&["chat", "--user", "bob"]).unwrap().command else {
            panic!("not chat")
        };
        assert_eq!(
            (c.user.as_str(), c.room.as_str(), c.history),
            ("bob", "general", 20)
        );
        assert_eq!(c.heartbeat, Duration::from_secs(2));
        assert!(parse(&["chat"]).is_err());
        assert!(parse(&["chat", "-u", "a", "--history", "-1"]).is_err());
        assert!(parse(&["chat", "-u", "a", "--heartbeat", "often"]).is_err());
    }

    #[test]
    fn web_defaults_to_loopback_port_8080() {
        let Command::Web(w) = parse(&["web"]).unwrap().command else {
            panic!("not web")
        };
        assert_eq!(
            (w.topic.as_str(), w.bind.to_string(), w.port, w.history),
            ("sample", "127.0.0.1".to_string(), 8080, 50)
        );
        let Command::Web(w) = parse(&["web", "--bind", "::1", "--port", "0", "--history", "0"])
            .unwrap()
            .command
        else {
            panic!("not web")
        };
        assert_eq!(
            (w.bind.to_string(), w.port, w.history),
            ("::1".into(), 0, 0)
        );
        assert!(parse(&["web", "--bind", "localhost"]).is_err());
        assert!(parse(&["web", "--port", "70000"]).is_err());
        assert!(parse(&["web", "--history", "-1"]).is_err());
    }

    #[test]
    fn bench_options_parse_and_check_ranges() {
        let cli = parse(&[
            "bench",
            "produce",
            "--records",
            "10",
            "--record-size",
            "1000",
            "--acks",
            "all",
            "--compression",
            "snappy",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Bench(BenchCommand::Produce(p)) = cli.command else {
            panic!("not bench produce")
        };
        assert_eq!((p.records, p.record_size, p.acks), (10, 1000, Acks::All));
        assert_eq!(p.compression, Compression::Snappy);
        assert_eq!(p.target.format, Format::Json);
        assert!(p.target.topic.is_none());
        assert!(parse(&["bench", "produce", "--records", "0"]).is_err());
        assert!(parse(&["bench", "produce", "--compression", "brotli"]).is_err());
        assert!(parse(&["bench", "produce", "--topic", "t", "--partitions", "3"]).is_err());
        assert!(parse(&["bench", "consume", "--topic", "t", "--record-size", "3"]).is_err());
        assert!(parse(&["bench", "e2e", "--record-size", "8"]).is_err());
        let Command::Bench(BenchCommand::E2e(e)) =
            parse(&["bench", "e2e", "--rate", "500", "--duration", "3s"])
                .unwrap()
                .command
        else {
            panic!("not bench e2e")
        };
        assert_eq!((e.rate, e.duration), (500, Duration::from_secs(3)));
    }

    #[test]
    fn stream_count_takes_record_or_wallclock_timestamps() {
        let count = |extra: &[&str]| {
            let mut args = vec![
                "stream",
                "count",
                "-i",
                "in",
                "-o",
                "out",
                "--application-id",
                "a",
                "--window",
                "10s",
            ];
            args.extend_from_slice(extra);
            parse(&args).map(|cli| match cli.command {
                Command::Stream(StreamCommand::Count(c)) => c,
                _ => panic!("not stream count"),
            })
        };
        assert_eq!(count(&[]).unwrap().timestamps, Timestamps::Record);
        assert_eq!(
            count(&["--timestamps", "wallclock"]).unwrap().timestamps,
            Timestamps::Wallclock
        );
        assert_eq!(
            count(&["--timestamps", "record"]).unwrap().timestamps,
            Timestamps::Record
        );
        assert!(count(&["--timestamps", "log-append"]).is_err());
        // A time field is the event time: a second source of it is refused.
        assert!(count(&["--time-field", "t", "--timestamps", "wallclock"]).is_err());
        assert_eq!(
            count(&["--time-field", "t"]).unwrap().timestamps,
            Timestamps::Record
        );
    }

    #[test]
    fn only_consume_shows_change_events() {
        let Command::Consume(c) = parse(&["consume", "--format", "changes"]).unwrap().command
        else {
            panic!("not consume")
        };
        assert_eq!(c.format, ConsumeFormat::Changes);
        assert!(parse(&["stream", "table", "-t", "t", "--format", "changes"]).is_err());
        assert!(parse(&["bench", "produce", "--format", "changes"]).is_err());
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse(&["topic", "list", "--brokers", "h:1", "--timeout", "250ms"]).unwrap();
        assert_eq!(cli.global.brokers.as_deref(), Some("h:1"));
        assert_eq!(cli.global.timeout, Duration::from_millis(250));
    }
}
