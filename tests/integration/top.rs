//! `kafkademo top`: one snapshot as JSON and as text (exact lag, partitions,
//! ISR), a group judged STOP once a window passes without a commit, and the
//! dashboard in a real terminal (tmux), which `q` and Ctrl-C leave restored.

use std::time::Duration;

use serde_json::Value;

use crate::fixture::*;

const SOON: Duration = Duration::from_secs(30);

/// A topic with 5 records in partition 0 and 3 in partition 1, and a group
/// (no members) that committed offset 2 in both: lag 3 and 1.
fn topic_with_a_lagging_group(tag: &str) -> (Topic, String) {
    let topic = Topic::new(tag, 2);
    for (partition, lines) in [("0", "a\nb\nc\nd\ne\n"), ("1", "f\ng\nh\n")] {
        let r = run_with_input(
            &["produce", "--topic", &topic.name, "--partition", partition],
            lines,
        );
        assert_eq!(r.code, 0, "{r:?}");
    }
    let group = format!("{}-g", topic.name);
    ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic.name,
        "--to-offset",
        "2",
        "--execute",
    ]);
    (topic, group)
}

fn json(args: &[&str]) -> Value {
    let r = ok(args);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}:\n{r:?}"))
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("no {name:?} in {list:#}"))
}

#[test]
fn once_as_json_has_exact_lag_partitions_and_isr() {
    let (topic, group) = topic_with_a_lagging_group("top-json");
    let v = json(&["top", "--once", "--format", "json"]);
    let broker = v["brokers"][0]["id"].as_i64().expect("a broker id");
    assert_eq!(v["brokers"][0]["status"], "up", "{v:#}");
    assert_eq!(v["controller"], broker, "{v:#}");

    let t = named(&v["topics"], &topic.name);
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{t:#}");
    for (p, end) in parts.iter().zip([5, 3]) {
        assert_eq!(p["leader"], broker, "{t:#}");
        assert_eq!(p["replicas"], serde_json::json!([broker]), "{t:#}");
        assert_eq!(p["isr"], serde_json::json!([broker]), "{t:#}");
        assert_eq!(p["log_end"], end, "{t:#}");
    }
    assert_eq!(
        (t["under_replicated"].clone(), t["offline"].clone()),
        (0.into(), 0.into())
    );

    let g = named(&v["groups"], &group);
    assert_eq!(g["state"], "Empty", "{g:#}");
    assert_eq!(g["members"], 0, "{g:#}");
    assert_eq!(g["lag"], 4, "{g:#}");
    let rows: Vec<(i64, i64, i64, i64)> = g["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["topic"], topic.name.as_str());
            let n = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k} in {p:#}"));
            (n("partition"), n("committed"), n("log_end"), n("lag"))
        })
        .collect();
    assert_eq!(rows, [(0, 2, 5, 3), (1, 2, 3, 1)], "{g:#}");
}

#[test]
fn once_as_text_shows_the_groups_row_with_its_lag() {
    let (topic, group) = topic_with_a_lagging_group("top-text");
    // not a terminal: --once is implied
    let r = ok(&["top", "--match", &topic.name]);
    let row = |first: &str| -> Vec<String> {
        r.stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|c| c.first().map(String::as_str) == Some(first))
            .unwrap_or_else(|| panic!("no row for {first}:\n{r:?}"))
    };
    // GROUP STATE MEMBERS LAG TIME-LAG OUT/S STATUS KIND
    assert_eq!(row(&group)[..4], [&group, "Empty", "0", "4"], "{r:?}");
    // TOPIC PARTITIONS IN/S OUT/S UNDER-REPLICATED OFFLINE
    let t = row(&topic.name);
    assert_eq!(
        (t[1].as_str(), t[4].as_str(), t[5].as_str()),
        ("2", "0", "0"),
        "{r:?}"
    );
    let partition_rows: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() > 2 && c[0] == group && c[1] == topic.name)
        .collect();
    assert_eq!(partition_rows.len(), 2, "{r:?}");
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
    assert_eq!(partition_rows[0][2..6], ["0", "2", "5", "3"], "{r:?}");
    assert_eq!(partition_rows[1][2..6], ["1", "2", "3", "1"], "{r:?}");
}

#[test]
fn a_group_that_stopped_committing_is_stop_once_the_window_passes() {
    let (topic, lagging) = topic_with_a_lagging_group("top-stop");
    // a second group that has read everything
    let caught_up = format!("{}-done", topic.name);
    ok(&[
        "group",
        "reset-offsets",
        &caught_up,
        "--topic",
        &topic.name,
        "--to-latest",
        "--execute",
    ]);
    let status = |v: &Value, g: &str| named(&v["groups"], g)["status"].clone();
    // one look judges nothing yet
    let v = json(&[
        "top",
        "--once",
        "--format",
        "json",
        "--window",
        "2s",
        "--match",
        &topic.name,
    ]);
    assert_eq!(status(&v, &lagging), "OK", "{v:#}");
    // a window without a commit while 4 records wait, and nobody in the group
    let v = json(&[
        "top",
        "--once",
        "--format",
        "json",
        "--window",
        "2s",
        "--interval",
        "500ms",
        "--collect",
        "3s",
        "--match",
        &topic.name,
    ]);
    assert!(v["covered_ms"].as_u64().unwrap() >= 2000, "{v:#}");
    assert_eq!(status(&v, &lagging), "STOP", "{v:#}");
    assert_eq!(status(&v, &caught_up), "OK", "{v:#}");
    assert_eq!(named(&v["groups"], &caught_up)["lag"], 0, "{v:#}");
    assert_eq!(named(&v["groups"], &caught_up)["time_lag"], 0, "{v:#}");
    // nothing was written during the window: lag in time is older than it
    assert_eq!(
        named(&v["groups"], &lagging)["time_lag"],
        "> window",
        "{v:#}"
    );
}

#[test]
fn once_without_a_broker_is_the_usual_error() {
    fails(
        &["--brokers", "127.0.0.1:1", "top", "--once"],
        69,
        "127.0.0.1:1",
    );
}

#[test]
fn the_dashboard_in_a_real_terminal_opens_a_topic_and_quits_on_q_and_ctrl_c() {
    let (topic, group) = topic_with_a_lagging_group("top-tty");
    // bash shows top's exit code and whether the terminal is back in
    // canonical mode (raw mode would print -icanon).
    let command = |keys: &str| {
        format!(
            "bash -c 'env KAFKA_BROKERS={} {} top --match {} --interval 300ms; echo \"EXIT=$?\"; stty -a | grep -o -- \"-\\?icanon\"; echo {keys}; sleep 600'",
            brokers(),
            env!("CARGO_BIN_EXE_kafkademo"),
            topic.name
        )
    };
    let tmux = Tmux::start(160, &command("after-q"));
    tmux.wait_for(SOON, "the topic and group", |s| {
        s.contains(&topic.name) && s.contains(&group) && s.contains("┌topics")
    });
    // the topics pane has the focus: Enter opens its (only) topic
    tmux.run(&["send-keys", "Enter"]);
    // The whole frame: a capture can catch the terminal halfway through
    // drawing it (seen under load), the groups pane not yet overwritten.
    tmux.wait_for(SOON, "the topic's partitions in place of the panes", |s| {
        s.contains(&format!("topic {}", topic.name))
            && s.contains("LOG-END-OFFSET")
            && !s.contains("┌groups")
    });
    tmux.run(&["send-keys", "Escape"]);
    tmux.wait_for(SOON, "the panes again", |s| s.contains("┌groups"));
    tmux.run(&["send-keys", "q"]);
    let screen = tmux.wait_for(Duration::from_secs(2), "the exit", |s| {
        s.contains("after-q")
    });
    assert!(screen.contains("EXIT=0\nicanon\n"), "{screen}");
    assert!(
        !screen.contains("┌topics"),
        "the dashboard is still on screen:\n{screen}"
    );
    drop(tmux);

    let tmux = Tmux::start(160, &command("after-ctrl-c"));
    tmux.wait_for(SOON, "the topic", |s| s.contains(&topic.name));
    tmux.run(&["send-keys", "C-c"]);
    let screen = tmux.wait_for(Duration::from_secs(2), "the exit", |s| {
        s.contains("after-ctrl-c")
    });
    assert!(screen.contains("EXIT=130\nicanon\n"), "{screen}");
}

#[test]
fn the_dashboard_without_a_broker_says_so_and_keeps_trying() {
    let command = format!(
        "bash -c '{} --brokers 127.0.0.1:1 --timeout 500ms top --interval 200ms; echo \"EXIT=$?\"; sleep 600'",
        env!("CARGO_BIN_EXE_kafkademo"),
    );
    let tmux = Tmux::start(160, &command);
    tmux.wait_for(SOON, "the error", |s| {
        s.contains("cannot reach Kafka") && s.contains("127.0.0.1:1") && s.contains("retrying")
    });
    // still running: no exit line, and q still answers
    assert!(!tmux.screen().contains("EXIT="), "{}", tmux.screen());
    tmux.run(&["send-keys", "q"]);
    let screen = tmux.wait_for(Duration::from_secs(2), "the exit", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0\n"), "{screen}");
}
