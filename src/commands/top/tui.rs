//! The live dashboard: a thread takes a snapshot every --interval and hands
//! it over a channel; this thread draws and reads keys every 100 ms, so `q`
//! and Ctrl-C answer at once however slow a broker is. The terminal is
//! restored on every way out: a return, an error, and (ratatui's hook) a panic.

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, TryRecvError};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{broker_rows, group_partition_rows, group_rows, headline, partition_rows, topic_rows};
use crate::cli::Top;
use crate::client::deadline::interrupted;
use crate::client::observe::{Observer, Snapshot};
use crate::error::{Error, Result};
use crate::observe::{History, View};
use crate::render::printable;

/// Restores the terminal when dropped: on every return and error path.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pane {
    Brokers,
    Topics,
    Groups,
}

enum Detail {
    Topic(String),
    Group(String),
}

struct App {
    pane: Pane,
    brokers: TableState,
    topics: TableState,
    groups: TableState,
    detail: Option<Detail>,
    history: History,
    view: Option<View>,
    /// The last failure and when the last good snapshot was taken.
    error: Option<String>,
    interval: Duration,
}

pub fn run(observer: Observer, args: &Top) -> Result<()> {
    let snapshots = spawn_observer(observer, args.interval);
    let mut terminal = ratatui::try_init()
        .map_err(|e| Error::Usage(format!("cannot set up the terminal: {e}")))?;
    let _restore = Restore;
    let mut app = App {
        pane: Pane::Topics,
        brokers: TableState::default().with_selected(0),
        topics: TableState::default().with_selected(0),
        groups: TableState::default().with_selected(0),
        detail: None,
        history: History::new(args.window),
        view: None,
        error: None,
        interval: args.interval,
    };
    loop {
        loop {
            match snapshots.try_recv() {
                Ok(Ok(s)) => {
                    app.history.push(s);
                    app.view = app.history.view();
                    if let Some(v) = app.view.as_mut() {
                        super::keep_shown(v, args);
                    }
                    app.error = None;
                }
                Ok(Err(e)) => app.error = Some(e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(Error::Interrupted),
            }
        }
        terminal
            .draw(|f| draw(f, &mut app))
            .map_err(Error::Output)?;
        if interrupted() {
            return Err(Error::Interrupted);
        }
        if event::poll(Duration::from_millis(100)).map_err(Error::Output)? {
            if let Event::Key(key) = event::read().map_err(Error::Output)? {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                match key.code {
                    KeyCode::Char('c') if ctrl => return Err(Error::Interrupted),
                    KeyCode::Char('q') => return Ok(()),
                    code => app.key(code),
                }
            }
        }
    }
}

/// Snapshots (or why one failed) every `interval`, on a thread of its own;
/// it ends when the dashboard does. A failure is retried at the next tick.
fn spawn_observer(
    mut observer: Observer,
    interval: Duration,
) -> Receiver<std::result::Result<Snapshot, String>> {
    let (tx, rx) = bounded(4);
    std::thread::spawn(move || loop {
        let started = Instant::now();
        let result = observer.snapshot().map_err(|e| e.to_string());
        if tx.send(result).is_err() {
            return;
        }
        let left = interval.saturating_sub(started.elapsed());
        std::thread::sleep(left);
    });
    rx
}

impl App {
    fn table(&mut self, pane: Pane) -> &mut TableState {
        match pane {
            Pane::Brokers => &mut self.brokers,
            Pane::Topics => &mut self.topics,
            Pane::Groups => &mut self.groups,
        }
    }

    fn key(&mut self, code: KeyCode) {
        if self.detail.is_some() {
            if matches!(code, KeyCode::Esc | KeyCode::Backspace | KeyCode::Left) {
                self.detail = None;
            }
            return;
        }
        let order = [Pane::Brokers, Pane::Topics, Pane::Groups];
        let at = order.iter().position(|&p| p == self.pane).unwrap_or(0);
        match code {
            KeyCode::Tab | KeyCode::Right => self.pane = order[(at + 1) % 3],
            KeyCode::BackTab | KeyCode::Left => self.pane = order[(at + 2) % 3],
            KeyCode::Down | KeyCode::Char('j') => {
                let n = self.rows(self.pane);
                let t = self.table(self.pane);
                let next = t.selected().map_or(0, |i| (i + 1).min(n.saturating_sub(1)));
                t.select(Some(next));
            }
            KeyCode::Up | KeyCode::Char('k') => {
                let t = self.table(self.pane);
                let prev = t.selected().map_or(0, |i| i.saturating_sub(1));
                t.select(Some(prev));
            }
            KeyCode::Enter => self.open(),
            _ => {}
        }
    }

    fn rows(&self, pane: Pane) -> usize {
        self.view.as_ref().map_or(0, |v| match pane {
            Pane::Brokers => v.brokers.len(),
            Pane::Topics => v.topics.len(),
            Pane::Groups => v.groups.len(),
        })
    }

    fn open(&mut self) {
        let Some(v) = &self.view else { return };
        self.detail = match self.pane {
            Pane::Topics => self
                .topics
                .selected()
                .and_then(|i| v.topics.get(i))
                .map(|t| Detail::Topic(t.name.clone())),
            Pane::Groups => self
                .groups
                .selected()
                .and_then(|i| v.groups.get(i))
                .map(|g| Detail::Group(g.name.clone())),
            Pane::Brokers => None,
        };
    }
}

fn draw(f: &mut Frame, app: &mut App) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let keys = match app.detail {
        Some(_) => "Esc back · q quit",
        None => "Tab/←→ pane · ↑↓ row · Enter open · q quit",
    };
    let title = match &app.view {
        Some(v) => format!("kafkademo top · {} · {keys}", headline(v)),
        None => format!("kafkademo top · waiting for the first snapshot… · {keys}"),
    };
    f.render_widget(
        Paragraph::new(title).style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    let status = match (&app.error, &app.view) {
        (Some(e), _) => Line::styled(
            format!(
                "cannot reach Kafka: {} (retrying every {})",
                printable(e),
                humantime::format_duration(app.interval)
            ),
            Style::new().fg(Color::Red),
        ),
        (None, Some(v)) if !v.problems.is_empty() => Line::styled(
            printable(&v.problems.join("; ")).into_owned(),
            Style::new().fg(Color::Yellow),
        ),
        _ => Line::raw(""),
    };
    f.render_widget(Paragraph::new(status), foot);
    let Some(view) = app.view.clone() else {
        return;
    };
    match &app.detail {
        Some(Detail::Topic(name)) => {
            let rows = partition_rows(&view, name);
            let mut state = TableState::default();
            let title = format!("topic {}", printable(name));
            render_table(f, body, &title, &rows, true, &mut state, &|r| {
                mark(r.get(5).map(String::as_str))
            });
        }
        Some(Detail::Group(name)) => {
            let rows: Vec<Vec<String>> = group_partition_rows(&view, Some(name))
                .into_iter()
                .map(|r| r.into_iter().skip(1).collect())
                .collect();
            let mut state = TableState::default();
            let title = format!("group {}", printable(name));
            render_table(f, body, &title, &rows, true, &mut state, &|r| {
                mark(r.get(6).map(String::as_str))
            });
        }
        None => {
            let brokers = broker_rows(&view);
            let [b, t, g] = Layout::vertical([
                Constraint::Length(brokers.len() as u16 + 2),
                Constraint::Percentage(50),
                Constraint::Percentage(50),
            ])
            .areas(body);
            let pane = app.pane;
            render_table(
                f,
                b,
                "brokers",
                &brokers,
                pane == Pane::Brokers,
                &mut app.brokers,
                &|r| mark(r.get(3).map(String::as_str)),
            );
            render_table(
                f,
                t,
                "topics",
                &topic_rows(&view),
                pane == Pane::Topics,
                &mut app.topics,
                &|r| {
                    let bad = |i: usize| r.get(i).is_some_and(|c| c != "0");
                    if bad(5) {
                        Style::new().fg(Color::Red)
                    } else if bad(4) {
                        Style::new().fg(Color::Yellow)
                    } else {
                        Style::new()
                    }
                },
            );
            render_table(
                f,
                g,
                "groups",
                &group_rows(&view),
                pane == Pane::Groups,
                &mut app.groups,
                &|r| mark(r.get(6).map(String::as_str)),
            );
        }
    }
}

/// A row's colour from its status cell.
fn mark(status: Option<&str>) -> Style {
    match status {
        Some("gone" | "unreachable" | "offline" | "STOP" | "ERR") => Style::new().fg(Color::Red),
        Some("under-replicated" | "WARN" | "STALL") => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

fn render_table(
    f: &mut Frame,
    area: Rect,
    title: &str,
    rows: &[Vec<String>],
    focused: bool,
    state: &mut TableState,
    style: &dyn Fn(&[String]) -> Style,
) {
    let Some((header, body)) = rows.split_first() else {
        return;
    };
    let widths: Vec<Constraint> = (0..header.len())
        .map(|c| {
            let w = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            Constraint::Length(w as u16)
        })
        .collect();
    let border = if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let table = Table::new(
        body.iter()
            .map(|r| Row::new(r.iter().map(String::as_str)).style(style(r))),
        widths,
    )
    .column_spacing(2)
    .header(
        Row::new(header.iter().map(String::as_str))
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::bordered()
            .title(title.to_string())
            .border_style(border),
    )
    .row_highlight_style(if focused {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    });
    f.render_stateful_widget(table, area, state);
}
