//! The server's own counters, served at `GET /metrics` in the Prometheus text format (0.0.4).
//! Counters are process-wide statics: each replica counts what it did. Names follow Prometheus'
//! conventions (`symphony_<what>_total`); docs/operations.md lists them.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Counter {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn increment(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// Audit events that could not be written (each is also logged as an error).
pub static AUDIT_WRITE_FAILURES: Counter = Counter::new(
    "symphony_audit_write_failures_total",
    "Audit events that could not be written to the audit stream (each is also logged as an error).",
);

/// Every counter, in the order `/metrics` lists them.
static ALL: &[&Counter] = &[&AUDIT_WRITE_FAILURES];

/// The Prometheus text exposition of every counter.
pub fn render() -> String {
    let mut out = String::new();
    for c in ALL {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} counter\n{} {}\n",
            c.name,
            c.help,
            c.name,
            c.name,
            c.get()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_prometheus_text_format() {
        let before = AUDIT_WRITE_FAILURES.get();
        AUDIT_WRITE_FAILURES.increment();
        let text = render();
        assert!(text.contains("# TYPE symphony_audit_write_failures_total counter\n"));
        let line = text
            .lines()
            .find(|l| l.starts_with("symphony_audit_write_failures_total "))
            .expect("a sample line");
        let value: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value > before, "{text}");
    }
}
