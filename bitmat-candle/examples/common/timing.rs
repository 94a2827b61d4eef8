//! The median wall time of a candle forward, shared by the examples through `#[path]`.

use candle_core::{Result, Tensor};
use std::time::Instant;

/// The median wall time of `f` in seconds over `runs` calls, after one warm-up call.
pub fn median_time(runs: usize, mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    f()?;
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f().map(|_| start.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
