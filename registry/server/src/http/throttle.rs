//! Write throttling: every write (any method but GET, HEAD and OPTIONS) counts against a quota
//! per client address and a quota for the whole process, token buckets from `governor`.
//!
//! Why: anybody may create a DID (a genesis operation needs no prior registration), and every
//! accepted write is a permanent log entry. The per-DID limits of DID-METHOD.md §4.5 cannot
//! apply to a DID that does not exist yet, so without this one client could grow the log
//! without bound. The client is the TCP peer address, which `serve_with` knows for each
//! connection; behind a reverse proxy every request shares the proxy's address, so the
//! per-client quota then acts as a second global one: size it for the proxy, or throttle at the
//! proxy. Apps driven in process (`oneshot` in tests) are not throttled.
//!
//! A throttled request is answered 429 with `Retry-After` and a problem body before its body
//! is read; nothing is written.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::http::Method;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use credence_registry::error::Error;

/// Write quotas. Zero turns a quota off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Writes one client address may make per minute (also its burst).
    pub per_client_per_minute: u32,
    /// Writes the whole process accepts per minute (also its burst).
    pub global_per_minute: u32,
}

impl Default for Throttle {
    /// 600 writes a minute per client (10/s sustained, bursts of 600), 60,000 a minute in all
    /// (1,000/s, about what one registry commits durably on two cores).
    fn default() -> Self {
        Self {
            per_client_per_minute: 600,
            global_per_minute: 60_000,
        }
    }
}

/// The token buckets behind a [`Throttle`].
pub struct Throttler {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    global: Option<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for Throttler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttler")
            .field("per_client", &self.per_client.is_some())
            .field("global", &self.global.is_some())
            .finish()
    }
}

impl Throttler {
    pub fn new(throttle: Throttle) -> Self {
        let quota = |per_minute: u32| NonZeroU32::new(per_minute).map(Quota::per_minute);
        Self {
            per_client: quota(throttle.per_client_per_minute).map(governor::RateLimiter::keyed),
            global: quota(throttle.global_per_minute).map(governor::RateLimiter::direct),
        }
    }

    /// Takes one write from `client`'s bucket and the global one; `Err` says when to retry.
    /// The client's bucket is checked first, so one busy client cannot drain the global
    /// bucket with writes its own quota refuses.
    pub fn check(&self, client: IpAddr) -> Result<(), Error> {
        let retry_after = |not_until: governor::NotUntil<_>| Error::Throttled {
            retry_after_secs: not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1),
        };
        if let Some(per_client) = &self.per_client {
            per_client.check_key(&client).map_err(retry_after)?;
        }
        if let Some(global) = &self.global {
            global.check().map_err(retry_after)?;
        }
        Ok(())
    }

    /// Forgets clients whose buckets are full again, so the map of clients stays bounded by
    /// those active within the last minute. `serve_with` calls this periodically.
    pub fn forget_idle_clients(&self) {
        if let Some(per_client) = &self.per_client {
            per_client.retain_recent();
            per_client.shrink_to_fit();
        }
    }
}

/// Whether a request of `method` is a write (anything but GET, HEAD and OPTIONS): what the
/// throttle counts. `serve_with` checks it before the request reaches the app.
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
