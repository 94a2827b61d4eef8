//! The in-memory cache of specialized kernels of one device.

use crate::constexpr::ConstexprValue;
use bitmat_ir::Kernel;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What identifies a compiled kernel on a device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) name: String,
    pub(crate) source_hash: u64,
    pub(crate) constexprs: Vec<ConstexprValue>,
}

/// Specialized kernels by key.
#[derive(Default)]
pub(crate) struct KernelCache {
    entries: Mutex<HashMap<CacheKey, Arc<Kernel>>>,
}

impl KernelCache {
    /// The cached kernel for `key`, or the result of `build` (cached when it succeeds).
    pub(crate) fn get_or_build<E>(
        &self,
        key: CacheKey,
        build: impl FnOnce() -> Result<Kernel, E>,
    ) -> Result<Arc<Kernel>, E> {
        if let Some(k) = self.lock().get(&key) {
            return Ok(Arc::clone(k));
        }
        // Build outside the lock: specialization runs user code, which may launch kernels.
        let kernel = Arc::new(build()?);
        Ok(Arc::clone(self.lock().entry(key).or_insert(kernel)))
    }

    /// Number of cached kernels.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Kernel>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
