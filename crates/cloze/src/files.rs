//! Writing files so that nothing is ever half-written or written over what the user needs, and
//! reading names from outside without letting them escape their folder.
//!
//! - [`AtomicFile`] / [`write_atomic`]: every file the program writes goes to a temporary name
//!   beside its destination (`.name.<pid>.<n>.tmp`), is flushed and synced, and is renamed into
//!   place only when complete; dropped without [`AtomicFile::commit`], the temporary file is removed.
//! - [`AtomicDir`]: the same for a folder of files (a tuning checkpoint, an exported model): filled
//!   under a temporary name beside its destination and renamed into place whole;
//!   [`remove_dir_whole`] takes a folder away by first renaming it out of sight, so it is never
//!   seen half-deleted; [`remove_stale_temps`] clears what a killed process left behind.
//! - [`check_output`]: an output path may not be one of the job's inputs or the open project (the
//!   same file, whatever the spelling), and an existing file is replaced only when the user said so
//!   ([`Replace::Allow`]: `--force` in the CLI, “Replace” in the app).
//! - [`safe_name`] / [`safe_relative_path`]: a name read from a file or a server (a Hub listing's
//!   blob id, a revision, a shard index's file name) is one path component, or a relative path of
//!   such components, from a known alphabet: no `..`, no absolute path, no separators in disguise.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result, Setting, Text};

/// A file being written under a temporary name beside `dest`, renamed into place by
/// [`AtomicFile::commit`]. Dropping it without committing removes the temporary file, so an error
/// (or a cancel) part-way through leaves the destination as it was.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary name beside `dest` that [`AtomicFile`] writes to: hidden, unique to this process
/// and call, in the same folder (so the rename never crosses file systems).
pub fn temp_path_for(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dest.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

impl AtomicFile {
    /// Starts writing `dest`. The folder must exist; `dest` itself is not touched until
    /// [`commit`](Self::commit).
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        if dest.is_dir() {
            return Err(Error::invalid(format!(
                "`{}` is a folder; name a file to write, e.g. `{}`",
                dest.display(),
                dest.join("labels.csv").display()
            )));
        }
        let tmp = temp_path_for(&dest);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io_while(&dest, "cannot create a file beside it to write", e))?;
        Ok(AtomicFile { dest, tmp, file: Some(BufWriter::new(file)) })
    }

    /// Where the file will be once committed.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes, syncs and renames the file into place (then syncs the folder, so the rename
    /// survives a crash).
    pub fn commit(mut self) -> Result<()> {
        let writer = self.file.take().expect("AtomicFile is committed once");
        let file =
            writer.into_inner().map_err(|e| Error::io_while(&self.dest, "cannot write", e.into_error()))?;
        file.sync_all().map_err(|e| Error::io_while(&self.dest, "cannot write", e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| Error::io_while(&self.dest, "cannot move into place", e))?;
        sync_parent(&self.dest);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A folder being filled under a temporary name beside `dest`, renamed into place by
/// [`AtomicDir::commit`]. Readers see either no folder (or the previous one) or the complete new
/// one, never a part. Dropped without committing, the temporary folder is removed.
pub struct AtomicDir {
    dest: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl AtomicDir {
    /// Starts a folder that will become `dest`. The parent folder must exist; `dest` itself is
    /// not touched until [`commit`](Self::commit).
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        let tmp = temp_path_for(&dest);
        std::fs::create_dir(&tmp)
            .map_err(|e| Error::io_while(&dest, "cannot create a folder beside it to write", e))?;
        Ok(AtomicDir { dest, tmp, committed: false })
    }

    /// The temporary folder to write the files into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Where the folder will be once committed.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Syncs every file in the folder (and its subfolders) and the folder itself, then renames it
    /// into place. An existing `dest` is first renamed out of sight and removed afterwards, so a
    /// crash in between leaves either the old or the new folder under a hidden temporary name,
    /// never a mixture under `dest`.
    pub fn commit(mut self) -> Result<()> {
        sync_tree(&self.tmp).map_err(|e| Error::io_while(&self.dest, "cannot write", e))?;
        let aside = if std::fs::symlink_metadata(&self.dest).is_ok() {
            let aside = temp_path_for(&self.dest);
            std::fs::rename(&self.dest, &aside)
                .map_err(|e| Error::io_while(&self.dest, "cannot move the old folder out of the way", e))?;
            Some(aside)
        } else {
            None
        };
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| Error::io_while(&self.dest, "cannot move into place", e))?;
        self.committed = true;
        sync_parent(&self.dest);
        if let Some(aside) = aside {
            let _ = std::fs::remove_dir_all(aside);
        }
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Syncs the files under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Removes the folder `dir` so that it is never seen half-deleted: it is renamed to a hidden
/// temporary name first, then deleted. A folder that does not exist is not an error.
pub fn remove_dir_whole(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    let aside = temp_path_for(dir);
    std::fs::rename(dir, &aside).map_err(|e| Error::io_while(dir, "cannot remove", e))?;
    sync_parent(dir);
    std::fs::remove_dir_all(&aside).map_err(|e| Error::io_while(&aside, "cannot remove", e))
}

/// Removes the temporary files and folders ([`temp_path_for`] names) that other, finished or
/// killed, processes left in `dir`. Best effort; the current process's own are kept.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let own = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
        // `.{name}.{pid}.{n}.tmp`: two numeric parts before `.tmp`.
        let mut parts = inner.rsplitn(3, '.');
        let (Some(n), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !numeric(n) || !numeric(pid) {
            continue;
        }
        if pid == own {
            continue;
        }
        let path = entry.path();
        let _ = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// Syncs the folder holding `path`, so that a rename into it is durable. Best effort: some file
/// systems cannot sync a folder, and the data itself is already synced.
pub fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `bytes` to `dest` through an [`AtomicFile`].
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(dest)?;
    file.write_all(bytes).map_err(|e| Error::io_while(file.dest(), "cannot write", e))?;
    file.commit()
}

/// Reads a small text file (a settings or prompt file), refusing one larger than `limit` bytes
/// before reading it (its size is checked, not trusted to be small), or one that is not UTF-8.
/// `what` names the kind of file in the error ("ensemble file").
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if len > limit {
        return Err(Error::invalid(format!(
            "{}: {len} bytes is too large for {what} (at most {limit}); is it the right file?",
            path.display()
        )));
    }
    // The size above is not trusted (a device or a growing file says 0): at most `limit + 1`
    // bytes are read.
    let mut bytes = Vec::new();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::invalid(format!(
            "{}: more than {limit} bytes is too large for {what}; is it the right file?",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "{}: {what} is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Whether an existing output file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replace {
    /// Refuse, naming the file and how to allow it (the default).
    #[default]
    Refuse,
    /// The user asked to replace it (`--force`, or confirmed in the app).
    Allow,
}

impl From<bool> for Replace {
    fn from(force: bool) -> Self {
        if force { Replace::Allow } else { Replace::Refuse }
    }
}

/// Whether `a` and `b` name the same existing file (same device and inode on Unix; the same
/// canonical path elsewhere). `false` when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Checks that `out` may be written by a job that reads `inputs` (data files, the open project):
/// it is not a folder, not one of the inputs, and does not exist unless `replace` allows it.
pub fn check_output(out: &Path, inputs: &[&Path], replace: Replace) -> Result<()> {
    if out.is_dir() {
        return Err(Error::invalid(format!(
            "`{}` is a folder; name a file to write, e.g. `{}`",
            out.display(),
            out.join("labels.csv").display()
        )));
    }
    if let Some(input) = inputs.iter().find(|input| same_file(out, input)) {
        return Err(Error::invalid(format!(
            "`{}` is also this job's input (`{}`); writing there would destroy it. Write to another file",
            out.display(),
            input.display()
        )));
    }
    if replace == Replace::Refuse && std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::already_exists(
            Text::from(format!("`{}` already exists; choose another name, or ", out.display()))
                .turn_on(Setting::Replace)
                .then(" to replace it"),
        ));
    }
    Ok(())
}

/// The longest name [`safe_name`] accepts (most file systems allow 255 bytes).
pub const MAX_NAME_LEN: usize = 200;

/// Checks that `name`, read from outside (`what` says where: "the Hub's blob id"), is one path
/// component made of ASCII letters, digits, `.`, `-`, `_`, `+`, `=` and `@`; not empty, not `.` or
/// `..`, at most [`MAX_NAME_LEN`] bytes.
pub fn safe_name<'a>(name: &'a str, what: &str) -> Result<&'a str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '=' | '@');
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name == "." || name == ".." {
        Some("points outside its folder".to_string())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!("is {} bytes long (at most {MAX_NAME_LEN})", name.len()))
    } else {
        name.chars().find(|c| !allowed(*c)).map(|c| format!("contains {c:?}"))
    };
    match problem {
        Some(problem) => Err(Error::invalid(format!(
            "{what} {:?} {problem}; only letters, digits and . - _ + = @ are accepted in a name",
            truncate_for_message(name)
        ))),
        None => Ok(name),
    }
}

/// Checks that `path`, read from outside, is a relative path of `/`-separated [`safe_name`]
/// components (so `onnx/model.onnx` passes, `../x`, `/etc/x`, `a//b` and `a\b` do not), and returns it
/// as a `PathBuf` to join onto the folder it belongs in.
pub fn safe_relative_path(path: &str, what: &str) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        safe_name(part, what).map_err(|_| {
            Error::invalid(format!(
                "{what} {:?} is not a plain relative path (each part made of letters, digits and . - _ + = @, \
                 no `..`, not starting with `/`)",
                truncate_for_message(path)
            ))
        })?;
        out.push(part);
    }
    debug_assert!(out.components().all(|c| matches!(c, Component::Normal(_))));
    Ok(out)
}

fn truncate_for_message(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small files read; a large one, a device that never ends and bytes that are not UTF-8 are
    /// refused with the file named, without reading past the limit.
    #[test]
    fn small_text_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, "{}").unwrap();
        assert_eq!(read_text_limited(&ok, 8, "a settings file").unwrap(), "{}");
        let big = dir.path().join("big.json");
        std::fs::write(&big, "x".repeat(9)).unwrap();
        let zero = Path::new("/dev/zero");
        let latin = dir.path().join("latin.json");
        std::fs::write(&latin, b"caf\xe9").unwrap();
        let cases: [(&Path, &str); 3] = [(&big, "too large"), (zero, "too large"), (&latin, "not UTF-8")];
        for (path, want) in cases {
            if !path.exists() {
                continue;
            }
            let msg = read_text_limited(path, 8, "a settings file").unwrap_err().to_string();
            assert!(msg.contains(want) && msg.contains(&path.display().to_string()), "{msg}");
        }
    }

    #[test]
    fn names_from_outside() {
        let cases: &[(&str, bool)] = &[
            ("model.safetensors", true),
            ("a1b2c3d4e5", true),
            ("main", true),
            ("v1.0-rc_2+x=y@z", true),
            ("", false),
            (".", false),
            ("..", false),
            ("../x", false),
            ("a/b", false),
            ("/etc", false),
            ("a\\b", false),
            ("a\0b", false),
            ("naïve", false),
            (&"x".repeat(MAX_NAME_LEN + 1), false),
        ];
        for (name, ok) in cases {
            assert_eq!(safe_name(name, "the blob id").is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn relative_paths_from_outside() {
        let cases: &[(&str, Option<&str>)] = &[
            ("model.safetensors", Some("model.safetensors")),
            ("onnx/model.onnx", Some("onnx/model.onnx")),
            ("../model.safetensors", None),
            ("a/../../b", None),
            ("/abs/path", None),
            ("a//b", None),
            ("a/", None),
            ("a\\..\\b", None),
            ("", None),
        ];
        for (path, want) in cases {
            let got = safe_relative_path(path, "the shard's file name").ok();
            assert_eq!(got, want.map(PathBuf::from), "{path:?}");
        }
    }

    #[test]
    fn atomic_write_replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, "old").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half").unwrap();
            // dropped without commit: the old file stays, no temporary file is left behind
        }
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(AtomicFile::create(dir.path()).is_err(), "a folder is not a file to write");
    }

    #[test]
    fn outputs_never_replace_inputs_or_existing_files_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "x").unwrap();
        let spelled_otherwise = dir.path().join(".").join("in.csv");
        let fresh = dir.path().join("new.csv");
        assert!(check_output(&fresh, &[&input], Replace::Refuse).is_ok());
        let e = check_output(&spelled_otherwise, &[&input], Replace::Allow).unwrap_err();
        assert!(e.to_string().contains("input"), "{e}");
        let e = check_output(&input, &[], Replace::Refuse).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(
            e.kind(),
            crate::error::ErrorKind::AlreadyExists,
            "the app tells it apart to ask “Replace?”"
        );
        assert!(check_output(&input, &[], Replace::Allow).is_ok());
        assert!(check_output(dir.path(), &[], Replace::Allow).is_err());
    }

    #[test]
    fn atomic_dir_appears_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("step-000001");
        {
            let d = AtomicDir::create(&dest).unwrap();
            std::fs::write(d.path().join("a.bin"), b"half").unwrap();
            // dropped without commit: nothing under `dest`, no temporary folder left
        }
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        let d = AtomicDir::create(&dest).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub").join("b.bin"), b"new").unwrap();
        d.commit().unwrap();
        assert_eq!(std::fs::read(dest.join("sub").join("b.bin")).unwrap(), b"new");
        // Replacing an existing folder: the new one whole, the old one gone.
        let d = AtomicDir::create(&dest).unwrap();
        std::fs::write(d.path().join("c.bin"), b"newer").unwrap();
        d.commit().unwrap();
        assert!(!dest.join("sub").exists());
        assert_eq!(std::fs::read(dest.join("c.bin")).unwrap(), b"newer");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        remove_dir_whole(&dest).unwrap();
        remove_dir_whole(&dest).unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn stale_temporaries_of_other_processes_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let stale = [".step-000004.999999999.0.tmp", ".config.json.1.12.tmp"];
        let kept = ["config.json", ".hidden", "x.tmp", ".a.b.tmp"];
        for n in stale.iter().chain(&kept) {
            std::fs::write(root.path().join(n), b"x").unwrap();
        }
        std::fs::create_dir(root.path().join(".step-000005.999999999.1.tmp")).unwrap();
        let own = temp_path_for(&root.path().join("mine"));
        std::fs::write(&own, b"x").unwrap();
        remove_stale_temps(root.path());
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        want.push(own.file_name().unwrap().to_string_lossy().into_owned());
        want.sort();
        assert_eq!(left, want);
    }
}
