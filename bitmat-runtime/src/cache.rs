//! The in-memory cache of compiled kernels of one device.

use crate::backend::Compiled;
use crate::constexpr::ConstexprValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What identifies a compiled kernel on a device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) name: String,
    pub(crate) source_hash: u64,
    pub(crate) constexprs: Vec<ConstexprValue>,
    /// Warps per program (GPU code depends on it).
    pub(crate) num_warps: u32,
}

/// Compiled kernels by key.
#[derive(Default)]
pub(crate) struct KernelCache {
    entries: Mutex<HashMap<CacheKey, Arc<Compiled>>>,
}

impl KernelCache {
    /// The cached kernel for `key`, or the result of `build` (cached when it succeeds).
    pub(crate) fn get_or_build<E>(
        &self,
        key: CacheKey,
        build: impl FnOnce() -> Result<Compiled, E>,
    ) -> Result<Arc<Compiled>, E> {
        if let Some(k) = self.lock().get(&key) {
            return Ok(Arc::clone(k));
        }
        // Build outside the lock: specialization runs user code, which may launch kernels.
        let compiled = Arc::new(build()?);
        Ok(Arc::clone(self.lock().entry(key).or_insert(compiled)))
    }

    /// Number of cached kernels.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Compiled>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
