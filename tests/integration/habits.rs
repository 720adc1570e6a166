//! The habits every Kafka CLI has: shell completion (with live topic and
//! group names), man pages, and `make install` into a fresh HOME.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fixture::*;

/// A directory of its own under the system temp dir, removed at the end.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique_topic(tag));
        std::fs::create_dir_all(&dir).expect("cannot make a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kafkademo"))
        .parent()
        .expect("the binary has a directory")
}

/// What bash offers for the last word of `words` after
/// `source <(kafkademo completions bash)`, as a user pressing Tab gets it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = format!(
        "source <(kafkademo completions bash) || exit 3\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_TYPE=9\n\
         _clap_complete_kafkademo kafkademo '{last}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        last = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    shell("bash", &["--norc", "--noprofile", "-c", &script])
}

#[test]
fn bash_completes_subcommands_flags_and_live_topic_names() {
    let a = Topic::new("complete", 1);
    let prefix = a.name.clone();
    let b_name = format!("{prefix}-b");
    ok(&["topic", "create", &b_name]);
    let _b = Topic {
        name: b_name.clone(),
    };

    assert_eq!(bash_completes(&["kafkademo", "compl"]), ["completions"]);
    assert!(bash_completes(&["kafkademo", "consume", "--from-b"])
        .contains(&"--from-beginning".to_string()));
    assert_eq!(
        bash_completes(&["kafkademo", "consume", "--format", ""]),
        ["text", "json", "changes"]
    );
    assert_eq!(
        bash_completes(&["kafkademo", "consume", "--topic", &prefix]),
        [prefix.clone(), b_name.clone()]
    );
    assert_eq!(
        bash_completes(&["kafkademo", "topic", "describe", &format!("{prefix}-")]),
        [b_name]
    );
}

#[test]
fn bash_completes_live_group_names() {
    let t = Topic::new("complete-group", 1);
    let group = format!("{}-g", t.name);
    run_with_input(&["produce", "-t", &t.name], "one\n");
    ok(&[
        "consume",
        "-t",
        &t.name,
        "--group",
        &group,
        "--from-beginning",
        "--count",
        "1",
    ]);
    assert_eq!(
        bash_completes(&["kafkademo", "group", "describe", &t.name]),
        [group]
    );
}

/// What fish offers for `line` after `kafkademo completions fish | source`:
/// its own `complete -C`, which completes a command line without a
/// terminal. Descriptions (after a tab) are cut off.
fn fish_completes(line: &str) -> Vec<String> {
    let script = format!(
        "kafkademo completions fish | source; or exit 3\ncomplete -C {}",
        shell_quote(line)
    );
    let out = shell("fish", &["--no-config", "-c", &script]);
    out.iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// What zsh offers for the last word of `words` after
/// `source <(kafkademo completions zsh)`: the script's completer run with
/// zsh's `words` and `CURRENT` set as the line editor sets them, and
/// `_describe` (compsys' display) printing the candidates it is given.
fn zsh_completes(words: &[&str]) -> Vec<String> {
    let script = format!(
        "compdef() {{ :; }}; _describe() {{ print -rl -- \"${{(@P)3}}\"; }}\n\
         source <(kafkademo completions zsh) || exit 3\n\
         words=({}); CURRENT={}\n\
         _clap_dynamic_completer_kafkademo",
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
        words.len()
    );
    let out = shell("zsh", &["-f", "-c", &script]);
    out.iter()
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs a shell (installed by scripts/test-setup.sh) with kafkademo on PATH.
fn shell(name: &str, args: &[&str]) -> Vec<String> {
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(name)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::temp_dir())
        .env("KAFKA_BROKERS", brokers())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {name} ({e}): run scripts/test-setup.sh once, as make test does")
        });
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{name} completion failed:\n{run:?}");
    run.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn zsh_and_fish_complete_subcommands_and_live_topic_names() {
    let a = Topic::new("complete-zf", 1);
    let prefix = a.name.clone();
    let b_name = format!("{prefix}-b");
    ok(&["topic", "create", &b_name]);
    let _b = Topic {
        name: b_name.clone(),
    };
    let both = vec![prefix.clone(), b_name.clone()];

    assert_eq!(fish_completes("kafkademo compl"), ["completions"]);
    assert_eq!(
        fish_completes(&format!("kafkademo consume --topic {prefix}")),
        both
    );
    assert_eq!(
        fish_completes(&format!("kafkademo topic describe {prefix}-")),
        both[1..]
    );

    assert_eq!(zsh_completes(&["kafkademo", "compl"]), ["completions"]);
    assert_eq!(
        zsh_completes(&["kafkademo", "consume", "--topic", &prefix]),
        both
    );
    assert_eq!(
        zsh_completes(&["kafkademo", "topic", "describe", &format!("{prefix}-")]),
        [b_name]
    );
}

#[test]
fn completion_without_a_broker_offers_nothing_and_says_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafkademo"))
        .args(["--", "kafkademo", "topic", "describe", "x"])
        .env_clear()
        .env("KAFKADEMO_COMPLETE", "fish")
        .env("KAFKA_BROKERS", "127.0.0.1:1")
        .output()
        .expect("cannot run kafkademo");
    let run = Run::from(out);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", ""),
        "{run:?}"
    );
}

#[test]
fn every_shell_gets_a_script_that_calls_kafkademo_back() {
    for (shell, marker) in [
        ("bash", "complete -o nospace"),
        ("zsh", "#compdef kafkademo"),
        ("fish", "complete --keep-order"),
    ] {
        let r = ok(&["completions", shell]);
        assert!(r.stdout.contains(marker), "{shell}:\n{r:?}");
        assert!(r.stdout.contains("KAFKADEMO_COMPLETE"), "{shell}:\n{r:?}");
    }
    let r = run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("[possible values: bash, zsh, fish]"),
        "{r:?}"
    );
}

#[test]
fn man_pages_cover_every_subcommand_and_render() {
    let dir = TempDir::new("man");
    let pages = dir.0.join("man1");
    ok(&["man", pages.to_str().unwrap()]);
    for page in [
        "kafkademo.1",
        "kafkademo-consume.1",
        "kafkademo-topic-create.1",
    ] {
        assert!(pages.join(page).is_file(), "no {page}");
    }
    assert!(
        !pages.join("kafkademo-man.1").exists(),
        "the hidden man command got a page"
    );
    let out = Command::new("man")
        .arg("-l")
        .arg(pages.join("kafkademo-consume.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("cannot run man");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "man failed: {out:?}");
    assert!(text.contains("kafkademo-consume"), "{text}");
    assert!(text.contains("--from-beginning"), "{text}");
    assert!(text.contains("Start at the oldest record"), "{text}");
}

/// `make install` with HOME an empty directory: cargo installs from the
/// registry already fetched (--offline), reusing the test build's artifacts
/// (--debug, so the test takes seconds; the release install is the same
/// command without it), and the installed binary, pages and scripts work.
#[test]
fn make_install_works_in_a_fresh_home() {
    let home = TempDir::new("home");
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let target_dir = bin_dir().parent().expect("the target dir");
    let out = Command::new("make")
        .args(["install", "CARGO_INSTALL_FLAGS=--offline --debug"])
        .current_dir(repo_root())
        .env("HOME", &home.0)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("PREFIX")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("cannot run make");
    let run = Run::from(out);
    assert_eq!(run.code, 0, "make install failed:\n{run:?}");
    let prefix = home.0.join(".local");
    let installed = prefix.join("bin/kafkademo");
    let version = Command::new(&installed)
        .arg("--version")
        .env_clear()
        .env("HOME", &home.0)
        .output()
        .expect("the installed kafkademo does not run");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("kafkademo {}\n", env!("CARGO_PKG_VERSION"))
    );
    for file in [
        "share/man/man1/kafkademo.1",
        "share/man/man1/kafkademo-consume.1",
        "share/bash-completion/completions/kafkademo",
        "share/zsh/site-functions/_kafkademo",
        "share/fish/vendor_completions.d/kafkademo.fish",
    ] {
        let text = std::fs::read_to_string(prefix.join(file)).unwrap_or_default();
        assert!(!text.is_empty(), "{file} missing or empty");
    }
}

#[test]
fn consume_format_strings_take_kcats_letters() {
    let t = Topic::new("format", 1);
    run_with_input(
        &[
            "produce",
            "-t",
            &t.name,
            "--protocol",
            "modern",
            "--key-separator",
            ":",
            "--header",
            "trace=abc",
        ],
        "k1:hello\nk2:tab\there\n",
    );
    let r = ok(&[
        "consume",
        "-t",
        &t.name,
        "--protocol",
        "modern",
        "--from-beginning",
        "--exit-at-end",
        "--format",
        "%t [%p] @%o %k: %s (%K/%S) %h 100%%\\n",
    ]);
    assert_eq!(
        r.stdout,
        format!(
            "{0} [0] @0 k1: hello (2/5) trace=abc 100%\n{0} [0] @1 k2: tab\\there (2/8) trace=abc 100%\n",
            t.name
        )
    );
    // %T: the record's timestamp, as a number of milliseconds.
    let r = ok(&[
        "consume",
        "-t",
        &t.name,
        "--protocol",
        "modern",
        "--from-beginning",
        "-e",
        "--format",
        "%o:%T",
    ]);
    let stamps: Vec<i64> = r
        .stdout
        .lines()
        .map(|l| l.split_once(':').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(stamps.len(), 2, "{r:?}");
    assert!(stamps.iter().all(|&ms| ms > 1_700_000_000_000), "{r:?}");
    // The named formats stay; a bad letter is a usage error naming it.
    let r = ok(&[
        "consume",
        "-t",
        &t.name,
        "--from-beginning",
        "-e",
        "--format",
        "text",
    ]);
    assert_eq!(r.stdout, "k1\thello\nk2\ttab\\there\n");
    let r = run(&["consume", "-t", &t.name, "-e", "--format", "%q"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("unknown format letter %q"), "{r:?}");
}

/// Milliseconds since the epoch as RFC 3339 (UTC), by date(1).
fn rfc3339(ms: i64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}.{:03}", ms / 1000, ms % 1000),
            "+%Y-%m-%dT%H:%M:%S.%3NZ",
        ])
        .output()
        .expect("cannot run date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Each line's `%o %T`, as (offset, timestamp).
fn stamps(topic: &str) -> Vec<(i64, i64)> {
    let r = ok(&[
        "consume",
        "-t",
        topic,
        "--protocol",
        "modern",
        "--from-beginning",
        "-e",
        "--format",
        "%o %T",
    ]);
    r.stdout
        .lines()
        .map(|l| {
            let (o, t) = l.split_once(' ').unwrap();
            (o.parse().unwrap(), t.parse().unwrap())
        })
        .collect()
}

/// Writes a, b, c to partition 0, waits for the clock to pass c's
/// timestamp, then writes d, e: returns c's and d's timestamps (d later).
fn five_records_two_times(topic: &str) -> (i64, i64) {
    let produce = |lines: &str| {
        let r = run_with_input(
            &[
                "produce",
                "-t",
                topic,
                "--protocol",
                "modern",
                "--partition",
                "0",
            ],
            lines,
        );
        assert_eq!(r.code, 0, "{r:?}");
    };
    produce("a\nb\nc\n");
    let last = stamps(topic)[2].1;
    wait_until(Duration::from_secs(10), "the clock to move on", || {
        now_ms() > last
    });
    produce("d\ne\n");
    let d = stamps(topic)[3].1;
    (last, d)
}

#[test]
fn consume_until_time_stops_before_the_first_later_record() {
    let t = Topic::new("until", 2);
    let (last, d) = five_records_two_times(&t.name);
    assert!(d > last);
    // Partition 1 has no record: it stops at once; partition 0 before d.
    // Without --exit-at-end: the command ends by itself.
    for path in ["auto", "modern"] {
        let r = ok(&[
            "consume",
            "-t",
            &t.name,
            "--protocol",
            path,
            "--from-beginning",
            "--until-time",
            &rfc3339(d),
            "--format",
            "%p %o %s",
        ]);
        assert_eq!(r.stdout, "0 0 a\n0 1 b\n0 2 c\n", "{path}");
    }
    // A time before every record: nothing; after every record: all of them.
    let r = ok(&[
        "consume",
        "-t",
        &t.name,
        "--from-beginning",
        "--until-time",
        &rfc3339(1000),
    ]);
    assert_eq!(r.stdout, "");
    let r = ok(&[
        "consume",
        "-t",
        &t.name,
        "--from-beginning",
        "--until-time",
        "-0s",
    ]);
    assert_eq!(r.stdout, "a\nb\nc\nd\ne\n");
    assert_eq!(run(&["consume", "--until-time", "soon"]).code, 2);
    assert_eq!(run(&["consume", "-g", "g", "--until-time", "-5m"]).code, 2);
}

#[test]
fn consume_until_a_time_to_come_waits_for_it() {
    let t = Topic::new("until-later", 1);
    // Far enough ahead that the consumer starts and shows a record first.
    let until = now_ms() + 8000;
    let consumer = Running::start(&[
        "consume",
        "-t",
        &t.name,
        "--protocol",
        "modern",
        "--until-time",
        &rfc3339(until),
    ]);
    // Before the time, records are shown as they come.
    let produce = |line: &str| {
        let r = run_with_input(&["produce", "-t", &t.name, "--protocol", "modern"], line);
        assert_eq!(r.code, 0, "{r:?}");
    };
    wait_until(
        Duration::from_secs(6),
        "the consumer to show a record",
        || {
            produce("early\n");
            poll(Duration::from_millis(500), || {
                consumer.lines().first().cloned()
            })
            .is_some()
        },
    );
    wait_until(Duration::from_secs(20), "the time to pass", || {
        now_ms() > until
    });
    produce("late\n");
    let r = consumer.finish(Duration::from_secs(30));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.lines().all(|l| l == "early"), "{r:?}");
    assert!(!r.stdout.contains("late"), "{r:?}");
}

#[test]
fn topic_offsets_shows_earliest_latest_and_the_offset_at_a_time() {
    let t = Topic::new("offsets", 2);
    let (_, d) = five_records_two_times(&t.name);
    ok(&[
        "topic",
        "truncate",
        &t.name,
        "--before",
        "1",
        "--partition",
        "0",
    ]);

    let r = ok(&["topic", "offsets", &t.name]);
    assert_eq!(
        r.stdout,
        "PARTITION  EARLIEST  LATEST\n0          1         5\n1          0         0\n"
    );
    let r = ok(&["topic", "offsets", &t.name, "--time", &rfc3339(d)]);
    assert_eq!(
        r.stdout,
        "PARTITION  EARLIEST  LATEST  AT-TIME\n0          1         5       3\n1          0         0       0\n"
    );
    let r = ok(&[
        "topic",
        "offsets",
        &t.name,
        "--time",
        &rfc3339(d),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(
        v,
        serde_json::json!({"topic": t.name, "partitions": [
            {"partition": 0, "earliest": 1, "latest": 5, "at_time": 3},
            {"partition": 1, "earliest": 0, "latest": 0, "at_time": 0},
        ]})
    );
    fails(
        &["topic", "offsets", &format!("{}-none", t.name)],
        1,
        "does not exist",
    );
}

/// kafkademo with HOME (and nothing else of the user's) in `home`, no
/// KAFKA_BROKERS, and `env` besides.
fn in_home(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = kafkademo(args);
    cmd.env_remove("KAFKA_BROKERS")
        .env("HOME", home)
        .envs(env.iter().copied());
    Run::from(cmd.output().expect("cannot run kafkademo"))
}

fn assert_ok(r: &Run) {
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn profiles_name_clusters_and_flags_still_win() {
    let t = Topic::new("profile", 1);
    let home = TempDir::new("profile-home");
    let h = home.0.as_path();
    let live = brokers();
    let dir = h.join(".config/kafkademo/profiles");

    let r = in_home(h, &["profile", "add", "here", "--brokers", &live], &[]);
    assert_ok(&r);
    assert_eq!(
        r.stdout,
        format!(
            "Added profile here ({}).\n",
            dir.join("here.properties").display()
        )
    );
    assert_ok(&in_home(
        h,
        &[
            "profile",
            "add",
            "nowhere",
            "--brokers",
            "127.0.0.1:1",
            "--protocol",
            "modern",
        ],
        &[],
    ));
    let r = in_home(
        h,
        &["profile", "add", "here", "--brokers", "127.0.0.1:2"],
        &[],
    );
    assert_eq!(r.code, 78, "{r:?}");
    assert!(r.stderr.contains("profile 'here' exists"), "{r:?}");
    let r = in_home(h, &["profile", "list"], &[]);
    assert_eq!(
        r.stdout,
        format!("  here\tbrokers {live}\n  nowhere\tbrokers 127.0.0.1:1, protocol modern\n")
    );

    // --profile picks one; `profile use` makes one the default.
    let r = in_home(h, &["--profile", "here", "topic", "list"], &[]);
    assert!(r.stdout.lines().any(|l| l == t.name), "{r:?}");
    let r = in_home(h, &["profile", "use", "nowhere"], &[]);
    assert_eq!(
        r.stdout,
        "Using profile nowhere (brokers 127.0.0.1:1, protocol modern).\n"
    );
    assert!(in_home(h, &["profile", "list"], &[])
        .stdout
        .contains("* nowhere"));
    let r = in_home(h, &["topic", "list", "--timeout", "1s"], &[]);
    assert_eq!(r.code, 69, "{r:?}");
    assert!(r.stderr.contains("127.0.0.1:1"), "{r:?}");

    // Brokers from a flag or KAFKA_BROKERS beat the profile in use; so does
    // a profile named by KAFKADEMO_PROFILE.
    for r in [
        in_home(h, &["topic", "list", "--brokers", &live], &[]),
        in_home(h, &["topic", "list"], &[("KAFKA_BROKERS", &live)]),
        in_home(h, &["topic", "list"], &[("KAFKADEMO_PROFILE", "here")]),
    ] {
        assert!(r.stdout.lines().any(|l| l == t.name), "{r:?}");
    }
    // An empty KAFKADEMO_PROFILE is no profile at all (the make targets run
    // so): the default brokers, not the profile's 127.0.0.1:1.
    let r = in_home(
        h,
        &["topic", "list", "--timeout", "1s"],
        &[("KAFKADEMO_PROFILE", "")],
    );
    assert!(
        r.code == 0 || (r.code == 69 && r.stderr.contains("127.0.0.1:9092")),
        "{r:?}"
    );
    let r = in_home(h, &["--profile", "gone", "topic", "list"], &[]);
    assert_eq!(r.code, 78, "{r:?}");
    assert!(r.stderr.contains("no profile 'gone'"), "{r:?}");

    // Removing the profile in use: back to no profile.
    assert_eq!(
        in_home(h, &["profile", "remove", "nowhere"], &[]).stdout,
        "Removed profile nowhere.\n"
    );
    assert_eq!(
        in_home(h, &["profile", "list"], &[]).stdout,
        format!("  here\tbrokers {live}\n")
    );
    assert!(!dir.join("nowhere.properties").exists());
    assert_eq!(in_home(h, &["profile", "remove", "nowhere"], &[]).code, 78);

    // XDG_CONFIG_HOME moves the store.
    let xdg = h.join("xdg");
    let xdg_env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    assert_ok(&in_home(
        h,
        &["profile", "add", "x", "--brokers", &live],
        &xdg_env,
    ));
    assert!(xdg.join("kafkademo/profiles/x.properties").is_file());
    assert_eq!(
        in_home(h, &["profile", "list", "--format", "json"], &xdg_env).stdout,
        format!(
            "[{{\"name\":\"x\",\"in_use\":false,\"brokers\":\"{live}\",\"command_config\":null,\"protocol\":null}}]\n"
        )
    );
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_profile_holding_a_password_is_used_only_while_its_owner_alone_reads_it() {
    use std::os::unix::fs::PermissionsExt;
    let t = Topic::new("profile-secret", 1);
    let home = TempDir::new("profile-secret-home");
    let h = home.0.as_path();
    let live = brokers();
    let jaas = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
                required username=\"alice\" password=\"alice-secret\";";
    assert_ok(&in_home(
        h,
        &["profile", "add", "secret", "--brokers", &live, "-X", jaas],
        &[],
    ));
    let file = h.join(".config/kafkademo/profiles/secret.properties");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "profile add writes it for its owner alone"
    );
    let listed = |r: &Run| r.code == 0 && r.stdout.lines().any(|l| l == t.name);
    let r = in_home(h, &["--profile", "secret", "topic", "list"], &[]);
    assert!(listed(&r), "{r:?}");

    chmod(&file, 0o644);
    let r = in_home(h, &["--profile", "secret", "topic", "list"], &[]);
    assert_eq!(r.code, 78, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "kafkademo: error: {0} holds a password and others can read it (mode 644): not used\n  hint: chmod 600 {0}\n",
            file.display()
        )
    );
    assert!(!r.stderr.contains("alice-secret"));
    chmod(&file, 0o600);
    assert!(listed(&in_home(
        h,
        &["--profile", "secret", "topic", "list"],
        &[]
    )));

    // The same for the command config a profile names.
    let client = h.join("client.properties");
    std::fs::write(&client, format!("bootstrap.servers={live}\n{jaas}\n")).unwrap();
    chmod(&client, 0o640);
    assert_ok(&in_home(
        h,
        &[
            "profile",
            "add",
            "cc",
            "--command-config",
            client.to_str().unwrap(),
        ],
        &[],
    ));
    let r = in_home(h, &["--profile", "cc", "topic", "list"], &[]);
    assert_eq!(r.code, 78, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("hint: chmod 600 {}", client.display())),
        "{r:?}"
    );
    chmod(&client, 0o600);
    assert!(listed(&in_home(
        h,
        &["--profile", "cc", "topic", "list"],
        &[]
    )));
}
