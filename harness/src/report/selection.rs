//! Which checks a run runs (filters, a shard) and how many at once.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Part `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `i/n` (1 <= i <= n).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Usage(format!(
                "--shard {text:?}: expected i/n with 1 <= i <= n, e.g. 2/4"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether the `n`-th check (0-based, in the suite's order) is this
    /// shard's: round robin, so slow checks spread over the shards.
    pub fn owns(&self, n: usize) -> bool {
        n % self.count == self.index - 1
    }
}

/// Which checks a run runs: ids containing one of the filters (all if
/// none), and of those, one shard's share; and how many of them may run
/// at once (`jobs`; 0 or 1: one after another).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub filter: Vec<String>,
    pub shard: Option<Shard>,
    pub jobs: usize,
}

impl Selection {
    pub fn all() -> Self {
        Self::default()
    }

    pub fn filtered(filter: &[&str]) -> Self {
        Self {
            filter: filter.iter().map(|s| s.to_string()).collect(),
            ..Self::default()
        }
    }

    /// Checks the selection against the suite's check ids (in run
    /// order), before anything runs: a filter that matches no check is a
    /// usage error that names it and the closest ids; so is a shard the
    /// filters leave empty.
    pub fn validate(&self, ids: &[&str]) -> Result<()> {
        for f in &self.filter {
            if !ids.iter().any(|id| id.contains(f.as_str())) {
                return Err(Error::Usage(format!(
                    "--filter {f:?} matches no check; the closest ids: {}",
                    crate::preflight::closest(f, ids).join(", ")
                )));
            }
        }
        if let Some(shard) = self.shard
            && !ids.iter().enumerate().any(|(n, id)| self.selects(n, id))
        {
            return Err(Error::Usage(format!(
                "--shard {}/{} selects no check of the {} the filters leave; give fewer shards",
                shard.index,
                shard.count,
                ids.iter()
                    .filter(|id| self.filter.is_empty()
                        || self.filter.iter().any(|f| id.contains(f.as_str())))
                    .count()
            )));
        }
        Ok(())
    }

    /// Whether the `n`-th check of the suite (0-based), `id`, runs.
    pub fn selects(&self, n: usize, id: &str) -> bool {
        (self.filter.is_empty() || self.filter.iter().any(|f| id.contains(f.as_str())))
            && self.shard.is_none_or(|s| s.owns(n))
    }
}
