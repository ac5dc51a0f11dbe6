//! Free TCP ports for the embedded nats-server's listeners.

/// A TCP port that was free on `host` a moment ago (bind port 0, read it, release it).
///
/// Another process may take it before it is used; callers that can should retry on `EADDRINUSE`.
pub fn free_port(host: &str) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port("127.0.0.1").unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
