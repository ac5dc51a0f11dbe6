//! Time, clocks and the failure model of the simulation: one global clock in microseconds, a
//! monotonic clock per member at its own rate, and how the network delays, loses and stalls.

use serde::Serialize;

/// A millisecond and a second of global time (µs).
pub const MS: u64 = 1_000;
pub const SEC: u64 = 1_000_000;

/// The fastest clock rate relative to real time (the slowest is its inverse): two members' clocks then
/// differ by at most 1.44×, within the 1.5× the protocol assumes.
pub const MAX_RATE: f64 = 1.2;

/// A member's monotonic clock: `offset_ms` at `start_us`, then `rate` ms per real ms.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Global time (µs) the member started at.
    pub start_us: u64,
    /// Its reading then (ms): arbitrary, as a monotonic clock's origin is.
    pub offset_ms: u64,
    /// Its ms per real ms.
    pub rate: f64,
}

impl Clock {
    /// The member's reading (ms) at global time `global_us`.
    pub fn local_ms(&self, global_us: u64) -> u64 {
        let elapsed = global_us.saturating_sub(self.start_us) as f64 * self.rate / 1000.0;
        self.offset_ms + elapsed.floor() as u64
    }

    /// The first global time at which the member's clock reads `local_ms` or more.
    pub fn global_at(&self, local_ms: u64) -> u64 {
        if local_ms <= self.offset_ms {
            return self.start_us;
        }
        let ahead = (local_ms - self.offset_ms) as f64 * 1000.0 / self.rate;
        let mut g = self.start_us + ahead.ceil() as u64;
        while g > self.start_us && self.local_ms(g - 1) >= local_ms {
            g -= 1;
        }
        while self.local_ms(g) < local_ms {
            g += 1;
        }
        g
    }
}

/// A deliberately broken member, to show the checker finds what it looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mutation {
    /// The protocol as specified.
    None,
    /// Another member's record counts as live for `LEASE_MS` instead of `RECORD_LIVE_MS`: the member is
    /// fed each record as if seen `RECORD_LIVE_MS - LEASE_MS` earlier.
    RecordLiveForLease,
    /// A claim completes as soon as the put is acknowledged, without waiting for the member's own
    /// watcher to deliver it.
    NoOwnPutWait,
    /// The member is never told the other members' records: it acts on the view alone.
    IgnoreRecords,
}

/// The network and failure model.
#[derive(Debug, Clone, Serialize)]
pub struct Net {
    /// Probability that a watcher message stalls 1–15 s (holding up the ones behind it).
    pub stall_p: f64,
    /// Probability that a put is lost (not stored; an error after a timeout).
    pub put_lost_p: f64,
    /// Probability that a put is stored but its acknowledgement lost (an error after a timeout).
    pub ack_lost_p: f64,
    /// Probability that the server notices a crash late (host gone: 5–30 s) rather than at once
    /// (connection reset: 0.1–1 s).
    pub slow_detect_p: f64,
}

impl Default for Net {
    fn default() -> Net {
        Net {
            stall_p: 0.002,
            put_lost_p: 0.01,
            ack_lost_p: 0.01,
            slow_detect_p: 0.5,
        }
    }
}
