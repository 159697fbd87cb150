//! One check's transport hiccup does not spill into the next: after a
//! target answers 500 and drops its pooled keep-alive connection, the
//! next request is sent again once on a fresh connection instead of
//! ending in `error` (Connection reset / closed before message completed).

use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::server_suite::{Ctx, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers the first connection's request with a keep-alive 500, then
/// resets that connection (RST) when the next request comes on it; every
/// later connection gets a 402.
async fn flaky_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            n += 1;
            let first = n == 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                if first {
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
                        )
                        .await;
                    // The next request on this connection: reset.
                    let _ = socket.read(&mut buf).await;
                    // SO_LINGER 0 makes the close a reset (RST); blocking
                    // on drop is what a reset needs here.
                    #[allow(deprecated)]
                    let _ = socket.set_linger(Some(Duration::ZERO));
                    drop(socket);
                } else {
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 402 Payment Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_dropped_pooled_connection_is_retried_once_on_a_fresh_one() {
    let base = flaky_server().await;
    let ctx = Ctx::new(
        Target {
            base_url: base,
            path: "/paid".into(),
            method: "GET".into(),
            body: None,
            rpc_url: String::new(),
            ca: None,
        },
        PrivateKeySigner::random(),
        None,
    )
    .with_answer_timeout(Duration::from_secs(2));
    let first = ctx.send(&[], None).await.unwrap();
    assert_eq!(first.status, 500);
    let second = ctx.send(&[], None).await;
    let evidence = ctx.take_evidence();
    let second = second.unwrap_or_else(|e| panic!("{e}\n{evidence:#?}"));
    assert_eq!(second.status, 402);
}
