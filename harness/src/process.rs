//! Child processes of the harness (anvil, adapters, SDK programs) must not
//! outlive it, whether it exits, panics or is killed.

use std::process::Command;

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
