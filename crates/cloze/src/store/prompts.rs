//! Templates and verbalizers, named and versioned (saving under an existing name adds a version;
//! saving the same content again reuses the latest version), and the models a project used:
//! a Hugging Face repository at a revision, or a local folder with a hash of its files.

use std::io::Read;
use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::{Error, Result};
use crate::template::Template;
use crate::template::chat::Chat;
use crate::verbalizer::Verbalizer;

/// A saved template or verbalizer version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Saved {
    pub id: i64,
    pub name: String,
    pub version: i64,
    /// Template source text, or the verbalizer as JSON.
    pub content: String,
    pub created_at: String,
    /// A template's chat setting (`None` for verbalizers and templates saved without one).
    #[serde(default)]
    pub chat: Option<Chat>,
}

/// A model a project used, as recorded: a Hub repository at a commit, or a local folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelRow {
    pub id: i64,
    pub repo_id: Option<String>,
    pub revision: Option<String>,
    pub local_path: Option<String>,
    pub family: String,
    pub added_at: String,
}

/// A `SELECT id, name, version, <content>, created_at` row.
pub(super) fn saved_from_row(r: &rusqlite::Row) -> rusqlite::Result<Saved> {
    Ok(Saved {
        id: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        content: r.get(3)?,
        created_at: r.get(4)?,
        chat: None,
    })
}

/// FNV-1a over the model folder's files that define its behaviour, streamed.
fn folder_hash(dir: &Path) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json") || n.ends_with(".safetensors") || n.ends_with(".bin") || n.ends_with(".txt")
        })
        .collect();
    names.sort();
    let mut buf = vec![0u8; 1 << 20];
    for name in names {
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        let path = dir.join(&name);
        let mut f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(&path, e))?;
            if n == 0 {
                break;
            }
            for b in &buf[..n] {
                h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    Ok(format!("fnv1a64:{h:016x}"))
}

impl Store {
    pub(super) fn save_versioned(
        &self,
        table: &str,
        column: &str,
        name: &str,
        content: &str,
    ) -> Result<Saved> {
        if name.trim().is_empty() {
            return Err(Error::invalid(format!("a saved {table} needs a name")));
        }
        let latest: Option<(i64, String)> = self
            .conn()
            .query_row(
                &format!(
                    "SELECT version, {column} FROM {table} WHERE name = ?1 ORDER BY version DESC LIMIT 1"
                ),
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let version = match latest {
            Some((v, c)) if c == content => return self.saved(table, column, name, v),
            Some((v, _)) => v + 1,
            None => 1,
        };
        self.conn()
            .execute(
                &format!("INSERT INTO {table} (name, version, {column}) VALUES (?1, ?2, ?3)"),
                params![name, version, content],
            )
            .map_err(|e| self.err(e))?;
        self.saved(table, column, name, version)
    }

    pub(super) fn saved(&self, table: &str, column: &str, name: &str, version: i64) -> Result<Saved> {
        self.conn()
            .query_row(
                &format!("SELECT id, name, version, {column}, created_at FROM {table} WHERE name = ?1 AND version = ?2"),
                params![name, version],
                saved_from_row,
            )
            .map_err(|e| self.err_in(format!("{table} {name:?} version {version}"), e))
    }

    pub(super) fn all_saved(&self, table: &str, column: &str) -> Result<Vec<Saved>> {
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT id, name, version, {column}, created_at FROM {table} ORDER BY name, version"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], saved_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Saves a template under `name` (a new version when its text changed).
    pub fn save_template(&self, name: &str, template: &Template) -> Result<Saved> {
        self.save_template_with_chat(name, template, &Chat::default())
    }

    /// Saves a template with its chat setting under `name` (a new version when either changed).
    pub fn save_template_with_chat(&self, name: &str, template: &Template, chat: &Chat) -> Result<Saved> {
        if name.trim().is_empty() {
            return Err(Error::invalid("a saved template needs a name"));
        }
        let chat_json = chat.is_on().then(|| serde_json::to_string(chat).expect("chat settings serialise"));
        let latest = self.templates()?.into_iter().rev().find(|t| t.name == name);
        let unchanged = latest.as_ref().is_some_and(|t| {
            t.content == template.source()
                && t.chat.as_ref().filter(|c| c.is_on()) == chat.is_on().then_some(chat)
        });
        if unchanged {
            return Ok(latest.expect("checked above"));
        }
        let version = latest.map_or(1, |t| t.version + 1);
        self.conn()
            .execute(
                "INSERT INTO templates (name, version, source, chat) VALUES (?1, ?2, ?3, ?4)",
                params![name, version, template.source(), chat_json],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn().last_insert_rowid();
        self.templates()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::internal(format!("template {name:?} version {version} was not saved")))
    }

    /// Every saved template version, with its chat setting.
    pub fn templates(&self) -> Result<Vec<Saved>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, name, version, source, created_at, chat FROM templates ORDER BY name, version",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let chat: Option<String> = r.get(5)?;
                Ok((saved_from_row(r)?, chat))
            })
            .map_err(|e| self.err(e))?;
        rows.map(|row| {
            let (mut saved, chat) = row.map_err(|e| self.err(e))?;
            saved.chat = match chat {
                None => None,
                Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                    Error::invalid(format!(
                        "template {:?} version {}: its chat setting {json:?} cannot be read ({e}); save the prompt again",
                        saved.name, saved.version
                    ))
                })?),
            };
            Ok(saved)
        })
        .collect()
    }

    /// Saves a verbalizer under `name` (a new version when it changed).
    pub fn save_verbalizer(&self, name: &str, verbalizer: &Verbalizer) -> Result<Saved> {
        let json = serde_json::to_string(verbalizer).expect("verbalizers serialise");
        self.save_versioned("verbalizers", "definition", name, &json)
    }

    /// Every saved verbalizer version.
    pub fn verbalizers(&self) -> Result<Vec<Saved>> {
        self.all_saved("verbalizers", "definition")
    }

    /// The id of the model whose two identifying columns hold `values`, recorded now if new.
    fn find_or_insert_model(&self, columns: [&str; 2], values: [&str; 2], family: &str) -> Result<i64> {
        let [a, b] = columns;
        let existing: Option<i64> = self
            .conn()
            .query_row(
                &format!("SELECT id FROM models WHERE {a} = ?1 AND {b} = ?2"),
                params![values[0], values[1]],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(id) = existing {
            return Ok(id);
        }
        self.conn()
            .execute(
                &format!("INSERT INTO models ({a}, {b}, family) VALUES (?1, ?2, ?3)"),
                params![values[0], values[1], family],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Records a local model folder (with a hash of its files) and returns its id; the same folder
    /// with the same files is recorded once.
    pub fn record_local_model(&self, dir: &Path, family: &str) -> Result<i64> {
        let hash = folder_hash(dir)?;
        let path = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).to_string_lossy().into_owned();
        self.find_or_insert_model(["local_path", "content_hash"], [&path, &hash], family)
    }

    /// Records a Hub model at the exact commit used; the same repository and commit is recorded once.
    pub fn record_hub_model(&self, repo_id: &str, commit: &str, family: &str) -> Result<i64> {
        self.find_or_insert_model(["repo_id", "revision"], [repo_id, commit], family)
    }

    /// Records the model `spec` names: a Hub repository at the commit its cached snapshot holds, or
    /// a local folder with a hash of its files.
    pub fn record_model(&self, spec: &str, dir: &Path, family: &str) -> Result<i64> {
        match crate::hub::repo_spec(spec) {
            Some((repo, _)) if !Path::new(spec).is_dir() => {
                let commit = dir.file_name().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
                self.record_hub_model(repo, &commit, family)
            }
            _ => self.record_local_model(dir, family),
        }
    }

    /// Every model the project used, most recently added first.
    pub fn models(&self) -> Result<Vec<ModelRow>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, repo_id, revision, local_path, family, added_at FROM models
                 ORDER BY added_at DESC, id DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ModelRow {
                    id: r.get(0)?,
                    repo_id: r.get(1)?,
                    revision: r.get(2)?,
                    local_path: r.get(3)?,
                    family: r.get(4)?,
                    added_at: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Links a run to the model, template and verbalizer it used.
    pub fn set_run_inputs(
        &self,
        run_id: i64,
        model: Option<i64>,
        template: Option<i64>,
        verbalizer: Option<i64>,
    ) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE runs SET model_id = ?2, template_id = ?3, verbalizer_id = ?4 WHERE id = ?1",
                params![run_id, model, template, verbalizer],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_only_when_content_changes() {
        let store = Store::open_in_memory().unwrap();
        let a =
            store.save_template("sentiment", &Template::parse("{text_a} It was {mask}.").unwrap()).unwrap();
        let same =
            store.save_template("sentiment", &Template::parse("{text_a} It was {mask}.").unwrap()).unwrap();
        let b = store
            .save_template("sentiment", &Template::parse("{text_a} All in all, {mask}.").unwrap())
            .unwrap();
        assert_eq!((a.version, same.version, b.version), (1, 1, 2));
        assert_eq!(a.id, same.id);
        assert_eq!(store.templates().unwrap().len(), 2);
        let v = Verbalizer::from_json(r#"{"neg": "bad", "pos": "good"}"#).unwrap();
        let s = store.save_verbalizer("words", &v).unwrap();
        assert_eq!(s.version, 1);
        let back: Verbalizer = serde_json::from_str(&s.content).unwrap();
        assert_eq!(back, v);
        assert!(store.save_template(" ", &Template::parse("{mask}").unwrap()).is_err());
    }

    #[test]
    fn a_saved_template_keeps_its_chat_setting() {
        let store = Store::open_in_memory().unwrap();
        let t = Template::parse("{text_a} Sentiment? {mask}").unwrap();
        let plain = store.save_template("s", &t).unwrap();
        let chat = Chat::model_template(Some("Answer in one word.".into()));
        let with_chat = store.save_template_with_chat("s", &t, &chat).unwrap();
        let again = store.save_template_with_chat("s", &t, &chat).unwrap();
        assert_eq!((plain.version, with_chat.version, again.version), (1, 2, 2));
        assert_eq!(plain.chat, None);
        assert_eq!(with_chat.chat.as_ref(), Some(&chat));
        let listed = store.templates().unwrap();
        assert_eq!(listed.iter().map(|t| t.chat.clone()).collect::<Vec<_>>(), [None, Some(chat)]);
        assert_eq!(store.save_template("s", &t).unwrap().version, 3, "turning chat off is a new version");
    }

    #[test]
    fn local_models_are_recorded_once_per_content() {
        let store = Store::open_in_memory().unwrap();
        let dir = std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/parity/bert"
        ));
        let a = store.record_local_model(&dir, "bert").unwrap();
        let b = store.record_local_model(&dir, "bert").unwrap();
        assert_eq!(a, b);
        let hash: String = store
            .conn()
            .query_row("SELECT content_hash FROM models WHERE id = ?1", [a], |r| r.get(0))
            .unwrap();
        assert!(hash.starts_with("fnv1a64:"), "{hash}");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let snapshot = std::path::PathBuf::from("/cache/models--org--m/snapshots").join(commit);
        let h = store.record_model("org/m@main", &snapshot, "bert").unwrap();
        assert_eq!(store.record_hub_model("org/m", commit, "bert").unwrap(), h);
        let (repo, rev): (String, String) = store
            .conn()
            .query_row("SELECT repo_id, revision FROM models WHERE id = ?1", [h], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((repo.as_str(), rev.as_str()), ("org/m", commit));
        let models = store.models().unwrap();
        assert_eq!(models.iter().map(|m| m.id).collect::<Vec<_>>(), [h, a], "newest first");
        assert_eq!(
            (models[0].repo_id.as_deref(), models[0].revision.as_deref()),
            (Some("org/m"), Some(commit))
        );
        assert!(models[1].local_path.is_some() && models[1].repo_id.is_none());
        assert_eq!(models[1].family, "bert");
    }
}
