use bitmat::prelude::*;

#[bitkernel]
struct Copy {
    block: i32,
}

fn main() {}
