//! Global memory: the launch's buffers as seen through pointer parameters, pointer
//! arithmetic, and the masked, bounds-checked load, store and atomics.

use super::num::{by_family, FloatElem, HostElem, IntElem};
use super::value::{
    host_vec, lane_of, malformed, slice_of, with_dtype, PtrElem, TileData, TileValue,
};
use super::InterpErrorKind;
use crate::element::HostData;
use crate::kernel::{AtomicOp, Kernel};
use crate::types::DType;

/// The buffers of a launch and which buffer each pointer parameter refers to.
pub(crate) struct Memory<'k, 'b, 'h> {
    kernel: &'k Kernel,
    /// For each kernel parameter, the index into `buffers` it refers to (`None` for scalars).
    param_buffer: Vec<Option<usize>>,
    buffers: &'b mut [&'h mut HostData],
}

/// `ptr + offset`, elementwise; offsets of any integer type, sign-extended (`as i64`).
pub(crate) fn add_ptr(ptr: &TileValue, offset: &TileValue) -> Result<TileValue, InterpErrorKind> {
    ptr.same_shape(offset, "addptr")?;
    let ptrs = ptr.ptrs()?;
    let offs: Vec<i64> = by_family!(offset.values()?, v,
        int => v.iter().map(|&o| IntElem::to_i64(o)).collect(),
        float => return Err(malformed("pointer offsets must be integers")),
        bool => return Err(malformed("pointer offsets must be integers")),
    );
    let data = ptrs
        .iter()
        .zip(offs)
        .map(|(p, o)| PtrElem {
            param: p.param,
            offset: p.offset.wrapping_add(o),
        })
        .collect();
    Ok(TileValue {
        shape: ptr.shape.clone(),
        data: TileData::Ptr(data),
    })
}

/// The mask of an access as a `bool` slice, checked against the pointer tile's shape.
fn mask_of<'a>(
    ptr: &TileValue,
    mask: Option<&'a TileValue>,
) -> Result<Option<&'a [bool]>, InterpErrorKind> {
    match mask {
        None => Ok(None),
        Some(m) => {
            ptr.same_shape(m, "mask")?;
            Ok(Some(slice_of(m.values()?)?))
        }
    }
}

/// Index of `p` into a buffer of `len` elements, or the out-of-bounds error for lane `flat`.
fn checked_index(
    kernel: &Kernel,
    p: PtrElem,
    len: usize,
    flat: usize,
    shape: &[u32],
) -> Result<usize, InterpErrorKind> {
    match usize::try_from(p.offset) {
        Ok(i) if i < len => Ok(i),
        _ => Err(InterpErrorKind::OutOfBounds {
            param: kernel
                .params
                .get(p.param as usize)
                .map_or_else(|| format!("#{}", p.param), |q| q.name.clone()),
            index: p.offset,
            len,
            lane: lane_of(flat, shape),
        }),
    }
}

impl<'k, 'b, 'h> Memory<'k, 'b, 'h> {
    /// Memory for `kernel` where parameter `i` refers to `buffers[param_buffer[i]]`.
    pub fn new(
        kernel: &'k Kernel,
        param_buffer: Vec<Option<usize>>,
        buffers: &'b mut [&'h mut HostData],
    ) -> Self {
        Memory {
            kernel,
            param_buffer,
            buffers,
        }
    }

    fn buffer_index(&self, param: u32) -> Result<usize, InterpErrorKind> {
        self.param_buffer
            .get(param as usize)
            .copied()
            .flatten()
            .filter(|&b| b < self.buffers.len())
            .ok_or_else(|| malformed(format!("parameter #{param} is not a pointer")))
    }

    fn slice<T: HostElem>(&self, param: u32) -> Result<&[T], InterpErrorKind> {
        let b = self.buffer_index(param)?;
        slice_of(&*self.buffers[b])
    }

    fn slice_mut<T: HostElem>(&mut self, param: u32) -> Result<&mut [T], InterpErrorKind> {
        let b = self.buffer_index(param)?;
        T::slice_mut(&mut *self.buffers[b]).ok_or_else(|| {
            malformed(format!(
                "pointer parameter #{param} does not point to {}",
                T::DTYPE
            ))
        })
    }

    /// Gathers `dtype` elements at `ptr` where `mask` is true; other lanes read `other` (zero
    /// when absent) and are not accessed.
    pub fn load(
        &self,
        ptr: &TileValue,
        mask: Option<&TileValue>,
        other: Option<&TileValue>,
        dtype: DType,
    ) -> Result<TileValue, InterpErrorKind> {
        let ptrs = ptr.ptrs()?;
        let mask = mask_of(ptr, mask)?;
        let other = match other {
            Some(o) => {
                ptr.same_shape(o, "load fill value")?;
                Some(o.values()?)
            }
            None => None,
        };
        let data = with_dtype!(dtype, T => {
            let other: Option<&[T]> = other.map(slice_of).transpose()?;
            host_vec(self.load_typed(ptrs, mask, other, &ptr.shape)?)
        });
        Ok(TileValue::val(ptr.shape.clone(), data))
    }

    fn load_typed<T: HostElem>(
        &self,
        ptrs: &[PtrElem],
        mask: Option<&[bool]>,
        other: Option<&[T]>,
        shape: &[u32],
    ) -> Result<Vec<T>, InterpErrorKind> {
        let mut out = Vec::with_capacity(ptrs.len());
        for (i, &p) in ptrs.iter().enumerate() {
            if mask.is_some_and(|m| !m[i]) {
                out.push(other.map_or_else(T::default, |o| o[i]));
                continue;
            }
            let s = self.slice::<T>(p.param)?;
            let idx = checked_index(self.kernel, p, s.len(), i, shape)?;
            out.push(s[idx]);
        }
        Ok(out)
    }

    /// Visits the memory slot of every active lane, in row-major lane order.
    fn for_each_slot<T: HostElem>(
        &mut self,
        ptr: &TileValue,
        mask: Option<&[bool]>,
        mut f: impl FnMut(usize, &mut T),
    ) -> Result<(), InterpErrorKind> {
        let kernel = self.kernel;
        for (i, &p) in ptr.ptrs()?.iter().enumerate() {
            if mask.is_some_and(|m| !m[i]) {
                continue;
            }
            let s = self.slice_mut::<T>(p.param)?;
            let idx = checked_index(kernel, p, s.len(), i, &ptr.shape)?;
            f(i, &mut s[idx]);
        }
        Ok(())
    }

    /// Writes `value` at `ptr` where `mask` is true, lanes in row-major order.
    pub fn store(
        &mut self,
        ptr: &TileValue,
        value: &TileValue,
        mask: Option<&TileValue>,
    ) -> Result<(), InterpErrorKind> {
        ptr.same_shape(value, "stored value")?;
        let mask = mask_of(ptr, mask)?;
        crate::with_host_data!(value.values()?, v => {
            self.for_each_slot(ptr, mask, |i, slot| *slot = v[i])
        })
    }

    /// Combines `value` with memory at `ptr` by `op` where `mask` is true, lane after lane in
    /// row-major order; returns the old values (zero where masked off).
    pub fn atomic(
        &mut self,
        op: AtomicOp,
        ptr: &TileValue,
        value: &TileValue,
        mask: Option<&TileValue>,
    ) -> Result<TileValue, InterpErrorKind> {
        ptr.same_shape(value, "atomic value")?;
        let mask = mask_of(ptr, mask)?;
        let undefined = || {
            malformed(format!(
                "`{}` is not defined on {}",
                op.name(),
                value.elem_desc()
            ))
        };
        let old = by_family!(value.values()?, v,
            int => {
                let f = match op {
                    AtomicOp::Add => IntElem::add,
                    AtomicOp::Max => Ord::max,
                    AtomicOp::Min => Ord::min,
                    AtomicOp::And => IntElem::and,
                    AtomicOp::Or => IntElem::or,
                    AtomicOp::Xor => IntElem::xor,
                    AtomicOp::Xchg => |_, b| b,
                };
                host_vec(self.rmw(ptr, mask, &v[..], f)?)
            },
            float => {
                // The exchange keeps the bits (a NaN's payload too); the others round.
                let f: fn(f32, f32) -> f32 = match op {
                    AtomicOp::Add => |a, b| a + b,
                    AtomicOp::Max => f32::max,
                    AtomicOp::Min => f32::min,
                    AtomicOp::Xchg => |_, b| b,
                    AtomicOp::And | AtomicOp::Or | AtomicOp::Xor => return Err(undefined()),
                };
                host_vec(self.rmw(ptr, mask, &v[..], |a, b| {
                    if op == AtomicOp::Xchg {
                        b
                    } else {
                        FloatElem::from_f32(f(a.to_f32(), b.to_f32()))
                    }
                })?)
            },
            bool => return Err(undefined()),
        );
        Ok(TileValue::val(ptr.shape.clone(), old))
    }

    /// Compare-and-swap at `ptr` where `mask` is true, lane after lane in row-major order:
    /// memory equal (bit for bit) to `cmp` becomes `value`; returns the old values (zero where
    /// masked off).
    pub fn atomic_cas(
        &mut self,
        ptr: &TileValue,
        cmp: &TileValue,
        value: &TileValue,
        mask: Option<&TileValue>,
    ) -> Result<TileValue, InterpErrorKind> {
        ptr.same_shape(cmp, "atomic_cas compared value")?;
        ptr.same_shape(value, "atomic_cas value")?;
        let mask = mask_of(ptr, mask)?;
        let cmp: Vec<u64> = crate::with_host_data!(cmp.values()?, c => {
            c.iter().map(|&x| HostElem::to_bits64(x)).collect()
        });
        let old = crate::with_host_data!(value.values()?, v => {
            let mut old = vec![Default::default(); v.len()];
            self.for_each_slot(ptr, mask, |i, slot| {
                old[i] = *slot;
                if HostElem::to_bits64(*slot) == cmp[i] {
                    *slot = v[i];
                }
            })?;
            host_vec(old)
        });
        Ok(TileValue::val(ptr.shape.clone(), old))
    }

    fn rmw<T: HostElem>(
        &mut self,
        ptr: &TileValue,
        mask: Option<&[bool]>,
        v: &[T],
        add: impl Fn(T, T) -> T,
    ) -> Result<Vec<T>, InterpErrorKind> {
        let mut old = vec![T::default(); v.len()];
        self.for_each_slot(ptr, mask, |i, slot: &mut T| {
            old[i] = *slot;
            *slot = add(*slot, v[i]);
        })?;
        Ok(old)
    }
}
