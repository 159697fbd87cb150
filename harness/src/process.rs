//! Child processes of the harness (anvil, adapters, SDK programs) must not
//! outlive it, whether it exits, panics or is killed.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Makes the child receive SIGKILL when the harness dies, however it dies.
///
/// Linux delivers it when the *thread* that spawned the child exits; spawn
/// from threads that live as long as the child's handle.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// SIGKILL to every process of the group `leader` leads (a child spawned
/// with `process_group(0)`), so that what it started dies with it.
pub fn kill_group(leader: u32) {
    // SAFETY: kill(2) with a negative pid only signals that process group.
    unsafe {
        libc::kill(-(leader as i32), libc::SIGKILL);
    }
}

/// Stops a child that leads its own process group (`process_group(0)`)
/// and everything it started: SIGTERM to the group, a grace period for a
/// clean exit, then SIGKILL to whatever of the group is left (a wrapper
/// script's children too, which outlive a SIGKILL of the wrapper alone).
pub fn stop_group(child: &mut Child, grace: Duration) {
    let leader = child.id() as i32;
    // SAFETY: kill(2) with a negative pid only signals that process group.
    unsafe {
        libc::kill(-leader, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) && !group_alive(leader) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_group(leader as u32);
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether any process of the group `leader` leads is still there.
fn group_alive(leader: i32) -> bool {
    // SAFETY: signal 0 checks for existence only.
    unsafe { libc::kill(-leader, 0) == 0 }
}
