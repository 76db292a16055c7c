//! The ONNX Runtime library: where it is looked for and its one environment per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// ONNX Runtime version fovea is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// The loaded ONNX Runtime: where it came from and its environment.
#[derive(Debug)]
pub struct Runtime {
    pub library: PathBuf,
    pub(crate) env: ort::environment::Environment,
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// Places the ONNX Runtime library is looked for, in order: `$FOVEA_ORT_LIB` (only that, if set),
/// then `.deps/onnxruntime/` of the source tree and next to the executable, then the system's
/// library path.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("FOVEA_ORT_LIB") {
        return vec![PathBuf::from(p)];
    }
    let file = format!("libonnxruntime.so.{ORT_VERSION}");
    let mut v = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/onnxruntime").join(&file)];
    // Beside the library fovea itself was loaded from (`make install` puts both in PREFIX/lib).
    if let Some(dir) = own_library_dir() {
        v.push(dir.join(&file));
    }
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            v.push(up.join(".deps/onnxruntime").join(&file));
            v.push(up.join("lib").join(&file));
        }
    }
    v.push(PathBuf::from(file));
    v.push(PathBuf::from("libonnxruntime.so"));
    v
}

/// The folder of the shared object (or executable) this code was loaded from.
pub(crate) fn own_library_dir() -> Option<PathBuf> {
    // SAFETY: Dl_info is a plain C struct of pointers and integers; all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address (of a function of this crate) and fills `info`;
    // dli_fname, when set, is a NUL-terminated path owned by the dynamic loader.
    let ok = unsafe { libc::dladdr(own_library_dir as *const libc::c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: checked non-NULL above; the loader keeps the string alive.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(name.to_bytes())).parent().map(Path::to_path_buf)
}

/// Loads ONNX Runtime once per process (later calls return the same result).
pub fn runtime() -> Result<&'static Runtime> {
    RUNTIME.get_or_init(load_runtime).as_ref().map_err(|reason| Error::RuntimeMissing {
        reason: format!(
            "ONNX Runtime library not available: {reason}; run `make setup` (scripts/setup.sh) or set FOVEA_ORT_LIB to libonnxruntime.so"
        ),
    })
}

fn load_runtime() -> std::result::Result<Runtime, String> {
    let explicit = std::env::var_os("FOVEA_ORT_LIB").is_some();
    let candidates = library_candidates();
    let mut tried = Vec::new();
    for c in &candidates {
        // Bare names go to the dynamic loader's search path; paths must exist.
        let bare = c.components().count() == 1;
        if !bare && !c.exists() {
            tried.push(format!("{} (no such file)", c.display()));
            continue;
        }
        match ort::init_from(c) {
            Ok(builder) => {
                let env = builder.with_name("fovea").build().map_err(|e| format!("{}: {e}", c.display()))?;
                log::info!("ONNX Runtime loaded from {}", c.display());
                return Ok(Runtime { library: c.clone(), env });
            }
            Err(e) => {
                if explicit || !bare {
                    // A library that exists but does not load is an error, not a reason to look on.
                    return Err(format!("{} does not load: {e}", c.display()));
                }
                tried.push(format!("{} (not on the library path)", c.display()));
            }
        }
    }
    Err(format!("libonnxruntime.so {ORT_VERSION} not found; tried {}", tried.join(", ")))
}
