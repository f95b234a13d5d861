//! The time, as a parameter. Services read "now" through a `Clock` instead of the system
//! clock, so tests set the time instead of sleeping, and a check can be run as of any moment.
//! Checks themselves take `now` as an argument (`signed::check_authorized_at`); the clock is
//! how a service decides which moment that is.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where a service reads the time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock that reads `start` until told otherwise, and the handle that moves it.
    pub fn manual(start: DateTime<Utc>) -> (Self, ManualTime) {
        let time = ManualTime(Arc::new(Mutex::new(start)));
        let read = time.clone();
        (Self(Arc::new(move || read.now())), time)
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Moves a [`Clock::manual`] clock.
#[derive(Clone, Debug)]
pub struct ManualTime(Arc<Mutex<DateTime<Utc>>>);

impl ManualTime {
    pub fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set(&self, time: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = time;
    }

    pub fn advance(&self, by: Duration) {
        let mut time = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *time += by;
    }
}
