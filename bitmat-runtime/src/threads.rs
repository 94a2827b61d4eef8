//! Thread pools for [`LaunchOptions::cpu_threads`](crate::LaunchOptions::cpu_threads): one
//! rayon pool per size, built on first use and kept for the life of the process.

use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The process's pool of `threads` threads.
pub(crate) fn pool(kernel: &str, threads: usize) -> Result<Arc<rayon::ThreadPool>, Error> {
    static POOLS: Mutex<Option<HashMap<usize, Arc<rayon::ThreadPool>>>> = Mutex::new(None);
    let error = |message: String| Error::Arguments {
        kernel: kernel.to_string(),
        message,
    };
    if threads == 0 {
        return Err(error(
            "cpu_threads is 0; give at least 1 thread, or None for rayon's global pool".into(),
        ));
    }
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let pools = pools.get_or_insert_with(HashMap::new);
    if let Some(p) = pools.get(&threads) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("bitmat-cpu{threads}-{i}"))
        .build()
        .map_err(|e| error(format!("could not start a pool of {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.insert(threads, Arc::clone(&p));
    Ok(p)
}
