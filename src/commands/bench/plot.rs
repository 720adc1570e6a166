//! `kafkademo bench plot` (hidden): the throughput chart of
//! scripts/bench-compare.sh, drawn from its results.tsv with `plotters`
//! (SVG backend), so the script only starts brokers and runs the clients.
//! One chart per Kafka line: MB/s by record size, one bar per client, in a
//! panel each for produce acks=1, produce acks=all, consume and the console
//! producer; each bar the median of its rounds.

use std::collections::BTreeMap;
use std::io::Write;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::results::{self, size_name, Row};
use crate::cli::BenchPlot;
use crate::error::{Error, Result};

const MIB: f64 = 1024.0 * 1024.0;
const PANELS: [&str; 4] = ["produce acks=1", "produce acks=all", "consume", "console"];
const SIZES: [&str; 2] = ["100", "1000"];
/// The clients in bar order: the results' name, the legend's, the colour.
const CLIENTS: [(&str, &str, RGBColor); 4] = [
    ("classic", "kafkademo classic", RGBColor(0xf5, 0x9f, 0x00)),
    ("modern", "kafkademo modern", RGBColor(0xd9, 0x48, 0x0f)),
    ("java", "Java perf tools", RGBColor(0x1c, 0x7e, 0xd6)),
    ("kcat", "kcat", RGBColor(0x2f, 0x9e, 0x44)),
];

// The layout, in pixels.
const PANEL_WIDTH: u32 = 260;
const PANEL_HEIGHT: u32 = 220;
const LEFT: u32 = 60;
const GAP: u32 = 40;
const TOP: u32 = 40;

pub fn execute(args: &BenchPlot) -> Result<()> {
    let rows = results::read(&args.results)?;
    let medians = medians(&rows, &args.kafka);
    if medians.is_empty() {
        return Err(Error::Data {
            message: format!(
                "{} has no rows for Kafka {}",
                args.results.display(),
                args.kafka
            ),
            hint: Some("--kafka takes a version from the file's first column".into()),
        });
    }
    let svg = draw(&args.kafka, &medians)?;
    match &args.out {
        Some(path) => std::fs::write(path, &svg).map_err(|e| Error::Data {
            message: format!("cannot write {}: {e}", path.display()),
            hint: None,
        }),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(svg.as_bytes())
                .and_then(|()| out.flush())
                .map_err(Error::Output)
        }
    }
}

/// (panel, record size, client) -> the median MB/s of its rounds.
type Medians = BTreeMap<(String, String, String), f64>;

/// The rows of one Kafka line as medians in MB/s (MiB of values per second).
fn medians(rows: &[Row], kafka: &str) -> Medians {
    let mut rounds: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.kafka == kafka) {
        let panel = match r.op.as_str() {
            "produce" => format!("produce acks={}", r.acks),
            other => other.to_string(),
        };
        rounds
            .entry((panel, r.size.clone(), r.client.clone()))
            .or_default()
            .push(r.records_per_sec * r.size_bytes() / MIB);
    }
    rounds
        .into_iter()
        .map(|(key, v)| (key, results::median(v)))
        .collect()
}

/// The y axis' top and grid step: steps of 50 MB/s doubled until at most
/// eight fit, the top a step above the tallest bar.
fn scale(tallest: f64) -> (f64, f64) {
    let mut step = 50.0;
    while tallest / step > 8.0 {
        step *= 2.0;
    }
    (((tallest / step).floor() + 1.0) * step, step)
}

fn draw(kafka: &str, medians: &Medians) -> Result<String> {
    let tallest = medians.values().copied().fold(0.0, f64::max);
    let (top, step) = scale(tallest);
    let panels = PANELS.len() as u32;
    let (width, height) = (LEFT + panels * (PANEL_WIDTH + GAP), PANEL_HEIGHT + 135);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw_on(&root, kafka, medians, top, step).map_err(|e| Error::Data {
            message: format!("cannot draw the chart: {e}"),
            hint: None,
        })?;
        root.present().map_err(|e| Error::Data {
            message: format!("cannot draw the chart: {e}"),
            hint: None,
        })?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_on(
    root: &Area,
    kafka: &str,
    medians: &Medians,
    top: f64,
    step: f64,
) -> std::result::Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>
{
    let (width, height) = root.dim_in_pixel();
    let px = |x: u32, y: u32| (x as i32, y as i32);
    // plotters' SVG backend writes a font's size divided by 1.24.
    let font = |px: f64| ("sans-serif", px * 1.24).into_font().color(&BLACK);
    let bold = |px: f64| {
        ("sans-serif", px * 1.24)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK)
    };
    let centred = |style: TextStyle<'static>| style.pos(Pos::new(HPos::Center, VPos::Bottom));
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        format!(
            "Kafka {kafka}: throughput by record size (MB/s, median of rounds; higher is better)"
        ),
        px(LEFT, 6),
        bold(14.0),
    ))?;

    // The plot's own area: x in panels (a panel and the gap after it are
    // one unit; the last gap is outside), y in MB/s.
    let unit = 1.0 / (PANEL_WIDTH + GAP) as f64;
    let plot = root.margin(TOP, height - TOP - PANEL_HEIGHT, LEFT, GAP);
    let chart = ChartBuilder::on(&plot)
        .build_cartesian_2d(0f64..PANELS.len() as f64 - GAP as f64 * unit, 0f64..top)?;
    let at = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let grid = RGBColor(0xdd, 0xdd, 0xdd);
    let mut y = 0.0;
    while y <= top {
        let (x0, yy) = at(0.0, y);
        root.draw(&PathElement::new(
            vec![(x0, yy), (width as i32 - GAP as i32, yy)],
            grid,
        ))?;
        root.draw(&Text::new(
            format!("{y:.0}"),
            (x0 - 6, yy),
            font(12.0).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        y += step;
    }

    // A panel starts 10 px into its unit and spans PANEL_WIDTH pixels, as
    // the script's chart did.
    for (p, panel) in PANELS.iter().enumerate() {
        let x0 = p as f64 + 10.0 * unit;
        let (cx, base) = at(x0 + PANEL_WIDTH as f64 * unit / 2.0, 0.0);
        root.draw(&Text::new(
            panel.to_string(),
            (cx, base + 42),
            centred(bold(12.0)),
        ))?;
        let group = PANEL_WIDTH as f64 * unit / SIZES.len() as f64;
        for (s, &size) in SIZES.iter().enumerate() {
            let gx = x0 + s as f64 * group;
            let (cx, _) = at(gx + group / 2.0, 0.0);
            root.draw(&Text::new(
                size_name(size),
                (cx, base + 18),
                centred(font(12.0)),
            ))?;
            let bar = (group - 30.0 * unit) / CLIENTS.len() as f64;
            for (c, (client, _, colour)) in CLIENTS.iter().enumerate() {
                let key = (panel.to_string(), size.to_string(), client.to_string());
                let Some(&mb) = medians.get(&key) else {
                    continue;
                };
                let bx = gx + 15.0 * unit + c as f64 * bar;
                let bx1 = bx + bar - 4.0 * unit;
                chart
                    .plotting_area()
                    .draw(&Rectangle::new([(bx, 0.0), (bx1, mb)], colour.filled()))?;
                let (lx, ly) = at((bx + bx1) / 2.0, mb);
                root.draw(&Text::new(
                    format!("{mb:.0}"),
                    (lx, ly - 3),
                    centred(font(10.0)),
                ))?;
            }
        }
    }

    for (c, (_, label, colour)) in CLIENTS.iter().enumerate() {
        let lx = (LEFT + c as u32 * 170) as i32;
        let ly = height as i32 - 22;
        root.draw(&Rectangle::new(
            [(lx, ly), (lx + 12, ly + 12)],
            colour.filled(),
        ))?;
        root.draw(&Text::new(
            label.to_string(),
            (lx + 18, ly + 6),
            font(12.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "kafka\top\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s\n\
        3.9.2\tproduce\t100\t1\tmodern\t1\t10\t1048576\t1\t1\t1\n\
        3.9.2\tproduce\t100\t1\tmodern\t2\t10\t3145728\t1\t1\t1\n\
        3.9.2\tproduce\t100\t1\tmodern\t3\t10\t2097152\t1\t1\t1\n\
        3.9.2\tconsume\t1000\t-\tkcat\t1\t10\t1048576\t1\t1\t1\n\
        3.9.2\tconsume\t1000\t-\tkcat\t2\t10\t2097152\t1\t1\t1\n\
        4.4.0\tconsume\t1000\t-\tkcat\t1\t10\t1\t1\t1\t1\n";

    fn key(panel: &str, size: &str, client: &str) -> (String, String, String) {
        (panel.into(), size.into(), client.into())
    }

    #[test]
    fn bars_are_the_median_of_their_rounds_in_mib_per_second() {
        let rows = results::parse(TSV).unwrap();
        let m = medians(&rows, "3.9.2");
        assert_eq!(m[&key("produce acks=1", "100", "modern")], 200.0);
        assert_eq!(m[&key("consume", "1000", "kcat")], 1500.0);
        assert_eq!(m.len(), 2);
        assert!(medians(&rows, "9.9").is_empty());
    }

    #[test]
    fn the_axis_steps_as_the_script_did() {
        assert_eq!(scale(1734.0), (2000.0, 400.0));
        assert_eq!(scale(120.0), (150.0, 50.0));
        assert_eq!(scale(0.0), (50.0, 50.0));
    }

    #[test]
    fn the_chart_names_its_line_panels_and_clients() {
        let rows = results::parse(TSV).unwrap();
        let svg = draw("3.9.2", &medians(&rows, "3.9.2")).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for needle in [
            "Kafka 3.9.2: throughput",
            "produce acks=all",
            "1 KB",
            "kcat",
            "\n200\n",
        ] {
            assert!(svg.contains(needle), "no {needle:?} in {svg}");
        }
    }
}
