//! Standard output that a closed pipe ends quietly. `println!` panics
//! when the reader has gone (`mppconf report coverage | head -1`); the
//! default SIGPIPE disposition would instead kill mppconf whenever an
//! adapter process dies mid-write. So every line of mppconf's own output
//! goes through [`outln!`](crate::outln): once standard output is a
//! closed pipe, later lines are dropped and the run goes on to write its
//! report, stop its children and exit with its own verdict.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Standard output's reader has gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line, or nothing once the pipe is closed. Any other write
/// error (a full disk behind a redirect) still panics, as `println!`
/// does: that output would be lost, not unwanted.
pub fn write_line(line: fmt::Arguments) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => CLOSED.store(true, Ordering::Relaxed),
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// `println!` that ends quietly on a closed pipe (see [`write_line`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::stdout::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write_line(format_args!($($arg)*))
    };
}
