// The DESIGN example: a ternary-weight, int8-activation matmul with only `bitmat` as dependency.
use bitmat::prelude::*;

#[bitkernel(inline)]
fn unpack_ternary(packed: Tile, index: Tile) -> Tile {
    let code = (packed >> (index * 2)) & 3;
    ((code & 1) as i8) - ((code >> 1) as i8)
}

#[bitkernel]
fn w2a8_matmul(a: Ptr<i8>, w: Ptr<u8>, c: Ptr<i32>, m: i32, n: i32, k: i32,
               #[constexpr] block_m: i32, #[constexpr] block_n: i32, #[constexpr] block_k: i32) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let mut acc = zeros::<i32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let x = load(a + rm.unsqueeze(1) * k + kk.unsqueeze(0), rm.unsqueeze(1) < m, 0);
        let packed = load(w + rn.unsqueeze(0) * (k / 4) + (kk / 4).unsqueeze(1), rn.unsqueeze(0) < n, 0);
        acc = dot(x, unpack_ternary(packed, kk.unsqueeze(1) % 4), acc);
    }
    store(c + rm.unsqueeze(1) * n + rn.unsqueeze(0), acc, (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n));
}

// The same kernel with the library's own decoder.
#[bitkernel]
fn w2a8_matmul_lib(a: Ptr<i8>, w: Ptr<u8>, c: Ptr<i32>, m: i32, n: i32, k: i32,
                   #[constexpr] block_m: i32, #[constexpr] block_n: i32, #[constexpr] block_k: i32) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let mut acc = zeros::<i32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let x = load(a + rm.unsqueeze(1) * k + kk.unsqueeze(0), rm.unsqueeze(1) < m, 0);
        let packed = load(w + rn.unsqueeze(0) * (k / 4) + (kk / 4).unsqueeze(1), rn.unsqueeze(0) < n, 0);
        let t = bitmat::kernels::ternary::unpack_ternary(packed, kk.unsqueeze(1) % 4);
        acc = dot(x, t, acc);
    }
    store(c + rm.unsqueeze(1) * n + rn.unsqueeze(0), acc, (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n));
}

fn main() -> Result<(), Error> {
    let (m, n, k) = (5usize, 6usize, 8usize);
    // a[i][kk] = (i + kk) % 7 - 3; W[j][kk] in {-1, 0, +1} by (i * 3 + kk) % 3.
    let a: Vec<i8> = (0..m * k).map(|x| ((x / k + x % k) % 7) as i8 - 3).collect();
    let wv: Vec<i8> = (0..n * k).map(|x| ((x / k * 3 + x % k * 2) % 3) as i8 - 1).collect();
    let mut packed = vec![0u8; n * k / 4];
    for (x, &v) in wv.iter().enumerate() {
        let code: u8 = match v { 0 => 0, 1 => 1, _ => 2 };
        packed[x / 4] |= code << (2 * (x % 4));
    }
    let mut expect = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            expect[i * n + j] = (0..k).map(|kk| a[i * k + kk] as i32 * wv[j * k + kk] as i32).sum();
        }
    }

    let device = Device::interpreter();
    let ab = device.upload(&a)?;
    let wb = device.upload(&packed)?;
    let grid = (m.div_ceil(4) as u32, n.div_ceil(4) as u32);
    let c = device.zeros::<i32>(m * n)?;
    w2a8_matmul::launch(&device, grid, &ab, &wb, &c, m as i32, n as i32, k as i32, 4, 4, 4)?;
    assert_eq!(c.to_vec()?, expect);
    let c2 = device.zeros::<i32>(m * n)?;
    w2a8_matmul_lib::launch(&device, grid, &ab, &wb, &c2, m as i32, n as i32, k as i32, 4, 4, 4)?;
    assert_eq!(c2.to_vec()?, expect);
    assert!(w2a8_matmul::ir(16, 16, 32).is_ok());
    Ok(())
}
