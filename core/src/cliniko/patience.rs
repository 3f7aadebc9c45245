//! [`Patience`]: waiting out short budget refusals between the Cliniko calls of one operation.
//!
//! The API lane fails fast with 429 when the clinic's shared budget is empty: right for one
//! partner request that makes one call, wrong for an operation that makes several in a row (a
//! booking: available times, patient lookup or creation, the booking, the conflicts check — more
//! than the lane's burst; a cold directory fill: `3 + clinics + doctors` reads). Failing halfway
//! would leave work half done (a patient without an appointment, an appointment whose conflicts
//! were never checked). Such operations wrap each call in one `Patience`: a refusal whose
//! `Retry-After` is short (a budget refill, a fraction of a second) is waited out, up to a total
//! bound; a long one (Cliniko's own 429 pause) still fails at once.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{Error, Result};

/// The longest single wait for budget.
const MAX_WAIT: Duration = Duration::from_secs(3);

/// The most one operation waits for budget in all.
const MAX_TOTAL_WAIT: Duration = Duration::from_secs(10);

/// The budget waits of one operation.
#[derive(Debug, Default)]
pub struct Patience {
    waited: Mutex<Duration>,
}

impl Patience {
    /// Runs `call`, again after short budget refusals (see the module documentation).
    ///
    /// # Errors
    /// Whatever `call` returns last.
    pub async fn call<T, Fut>(&self, mut call: impl FnMut() -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        loop {
            match call().await {
                Err(Error::RateLimited { retry_after }) if self.may_wait(retry_after) => {
                    tokio::time::sleep(retry_after).await;
                }
                other => return other,
            }
        }
    }

    fn may_wait(&self, retry_after: Duration) -> bool {
        let mut waited = self.waited.lock().unwrap_or_else(PoisonError::into_inner);
        if retry_after > MAX_WAIT || *waited + retry_after > MAX_TOTAL_WAIT {
            return false;
        }
        *waited += retry_after;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn short_refusals_are_waited_out_and_long_ones_are_not() {
        let patience = Patience::default();
        let tries = AtomicU32::new(0);
        let answer = patience
            .call(|| async {
                if tries.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::RateLimited {
                        retry_after: Duration::from_millis(5),
                    })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(tries.load(Ordering::SeqCst), 3);

        let paused = patience
            .call(|| async {
                Err::<(), _>(Error::RateLimited {
                    retry_after: Duration::from_secs(30),
                })
            })
            .await;
        assert!(matches!(paused, Err(Error::RateLimited { .. })));
    }
}
