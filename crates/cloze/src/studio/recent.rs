//! The recently opened projects, newest first, kept as a small JSON file in the app's config
//! folder. Written atomically ([`crate::files::write_atomic`]) so a crash never leaves half a list.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::views::RecentProject;
use crate::error::{Error, Result};

/// How many projects the list keeps.
const KEEP: usize = 12;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    name: String,
    opened_at: String,
}

/// See the module documentation.
#[derive(Debug)]
pub struct RecentList {
    file: PathBuf,
    /// Serialises read-modify-write of the file.
    guard: Mutex<()>,
}

impl RecentList {
    pub fn new(file: PathBuf) -> Self {
        Self { file, guard: Mutex::new(()) }
    }

    fn read(&self) -> Vec<Entry> {
        // A missing or damaged list is an empty one: it is a convenience, not data.
        std::fs::read(&self.file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn write(&self, entries: &[Entry]) -> Result<()> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let json = serde_json::to_vec_pretty(entries).expect("entries serialise");
        crate::files::write_atomic(&self.file, &json)
    }

    pub fn list(&self) -> Result<Vec<RecentProject>> {
        let _g = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .read()
            .into_iter()
            .map(|e| RecentProject {
                exists: e.path.is_file(),
                path: e.path.display().to_string(),
                name: e.name,
                opened_at: e.opened_at,
            })
            .collect())
    }

    /// Puts `path` at the top of the list.
    pub fn touch(&self, path: &Path, name: &str) -> Result<()> {
        let _g = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = self.read();
        entries.retain(|e| e.path != path);
        entries.insert(0, Entry { path: path.to_path_buf(), name: name.to_string(), opened_at: now_utc() });
        entries.truncate(KEEP);
        self.write(&entries)
    }

    pub fn forget(&self, path: &Path) -> Result<()> {
        let _g = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = self.read();
        entries.retain(|e| e.path != path);
        self.write(&entries)
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn now_utc() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format_utc(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (the civil-from-days algorithm of H. Hinnant).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_000_000, "2026-11-18T11:06:40Z"),
        ] {
            assert_eq!(format_utc(secs), want, "{secs}");
        }
    }

    #[test]
    fn keeps_newest_first_without_duplicates() {
        let dir = std::env::temp_dir().join(format!("cloze-recent-{}", std::process::id()));
        let list = RecentList::new(dir.join("recent.json"));
        list.touch(Path::new("/a.cloze"), "a").unwrap();
        list.touch(Path::new("/b.cloze"), "b").unwrap();
        list.touch(Path::new("/a.cloze"), "a").unwrap();
        let names: Vec<String> = list.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(!list.list().unwrap()[0].exists);
        list.forget(Path::new("/a.cloze")).unwrap();
        assert_eq!(list.list().unwrap().len(), 1);
        std::fs::write(dir.join("recent.json"), "not json").unwrap();
        assert!(list.list().unwrap().is_empty(), "a damaged list reads as empty");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
