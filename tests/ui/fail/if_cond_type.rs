use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, #[constexpr] block: i32) {
    let offs = arange(block);
    let mut v = load(x + offs);
    if block {
        v = v * 2.0;
    }
    store(y + offs, v);
}

fn main() {}
