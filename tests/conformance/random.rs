//! `randint`, `rand` and `randn` on every backend, against a plain-Rust Philox 4x32-10 that is
//! first checked against Random123's published known-answer vectors: `randint` and `rand`
//! bit for bit (they are Triton's draws for the same seed and offsets), `randn` within the
//! accuracy of `log`, `sqrt` and `cos`; over ragged grids, negative and 64-bit seeds, negative
//! offsets, and an empty mask.

use crate::harness::{i32_arg, run, test, Arg, Test, Tol};
use bitmat::ir::{DType, HostData, Scalar};
use bitmat::prelude::*;
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![test(
        "random::philox_draws_match_triton",
        philox_draws_match,
    )]
}

#[bitkernel]
fn philox_draws(
    ints: Ptr<u32>,
    uniform: Ptr<f32>,
    normal: Ptr<f32>,
    seed: i64,
    n: i32,
    base: i32,
    #[constexpr] block: i32,
) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let o = base + offs;
    store(ints + offs, randint(seed, o), mask);
    store(uniform + offs, rand(seed, o), mask);
    store(normal + offs, randn(seed, o), mask);
}

/// Philox 4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
fn philox(mut c: [u32; 4], mut k: [u32; 2]) -> [u32; 4] {
    let mulhilo = |m: u32, x: u32| {
        let p = u64::from(m) * u64::from(x);
        ((p >> 32) as u32, p as u32)
    };
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(0xD251_1F53, c[0]);
        let (hi1, lo1) = mulhilo(0xCD9E_8D57, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [
            k[0].wrapping_add(0x9E37_79B9),
            k[1].wrapping_add(0xBB67_AE85),
        ];
    }
    c
}

/// Random123's `tests/kat_vectors`, the three `philox4x32 10` lines (counter, key, result).
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0; 4],
        [0; 2],
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
    ),
    (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
        [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
    ),
];

/// Triton's `uint_to_uniform_float` for 32-bit words.
fn uniform(x: u32) -> f32 {
    let x = x as i32;
    let x = if x < 0 {
        x.wrapping_neg().wrapping_sub(1)
    } else {
        x
    };
    x as f32 * 4.656_612_734_2e-10_f64 as f32
}

fn philox_draws_match(dev: &Device) -> Result<(), String> {
    for (c, k, want) in KAT {
        if philox(c, k) != want {
            return Err(format!(
                "plain-Rust Philox disagrees with Random123 at {c:x?}, {k:x?}"
            ));
        }
    }
    let block = 128;
    let k = philox_draws::ir(block).map_err(|e| e.to_string())?;
    let cases: [(i64, i32, i32); 4] = [
        (0, 300, 0),
        (-7, 129, -64),
        (0x1234_5678_9abc_def0, 77, i32::MAX - 100),
        (42, 0, 5),
    ];
    for (seed, n, base) in cases {
        let len = 384;
        let key = [seed as u64 as u32, ((seed as u64) >> 32) as u32];
        let draws: Vec<[u32; 4]> = (0..len as i32)
            .map(|i| philox([base.wrapping_add(i) as u32, 0, 0, 0], key))
            .collect();
        // Lanes past `n` keep the buffers' initial values (masked off).
        let ints: Vec<u32> = (0..len)
            .map(|i| if (i as i32) < n { draws[i][0] } else { 0 })
            .collect();
        let unif: Vec<f32> = (0..len)
            .map(|i| {
                if (i as i32) < n {
                    uniform(draws[i][0])
                } else {
                    0.0
                }
            })
            .collect();
        let args = [
            Arg::Buf(HostData::zeros(DType::U32, len)),
            Arg::Buf(HostData::zeros(DType::F32, len)),
            Arg::Buf(HostData::zeros(DType::F32, len)),
            Arg::Scalar(Scalar::from_i64(DType::I64, seed)),
            i32_arg(n),
            i32_arg(base),
        ];
        let what = format!("philox seed {seed}, {n} lanes from offset {base}");
        let grid = [(n.max(1) as u32).div_ceil(block as u32), 1, 1];
        let o = run(dev, &what, &k, grid, 4, &args)?;
        let ctx = |m: String| format!("{what}: {m}");
        crate::harness::compare("randint", &o.got[0], &HostData::U32(ints), &Tol::Bits)
            .map_err(ctx)?;
        crate::harness::compare("rand", &o.got[1], &HostData::F32(unif.clone()), &Tol::Bits)
            .map_err(ctx)?;
        let normal = match &o.got[2] {
            HostData::F32(v) => v.clone(),
            other => return Err(ctx(format!("randn gave {}", other.dtype()))),
        };
        for i in 0..len {
            let got = f64::from(normal[i]);
            if (i as i32) >= n {
                if got != 0.0 {
                    return Err(ctx(format!("randn wrote masked-off lane {i}")));
                }
                continue;
            }
            let u1 = f64::from(unif[i].max(1.0e-7));
            let u2 = f64::from(uniform(draws[i][1]));
            let want = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            if !unif[i].is_finite() || (got - want).abs() > 1e-4 * (1.0 + want.abs()) {
                return Err(ctx(format!("randn at {i}: {got} vs {want}")));
            }
            if !(0.0..1.0).contains(&unif[i]) {
                return Err(ctx(format!("rand at {i}: {} outside [0, 1)", unif[i])));
            }
        }
    }
    Ok(())
}
