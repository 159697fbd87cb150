//! Restarting the server under test, for the checks of what a server must
//! keep across a restart (draft-tempo-session-00 §"Crash Safety"). The
//! harness can restart the servers it starts: the reference server (same
//! address, configuration and session store) and a manifest's server
//! (its process stopped with SIGTERM and launched again with the same
//! placeholders). A server given by URL cannot be restarted: the checks
//! that need it are `skip`, saying so.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;

use super::manifest::{Launched, Placeholders, ServerTarget};
use crate::reference::server::{self, ServerConfig};
use crate::tls::LocalCa;

/// Stops the server under test and starts it again.
#[async_trait]
pub trait Restart: Send + Sync {
    /// Whether it is up again; `Err` says why not.
    async fn restart(&self) -> Result<(), String>;
    /// How the restart is done, for the evidence.
    fn how(&self) -> &'static str;
}

/// The in-process reference server.
pub struct ReferenceRestart {
    pub config: ServerConfig,
    pub addr: SocketAddr,
    pub ca: LocalCa,
    pub server: tokio::sync::Mutex<Option<server::Server>>,
}

#[async_trait]
impl Restart for ReferenceRestart {
    async fn restart(&self) -> Result<(), String> {
        let mut running = self.server.lock().await;
        // Graceful: it stops accepting, finishes what is in flight and
        // closes idle connections (so no pooled one reaches the old state).
        drop(running.take());
        let mut last = String::new();
        for _ in 0..50 {
            match server::start_tls(self.config.clone(), self.addr, &self.ca).await {
                Ok(s) => {
                    *running = Some(s);
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the reference server did not come back on {}: {last}",
            self.addr
        ))
    }

    fn how(&self) -> &'static str {
        "the reference server stopped (graceful shutdown) and started again on the same address with the same configuration and session store"
    }
}

/// A server a manifest describes, launched by the harness.
pub struct LaunchedRestart {
    pub target: ServerTarget,
    pub values: Placeholders,
    pub launched: tokio::sync::Mutex<Option<Launched>>,
}

#[async_trait]
impl Restart for LaunchedRestart {
    async fn restart(&self) -> Result<(), String> {
        let mut running = self.launched.lock().await;
        // SIGTERM to its process group, SIGKILL after 2 s.
        drop(running.take());
        let launched = self
            .target
            .launch(&self.values)
            .await
            .map_err(|e| format!("relaunching {}: {e}", self.target.name))?;
        *running = Some(launched);
        Ok(())
    }

    fn how(&self) -> &'static str {
        "the server's process group stopped with SIGTERM (SIGKILL after 2 s) and its manifest's command launched again with the same placeholders, until its ready path answered"
    }
}
