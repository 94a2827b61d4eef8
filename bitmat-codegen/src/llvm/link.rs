//! The ELF object LLVM emits as a [`CpuObject`]: its code and constant sections laid out in
//! one blob (the section of the program function first, the function at offset 0), and its
//! relocations resolved: PC-relative ones between the blob's own sections patched here (their
//! distance is fixed), absolute 64-bit ones kept for the loader, against the blob itself
//! ([`RelocTarget::Code`]), a bitmat helper (by symbol name), a float libcall or a C memory
//! function (`memset`, `memcpy`, `memmove`: LLVM calls them for long fills and copies).

use super::emit::PROGRAM;
use crate::cpu::helpers;
use crate::cpu::object::{
    CpuObject, CpuReloc, FloatLibCall, MemoryLibCall, RelocKind, RelocTarget,
};
use crate::CodegenError;
use bitmat_ir::Kernel;
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget, SectionIndex,
    SectionKind,
};
use std::collections::HashMap;

/// The loader's target for an undefined symbol: a helper, a float libcall or a C memory
/// function, by name.
fn external(name: &str) -> Option<RelocTarget> {
    if let Some(i) = helpers::helpers().iter().position(|h| h.name == name) {
        return Some(RelocTarget::Helper(i as u32));
    }
    if let Some(call) = MemoryLibCall::from_name(name) {
        return Some(RelocTarget::Memory(call));
    }
    use FloatLibCall as F;
    Some(RelocTarget::LibCall(match name {
        "ceilf" => F::CeilF32,
        "ceil" => F::CeilF64,
        "floorf" => F::FloorF32,
        "floor" => F::FloorF64,
        "truncf" => F::TruncF32,
        "trunc" => F::TruncF64,
        "roundevenf" => F::NearestF32,
        "roundeven" => F::NearestF64,
        "fmaf" => F::FmaF32,
        "fma" => F::FmaF64,
        _ => return None,
    }))
}

/// Whether a section of this kind is part of the loaded code.
fn loaded(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::Text
            | SectionKind::Data
            | SectionKind::ReadOnlyData
            | SectionKind::ReadOnlyDataWithRel
            | SectionKind::ReadOnlyString
            | SectionKind::UninitializedData
    )
}

/// Links the ELF object `elf` of `kernel` into a [`CpuObject`] carrying the IR text `text`.
pub(crate) fn link(kernel: &Kernel, elf: &[u8], text: String) -> Result<CpuObject, CodegenError> {
    let err = |message: String| CodegenError::Llvm {
        kernel: kernel.name.clone(),
        message,
    };
    let reloc_err = |message: String| CodegenError::Relocation {
        kernel: kernel.name.clone(),
        message,
    };
    let file = object::File::parse(elf).map_err(|e| err(format!("reading the object: {e}")))?;
    let entry = file
        .symbols()
        .find(|s| s.name() == Ok(PROGRAM))
        .ok_or_else(|| err(format!("the object has no `{PROGRAM}`")))?;
    let entry_section = entry
        .section_index()
        .ok_or_else(|| err(format!("`{PROGRAM}` is not defined in a section")))?;
    if entry.address() != 0 {
        return Err(err(format!("`{PROGRAM}` is at offset {}", entry.address())));
    }
    // Lay out the loaded sections: the entry's first.
    let mut sections: Vec<_> = file
        .sections()
        .filter(|s| loaded(s.kind()) && s.size() > 0 && s.name() != Ok(".eh_frame"))
        .collect();
    sections.sort_by_key(|s| s.index() != entry_section);
    let mut code = Vec::new();
    let mut alignment = 1u64;
    let mut placed: HashMap<SectionIndex, usize> = HashMap::new();
    for s in &sections {
        let align = s.align().max(1);
        alignment = alignment.max(align);
        code.resize(code.len().next_multiple_of(align as usize), 0);
        placed.insert(s.index(), code.len());
        match s.kind() {
            SectionKind::UninitializedData => code.resize(code.len() + s.size() as usize, 0),
            _ => {
                code.extend_from_slice(s.data().map_err(|e| err(format!("reading section: {e}")))?)
            }
        }
    }
    let mut relocs = Vec::new();
    for s in &sections {
        let base = placed[&s.index()];
        for (offset, r) in s.relocations() {
            let at = base + offset as usize;
            // Where the relocation points: inside the blob (an offset) or outside (a target).
            let target = match r.target() {
                RelocationTarget::Section(i) => placed.get(&i).map(|&p| Ok(p)),
                RelocationTarget::Symbol(i) => {
                    let sym = file
                        .symbol_by_index(i)
                        .map_err(|e| err(format!("relocation symbol: {e}")))?;
                    if sym.is_undefined() {
                        let name = sym.name().unwrap_or("?");
                        Some(Err(external(name).ok_or_else(|| {
                            reloc_err(format!(
                                "`{name}` is neither a bitmat helper nor a known libcall"
                            ))
                        })?))
                    } else {
                        sym.section_index()
                            .and_then(|i| placed.get(&i))
                            .map(|&p| Ok(p + sym.address() as usize))
                    }
                }
                _ => None,
            }
            .ok_or_else(|| reloc_err(format!("at offset {at}: a target outside the code")))?;
            match (r.kind(), r.size(), target) {
                (RelocationKind::Absolute, 64, Ok(inside)) => relocs.push(CpuReloc {
                    offset: at as u32,
                    kind: RelocKind::Abs8,
                    target: RelocTarget::Code,
                    addend: inside as i64 + r.addend(),
                }),
                (RelocationKind::Absolute, 64, Err(outside)) => relocs.push(CpuReloc {
                    offset: at as u32,
                    kind: RelocKind::Abs8,
                    target: outside,
                    addend: r.addend(),
                }),
                (RelocationKind::Relative | RelocationKind::PltRelative, 32, Ok(inside)) => {
                    let value = inside as i64 + r.addend() - at as i64;
                    let value = i32::try_from(value)
                        .map_err(|_| reloc_err(format!("PC-relative offset {value} at {at}")))?;
                    code.get_mut(at..at + 4)
                        .ok_or_else(|| reloc_err(format!("relocation at {at} outside the code")))?
                        .copy_from_slice(&value.to_le_bytes());
                }
                (kind, size, _) => {
                    return Err(reloc_err(format!(
                        "{kind:?} relocation of {size} bits at offset {at} (absolute 64-bit \
                         ones and PC-relative 32-bit ones inside the code are resolved)"
                    )))
                }
            }
        }
    }
    let obj = CpuObject {
        name: kernel.name.clone(),
        params: u32::try_from(kernel.params.len())
            .map_err(|_| err("too many parameters".into()))?,
        scratch_bytes: 0,
        alignment: u32::try_from(alignment).map_err(|_| err(format!("alignment {alignment}")))?,
        code,
        relocs,
        clif: text,
    };
    obj.validate()?;
    Ok(obj)
}
