//! Safetensors checkpoint reading and every importer: any bytes either fail with a typed
//! error or give a checkpoint whose tensors, layers and imports are read without a panic,
//! and which writes and reads back unchanged.

#![no_main]

use bitmat::checkpoint::import::{self, BitMatLayout, HfLinearClass};
use bitmat::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ck) = Checkpoint::from_bytes(data) else {
        return;
    };
    let names: Vec<String> = ck.names().map(str::to_string).collect();
    for name in &names {
        let _ = ck.tensor_f32(name);
        let _ = import::bittensor_tensor(&ck, name);
        let layer = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(layer, _)| layer);
        let _ = ck.layer_format(layer);
        let _ = ck.ternary(layer);
        let _ = ck.int4(layer);
        for layout in [BitMatLayout::KernelKN, BitMatLayout::StateDictNK] {
            let _ = import::bitmat_layer(&ck, layer, layout);
        }
        for class in [HfLinearClass::BitLinear, HfLinearClass::AutoBitLinear] {
            let _ = import::hf_bitnet_layer(&ck, layer, None, class);
        }
    }
    let _ = ck.quantized_layers();
    let bytes = ck
        .to_bytes()
        .expect("a checkpoint that was read can be written");
    let again = Checkpoint::from_bytes(&bytes).expect("a written checkpoint reads back");
    assert_eq!(again, ck, "a checkpoint changed through a write and a read");
});
