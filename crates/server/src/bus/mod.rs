//! NATS plumbing: the embedded nats-server, the server's connections, key-value buckets and the
//! typed tables (with mirrors) over them.

pub mod connect;
pub mod embedded;
pub mod kv;
pub mod table;
