//! `WWW-Authenticate: Payment` headers parsed per second by the reference
//! codec: a small challenge (the required parameters, a three-member
//! request), a typical one (every optional parameter, a Tempo charge
//! request with method details) and one of 4 KB (the fuzz targets'
//! `max_len`: splits and an escaped description), then the committed
//! fuzz seeds of at most 4 KB through the strict and the lenient reads,
//! the work of one `challenge` fuzz execution.
//!
//! Run: `cargo bench -p mppconf-suite --bench challenge_parse [-- LABEL]`
//! (only the measures whose label contains LABEL, e.g. `typical`, to
//! profile one).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use mppconf_suite::codec::{Challenge, EncodedJson, challenge};
use serde_json::{Value, json};

/// Runs `f` in rounds for about `budget`; returns calls per second in
/// the fastest round (the machine's neighbours only ever slow a round).
fn rate(label: &str, bytes: usize, budget: Duration, mut f: impl FnMut()) -> Option<f64> {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.is_some_and(|only| !label.contains(&only)) {
        return None;
    }
    // Warm up caches and the allocator.
    for _ in 0..100 {
        f();
    }
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed() < budget {
        let round = Instant::now();
        let mut calls = 0u64;
        while round.elapsed() < budget / 20 {
            for _ in 0..50 {
                f();
            }
            calls += 50;
        }
        best = best.max(calls as f64 / round.elapsed().as_secs_f64());
    }
    println!(
        "{label:<34} {bytes:>6} B  {best:>10.0} /s  {:>8.2} us each",
        1e6 / best
    );
    Some(best)
}

fn header(request: Value, optional: bool, description: Option<String>) -> String {
    let challenge = Challenge {
        id: "kM9xPqWvT2nJrHsY4aDfEbCgLhUiOjZl".into(),
        realm: "api.example.com".into(),
        method: "tempo".into(),
        intent: "charge".into(),
        request: EncodedJson::canonical(request),
        expires: optional.then(|| "2026-12-04T15:30:00Z".into()),
        digest: optional.then(|| "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:".into()),
        description,
        opaque: optional
            .then(|| EncodedJson::canonical(json!({"order": "ord_8473", "tier": "pro"}))),
        unknown_params: Vec::new(),
    };
    challenge
        .to_header()
        .expect("the bench's challenges format")
}

fn tempo_request(splits: usize) -> Value {
    let address = |i: usize| format!("0x{:040x}", 0xabcdef_u64 + i as u64);
    let mut request = json!({
        "amount": "1000000",
        "currency": "0x20c0000000000000000000000000000000000000",
        "recipient": address(0),
        "methodDetails": {
            "chainId": 42431,
            "feePayer": true,
            "memo": format!("0x{}", "ab".repeat(32)),
        },
    });
    if splits > 0 {
        request["methodDetails"]["splits"] = (1..=splits)
            .map(|i| json!({"recipient": address(i), "amount": "1000", "memo": format!("0x{}", "cd".repeat(32))}))
            .collect();
    }
    request
}

/// The committed seeds the fuzz target starts from, cut to its `max_len`.
fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/challenge");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter(|bytes| bytes.len() <= 4096)
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds under {}", dir.display());
    out
}

fn main() {
    let budget = Duration::from_secs(2);
    let small = header(
        json!({"amount": "1", "currency": "0x20c0000000000000000000000000000000000000", "recipient": "0x00000000000000000000000000000000000000ab"}),
        false,
        None,
    );
    let typical = header(
        tempo_request(0),
        true,
        Some("One \"pro\" answer of the forecast API".into()),
    );
    let mut large = header(tempo_request(17), true, None);
    // An escaped description brings it to the fuzz targets' 4 KB.
    let quoted_pair = "a \\\"b\\\" ";
    let pad = 4096 - large.len() - ", description=\"\"".len();
    large.push_str(", description=\"");
    large.push_str(&quoted_pair.repeat(pad / quoted_pair.len()));
    large.push_str(&"c".repeat(pad % quoted_pair.len()));
    large.push('"');
    assert_eq!(large.len(), 4096);
    for (label, h) in [("small", &small), ("typical", &typical), ("4 KB", &large)] {
        Challenge::parse(h).unwrap_or_else(|e| panic!("{label}: {e}"));
        rate(
            &format!("Challenge::parse, {label}"),
            h.len(),
            budget,
            || {
                black_box(Challenge::parse(black_box(h)).is_ok());
            },
        );
    }
    let seeds = seeds();
    let bytes: usize = seeds.iter().map(String::len).sum();
    let Some(per_sec) = rate(
        &format!("fuzz seeds (strict+lenient), {}", seeds.len()),
        bytes,
        budget,
        || {
            for s in &seeds {
                black_box(Challenge::parse(s).is_ok());
                black_box(challenge::parse_all_lenient(&[s]).is_ok());
            }
        },
    ) else {
        return;
    };
    println!(
        "{:<34} {:>6}    {:>10.0} /s  {:>8.2} us each",
        "  per seed",
        "",
        per_sec * seeds.len() as f64,
        1e6 / (per_sec * seeds.len() as f64)
    );
}
