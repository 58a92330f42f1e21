//! A TCP forwarder for tests: connections to one loopback address are relayed to another. With
//! the EC2 emulator handing out loopback public addresses (`Moto::start_loopback` in
//! `wintermute-cloud-aws`), `127.0.0.N:22` forwarded to a local QEMU guest's SSH port makes an
//! emulated EC2 instance reachable over SSH on a real machine.
//!
//! Only loopback addresses, on both ends.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{bail, Context};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A running forwarder; dropping it closes its listener and every relayed connection.
#[derive(Debug)]
pub struct Forwarder {
    listen: SocketAddr,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on `listen` and relays each connection to `target`. Both must be loopback
    /// addresses.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> anyhow::Result<Forwarder> {
        if !listen.ip().is_loopback() || !target.ip().is_loopback() {
            bail!("the forwarder takes loopback addresses only ({listen} -> {target})");
        }
        let listener = TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        Ok(Self::serve(listener, target))
    }

    fn serve(listener: TcpListener, target: SocketAddr) -> Forwarder {
        let listen = listener.local_addr().unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let task = tokio::spawn(async move {
            // Dropped with this task: the relayed connections end with the forwarder.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((inbound, _)) => {
                            connections.spawn(relay(inbound, target));
                        }
                        Err(e) => {
                            eprintln!("forwarder {listen}: accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Forwarder { listen, task }
    }

    /// Listens on port `port` of a loopback address 127.0.0.N of its own (N from 2 to 254, the
    /// first one where the port is free, from a random start so parallel tests rarely collide)
    /// and relays to `target`. For a fixed port such as SSH's 22, which needs root (or
    /// `CAP_NET_BIND_SERVICE`).
    pub async fn on_free_loopback_address(port: u16, target: SocketAddr) -> anyhow::Result<Forwarder> {
        if !target.ip().is_loopback() {
            bail!("the forwarder takes loopback addresses only (-> {target})");
        }
        let start: u8 = 2 + rand_byte() % 253;
        let mut last = None;
        for i in 0..253u16 {
            let n = 2 + ((u16::from(start) - 2 + i) % 253) as u8;
            let listen = SocketAddr::from((Ipv4Addr::new(127, 0, 0, n), port));
            match TcpListener::bind(listen).await {
                Ok(listener) => return Ok(Self::serve(listener, target)),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(e).with_context(|| format!("listening on {listen} needs root (a port below 1024)"))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(anyhow::anyhow!("no loopback address has port {port} free (last error: {last:?})"))
    }

    /// Where it listens.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn rand_byte() -> u8 {
    // Enough randomness for spreading parallel tests over addresses: the clock's nanoseconds.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos());
    (nanos.unwrap_or(0) ^ std::process::id()) as u8
}

async fn relay(mut inbound: TcpStream, target: SocketAddr) {
    match TcpStream::connect(target).await {
        Ok(mut outbound) => {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        }
        Err(e) => eprintln!("forwarder: cannot reach {target}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn bytes_go_both_ways_and_stop_with_the_forwarder() {
        let echo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let fwd = Forwarder::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), target).await.unwrap();
        let mut c = TcpStream::connect(fwd.listen_addr()).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");

        let other = Forwarder::on_free_loopback_address(0, target).await.unwrap();
        let ip = other.listen_addr().ip();
        assert!(ip.is_loopback() && ip != std::net::IpAddr::from(Ipv4Addr::LOCALHOST), "{ip}");
        let mut c2 = TcpStream::connect(other.listen_addr()).await.unwrap();
        c2.write_all(b"pong").await.unwrap();
        c2.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"pong");

        drop(fwd);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut rest)).await.unwrap();
        assert_eq!(n.unwrap_or(0), 0, "the relayed connection ends with the forwarder");
        let remote = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 22));
        assert!(Forwarder::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), remote).await.is_err());
    }
}
