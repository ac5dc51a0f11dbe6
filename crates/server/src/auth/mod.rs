//! Issues and verifies keys; maps capabilities to NATS permissions; holds the instance identity.

pub mod identity;
pub mod keys;
