//! Flushing a device's caches between timed launches, so that a benchmark reads its operands
//! from memory, not from a cache a previous launch warmed (as `triton.testing.do_bench` does:
//! the H200's L2 holds 50 MB, and a 4096x4096 ternary matrix of 4 MiB would stay in it).
//!
//! A [`CacheFlush`] owns a buffer twice the size of the cache it evicts and overwrites it:
//!
//! - on CUDA, the L2 (size from `CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE`), with a memset queued on
//!   the device's stream, so that it runs before the next launch and outside its events;
//! - on host devices, the last-level cache (the largest `cache/index*/size` of CPU 0 in sysfs,
//!   32 MiB when unknown), written by every thread of rayon's global pool (where CPU kernels
//!   run by default), so that each core's private caches are overwritten too.

use crate::cuda::driver;
use crate::device::Device;
use crate::error::Error;
use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaSlice, CudaStream};
use rayon::prelude::*;
use std::sync::Arc;

/// The smallest buffer a flush writes, whatever the cache size reads (64 MiB).
const MIN_BYTES: usize = 64 << 20;

/// The last-level cache size assumed when the system does not say (32 MiB).
const DEFAULT_LLC_BYTES: usize = 32 << 20;

/// What a flush writes to.
enum Target {
    /// Device memory, cleared by a memset on the stream.
    Cuda {
        stream: Arc<CudaStream>,
        buffer: CudaSlice<u8>,
    },
    /// Host memory, written by the thread pool.
    Host { buffer: Vec<u8>, value: u8 },
}

/// A buffer larger than a device's last cache level, overwritten by [`CacheFlush::run`].
pub struct CacheFlush {
    target: Target,
    cache_bytes: usize,
}

impl CacheFlush {
    /// Allocates the flush buffer for `device`: twice its L2 (CUDA) or last-level cache
    /// (host), and at least 64 MiB.
    ///
    /// Errors: [`Error::Cuda`] when the L2 size cannot be read or the allocation fails.
    pub fn new(device: &Device) -> Result<CacheFlush, Error> {
        let cache_bytes = evicted_cache_bytes(device)?;
        let target = match &device.inner.cuda {
            Some(cuda) => {
                let stream = cuda.stream.clone();
                let buffer = stream
                    .alloc_zeros::<u8>(flush_bytes(cache_bytes))
                    .map_err(|e| driver("cache flush", "allocating the flush buffer", e))?;
                Target::Cuda { stream, buffer }
            }
            None => Target::Host {
                buffer: vec![0; flush_bytes(cache_bytes)],
                value: 0,
            },
        };
        Ok(CacheFlush {
            target,
            cache_bytes,
        })
    }

    /// Bytes each [`CacheFlush::run`] writes.
    pub fn bytes(&self) -> usize {
        match &self.target {
            Target::Cuda { buffer, .. } => buffer.len(),
            Target::Host { buffer, .. } => buffer.len(),
        }
    }

    /// The size of the cache it evicts, in bytes, as the device reported it.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes
    }

    /// What a flush on `device` does, for reports (e.g. `L2 flush: 120 MiB memset on the
    /// stream before each timed launch (L2 60.0 MiB)`), read without allocating its buffer.
    ///
    /// Errors: [`Error::Cuda`] when the L2 size cannot be read.
    pub fn describe(device: &Device) -> Result<String, Error> {
        let cache_bytes = evicted_cache_bytes(device)?;
        let (what, how) = match device.inner.cuda {
            Some(_) => ("L2", "memset on the stream"),
            None => ("last-level cache", "write by every thread"),
        };
        Ok(format!(
            "{what} flush: {} MiB {how} before each timed launch ({what} {:.1} MiB)",
            flush_bytes(cache_bytes) >> 20,
            cache_bytes as f64 / (1 << 20) as f64
        ))
    }

    /// Overwrites the buffer: queued on the stream on CUDA (it does not wait), done when it
    /// returns on host devices.
    pub fn run(&mut self) -> Result<(), Error> {
        match &mut self.target {
            Target::Cuda { stream, buffer } => stream
                .memset_zeros(buffer)
                .map_err(|e| driver("cache flush", "clearing the flush buffer", e)),
            Target::Host { buffer, value } => {
                // A new value each time: the writes cannot be skipped as redundant.
                *value = value.wrapping_add(1);
                let v = *value;
                buffer.par_chunks_mut(1 << 16).for_each(|c| c.fill(v));
                std::hint::black_box(&buffer);
                Ok(())
            }
        }
    }
}

/// The size of the cache a flush on `device` evicts: the L2 of a CUDA device
/// (`CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE`), the host's last-level cache otherwise.
fn evicted_cache_bytes(device: &Device) -> Result<usize, Error> {
    match &device.inner.cuda {
        Some(cuda) => {
            let l2 = cuda
                .stream
                .context()
                .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
                .map_err(|e| driver("cache flush", "reading the L2 size", e))?;
            Ok(usize::try_from(l2).unwrap_or(0))
        }
        None => Ok(host_llc_bytes().unwrap_or(DEFAULT_LLC_BYTES)),
    }
}

/// The buffer size that evicts a cache of `cache_bytes`: twice it, at least [`MIN_BYTES`].
fn flush_bytes(cache_bytes: usize) -> usize {
    cache_bytes.saturating_mul(2).max(MIN_BYTES)
}

/// The largest cache of CPU 0 that sysfs lists (`/sys/devices/system/cpu/cpu0/cache/index*/size`,
/// e.g. `32768K`); `None` where there is no such file.
fn host_llc_bytes() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("size")).ok())
        .filter_map(|s| parse_cache_size(&s))
        .max()
}

/// Reads a sysfs cache size: bytes, or with a `K`/`M`/`G` suffix.
fn parse_cache_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    digits.parse::<usize>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_cache_sizes_parse() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("2M"), Some(2 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("12Q"), None);
        assert_eq!(parse_cache_size(""), None);
    }

    #[test]
    fn a_host_flush_writes_twice_the_cache_and_changes_every_byte() {
        let mut flush = CacheFlush::new(&Device::cpu()).unwrap();
        assert_eq!(flush.bytes(), flush_bytes(flush.cache_bytes()));
        assert!(flush.bytes() >= 2 * flush.cache_bytes() && flush.bytes() >= MIN_BYTES);
        for round in 1..=2u8 {
            flush.run().unwrap();
            let Target::Host { buffer, .. } = &flush.target else {
                panic!("a host device flushes host memory")
            };
            assert!(buffer.iter().all(|&b| b == round));
        }
        let described = CacheFlush::describe(&Device::cpu()).unwrap();
        assert!(
            described.starts_with("last-level cache flush: "),
            "{described}"
        );
        assert!(
            described.contains(&format!(" {} MiB ", flush.bytes() >> 20)),
            "{described}"
        );
    }
}
