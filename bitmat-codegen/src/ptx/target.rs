//! GPU targets: the `.target` and `.version` lines of a PTX module.

use std::fmt;

/// The PTX ISA version that modules with fp8 `mma.sync` (sm_89 and later) declare instead
/// of [`PtxTarget::isa_version`]: the first that has the instruction (ptxas and drivers of
/// CUDA 12.4 and later accept it). Only those modules declare it, so kernels without fp8
/// dots keep running on older drivers.
pub const FP8_MMA_ISA_VERSION: &str = "8.4";

/// An NVIDIA GPU architecture that PTX is generated for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PtxTarget {
    /// Ampere A100 (compute capability 8.0).
    Sm80,
    /// Ampere consumer parts (8.6).
    Sm86,
    /// Ada Lovelace (8.9).
    Sm89,
    /// Hopper (9.0), architecture-portable features only.
    Sm90,
    /// Hopper with architecture-specific features (`sm_90a`).
    Sm90a,
}

impl PtxTarget {
    /// Every target, oldest first.
    pub const ALL: [PtxTarget; 5] = [
        PtxTarget::Sm80,
        PtxTarget::Sm86,
        PtxTarget::Sm89,
        PtxTarget::Sm90,
        PtxTarget::Sm90a,
    ];

    /// The architecture name as `.target` and `ptxas -arch` spell it (`sm_80`, `sm_90a`).
    pub fn arch(self) -> &'static str {
        match self {
            PtxTarget::Sm80 => "sm_80",
            PtxTarget::Sm86 => "sm_86",
            PtxTarget::Sm89 => "sm_89",
            PtxTarget::Sm90 => "sm_90",
            PtxTarget::Sm90a => "sm_90a",
        }
    }

    /// Whether the target has the fp8 conversions (`cvt` to and from `e4m3x2`/`e5m2x2`) and
    /// fp8 `mma`: sm_89 and later.
    pub fn has_fp8(self) -> bool {
        matches!(self, PtxTarget::Sm89 | PtxTarget::Sm90 | PtxTarget::Sm90a)
    }

    /// Whether the target has vector reductions to global memory (`red.global.add.v4.f32`):
    /// sm_90 and later.
    pub fn has_vector_red(self) -> bool {
        matches!(self, PtxTarget::Sm90 | PtxTarget::Sm90a)
    }

    /// The PTX ISA version the module declares: the first one that knows the target and what
    /// the backend emits for it (7.0 for sm_80, 7.1 for sm_86, 8.1 for sm_89, whose fp8
    /// conversions need it, and for sm_90 and sm_90a, whose vector reductions need it), all
    /// accepted by the ptxas and drivers of CUDA 12.1 and later.
    pub fn isa_version(self) -> &'static str {
        match self {
            PtxTarget::Sm80 => "7.0",
            PtxTarget::Sm86 => "7.1",
            PtxTarget::Sm89 => "8.1",
            PtxTarget::Sm90 | PtxTarget::Sm90a => "8.1",
        }
    }

    /// The target for a device of compute capability `major.minor`: the newest of
    /// [`PtxTarget::ALL`] not above it (`sm_90` for 9.x, never `sm_90a`, whose code runs on
    /// 9.0 only), or `None` below 8.0.
    pub fn from_compute_capability(major: u32, minor: u32) -> Option<PtxTarget> {
        match (major, minor) {
            (0..=7, _) => None,
            (8, 0..=5) => Some(PtxTarget::Sm80),
            (8, 6..=8) => Some(PtxTarget::Sm86),
            (8, _) => Some(PtxTarget::Sm89),
            _ => Some(PtxTarget::Sm90),
        }
    }

    /// Parses [`PtxTarget::arch`] names (`sm_80`, ..., `sm_90a`).
    pub fn from_arch(name: &str) -> Option<PtxTarget> {
        PtxTarget::ALL.into_iter().find(|t| t.arch() == name)
    }
}

impl fmt::Display for PtxTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arch())
    }
}
