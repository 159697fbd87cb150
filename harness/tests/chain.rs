//! The local Tempo chain: anvil starts (installing itself if needed), has
//! the TIP-20 precompiles, and leaves no process behind.

use mppconf_harness::chain::Rpc;
use mppconf_harness::chain::anvil::{self, Anvil, AnvilConfig};
use mppconf_harness::error::Error;

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

#[tokio::test]
async fn anvil_starts_in_tempo_mode_and_stops_on_drop() {
    let chain = Anvil::start(&AnvilConfig::default())
        .await
        .expect("anvil starts");
    assert_eq!(chain.chain_id, 31337);
    let rpc = chain.rpc();
    anvil::require_tip20(&rpc)
        .await
        .expect("TIP-20 precompiles");
    let block = rpc
        .call("eth_blockNumber", serde_json::json!([]))
        .await
        .unwrap();
    assert_ne!(block, "0x0", "the first block is mined at start");
    let pid = chain.pid();
    assert!(alive(pid));
    drop(chain);
    assert!(!alive(pid), "anvil {pid} outlived its handle");
}

#[tokio::test]
async fn unreachable_rpc_is_one_clear_error() {
    let port = anvil::free_port().unwrap();
    let rpc = Rpc::new(format!("http://127.0.0.1:{port}"));
    let err = rpc.chain_id().await.unwrap_err();
    assert!(matches!(err, Error::Chain { .. }));
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("unreachable"),
        "{text}"
    );
}

#[tokio::test]
async fn a_chain_without_tip20_is_refused() {
    // A JSON-RPC server that answers every call with an empty result: a
    // node, but not a Tempo one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                let body = r#"{"jsonrpc":"2.0","id":1,"result":"0x"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    let err = anvil::require_tip20(&Rpc::new(&url)).await.unwrap_err();
    assert!(err.to_string().contains("no TIP-20 precompile"), "{err}");
}

#[tokio::test]
async fn proxy_records_refuses_crashers_and_drops_the_extra_sync_param() {
    use mppconf_harness::chain::proxy::{Handling, RpcProxy};
    use std::time::Duration;
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let proxy = RpcProxy::start(&chain.rpc_url, Duration::from_secs(5))
        .await
        .unwrap();
    let rpc = Rpc::new(proxy.url());
    assert_eq!(rpc.chain_id().await.unwrap(), 31337);
    let hash = format!("0x{}", "11".repeat(32));
    let refused = rpc
        .call("eth_getRawTransactionByHash", serde_json::json!([hash]))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("crashes anvil"), "{refused}");
    // anvil is still alive after the refused call.
    assert_eq!(chain.rpc().chain_id().await.unwrap(), 31337);
    // Two params: anvil alone rejects them; through the proxy the call
    // reaches anvil with one (which then rejects the garbage transaction).
    let direct = chain
        .rpc()
        .call(
            "eth_sendRawTransactionSync",
            serde_json::json!(["0x76c0", 5000]),
        )
        .await
        .unwrap_err();
    let proxied = rpc
        .call(
            "eth_sendRawTransactionSync",
            serde_json::json!(["0x76c0", 5000]),
        )
        .await
        .unwrap_err();
    assert!(
        direct.to_string().contains("invalid type: integer"),
        "{direct}"
    );
    assert!(
        proxied.to_string().contains("Failed to decode transaction"),
        "{proxied}"
    );
    let records = proxy.records();
    let methods: Vec<&str> = records.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "eth_chainId",
            "eth_getRawTransactionByHash",
            "eth_sendRawTransactionSync"
        ]
    );
    assert_eq!(records[1].handling, Handling::Refused);
    assert_eq!(records[2].handling, Handling::ExtraParamsDropped);
    assert_eq!(proxy.broadcasts_from(0), ["0x76c0"]);
}

#[tokio::test]
async fn proxy_turns_a_silent_chain_into_a_clear_timeout() {
    use mppconf_harness::chain::proxy::{Handling, RpcProxy};
    use std::time::{Duration, Instant};
    // A chain that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let proxy = RpcProxy::start(&url, Duration::from_millis(300))
        .await
        .unwrap();
    let start = Instant::now();
    let err = Rpc::new(proxy.url())
        .call("eth_sendRawTransactionSync", serde_json::json!(["0x76"]))
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        err.to_string().contains("no answer from the chain"),
        "{err}"
    );
    assert_eq!(proxy.records()[0].handling, Handling::TimedOut);
}

#[tokio::test]
async fn snapshots_isolate_scenarios_and_the_clock_moves() {
    use alloy::primitives::{Address, U256};
    use mppconf_harness::reference::tx;
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let rpc = chain.rpc();
    let token: Address = anvil::PATH_USD.parse().unwrap();
    let snapshot = chain.snapshot().await.unwrap();
    let payer = tx::fresh_payer(&rpc, token, U256::from(1234))
        .await
        .unwrap();
    assert_eq!(
        tx::balance_of(&rpc, token, payer.address()).await.unwrap(),
        U256::from(1234)
    );
    chain.revert(&snapshot).await.unwrap();
    assert_eq!(
        tx::balance_of(&rpc, token, payer.address()).await.unwrap(),
        U256::ZERO
    );
    let before = chain.block_time().await.unwrap();
    chain.advance_time(3600).await.unwrap();
    assert!(chain.block_time().await.unwrap() >= before + 3600);
}
