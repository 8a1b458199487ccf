//! Time as a dependency, so tests can move it (an expiring grant stops
//! counting at an exact instant, checked without sleeping).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dsg_core::Timestamp;

/// Source of "now".
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until moved.
    pub fn manual(start: Timestamp) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(start.0))),
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(t) => Timestamp(t.load(Ordering::Acquire)),
            None => Timestamp(dsg_store::now_micros()),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance_secs(&self, secs: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(
                secs.saturating_mul(Timestamp::MICROS_PER_SEC),
                Ordering::AcqRel,
            );
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, at: Timestamp) {
        if let Some(t) = &self.manual {
            t.store(at.0, Ordering::Release);
        }
    }
}
