//! The IR text parser: any text either fails with a typed error or gives a kernel that, once
//! it verifies, prints to text that parses back to the same kernel.

#![no_main]

use bitmat_ir::{parse_kernel, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(kernel) = parse_kernel(text) else {
        return;
    };
    if verify::verify(&kernel).is_err() {
        return;
    }
    let printed = kernel.to_string();
    let again = parse_kernel(&printed).expect("a printed kernel parses");
    assert_eq!(
        again, kernel,
        "print and parse changed the kernel:\n{printed}"
    );
});
