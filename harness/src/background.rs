//! An HTTP service running in the background of the harness (the reference
//! server, the RPC proxy), stopped when its handle drops.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A running service.
pub struct Background {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Background {
    /// Serves `app` on `listener` until the handle drops.
    pub fn serve(listener: TcpListener, app: axum::Router) -> Result<Self> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("listener", e))?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
