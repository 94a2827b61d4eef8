//! Typed buffers on a device.

use crate::cuda::DeviceBytes;
use crate::device::Device;
use crate::error::Error;
use bitmat_ir::{Element, HostData};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a buffer's elements live.
#[derive(Clone)]
pub(crate) enum Storage {
    /// Host memory (interpreter and CPU devices).
    Host(Arc<Mutex<HostData>>),
    /// A CUDA device allocation.
    Cuda(DeviceBytes),
}

/// A buffer of `len` elements of `T` on a device (a kernel's `Ptr<T>` argument).
/// Cloning shares the storage.
#[derive(Clone)]
pub struct Buffer<T: Element> {
    device: Device,
    pub(crate) storage: Storage,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: Element> Buffer<T> {
    pub(crate) fn from_vec(device: Device, data: Vec<T>) -> Buffer<T> {
        let len = data.len();
        Buffer {
            device,
            storage: Storage::Host(Arc::new(Mutex::new(T::into_host(data)))),
            len,
            _elem: PhantomData,
        }
    }

    pub(crate) fn on_device(device: Device, bytes: DeviceBytes, len: usize) -> Buffer<T> {
        Buffer {
            device,
            storage: Storage::Cuda(bytes),
            len,
            _elem: PhantomData,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device the buffer lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Copies the contents back to the host (waiting for the device).
    pub fn to_vec(&self) -> Result<Vec<T>, Error> {
        match &self.storage {
            Storage::Host(h) => {
                let data = lock(h);
                T::host_slice(&data)
                    .map(<[T]>::to_vec)
                    .ok_or(Error::BufferType {
                        expected: T::DTYPE,
                        found: data.dtype(),
                    })
            }
            Storage::Cuda(d) => self.cuda()?.download(d, self.len),
        }
    }

    fn cuda(&self) -> Result<&crate::cuda::CudaDev, Error> {
        self.device
            .inner
            .cuda
            .as_ref()
            .ok_or_else(|| Error::NoCudaDriver {
                reason: "a device buffer on a device without a CUDA context".into(),
            })
    }

    /// Overwrites the contents with `data` (same length).
    pub fn copy_from(&self, data: &[T]) -> Result<(), Error> {
        if data.len() != self.len {
            return Err(Error::Arguments {
                kernel: "copy_from".into(),
                message: format!(
                    "buffer has {} elements, source has {}",
                    self.len,
                    data.len()
                ),
            });
        }
        match &self.storage {
            Storage::Host(h) => *lock(h) = T::into_host(data.to_vec()),
            Storage::Cuda(d) => self.cuda()?.copy_from(d, data)?,
        }
        Ok(())
    }
}

/// Locks host storage; a kernel that panicked mid-launch cannot leave it half-typed, so a
/// poisoned lock is still safe to use.
pub(crate) fn lock(m: &Mutex<HostData>) -> MutexGuard<'_, HostData> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
