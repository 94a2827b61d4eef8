use bitmat::prelude::*;

#[bitkernel]
fn guarded(x: Ptr<f32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    if program_id(0) * block >= n {
        return;
    }
    store(x + offs, 1.0, offs < n);
}

fn main() {}
