//! The autotuning key: which launches share a tuning result.
//!
//! The key holds the integer scalar arguments of a launch (all of them, or the ones named with
//! [`Autotuner::key_params`](crate::tune::Autotuner::key_params)), each rounded to its
//! power-of-two bucket, and the element types of the buffer arguments. Launches with the same
//! key share one winner: `m = 17` and `m = 30` both tune as `m=32`.

use crate::launch::KernelArg;
use bitmat_ir::DType;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The bucket of `v`: the next power of two of `|v|`, with `v`'s sign; 0 stays 0.
///
/// `1 -> 1`, `3 -> 4`, `4 -> 4`, `5 -> 8`, `-3 -> -4`.
pub fn bucket(v: i128) -> i128 {
    if v == 0 {
        return 0;
    }
    let magnitude = v.unsigned_abs();
    let up = magnitude
        .checked_next_power_of_two()
        .unwrap_or(1u128 << 127)
        .min(i128::MAX as u128) as i128;
    if v < 0 {
        -up
    } else {
        up
    }
}

/// The key of one launch: bucketed integer scalars and buffer element types.
///
/// Equality and hashing use the buckets (and buffer types) only; [`TuneKey::get`] also gives
/// the launch's exact values, for prune predicates. Displayed as `m=32,n=4096,k=4096`.
#[derive(Clone, Debug)]
pub struct TuneKey {
    /// Parameter names of the key's scalars, in parameter order.
    names: Vec<&'static str>,
    /// The exact values of this launch.
    values: Vec<i128>,
    /// Their buckets.
    buckets: Vec<i128>,
    /// Element types of the buffer arguments, in parameter order.
    buffers: Vec<DType>,
}

impl TuneKey {
    /// The key of `args` for a kernel whose runtime parameters are `params` (in order). With
    /// `only`, just the named parameters enter it; each must be an integer scalar.
    pub(crate) fn new(
        params: &[&'static str],
        args: &[KernelArg<'_>],
        only: Option<&[String]>,
    ) -> Result<TuneKey, String> {
        if params.len() != args.len() {
            return Err(format!(
                "expected {} runtime arguments, got {}",
                params.len(),
                args.len()
            ));
        }
        let integer = |arg: &KernelArg<'_>| match arg {
            KernelArg::Scalar(s) if s.dtype().is_signed_int() => Some(i128::from(s.as_i64())),
            KernelArg::Scalar(s) if s.dtype().is_int() => Some(i128::from(s.as_u64())),
            _ => None,
        };
        if let Some(only) = only {
            for name in only {
                match params.iter().position(|p| p == name) {
                    Some(i) if integer(&args[i]).is_some() => {}
                    _ => {
                        let accepted: Vec<&str> = params
                            .iter()
                            .zip(args)
                            .filter(|(_, a)| integer(a).is_some())
                            .map(|(p, _)| *p)
                            .collect();
                        return Err(format!(
                            "key parameter `{name}` is not an integer scalar parameter; the \
                             kernel's are: {}",
                            if accepted.is_empty() {
                                "(none)".to_string()
                            } else {
                                accepted.join(", ")
                            }
                        ));
                    }
                }
            }
        }
        let mut key = TuneKey {
            names: Vec::new(),
            values: Vec::new(),
            buckets: Vec::new(),
            buffers: Vec::new(),
        };
        for (name, arg) in params.iter().zip(args) {
            if let KernelArg::Buffer { dtype, .. } = arg {
                key.buffers.push(*dtype);
            }
            let Some(v) = integer(arg) else { continue };
            if only.is_some_and(|o| !o.iter().any(|n| n == name)) {
                continue;
            }
            key.names.push(name);
            key.values.push(v);
            key.buckets.push(bucket(v));
        }
        Ok(key)
    }

    /// The exact value of the key parameter `name` in this launch (`None` when it is not in
    /// the key). Values beyond `i64` saturate.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.position(name)
            .map(|i| self.values[i].clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// The bucket of the key parameter `name` (`None` when it is not in the key). Values
    /// beyond `i64` saturate.
    pub fn bucket(&self, name: &str) -> Option<i64> {
        self.position(name)
            .map(|i| self.buckets[i].clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// The key parameters' names and buckets, in parameter order.
    pub fn buckets(&self) -> impl Iterator<Item = (&'static str, i128)> + '_ {
        self.names.iter().copied().zip(self.buckets.iter().copied())
    }

    /// The text that identifies the key in cache entries: the display form, then the buffer
    /// element types (`m=32,n=4096;i8,u8,i32`).
    pub fn id(&self) -> String {
        let types: Vec<&str> = self.buffers.iter().map(|d| d.name()).collect();
        format!("{self};{}", types.join(","))
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }
}

impl PartialEq for TuneKey {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names && self.buckets == other.buckets && self.buffers == other.buffers
    }
}

impl Eq for TuneKey {}

impl Hash for TuneKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.names.hash(state);
        self.buckets.hash(state);
        self.buffers.hash(state);
    }
}

impl fmt::Display for TuneKey {
    /// `m=32,n=4096,k=4096` (buckets); `-` for a key without scalars.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            return f.write_str("-");
        }
        for (i, (name, b)) in self.buckets().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}={b}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    #[test]
    fn buckets_round_up_to_powers_of_two_keeping_sign() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 4),
            (5, 8),
            (4097, 8192),
            (-1, -1),
            (-3, -4),
            (-4096, -4096),
        ];
        for (v, b) in cases {
            assert_eq!(bucket(v), b, "bucket({v})");
        }
        assert_eq!(bucket(i128::from(u64::MAX)), 1i128 << 64);
    }

    #[test]
    fn key_of_arguments() {
        let dev = Device::interpreter();
        let x = dev.zeros::<f32>(4).unwrap();
        let args = [
            KernelArg::buffer(&x),
            KernelArg::scalar(17i32),
            KernelArg::scalar(4096u32),
            KernelArg::scalar(0.5f32),
            KernelArg::scalar(-3i64),
        ];
        let params = ["x", "m", "n", "eps", "s"];
        let key = TuneKey::new(&params, &args, None).unwrap();
        assert_eq!(key.to_string(), "m=32,n=4096,s=-4");
        assert_eq!(key.id(), "m=32,n=4096,s=-4;f32");
        assert_eq!(key.get("m"), Some(17));
        assert_eq!(key.bucket("m"), Some(32));
        assert_eq!(key.get("eps"), None);

        // Same buckets, other exact values: equal keys.
        let args2 = [
            KernelArg::buffer(&x),
            KernelArg::scalar(30i32),
            KernelArg::scalar(4096u32),
            KernelArg::scalar(1.5f32),
            KernelArg::scalar(-4i64),
        ];
        assert_eq!(key, TuneKey::new(&params, &args2, None).unwrap());

        let only = ["n".to_string()];
        let key = TuneKey::new(&params, &args, Some(&only)).unwrap();
        assert_eq!(key.to_string(), "n=4096");

        let bad = ["eps".to_string()];
        let err = TuneKey::new(&params, &args, Some(&bad)).unwrap_err();
        assert!(err.contains("`eps`") && err.contains("m, n, s"), "{err}");
    }
}
