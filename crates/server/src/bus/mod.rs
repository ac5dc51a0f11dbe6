//! NATS plumbing: the embedded nats-server, the server's connections, and key-value buckets.

pub mod connect;
pub mod embedded;
pub mod kv;
