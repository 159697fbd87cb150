//! draft-payment-intent-subscription-00 §"Request Schema": where billing
//! period N of a subscription begins and ends, from its activation anchor,
//! `periodUnit` and `periodCount`. Every method of the intent inherits
//! this arithmetic; a method that cannot represent a period exactly must
//! reject it rather than approximate it.
//!
//! `day` and `week` are fixed elapsed times ("`periodCount * 86400`
//! seconds"). `month` adds `N * periodCount` calendar months to the
//! anchor's UTC calendar fields, clamping to the last day of a shorter
//! month while keeping the time of day, and always from the anchor: "not
//! by adding months to the previous boundary" (a January 31 anchor gives
//! February 28, then March 31).

use chrono::{DateTime, Datelike, Months, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::error::{Error, Result};

const OP: &str = "subscription.period.bounds";

fn refuse(requirement: &'static str, path: &str, reason: String) -> Error {
    Error::RequestSchema {
        requirement,
        path: path.into(),
        reason,
    }
}

fn unrepresentable(reason: String) -> Error {
    refuse(
        "subscription.request.reject-unrepresentable-period",
        "$.periodCount",
        reason,
    )
}

/// A request's billing period: its unit and count, as the draft allows
/// them (§"Request Schema": `periodUnit` is `day`, `week` or `month`;
/// `periodCount` a positive base-10 integer without sign, point,
/// exponent, whitespace or leading zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A fixed length in seconds.
    Elapsed(u64),
    /// A number of calendar months.
    Months(u32),
}

impl Period {
    pub fn parse(unit: &str, count: &str) -> Result<Self> {
        let syntax = count.starts_with(|c: char| ('1'..='9').contains(&c))
            && count.bytes().all(|b| b.is_ascii_digit());
        if !syntax {
            return Err(refuse(
                "subscription.request.period-count-syntax",
                "$.periodCount",
                format!("{count:?} is not a positive base-10 integer without leading zeros"),
            ));
        }
        let n: u64 = count
            .parse()
            .map_err(|_| unrepresentable(format!("periodCount {count} exceeds 2^64 - 1")))?;
        let seconds = |unit: u64| {
            n.checked_mul(unit)
                .map(Period::Elapsed)
                .ok_or_else(|| unrepresentable(format!("{count} periods overflow 2^64 seconds")))
        };
        match unit {
            "day" => seconds(86_400),
            "week" => seconds(604_800),
            "month" => u32::try_from(n)
                .map(Period::Months)
                .map_err(|_| unrepresentable(format!("{count} months exceed 2^32 - 1"))),
            other => Err(refuse(
                "subscription.request.period-unit-values",
                "$.periodUnit",
                format!("{other:?} is not day, week or month"),
            )),
        }
    }

    /// The `k`-th boundary after `anchor` (the 0th is the anchor), or
    /// `None` past the dates RFC 3339 can write (its years have four
    /// digits, so 9999-12-31T23:59:59.999999999Z is the last).
    fn boundary(self, anchor: DateTime<Utc>, k: u64) -> Option<DateTime<Utc>> {
        let at = match self {
            Period::Elapsed(seconds) => {
                let total = i64::try_from(seconds.checked_mul(k)?).ok()?;
                anchor.checked_add_signed(TimeDelta::try_seconds(total)?)
            }
            // chrono clamps to the last day of a shorter month and keeps
            // the time of day, as the draft says.
            Period::Months(months) => {
                let total = u32::try_from(u64::from(months).checked_mul(k)?).ok()?;
                anchor.checked_add_months(Months::new(total))
            }
        }?;
        (at.year() <= 9999).then_some(at)
    }

    /// Billing period `n` (0 is the one activation pays for):
    /// `[start, end)`, both computed from the anchor.
    pub fn bounds(self, anchor: DateTime<Utc>, n: u64) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let at = |k: u64| {
            self.boundary(anchor, k).ok_or_else(|| {
                unrepresentable(format!(
                    "boundary {k} from {anchor} is past any date RFC 3339 can write"
                ))
            })
        };
        Ok((
            at(n)?,
            at(n.checked_add(1)
                .ok_or_else(|| unrepresentable(format!("period {n} has no next boundary")))?)?,
        ))
    }
}

/// The `subscription.period.bounds` operation: `{anchor, periodUnit,
/// periodCount, period}` to `{start, end}` (RFC 3339 in UTC, fractions of
/// a second kept as milliseconds, microseconds or nanoseconds).
pub fn bounds_op(input: &Value) -> Result<Value> {
    let bad = |reason: &str| Error::BadOpInput {
        op: OP.into(),
        reason: reason.into(),
    };
    let text = |key: &str| {
        input
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("input needs a string {key:?}")))
    };
    let anchor = crate::codec::rfc3339::parse("anchor", text("anchor")?)
        .map_err(|e| bad(&format!("anchor is not RFC 3339 ({e})")))?
        .with_timezone(&Utc);
    let n = input
        .get("period")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("input needs \"period\", an integer from 0"))?;
    let period = Period::parse(text("periodUnit")?, text("periodCount")?)?;
    let (start, end) = period.bounds(anchor, n)?;
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(json!({ "start": format(start), "end": format(end) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn months_clamp_and_count_from_the_anchor() {
        let month = Period::parse("month", "1").unwrap();
        let anchor = at("2026-01-31T12:03:10Z");
        let bounds: Vec<_> = (0..3).map(|n| month.bounds(anchor, n).unwrap()).collect();
        assert_eq!(
            bounds[1],
            (at("2026-02-28T12:03:10Z"), at("2026-03-31T12:03:10Z"))
        );
        assert_eq!(bounds[2].1, at("2026-04-30T12:03:10Z"));
    }

    #[test]
    fn counts_the_draft_forbids_are_refused() {
        for (unit, count, code) in [
            ("month", "01", "subscription.request.period-count-syntax"),
            ("day", "0", "subscription.request.period-count-syntax"),
            ("day", "+1", "subscription.request.period-count-syntax"),
            ("year", "1", "subscription.request.period-unit-values"),
            (
                "month",
                "4294967296",
                "subscription.request.reject-unrepresentable-period",
            ),
        ] {
            assert_eq!(Period::parse(unit, count).unwrap_err().code(), code);
        }
    }
}
