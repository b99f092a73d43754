//! The ingester's `wss://` client builds its TLS configuration without a panic (rustls needs a
//! crypto provider; storm builds with `ring` only): a TLS handshake against a server that is not
//! TLS is an ordinary error.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[tokio::test]
async fn wss_to_a_non_tls_server_is_an_error_not_a_panic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("wss://localhost:{port}/stream")),
    )
    .await
    .expect("handshake ends");
    assert!(res.is_err());
}
