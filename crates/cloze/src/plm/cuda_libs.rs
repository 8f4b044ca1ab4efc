//! The CUDA libraries, loaded at run time so that a CUDA build starts on a machine without them.
//!
//! candle links cudarc with `dynamic-linking`: a plain `cargo build --features cuda` records
//! `libcuda.so.1`, `libcublas.so.13`, … as `NEEDED`, and the binary will not start where the NVIDIA
//! driver is missing. The portable CUDA build (`scripts/cuda-env.sh`) links those functions
//! unresolved instead (`--unresolved-symbols=ignore-all` against empty stub libraries) and bound
//! lazily, at their first call (`-C relro-level=partial`, which keeps calls going through the
//! PLT). Such a binary starts anywhere, but its first call into CUDA would stop the process with
//! "symbol lookup error" unless the libraries are loaded by then, with `RTLD_GLOBAL` so that lazy
//! binding finds their functions.
//!
//! [`ensure_loaded`] does that, once, before any CUDA device is opened, and when a library is
//! missing it says which one and how to get it; the device is then reported unavailable and the
//! CPU is used. In a plain (linked) build the libraries are already loaded and this costs nothing.
//!
//! The names follow the CUDA major version the build was compiled against (cudarc's
//! `CUDA_VERSION`): the driver is always `libcuda.so.1`, cuRAND is `libcurand.so.10` from CUDA 11
//! to 13, the others carry the CUDA major (`libnvrtc.so.11.2` for CUDA 11).

#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

use std::ffi::{CStr, CString};

/// One library the CUDA backend calls into.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Library {
    /// The file name `dlopen` looks for (its soname).
    soname: String,
    /// What it is and how to get it, for the error message.
    remedy: String,
}

/// The libraries candle's CUDA backend calls, in load order (cuBLAS needs cuBLASLt).
fn libraries(cuda_version: u32) -> Vec<Library> {
    let major = cuda_version / 1000;
    let nvrtc = if major == 11 { "11.2".to_string() } else { major.to_string() };
    let pip = |package: &str| {
        format!(
            "the CUDA {major} runtime libraries: install them (e.g. `pip install {package}`) and put the folder \
             that holds the file on LD_LIBRARY_PATH"
        )
    };
    vec![
        Library {
            soname: "libcuda.so.1".into(),
            remedy: "the NVIDIA driver: install it for your GPU (e.g. `sudo apt install nvidia-driver`), or use the CPU"
                .into(),
        },
        Library { soname: format!("libnvrtc.so.{nvrtc}"), remedy: pip(&format!("nvidia-cuda-nvrtc=={major}.*")) },
        Library { soname: format!("libcublasLt.so.{major}"), remedy: pip(&format!("nvidia-cublas=={major}.*")) },
        Library { soname: format!("libcublas.so.{major}"), remedy: pip(&format!("nvidia-cublas=={major}.*")) },
        Library { soname: "libcurand.so.10".into(), remedy: pip("nvidia-curand==10.*") },
    ]
}

/// Loads `library` into the global symbol scope, or says why it cannot.
fn load(library: &Library) -> Result<(), String> {
    let name = CString::new(library.soname.as_str()).map_err(|e| e.to_string())?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; the handle is kept (never
    // closed) because the process binds functions to the library for the rest of its life.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call on this
    // thread, and it is copied at once.
    let why = unsafe {
        let e = libc::dlerror();
        if e.is_null() { "not found".to_string() } else { CStr::from_ptr(e).to_string_lossy().into_owned() }
    };
    Err(format!("{} could not be loaded ({why}); it is {}", library.soname, library.remedy))
}

/// Loads every library of [`libraries`] once per process; the first missing one is the error.
#[cfg(feature = "cuda")]
pub(crate) fn ensure_loaded() -> Result<(), String> {
    use std::sync::OnceLock;
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let version = candle_core::cuda_backend::cudarc::driver::sys::CUDA_VERSION;
            libraries(version).iter().try_for_each(load)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_follow_the_cuda_major_version() {
        let names = |v| libraries(v).into_iter().map(|l| l.soname).collect::<Vec<_>>();
        for (version, want) in [
            (
                13040,
                ["libcuda.so.1", "libnvrtc.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10"],
            ),
            (
                12080,
                ["libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12", "libcublas.so.12", "libcurand.so.10"],
            ),
            (
                11080,
                [
                    "libcuda.so.1",
                    "libnvrtc.so.11.2",
                    "libcublasLt.so.11",
                    "libcublas.so.11",
                    "libcurand.so.10",
                ],
            ),
        ] {
            assert_eq!(names(version), want, "CUDA {version}");
        }
    }

    #[test]
    fn a_missing_library_is_named_with_its_remedy() {
        let missing =
            Library { soname: "libcloze-no-such-library.so.7".into(), remedy: "a test library".into() };
        let e = load(&missing).unwrap_err();
        assert!(e.starts_with("libcloze-no-such-library.so.7 could not be loaded ("), "{e}");
        assert!(e.ends_with("it is a test library"), "{e}");
        assert!(libraries(13040)[0].remedy.contains("NVIDIA driver"));
    }

    #[test]
    fn the_c_library_loads() {
        // libc is in every process: loading it proves the call itself works.
        load(&Library { soname: "libc.so.6".into(), remedy: String::new() }).unwrap();
    }
}
