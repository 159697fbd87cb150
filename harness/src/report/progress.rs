//! Progress of a suite run on stderr: on a terminal a bar (checks done of
//! those planned, failures so far, elapsed time and ETA, drawn by
//! `indicatif`); elsewhere (CI logs, pipes) one plain line per finished
//! check, so a log shows what ran and what it concluded as it happened.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mppconf_suite::vectors::Verdict;

/// What watches a run: told how many checks are planned as each resource
/// starts, and each result as it comes. A closure over the result is a
/// watcher that ignores the plan.
pub trait Watch<R> {
    fn planned(&mut self, _checks: usize) {}
    fn finished(&mut self, result: &R);
}

impl<R, F: FnMut(&R)> Watch<R> for F {
    fn finished(&mut self, result: &R) {
        self(result)
    }
}

/// A watcher that shows nothing (tests, benchmarks).
pub struct Silent;

impl<R> Watch<R> for Silent {
    fn finished(&mut self, _: &R) {}
}

/// The fields of a result progress shows.
pub trait Shown {
    fn id(&self) -> &str;
    fn verdict(&self) -> Verdict;
    fn millis(&self) -> f64;
}

/// The run's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    planned: usize,
    done: usize,
    findings: usize,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} checks, {msg}, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let p = Self {
            bar,
            planned: 0,
            done: 0,
            findings: 0,
        };
        p.show_findings();
        p
    }

    fn show_findings(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} failed or warned so far", self.findings));
        }
    }

    /// Clears the bar (before the summary is printed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Shown> Watch<R> for Progress {
    fn planned(&mut self, checks: usize) {
        self.planned += checks;
        if let Some(bar) = &self.bar {
            bar.set_length(self.planned as u64);
        }
    }

    fn finished(&mut self, r: &R) {
        self.done += 1;
        if matches!(r.verdict(), Verdict::Fail | Verdict::Warn | Verdict::Error) {
            self.findings += 1;
        }
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                self.show_findings();
            }
            None => eprintln!(
                "[{}/{}] {:<7} {} ({:.0} ms)",
                self.done,
                self.planned,
                r.verdict().as_str(),
                r.id(),
                r.millis()
            ),
        }
    }
}
