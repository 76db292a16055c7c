//! The CUDA kernels' sources and build-time PTX (see build.rs and kernels/*.cu).
//!
//! Each kernel module is available as source with its portability header inlined (for NVRTC at
//! run time) and, when a CUDA compiler was found at build time, as PTX (sm_70, ISA <= 8.x).
//! The CPU backend does not use these; the `cuda` backend loads [`Module::ptx`] or compiles
//! [`Module::source`], and `fovea kernels DIR` writes both out for inspection and CI checks.
#![forbid(unsafe_code)]

mod generated {
    include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
}

pub use generated::PTX_COMPILER;

/// One kernel module (one kernels/*.cu file).
#[derive(Debug, Clone, Copy)]
pub struct Module {
    pub name: &'static str,
    pub source: &'static str,
    pub ptx: Option<&'static str>,
    /// Its `extern "C"` kernels.
    pub kernels: &'static [&'static str],
}

/// Every kernel module.
pub const MODULES: [Module; 4] = [
    Module {
        name: "roi",
        source: generated::ROI_SOURCE,
        ptx: generated::ROI_PTX,
        kernels: &["fovea_roi_batch_f32", "fovea_roi_batch_f16"],
    },
    Module { name: "colour", source: generated::COLOUR_SOURCE, ptx: generated::COLOUR_PTX, kernels: &["fovea_colour_stats"] },
    Module { name: "quality", source: generated::QUALITY_SOURCE, ptx: generated::QUALITY_PTX, kernels: &["fovea_frame_quality"] },
    Module {
        name: "lines",
        source: generated::LINES_SOURCE,
        ptx: generated::LINES_PTX,
        kernels: &["fovea_line_prep", "fovea_line_window", "fovea_line_mask"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_self_contained() {
        for m in MODULES {
            assert!(!m.source.contains("#include"), "{}: NVRTC has no include path", m.name);
            for k in m.kernels {
                assert!(m.source.contains(&format!("FV_KERNEL void {k}(")), "{}: kernel {k} not in the source", m.name);
            }
        }
    }

    #[test]
    fn build_time_ptx_has_every_kernel_at_a_loadable_isa() {
        let Some(compiler) = PTX_COMPILER else {
            eprintln!("SKIPPED: no CUDA compiler at build time, no PTX to check (NVRTC compiles the sources at run time)");
            return;
        };
        for m in MODULES {
            let ptx = m.ptx.unwrap_or_else(|| panic!("{}: no PTX although {compiler} made some", m.name));
            let version = ptx.lines().find_map(|l| l.strip_prefix(".version ")).expect(".version");
            let major: u32 = version.split('.').next().unwrap().parse().unwrap();
            assert!(major <= 8, "{}: PTX ISA {version}", m.name);
            for k in m.kernels {
                assert!(ptx.contains(&format!(".entry {k}(")), "{}: no entry {k} in the PTX", m.name);
            }
        }
    }
}
