//! An HTTP service running in the background of the harness (the reference
//! server, the RPC proxy), stopped when its handle drops.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::tls::TlsListener;

/// A running service.
pub struct Background {
    pub addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Background {
    /// Serves `app` on `listener` until the handle drops.
    pub fn serve(listener: TcpListener, app: axum::Router) -> Result<Self> {
        Self::serve_on(listener, app, "http")
    }

    /// Serves `app` over TLS on `listener` until the handle drops.
    pub fn serve_tls(listener: TlsListener, app: axum::Router) -> Result<Self> {
        Self::serve_on(listener, app, "https")
    }

    fn serve_on<L>(listener: L, app: axum::Router, scheme: &'static str) -> Result<Self>
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
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
            scheme,
            shutdown: Some(shutdown),
        })
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
