//! Saving and restoring the buffers a kernel writes, so that timing runs on the caller's real
//! buffers leave no trace: the launch after tuning sees exactly what the caller passed.

use crate::buffer::{lock, Storage};
use crate::cuda::DeviceBytes;
use crate::device::Device;
use crate::error::Error;
use crate::launch::KernelArg;
use bitmat_ir::HostData;
use std::sync::{Arc, Mutex};

/// Copies of some of a launch's buffers, taken before they were first written.
#[derive(Default)]
pub(crate) struct Snapshot {
    saved: Vec<Saved>,
}

enum Saved {
    Host {
        buffer: Arc<Mutex<HostData>>,
        copy: HostData,
    },
    Cuda {
        buffer: DeviceBytes,
        copy: DeviceBytes,
    },
}

impl Saved {
    fn is(&self, storage: &Storage) -> bool {
        match (self, storage) {
            (Saved::Host { buffer, .. }, Storage::Host(s)) => Arc::ptr_eq(buffer, s),
            (Saved::Cuda { buffer, .. }, Storage::Cuda(s)) => Arc::ptr_eq(buffer, s),
            _ => false,
        }
    }
}

impl Snapshot {
    /// Saves the buffers of `args` at positions `params` not saved yet. Call it before
    /// anything writes them.
    pub(crate) fn add(
        &mut self,
        device: &Device,
        args: &[KernelArg<'_>],
        params: &[usize],
    ) -> Result<(), Error> {
        for &i in params {
            let Some(KernelArg::Buffer { storage, .. }) = args.get(i) else {
                continue;
            };
            if self.saved.iter().any(|s| s.is(storage)) {
                continue;
            }
            self.saved.push(match storage {
                Storage::Host(h) => Saved::Host {
                    buffer: Arc::clone(h),
                    copy: lock(h).clone(),
                },
                Storage::Cuda(d) => Saved::Cuda {
                    buffer: Arc::clone(d),
                    copy: cuda(device)?.duplicate(d)?,
                },
            });
        }
        Ok(())
    }

    /// Writes the saved contents back (queued on the device's stream for GPU buffers).
    pub(crate) fn restore(&self, device: &Device) -> Result<(), Error> {
        for s in &self.saved {
            match s {
                Saved::Host { buffer, copy } => *lock(buffer) = copy.clone(),
                Saved::Cuda { buffer, copy } => cuda(device)?.copy_device(copy, buffer)?,
            }
        }
        Ok(())
    }

    /// Number of buffers saved.
    pub(crate) fn len(&self) -> usize {
        self.saved.len()
    }
}

/// Zeroes the buffers of `args` at positions `params` (queued on the device's stream for GPU
/// buffers), as a kernel that accumulates into them with atomics needs before each launch.
pub(crate) fn zero_buffers(
    device: &Device,
    args: &[KernelArg<'_>],
    params: &[usize],
) -> Result<(), Error> {
    for &i in params {
        match args.get(i) {
            Some(KernelArg::Buffer {
                storage: Storage::Host(h),
                ..
            }) => {
                let mut data = lock(h);
                *data = HostData::zeros(data.dtype(), data.len());
            }
            Some(KernelArg::Buffer {
                storage: Storage::Cuda(d),
                ..
            }) => cuda(device)?.zero(d)?,
            _ => {}
        }
    }
    Ok(())
}

fn cuda(device: &Device) -> Result<&crate::cuda::CudaDev, Error> {
    device
        .inner
        .cuda
        .as_ref()
        .ok_or_else(|| Error::NoCudaDriver {
            reason: "a device buffer on a device without a CUDA context".into(),
        })
}
