//! What the fuzz targets share: an allocator that turns an absurd allocation into a crash (so a
//! size read from a file and trusted shows up as a finding, not as a slow run or an OOM kill much
//! later), and a scratch folder where a target writes its input when the engine reads files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The largest single allocation a target may make: no input of a few KB justifies more.
pub const MAX_ALLOCATION: usize = 256 << 20;

/// The system allocator, refusing (with an abort libFuzzer records as a crash) any allocation
/// larger than [`MAX_ALLOCATION`].
pub struct CappedAlloc;

fn too_large(size: usize) -> ! {
    // The message first without formatting (we are inside the allocator).
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(b"\n==fuzz== allocation of ");
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(b" bytes exceeds the fuzzing limit (cloze_fuzz::MAX_ALLOCATION): a size read from the input is trusted\n");
    // Where: the backtrace's own allocations are small, far under the limit.
    let _ = writeln!(err, "{}", std::backtrace::Backtrace::force_capture());
    std::process::abort()
}

unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large(layout.size());
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            too_large(new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CappedAlloc = CappedAlloc;

/// This process's scratch folder (one per fuzzing process): in `/dev/shm` when there is one, as
/// replacing a file on a disk file system costs ~3 ms (ext4 flushes a truncated file) against
/// ~50 µs in memory; else under the system's temp folder.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        remove_stale(&base);
        let dir = base.join(format!("cloze-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzzing scratch folder");
        dir
    })
}

/// Removes the scratch folders of fuzzing processes that have ended (libFuzzer's fork mode starts
/// many).
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("cloze-fuzz-")) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes `bytes` to `name` in a fresh scratch folder `sub` (emptied first), returning the path.
pub fn write_input(sub: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch().join(sub);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("cannot write the fuzz input");
    path
}
