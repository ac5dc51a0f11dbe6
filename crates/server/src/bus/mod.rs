//! NATS plumbing: the embedded nats-server and the server's connections.

pub mod connect;
pub mod embedded;
