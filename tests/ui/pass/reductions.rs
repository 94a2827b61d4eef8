// The other call forms (`load(ptr)`, `store(ptr, value)`, `dot(a, b)`, `atomic_add` with and
// without a mask), a runtime loop carrying two tiles, a helper taking a `Ptr`, a `&str`
// constexpr, `with(options).launch(..)` and `ir(..)`.
use bitmat::prelude::*;

/// Loads a row of `block` elements starting at `start`, zero past `n`.
#[bitkernel(inline)]
fn load_row(p: Ptr<f32>, start: Tile, block: i32, n: Tile) -> Tile {
    let offs = start + arange(block);
    load(p + offs, offs < n, 0.0)
}

/// Sums and sums of squares of `x` (`n` elements) into `out[0]`/`out[1]`, one atomic per program.
#[bitkernel]
pub fn moments(x: Ptr<f32>, out: Ptr<f32>, n: i32, #[constexpr] block: i32, #[constexpr] chunks: i32) {
    let base = program_id(0) * (block * chunks);
    let mut s = zeros::<f32>([block]);
    let mut s2 = zeros::<f32>([block]);
    for c in range(chunks) {
        let v = load_row(x, base + c * block, block, n);
        s = s + v;
        s2 = s2 + v * v;
    }
    atomic_add(out, s.sum(0));
    let second = full([1], 1);
    atomic_add(out + second, s2.sum(0), second == 1);
}

/// `c = a @ b` for one `block x block` tile, in a precision chosen by a string constexpr.
#[bitkernel]
fn tile_matmul(a: Ptr<f32>, b: Ptr<f32>, c: Ptr<f32>, #[constexpr] block: i32, #[constexpr] precision: &'static str) {
    let r = arange(block);
    let idx = r.unsqueeze(1) * block + r.unsqueeze(0);
    let (x, y) = (load(a + idx), load(b + idx));
    let out = match precision {
        "f16" => dot(x.cast::<f16>(), y.cast::<f16>()),
        _ => dot(x, y),
    };
    store(c + idx, out);
}

fn main() -> Result<(), Error> {
    let device = Device::interpreter();
    let xs: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
    let x = device.upload(&xs)?;
    let out = device.zeros::<f32>(2)?;
    let options = LaunchOptions { num_warps: 2, ..Default::default() };
    moments::with(options).launch(&device, 3, &x, &out, xs.len() as i32, 4, 4)?;
    let sum: f32 = xs.iter().sum();
    let sum2: f32 = xs.iter().map(|v| v * v).sum();
    assert_eq!(out.to_vec()?, vec![sum, sum2]);

    let a: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let eye: Vec<f32> = (0..16).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
    let (ab, bb) = (device.upload(&a)?, device.upload(&eye)?);
    for precision in ["f32", "f16"] {
        let c = device.zeros::<f32>(16)?;
        tile_matmul::launch(&device, 1, &ab, &bb, &c, 4, precision)?;
        assert_eq!(c.to_vec()?, a);
    }
    assert!(tile_matmul::ir(16, "f32").is_ok());
    assert_eq!(moments::NAME, "moments");
    Ok(())
}
