//! Pinned npm packages installed into the mppconf cache: the anvil binary,
//! and solc-js with solady for the project's own contracts. A fresh machine
//! needs no manual step; the install lands by a rename, so processes that
//! race (tests start many chains at once) never see a half-written tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The folder mppconf installs tools into: `MPPCONF_CACHE`, else
/// `$XDG_CACHE_HOME/mppconf`, else `~/.cache/mppconf`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MPPCONF_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mppconf")
}

/// The folder `cache_dir()/<folder>` holding `packages` (`name@version`),
/// installed there when `ready` does not accept it yet. `fix` tells the
/// user what to do when npm cannot install them.
pub fn installed(
    folder: &str,
    packages: &[String],
    ready: impl Fn(&Path) -> bool,
    fix: &str,
) -> Result<PathBuf> {
    let root = cache_dir().join(folder);
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if ready(&root) {
        return Ok(root);
    }
    let mut staging = root.clone().into_os_string();
    staging.push(format!(".installing-{}", std::process::id()));
    let staging = PathBuf::from(staging);
    let _ = std::fs::remove_dir_all(&staging);
    install(&staging, packages, fix)?;
    if std::fs::rename(&staging, &root).is_err() {
        // Another process finished first; use its install.
        let _ = std::fs::remove_dir_all(&staging);
    }
    if ready(&root) {
        Ok(root)
    } else {
        Err(Error::Setup(format!(
            "npm installed {} into {} but it is not usable on this platform; {fix}",
            packages.join(" "),
            root.display()
        )))
    }
}

/// `npm install` of the pinned packages into `root`.
fn install(root: &Path, packages: &[String], fix: &str) -> Result<()> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    eprintln!(
        "mppconf: installing {} from npm into {} …",
        packages.join(" "),
        root.display()
    );
    let status = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(root)
        .args(packages)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| {
            Error::Setup(format!(
                "cannot run npm to install {} ({e}); install Node.js/npm, or {fix}",
                packages.join(" ")
            ))
        })?;
    if !status.success() {
        return Err(Error::Setup(format!(
            "npm install {} failed ({status}); {fix}",
            packages.join(" ")
        )));
    }
    Ok(())
}
