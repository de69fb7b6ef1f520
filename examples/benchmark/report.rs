//! Rounds taken in turns, their summary (median and range), and the table of results.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::counts::Counts;
use super::lines::WAIT;

/// Whether a scenario met its goal.
pub enum Verdict {
    Met,
    Missed,
    /// Not measured here, and why.
    Skipped(String),
    /// A figure for reading the others by, with no goal of its own.
    Reference,
}

/// One line of the final table.
pub struct Row {
    pub scenario: String,
    pub ours: String,
    pub baseline: String,
    pub ratio: String,
    pub goal: String,
    pub verdict: Verdict,
}

impl Row {
    /// A scenario that could not run here; the reason is printed now and in the table.
    pub fn skipped(scenario: &str, goal: &str, why: impl Into<String>) -> Row {
        let row = Row {
            scenario: scenario.to_owned(),
            ours: "—".to_owned(),
            baseline: "—".to_owned(),
            ratio: "—".to_owned(),
            goal: goal.to_owned(),
            verdict: Verdict::Skipped(why.into()),
        };
        row.print();
        row
    }

    /// A scenario with a goal on its own figure rather than on a ratio.
    pub fn absolute(scenario: &str, ours: String, goal: &str, met: bool) -> Row {
        let row = Row {
            scenario: scenario.to_owned(),
            ours,
            baseline: "—".to_owned(),
            ratio: "—".to_owned(),
            goal: goal.to_owned(),
            verdict: if met { Verdict::Met } else { Verdict::Missed },
        };
        row.print();
        row
    }

    /// Prints the row as its section finishes it.
    pub fn print(&self) {
        println!(
            "  {}: ours {}, baseline {}, ratio {}; goal {}: {}",
            self.scenario,
            self.ours,
            self.baseline,
            self.ratio,
            self.goal,
            self.verdict_text()
        );
    }

    fn verdict_text(&self) -> String {
        match &self.verdict {
            Verdict::Met => "met".to_owned(),
            Verdict::Missed => "MISSED".to_owned(),
            Verdict::Skipped(why) => format!("skipped: {why}"),
            Verdict::Reference => "reference".to_owned(),
        }
    }
}

/// Runs `rounds` rounds, each the baseline and then ours, and returns their results in pairs.
pub fn in_turns<T>(
    rounds: usize,
    mut baseline: impl FnMut() -> T,
    mut ours: impl FnMut() -> T,
) -> Vec<(T, T)> {
    (0..rounds).map(|_| (baseline(), ours())).collect()
}

/// The median and range of a set of figures.
#[derive(Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.into_iter().collect();
        assert!(!values.is_empty(), "a spread of nothing");
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 0 {
            (values[middle - 1] + values[middle]) / 2.0
        } else {
            values[middle]
        };
        Spread {
            median,
            min: values[0],
            max: values[values.len() - 1],
        }
    }

    /// `median (min–max)` with `decimals` decimals.
    pub fn text(&self, decimals: usize) -> String {
        format!(
            "{:.decimals$} ({:.decimals$}–{:.decimals$})",
            self.median, self.min, self.max
        )
    }
}

/// A row for a throughput scenario: each round timed the same `work` (lines, messages) for the
/// baseline and for ours. The ratio is ours ÷ baseline in work per second; the goal a lowest ratio.
pub fn throughput(
    scenario: &str,
    unit: &str,
    work: usize,
    rounds: &[(Duration, Duration)],
    at_least: f64,
) -> Row {
    let row = throughput_row(scenario, unit, work, rounds, at_least);
    row.print();
    row
}

fn throughput_row(
    scenario: &str,
    unit: &str,
    work: usize,
    rounds: &[(Duration, Duration)],
    at_least: f64,
) -> Row {
    let rate = |time: &Duration| work as f64 / time.as_secs_f64();
    let ours = Spread::of(rounds.iter().map(|(_, ours)| rate(ours)));
    let baseline = Spread::of(rounds.iter().map(|(baseline, _)| rate(baseline)));
    let ratio = Spread::of(
        rounds
            .iter()
            .map(|(baseline, ours)| baseline.as_secs_f64() / ours.as_secs_f64()),
    );
    Row {
        scenario: scenario.to_owned(),
        ours: rate_text(ours.median, unit),
        baseline: rate_text(baseline.median, unit),
        ratio: ratio.text(2),
        goal: format!("≥ {at_least}"),
        verdict: if ratio.median >= at_least {
            Verdict::Met
        } else {
            Verdict::Missed
        },
    }
}

/// A row for the prescribed design written by hand (see `floor`), against the same baseline: the
/// highest ratio the design allows on this machine, to read the goal of the scenario above it by.
pub fn design_limit(
    scenario: &str,
    unit: &str,
    work: usize,
    rounds: &[(Duration, Duration)],
) -> Row {
    let mut row = throughput_row(scenario, unit, work, rounds, 0.0);
    row.goal = "(the design's limit)".to_owned();
    row.verdict = Verdict::Reference;
    row.print();
    row
}

fn rate_text(per_second: f64, unit: &str) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M {unit}/s", per_second / 1e6)
    } else {
        format!("{:.0} k {unit}/s", per_second / 1e3)
    }
}

/// The median and 99th percentile of a set of durations, in microseconds.
pub fn percentiles(times: &[Duration]) -> (f64, f64) {
    let mut times = times.to_vec();
    times.sort_unstable();
    let at = |fraction: f64| {
        let index = ((times.len() - 1) as f64 * fraction).round() as usize;
        times[index].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

/// Two rows for a latency scenario, median and p99: each round holds the baseline's samples and
/// ours. The ratio is ours ÷ baseline per round; the goals are highest ratios.
pub fn latency(
    scenario: &str,
    rounds: &[(Vec<Duration>, Vec<Duration>)],
    median_at_most: f64,
    p99_at_most: f64,
) -> [Row; 2] {
    let rows = latency_rows(scenario, rounds, median_at_most, p99_at_most);
    rows.iter().for_each(Row::print);
    rows
}

fn latency_rows(
    scenario: &str,
    rounds: &[(Vec<Duration>, Vec<Duration>)],
    median_at_most: f64,
    p99_at_most: f64,
) -> [Row; 2] {
    let figures: Vec<((f64, f64), (f64, f64))> = rounds
        .iter()
        .map(|(baseline, ours)| (percentiles(baseline), percentiles(ours)))
        .collect();
    let row = |which: &str, pick: fn((f64, f64)) -> f64, at_most: f64| {
        let ours = Spread::of(figures.iter().map(|(_, ours)| pick(*ours)));
        let baseline = Spread::of(figures.iter().map(|(baseline, _)| pick(*baseline)));
        let ratio = Spread::of(
            figures
                .iter()
                .map(|(baseline, ours)| pick(*ours) / pick(*baseline)),
        );
        let row = Row {
            scenario: format!("{scenario}, {which}"),
            ours: format!("{:.1} µs", ours.median),
            baseline: format!("{:.1} µs", baseline.median),
            ratio: ratio.text(2),
            goal: format!("≤ {at_most}×"),
            verdict: if ratio.median <= at_most {
                Verdict::Met
            } else {
                Verdict::Missed
            },
        };
        row
    };
    [
        row("median", |(median, _)| median, median_at_most),
        row("p99", |(_, p99)| p99, p99_at_most),
    ]
}

/// [`latency`] for a reference: what the prescribed design costs when written by hand, against
/// the same baseline; no goal.
pub fn latency_design_limit(scenario: &str, rounds: &[(Vec<Duration>, Vec<Duration>)]) -> [Row; 2] {
    latency_rows(scenario, rounds, f64::INFINITY, f64::INFINITY).map(|mut row| {
        row.goal = "(the design's limit)".to_owned();
        row.verdict = Verdict::Reference;
        row.print();
        row
    })
}

/// One round of messages sent one at a time, each after the idle pause: from `send` until the
/// receiving end's stamp comes through `arrived`.
pub fn after_pauses(
    counts: &Counts,
    send: &mut dyn FnMut(usize),
    arrived: &mpsc::Receiver<Instant>,
) -> Vec<Duration> {
    let per_round = counts.idle_messages.div_ceil(counts.latency_rounds);
    (0..per_round)
        .map(|number| {
            thread::sleep(counts.idle_pause);
            let start = Instant::now();
            send(number);
            arrived
                .recv_timeout(WAIT)
                .expect("the receiving end reads it")
                - start
        })
        .collect()
}

/// The row of a message sent on an idle `transport` connection after `pause`, until the other end
/// (`read_by`) has read it: the goal (under 1 ms) is on our p99 over the samples of every round;
/// the ratio is per round, of the p99s.
pub fn idle_latency(
    transport: impl std::fmt::Display,
    read_by: &str,
    pause: Duration,
    rounds: &[(Vec<Duration>, Vec<Duration>)],
) -> Row {
    let scenario = format!(
        "{transport} message after {} ms idle, send → read by the {read_by}, p99 (median)",
        pause.as_millis()
    );
    let row = idle_row(scenario, rounds);
    row.print();
    row
}

/// [`idle_latency`] for a reference: the prescribed design written by hand; no goal.
pub fn idle_latency_design_limit(scenario: &str, rounds: &[(Vec<Duration>, Vec<Duration>)]) -> Row {
    let mut row = idle_row(scenario.to_owned(), rounds);
    row.goal = "(the design's limit)".to_owned();
    row.verdict = Verdict::Reference;
    row.print();
    row
}

fn idle_row(scenario: String, rounds: &[(Vec<Duration>, Vec<Duration>)]) -> Row {
    // Percentiles over the samples of every round, ours or the baseline's.
    let pooled = |of_ours: bool| {
        let all: Vec<Duration> = rounds
            .iter()
            .flat_map(|(baseline, ours)| if of_ours { ours } else { baseline })
            .copied()
            .collect();
        percentiles(&all)
    };
    let (ours_median, ours_p99) = pooled(true);
    let (baseline_median, baseline_p99) = pooled(false);
    let ratio = Spread::of(
        rounds
            .iter()
            .map(|(baseline, ours)| percentiles(ours).1 / percentiles(baseline).1),
    );
    Row {
        scenario,
        ours: format!("{ours_p99:.0} µs ({ours_median:.0})"),
        baseline: format!("{baseline_p99:.0} µs ({baseline_median:.0})"),
        ratio: ratio.text(2),
        goal: "< 1 ms".to_owned(),
        verdict: if ours_p99 < 1000.0 {
            Verdict::Met
        } else {
            Verdict::Missed
        },
    }
}

/// The table of every row, with columns lined up.
pub fn print_table(rows: &[Row]) {
    let header = [
        "scenario",
        "ours",
        "baseline",
        "ratio median (range)",
        "goal",
        "met/missed",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.scenario.clone(),
                row.ours.clone(),
                row.baseline.clone(),
                row.ratio.clone(),
                row.goal.clone(),
                match &row.verdict {
                    Verdict::Met => "met".to_owned(),
                    Verdict::Missed => "MISSED".to_owned(),
                    Verdict::Skipped(_) => "skipped".to_owned(),
                    Verdict::Reference => "reference".to_owned(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(|title| title.chars().count());
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let print_line = |line: &[String]| {
        let padded: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    print_line(&header.map(str::to_owned));
    print_line(&widths.map(|width| "-".repeat(width)));
    for line in &cells {
        print_line(line);
    }
    for row in rows {
        if let Verdict::Skipped(why) = &row.verdict {
            println!("skipped {}: {why}", row.scenario);
        }
    }
}
