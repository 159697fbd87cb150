//! Ctrl-C and SIGTERM during a run lose nothing: on the first signal no
//! new check starts, the running one is cancelled, every child is stopped
//! (their handles drop: anvil, the target's process group), and the
//! report of what ran is written, marked incomplete, before the exit with
//! 128 + the signal (130, 143). A second signal exits at once; children
//! started with [`crate::process::die_with_parent`] die with the harness.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::Notify;

/// The signal that asked the run to stop (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Listens for SIGINT and SIGTERM for the rest of the run (inside a tokio
/// runtime).
pub fn install() -> crate::error::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let fail =
        |e: std::io::Error| crate::error::Error::Setup(format!("cannot listen for signals: {e}"));
    let mut interrupt = signal(SignalKind::interrupt()).map_err(fail)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(fail)?;
    tokio::spawn(async move {
        loop {
            let number = tokio::select! {
                _ = interrupt.recv() => libc::SIGINT,
                _ = terminate.recv() => libc::SIGTERM,
            };
            if SIGNAL
                .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // The second signal: no more waiting.
                eprintln!("\nmppconf: interrupted again: exiting now");
                std::process::exit(128 + number);
            }
            eprintln!(
                "\nmppconf: interrupted: stopping the running check, writing the report of what ran (again to exit at once)"
            );
            notify().notify_waiters();
        }
    });
    Ok(())
}

/// The signal that interrupted the run, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// The exit code of an interrupted run (128 + the signal).
pub fn exit_code() -> Option<u8> {
    requested().map(|n| (128 + n) as u8)
}

/// Resolves when the run is interrupted (at once if it already was).
pub async fn wait() {
    let notified = notify().notified();
    if requested().is_some() {
        return;
    }
    notified.await;
}

/// What a report says of an interrupted run.
pub fn reason() -> Option<String> {
    requested().map(|n| {
        let name = if n == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        format!("interrupted by {name}")
    })
}
