//! Checkpoints: save/load round trips, typed errors, and the importers, each checked on
//! fixtures whose bytes are built here by an independent re-implementation of the
//! foreign layout (written from its description / original code, not from the importer).

use bitmat::checkpoint::import::{
    bitmat_layer, bitmat_ternary, bittensor_tensor, bittensor_uint4, hf_bitnet_layer,
    hf_bitnet_ternary, BitMatLayout, HfLinearClass,
};
use bitmat::checkpoint::{Checkpoint, CheckpointError, Dtype, LayerFormat, Tensor};
use bitmat::formats::{
    pack_ternary, pack_uint4, quantize_int4, quantize_ternary, FormatError, Int4Group,
    ScaleGranularity,
};
use bitmat::{bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn weights(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn ternary_values(rng: &mut StdRng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.gen_range(-1i8..=1)).collect()
}

fn sample_checkpoint() -> (Checkpoint, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut ck = Checkpoint::new();
    let t1 = quantize_ternary(
        &weights(&mut rng, 8 * 16),
        8,
        16,
        ScaleGranularity::PerTensor,
    )
    .unwrap();
    let t2 = quantize_ternary(&weights(&mut rng, 6 * 12), 6, 12, ScaleGranularity::PerRow).unwrap();
    let i1 = quantize_int4(&weights(&mut rng, 4 * 64), 4, 64, Int4Group::Size(32)).unwrap();
    let i2 = quantize_int4(&weights(&mut rng, 3 * 32), 3, 32, Int4Group::PerRow).unwrap();
    ck.insert_ternary("layers.0.q_proj", &t1).unwrap();
    ck.insert_ternary("layers.0.k_proj", &t2).unwrap();
    ck.insert_int4("layers.0.up_proj", &i1).unwrap();
    ck.insert_int4("layers.0.down_proj", &i2).unwrap();
    let norm = weights(&mut rng, 16);
    ck.insert("norm.weight", Tensor::from_f32(&[16], &norm).unwrap());
    (ck, norm)
}

#[test]
fn round_trip_file_equals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let (ck, norm) = sample_checkpoint();
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back, ck);
    assert_eq!(back.metadata().get("bitmat.format").unwrap(), "mixed");
    assert_eq!(back.tensor_f32("norm.weight").unwrap(), norm);
    for (layer, f) in back.quantized_layers() {
        match f {
            LayerFormat::Ternary => {
                assert_eq!(back.ternary(&layer).unwrap(), ck.ternary(&layer).unwrap())
            }
            LayerFormat::Int4 => assert_eq!(back.int4(&layer).unwrap(), ck.int4(&layer).unwrap()),
        }
    }
    // Only the file itself is left: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn round_trip_layers_equal_the_originals() {
    let mut rng = StdRng::seed_from_u64(2);
    let t = quantize_ternary(&weights(&mut rng, 5 * 20), 5, 20, ScaleGranularity::PerRow).unwrap();
    let q = quantize_int4(&weights(&mut rng, 2 * 128), 2, 128, Int4Group::Size(64)).unwrap();
    let mut ck = Checkpoint::new();
    ck.insert_ternary("a", &t).unwrap();
    let only_ternary = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    assert_eq!(
        only_ternary.metadata().get("bitmat.format").unwrap(),
        "ternary"
    );
    assert_eq!(only_ternary.ternary("a").unwrap(), t);
    ck.insert_int4("b", &q).unwrap();
    let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    assert_eq!(back.ternary("a").unwrap(), t);
    assert_eq!(back.int4("b").unwrap(), q);
    assert_eq!(back.metadata().get("bitmat.group_size").unwrap(), "64");
    assert_eq!(back.tensor("a.weight").unwrap().shape(), &[5, 5]);
    assert_eq!(back.tensor("a.weight").unwrap().dtype(), Dtype::U8);
    assert_eq!(back.tensor("b.qweight").unwrap().shape(), &[2, 8]);
    assert_eq!(back.tensor("b.qweight").unwrap().dtype(), Dtype::U64);
    assert_eq!(back.tensor("b.scales").unwrap().shape(), &[2, 2]);
}

#[test]
fn tensor_f32_reads_f16_bf16_f32() {
    let vals = [0.5f32, -1.25, 3.0, 1.0e-3];
    let mut ck = Checkpoint::new();
    let h: Vec<f16> = vals.iter().map(|&v| f16::from_f32(v)).collect();
    let b: Vec<bf16> = vals.iter().map(|&v| bf16::from_f32(v)).collect();
    ck.insert("h", Tensor::from_f16(&[2, 2], &h).unwrap());
    ck.insert("b", Tensor::from_bf16(&[4], &b).unwrap());
    ck.insert("f", Tensor::from_f32(&[4], &vals).unwrap());
    let ck = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    let want_h: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
    let want_b: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
    assert_eq!(ck.tensor_f32("h").unwrap(), want_h);
    assert_eq!(ck.tensor_f32("b").unwrap(), want_b);
    assert_eq!(ck.tensor_f32("f").unwrap(), vals);
}

#[test]
fn unknown_tensor_lists_names() {
    let (ck, _) = sample_checkpoint();
    let err = ck.tensor("layers.0.q_projj.weight").unwrap_err();
    match &err {
        CheckpointError::UnknownTensor {
            name,
            available,
            total,
        } => {
            assert_eq!(name, "layers.0.q_projj.weight");
            assert_eq!(*total, ck.len());
            assert!(!available.is_empty() && available.len() <= 5);
            assert!(available.contains(&"layers.0.q_proj.weight".to_string()));
        }
        e => panic!("{e:?}"),
    }
    assert!(err.to_string().contains("layers.0.q_proj.weight"), "{err}");
    assert!(matches!(
        ck.ternary("nope"),
        Err(CheckpointError::UnknownTensor { .. })
    ));
    // A layer written without per-layer keys in a mixed file has no format to fall back on.
    let mut ck = ck;
    ck.insert("z.weight", Tensor::from_u8(&[1, 1], &[0]).unwrap());
    ck.insert("z.weight_scale", Tensor::from_f32(&[1], &[1.0]).unwrap());
    assert_eq!(ck.metadata().get("bitmat.format").unwrap(), "mixed");
    assert!(matches!(
        ck.ternary("z"),
        Err(CheckpointError::MissingMetadata { .. })
    ));
}

#[test]
fn unsupported_dtype_and_wrong_format() {
    let (ck, _) = sample_checkpoint();
    assert!(matches!(
        ck.tensor_f32("layers.0.q_proj.weight"),
        Err(CheckpointError::UnsupportedDtype { .. })
    ));
    assert!(matches!(
        ck.int4("layers.0.q_proj"),
        Err(CheckpointError::InvalidMetadata { .. })
    ));
}

#[test]
fn shape_mismatch_is_typed() {
    let (mut ck, _) = sample_checkpoint();
    // A per-row layer whose scale tensor has the wrong length.
    ck.insert(
        "layers.0.k_proj.weight_scale",
        Tensor::from_f32(&[5], &[1.0; 5]).unwrap(),
    );
    assert!(matches!(
        ck.ternary("layers.0.k_proj"),
        Err(CheckpointError::ShapeMismatch { .. })
    ));
    ck.insert(
        "layers.0.up_proj.scales",
        Tensor::from_f32(&[4, 1], &[1.0; 4]).unwrap(),
    );
    assert!(matches!(
        ck.int4("layers.0.up_proj"),
        Err(CheckpointError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Tensor::new(Dtype::F32, vec![3], vec![0; 8]),
        Err(CheckpointError::BadLength { .. })
    ));
}

#[test]
fn missing_metadata_is_typed() {
    // Tensors laid out like a ternary layer, but no metadata naming the format.
    let mut ck = Checkpoint::new();
    ck.insert("x.weight", Tensor::from_u8(&[2, 1], &[0, 0]).unwrap());
    ck.insert("x.weight_scale", Tensor::from_f32(&[1], &[1.0]).unwrap());
    let ck = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    match ck.ternary("x") {
        Err(CheckpointError::MissingMetadata { layer, key }) => {
            assert_eq!(layer, "x");
            assert_eq!(key, "bitmat.format");
        }
        r => panic!("{r:?}"),
    }
    // An int4 layer whose group size is missing.
    let mut ck = Checkpoint::new();
    ck.set_metadata("bitmat.format", "int4");
    ck.insert("y.qweight", Tensor::from_u64(&[1, 1], &[0]).unwrap());
    ck.insert("y.scales", Tensor::from_f32(&[1, 1], &[1.0]).unwrap());
    assert!(matches!(
        ck.int4("y"),
        Err(CheckpointError::MissingMetadata { .. })
    ));
    ck.set_metadata("bitmat.group_size", "sixteen");
    assert!(matches!(
        ck.int4("y"),
        Err(CheckpointError::InvalidMetadata { .. })
    ));
    ck.set_metadata("bitmat.group_size", "16");
    assert_eq!(ck.int4("y").unwrap().values(), vec![0; 16]);
}

#[test]
fn invalid_code_is_refused() {
    let mut ck = Checkpoint::new();
    ck.set_metadata("bitmat.format", "ternary");
    ck.insert(
        "x.weight",
        Tensor::from_u8(&[1, 1], &[0b1100_0000]).unwrap(),
    );
    ck.insert("x.weight_scale", Tensor::from_f32(&[1], &[1.0]).unwrap());
    match ck.ternary("x") {
        Err(CheckpointError::Format {
            source: FormatError::InvalidCode { index, .. },
            ..
        }) => {
            assert_eq!(index, 3)
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn truncated_and_corrupt_files_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, _) = sample_checkpoint();
    let bytes = ck.to_bytes().unwrap();
    for cut in [3, 8, 20, bytes.len() - 1] {
        let path = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        match Checkpoint::load(&path) {
            Err(CheckpointError::Truncated {
                expected, actual, ..
            }) => {
                assert_eq!(actual, cut as u64);
                assert!(expected > actual);
            }
            r => panic!("cut {cut}: {r:?}"),
        }
    }
    // A header that is not JSON.
    let mut bad = 4u64.to_le_bytes().to_vec();
    bad.extend_from_slice(b"{{{{");
    assert!(matches!(
        Checkpoint::from_bytes(&bad),
        Err(CheckpointError::Corrupt { .. })
    ));
    // Overlapping offsets: valid JSON, invalid file.
    let header = br#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#;
    let mut bad = (header.len() as u64).to_le_bytes().to_vec();
    bad.extend_from_slice(header);
    bad.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        Checkpoint::from_bytes(&bad),
        Err(CheckpointError::Corrupt { .. })
    ));
    // A missing file.
    assert!(matches!(
        Checkpoint::load(dir.path().join("absent.safetensors")),
        Err(CheckpointError::Io { .. })
    ));
}

/// A safetensors file written by hand, with a dtype safetensors does not know.
pub fn unknown_dtype_file() -> Vec<u8> {
    let header = br#"{"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[1, 2]);
    bytes
}

#[test]
fn unknown_dtype_is_typed() {
    match Checkpoint::from_bytes(&unknown_dtype_file()) {
        Err(CheckpointError::UnknownDtype { tensor, dtype }) => {
            assert_eq!(tensor, "w");
            assert_eq!(dtype, "Q4_K");
        }
        r => panic!("{r:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// BitMat. Fixture: BitMat's `pack_ternary` (bitmat/utils/packing.py) re-done step by step:
//   x_mapped = x.clone(); x_mapped[x == -1] = 2
//   shift = arange(4) * 2
//   x = x_mapped.view(-1, K/4, 4) << shift; x = x.sum(-1); x.to(int8)
// on W[N, K] (the state dict layout), then `W.t().contiguous()` for the kernel's [K/4, N].

fn bitmat_python_pack(w: &[i8], n: usize, k: usize) -> Vec<i8> {
    let x_mapped: Vec<i64> = w
        .iter()
        .map(|&v| if v == -1 { 2 } else { i64::from(v) })
        .collect();
    let shift = [0i64, 2, 4, 6];
    let mut out = Vec::with_capacity(n * k / 4);
    for row in 0..n {
        for g in 0..k / 4 {
            let mut sum = 0i64;
            for (e, s) in shift.iter().enumerate() {
                sum += x_mapped[row * k + g * 4 + e] << s;
            }
            out.push(sum as i8); // .to(torch.int8) wraps
        }
    }
    out
}

fn transpose<T: Copy>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = Vec::with_capacity(m.len());
    for c in 0..cols {
        for r in 0..rows {
            t.push(m[r * cols + c]);
        }
    }
    t
}

#[test]
fn bitmat_importer_matches_independent_fixture() {
    let mut rng = StdRng::seed_from_u64(3);
    let (n, k) = (6, 20);
    let w = ternary_values(&mut rng, n * k);
    let scale_w = 1.0f32 / 0.37; // BitMat stores 1 / mean|W|
    let nk = bitmat_python_pack(&w, n, k);
    let kn = transpose(&nk, n, k / 4);
    let want_packed = pack_ternary(&w, n, k).unwrap();
    for (layout, bytes) in [
        (BitMatLayout::StateDictNK, &nk),
        (BitMatLayout::KernelKN, &kn),
    ] {
        let raw: Vec<u8> = bytes.iter().map(|&b| b as u8).collect();
        let t = bitmat_ternary(&raw, layout, n, k, scale_w).unwrap();
        assert_eq!(t.values().unwrap(), w, "{layout:?}");
        assert_eq!(t.packed, want_packed);
        assert_eq!(t.scales, vec![1.0 / scale_w]);
        assert_eq!(t.granularity, ScaleGranularity::PerTensor);
    }
    // Through a checkpoint: the int8 tensor and an f16 scale_w, as BitMat saves them.
    let mut ck = Checkpoint::new();
    let raw: Vec<u8> = kn.iter().map(|&b| b as u8).collect();
    ck.insert(
        "l.weight",
        Tensor::new(Dtype::I8, vec![k / 4, n], raw).unwrap(),
    );
    let s16 = f16::from_f32(scale_w);
    ck.insert("l.scale_w", Tensor::from_f16(&[1], &[s16]).unwrap());
    let t = bitmat_layer(&ck, "l", BitMatLayout::KernelKN).unwrap();
    assert_eq!(t.values().unwrap(), w);
    assert_eq!(t.scales, vec![1.0 / s16.to_f32()]);
}

#[test]
fn bitmat_importer_errors() {
    assert!(matches!(
        bitmat_ternary(&[0; 3], BitMatLayout::KernelKN, 1, 6, 1.0),
        Err(CheckpointError::Format {
            source: FormatError::KNotDivisible { .. },
            ..
        })
    ));
    assert!(matches!(
        bitmat_ternary(&[0; 3], BitMatLayout::KernelKN, 2, 4, 1.0),
        Err(CheckpointError::Format {
            source: FormatError::ShapeMismatch { .. },
            ..
        })
    ));
    assert!(matches!(
        bitmat_ternary(&[0b11], BitMatLayout::KernelKN, 1, 4, 1.0),
        Err(CheckpointError::Format {
            source: FormatError::InvalidCode { .. },
            ..
        })
    ));
    assert!(matches!(
        bitmat_ternary(&[0], BitMatLayout::KernelKN, 1, 4, 0.0),
        Err(CheckpointError::NonFinite { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Hugging Face transformers BitNet. Fixture: `pack_weights` of integrations/bitnet.py
// re-done line by line:
//   row_dim = (out + 4 - 1) // 4
//   quantized_weights += 1
//   packed = zeros((row_dim, in), uint8); unpacked = quantized_weights.to(uint8)
//   it = min(4, (out // row_dim) + 1)
//   for i in range(it):
//       start = i * row_dim; end = min(start + row_dim, out)
//       packed[: (end - start)] |= unpacked[start:end] << 2 * i

fn hf_pack_weights(q: &[i8], out: usize, inp: usize) -> Vec<u8> {
    let row_dim = out.div_ceil(4);
    let unpacked: Vec<u8> = q.iter().map(|&v| (v + 1) as u8).collect();
    let mut packed = vec![0u8; row_dim * inp];
    let it = 4.min(out / row_dim + 1);
    for i in 0..it {
        let start = i * row_dim;
        let end = (start + row_dim).min(out);
        for r in 0..end.saturating_sub(start) {
            for c in 0..inp {
                packed[r * inp + c] |= unpacked[(start + r) * inp + c] << (2 * i);
            }
        }
    }
    packed
}

#[test]
fn hf_bitnet_importer_matches_independent_fixture() {
    let mut rng = StdRng::seed_from_u64(4);
    for (out, inp) in [(8, 16), (12, 8), (10, 4), (5, 12)] {
        let q = ternary_values(&mut rng, out * inp);
        let packed = hf_pack_weights(&q, out, inp);
        assert_eq!(packed.len(), out.div_ceil(4) * inp);
        let ws = 2.5f32;
        let a = hf_bitnet_ternary(&packed, out, inp, &[ws], HfLinearClass::BitLinear).unwrap();
        assert_eq!(a.values().unwrap(), q, "{out}x{inp}");
        assert_eq!(a.packed, pack_ternary(&q, out, inp).unwrap());
        assert_eq!(a.scales, vec![1.0 / ws]); // BitLinear divides by weight_scale
        let b = hf_bitnet_ternary(&packed, out, inp, &[ws], HfLinearClass::AutoBitLinear).unwrap();
        assert_eq!(b.values().unwrap(), q);
        assert_eq!(b.scales, vec![ws]); // AutoBitLinear multiplies by it
                                        // The dequantized weights behave as each class's forward does (up to rounding).
        let deq = b.dequantize().unwrap();
        for (d, &v) in deq.iter().zip(&q) {
            assert_eq!(*d, f32::from(v) * ws);
        }
    }
}

#[test]
fn hf_bitnet_docstring_example() {
    // The example of `unpack_weights`' docstring: packed [[0b10100001, 0b00011000],
    // [0b10010000, 0b00001010]] unpacks to this 8x2 matrix. bitmat needs K % 4 == 0,
    // so the two columns are repeated twice (columns are independent in this layout).
    let packed2 = [[0b10100001u8, 0b00011000], [0b10010000, 0b00001010]];
    let want2: [[i8; 2]; 8] = [
        [0, -1],
        [-1, 1],
        [-1, 1],
        [-1, 1],
        [1, 0],
        [0, -1],
        [1, -1],
        [1, -1],
    ];
    let packed: Vec<u8> = packed2
        .iter()
        .flat_map(|r| [r[0], r[1], r[0], r[1]])
        .collect();
    let want: Vec<i8> = want2
        .iter()
        .flat_map(|r| [r[0], r[1], r[0], r[1]])
        .collect();
    let t = hf_bitnet_ternary(&packed, 8, 4, &[1.0], HfLinearClass::AutoBitLinear).unwrap();
    assert_eq!(t.values().unwrap(), want);
}

#[test]
fn hf_bitnet_layer_and_config() {
    let mut rng = StdRng::seed_from_u64(5);
    let (out, inp) = (8, 12);
    let q = ternary_values(&mut rng, out * inp);
    let mut ck = Checkpoint::new();
    ck.insert(
        "m.weight",
        Tensor::from_u8(&[2, inp], &hf_pack_weights(&q, out, inp)).unwrap(),
    );
    let ws = bf16::from_f32(0.75);
    ck.insert("m.weight_scale", Tensor::from_bf16(&[1], &[ws]).unwrap());
    let cfg = r#"{"model_type":"bitnet","quantization_config":{"quant_method":"bitnet",
        "linear_class":"autobitlinear","quantization_mode":"offline"}}"#;
    let class = HfLinearClass::from_config_json(cfg).unwrap();
    assert_eq!(class, HfLinearClass::AutoBitLinear);
    let t = hf_bitnet_layer(&ck, "m", None, class).unwrap();
    assert_eq!(t.values().unwrap(), q);
    assert_eq!(t.scales, vec![ws.to_f32()]);
    assert!(matches!(
        hf_bitnet_layer(&ck, "m", Some(12), class),
        Err(CheckpointError::ShapeMismatch { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"quantization_config":{"quant_method":"bitnet"}}"#,
    )
    .unwrap();
    assert_eq!(
        HfLinearClass::from_config_file(&path).unwrap(),
        HfLinearClass::BitLinear
    );
    for bad in [
        r#"{"hidden_size": 8}"#,
        r#"{"quantization_config":{"quant_method":"gptq"}}"#,
        r#"{"quantization_config":{"quant_method":"bitnet","linear_class":"autobitlinear","quantization_mode":"online"}}"#,
        r#"{"quantization_config":{"quant_method":"bitnet","linear_class":"linear"}}"#,
        "not json",
    ] {
        assert!(
            matches!(
                HfLinearClass::from_config_json(bad),
                Err(CheckpointError::Config { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn hf_bitnet_importer_errors() {
    let c = HfLinearClass::BitLinear;
    // Stored value 3 (a "ternary" 2) is not valid.
    assert!(matches!(
        hf_bitnet_ternary(&[3, 0, 0, 0], 4, 4, &[1.0], c),
        Err(CheckpointError::Format {
            source: FormatError::InvalidCode { .. },
            ..
        })
    ));
    assert!(matches!(
        hf_bitnet_ternary(&[0; 6], 4, 6, &[1.0], c),
        Err(CheckpointError::Format {
            source: FormatError::KNotDivisible { .. },
            ..
        })
    ));
    assert!(matches!(
        hf_bitnet_ternary(&[0; 4], 8, 4, &[1.0], c),
        Err(CheckpointError::Format {
            source: FormatError::ShapeMismatch { .. },
            ..
        })
    ));
    assert!(matches!(
        hf_bitnet_ternary(&[0x55; 4], 4, 4, &[1.0, 2.0], c),
        Err(CheckpointError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        hf_bitnet_ternary(&[0x55; 4], 4, 4, &[0.0], c),
        Err(CheckpointError::NonFinite { .. })
    ));
    assert!(matches!(
        hf_bitnet_ternary(&[0x55; 4], 4, 4, &[f32::NAN], HfLinearClass::AutoBitLinear),
        Err(CheckpointError::NonFinite { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// BitTensor. Fixture: its C++ packing loop, `int64_t w = 0; for (i = 0; i < 16; ++i)
// w |= (int64_t)(v[i] & 0xF) << (4 * i);`, one word per 16 consecutive values of a row.

fn bittensor_cpp_pack(v: &[u8], rows: usize, cols: usize) -> Vec<i64> {
    let mut words = Vec::new();
    for r in 0..rows {
        for j in 0..cols / 16 {
            let mut w: i64 = 0;
            for i in 0..16 {
                w |= i64::from(v[r * cols + j * 16 + i] & 0xF) << (4 * i);
            }
            words.push(w);
        }
    }
    words
}

#[test]
fn bittensor_importer_matches_independent_fixture() {
    let mut rng = StdRng::seed_from_u64(6);
    let (rows, cols) = (3, 48);
    let mut v: Vec<u8> = (0..rows * cols).map(|_| rng.gen_range(0u8..16)).collect();
    v[15] = 15; // a top nibble of 15 makes the int64 word negative
    let words = bittensor_cpp_pack(&v, rows, cols);
    assert!(words[0] < 0);
    let u = bittensor_uint4(&words, rows, cols).unwrap();
    assert_eq!(u.values().unwrap(), v);
    assert_eq!(u.packed, pack_uint4(&v, rows, cols).unwrap());

    let mut ck = Checkpoint::new();
    ck.insert("t", Tensor::from_i64(&[rows, cols / 16], &words).unwrap());
    assert_eq!(bittensor_tensor(&ck, "t").unwrap(), u);

    assert!(matches!(
        bittensor_uint4(&words, rows, 40),
        Err(CheckpointError::Format {
            source: FormatError::KNotDivisible { .. },
            ..
        })
    ));
    assert!(matches!(
        bittensor_uint4(&words[1..], rows, cols),
        Err(CheckpointError::Format {
            source: FormatError::ShapeMismatch { .. },
            ..
        })
    ));
    ck.insert("f", Tensor::from_f32(&[1], &[1.0]).unwrap());
    assert!(matches!(
        bittensor_tensor(&ck, "f"),
        Err(CheckpointError::UnsupportedDtype { .. })
    ));
}
