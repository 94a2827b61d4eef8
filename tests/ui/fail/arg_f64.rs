use bitmat::prelude::*;

#[bitkernel]
fn scale(x: Ptr<f32>, factor: f64, #[constexpr] block: i32) {
    let offs = arange(block);
    store(x + offs, load(x + offs) * factor);
}

fn main() {}
