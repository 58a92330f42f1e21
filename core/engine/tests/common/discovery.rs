//! A loopback stand-in for the WMAIS_SG_AUTO_IP_DISCOVER service, so no test asks a public one.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every request with `body` (the core's "public" address); returns its URL.
pub async fn discovery_server(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}/")
}
