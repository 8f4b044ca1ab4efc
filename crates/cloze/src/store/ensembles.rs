//! Saved template ensembles ([`Ensemble`] as JSON), named and versioned as templates are: saving
//! under an existing name adds a version, saving the same ensemble again reuses the latest one.

use rusqlite::OptionalExtension;

use super::{Saved, Store};
use crate::ensemble::Ensemble;
use crate::error::{Error, ErrorKind, Result};

/// A saved ensemble version.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedEnsemble {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub ensemble: Ensemble,
    pub created_at: String,
}

/// The ensemble a saved row holds, checked as a file is ([`Ensemble::check`]).
fn parsed(saved: Saved) -> Result<SavedEnsemble> {
    let unreadable = |why: String| {
        Error::invalid(format!(
            "saved ensemble {:?} version {} cannot be read ({why}); delete it and fit it again",
            saved.name, saved.version
        ))
    };
    let ensemble: Ensemble = serde_json::from_str(&saved.content).map_err(|e| unreadable(e.to_string()))?;
    ensemble.check().map_err(|e| unreadable(e.to_string()))?;
    Ok(SavedEnsemble {
        id: saved.id,
        name: saved.name,
        version: saved.version,
        ensemble,
        created_at: saved.created_at,
    })
}

impl Store {
    /// Saves `ensemble` under `name` (a new version when it differs from the latest one).
    pub fn save_ensemble(&self, name: &str, ensemble: &Ensemble) -> Result<SavedEnsemble> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid("give the ensemble a name, e.g. sentiment-ensemble"));
        }
        ensemble.check()?;
        let json =
            serde_json::to_string(ensemble).map_err(|e| Error::internal(format!("ensemble to JSON: {e}")))?;
        parsed(self.save_versioned("ensembles", "definition", name, &json)?)
    }

    /// Every saved ensemble version, by name then version.
    pub fn ensembles(&self) -> Result<Vec<SavedEnsemble>> {
        self.all_saved("ensembles", "definition")?.into_iter().map(parsed).collect()
    }

    /// A saved ensemble version by id.
    pub fn ensemble(&self, id: i64) -> Result<SavedEnsemble> {
        let saved = self
            .conn()
            .query_row(
                "SELECT id, name, version, definition, created_at FROM ensembles WHERE id = ?1",
                [id],
                super::prompts::saved_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| not_found(self, id))?;
        parsed(saved)
    }

    /// A saved ensemble by name: version `version`, or the newest.
    pub fn ensemble_named(&self, name: &str, version: Option<i64>) -> Result<SavedEnsemble> {
        let all = self.ensembles()?;
        let mut same: Vec<&SavedEnsemble> = all.iter().filter(|e| e.name == name.trim()).collect();
        same.sort_by_key(|e| e.version);
        let found = match version {
            Some(v) => same.iter().find(|e| e.version == v).copied(),
            None => same.last().copied(),
        };
        found.cloned().ok_or_else(|| {
            let mut names: Vec<String> = all.iter().map(|e| format!("{} v{}", e.name, e.version)).collect();
            names.dedup();
            let known = if names.is_empty() {
                "the project has no saved ensemble; fit and save one in the prompt studio".to_string()
            } else {
                format!("saved ensembles: {}", names.join(", "))
            };
            let which = match version {
                Some(v) => format!("{name:?} version {v}"),
                None => format!("{name:?}"),
            };
            self.failure(ErrorKind::NotFound, format!("there is no saved ensemble {which}; {known}"))
        })
    }

    /// Deletes one saved ensemble version (runs it scored keep their suggestions).
    pub fn delete_ensemble(&self, id: i64) -> Result<()> {
        let n = self.conn().execute("DELETE FROM ensembles WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(not_found(self, id));
        }
        Ok(())
    }
}

fn not_found(store: &Store, id: i64) -> Error {
    store.failure(
        ErrorKind::NotFound,
        format!("there is no saved ensemble {id} (it may have been deleted); pick one from the list"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ensemble::{Member, Weighting};
    use crate::verbalizer::Verbalizer;

    fn member(name: &str, template: &str) -> Member {
        Member {
            name: name.into(),
            template: template.into(),
            verbalizer: Verbalizer::from_json(r#"{"neg": ["bad"], "pos": ["good"]}"#).unwrap(),
            calibrate: false,
            chat: None,
        }
    }

    fn ensemble(templates: &[&str]) -> Ensemble {
        let members = templates.iter().enumerate().map(|(i, t)| member(&format!("p{i}"), t)).collect();
        Ensemble::uniform(vec!["neg".into(), "pos".into()], members).unwrap()
    }

    #[test]
    fn save_list_version_and_delete() {
        let store = Store::open_in_memory().unwrap();
        assert!(store.ensembles().unwrap().is_empty());
        let two = ensemble(&["{text_a} It was {mask}.", "{text_a} All in all, {mask}."]);
        let a = store.save_ensemble("sentiment", &two).unwrap();
        let same = store.save_ensemble(" sentiment ", &two).unwrap();
        assert_eq!(
            (a.version, same.version, a.id),
            (1, 1, same.id),
            "the same ensemble is not a new version"
        );
        assert_eq!(a.ensemble, two);
        let mut dev = two.clone();
        dev.weighting = Weighting::DevAccuracy;
        dev.weights = vec![0.25, 0.75];
        let b = store.save_ensemble("sentiment", &dev).unwrap();
        assert_eq!(b.version, 2);
        let other = store.save_ensemble("other", &ensemble(&["{text_a} {mask}!"])).unwrap();
        let listed = store.ensembles().unwrap();
        assert_eq!(
            listed.iter().map(|e| (e.name.as_str(), e.version)).collect::<Vec<_>>(),
            [("other", 1), ("sentiment", 1), ("sentiment", 2)]
        );
        assert_eq!(store.ensemble(b.id).unwrap().ensemble, dev);
        assert!(!other.created_at.is_empty());
        // By name: the newest version, or the one asked for; a missing one lists what there is.
        assert_eq!(store.ensemble_named("sentiment", None).unwrap().id, b.id);
        assert_eq!(store.ensemble_named(" sentiment", Some(1)).unwrap().id, a.id);
        for (name, version, want) in [
            (
                "sentiment",
                Some(9),
                "no saved ensemble \"sentiment\" version 9; saved ensembles: other v1, sentiment v1, sentiment v2",
            ),
            ("nope", None, "no saved ensemble \"nope\"; saved ensembles: other v1"),
        ] {
            let e = store.ensemble_named(name, version).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert!(e.to_string().contains(want), "{e}");
        }
        let empty = Store::open_in_memory().unwrap().ensemble_named("x", None).unwrap_err();
        assert!(empty.to_string().contains("has no saved ensemble; fit and save one"), "{empty}");

        store.delete_ensemble(a.id).unwrap();
        assert_eq!(store.ensembles().unwrap().len(), 2);
        let gone = store.ensemble(a.id).unwrap_err();
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        assert_eq!(store.delete_ensemble(a.id).unwrap_err().kind(), ErrorKind::NotFound);
        // Saving after a deletion continues the numbering from the latest version kept.
        let mut three = dev.clone();
        three.weights = vec![0.5, 0.5];
        assert_eq!(store.save_ensemble("sentiment", &three).unwrap().version, 3);

        assert!(
            store.save_ensemble("  ", &two).unwrap_err().to_string().contains("give the ensemble a name")
        );
        let mut bad = two.clone();
        bad.weights = vec![0.9, 0.9];
        assert!(store.save_ensemble("bad", &bad).unwrap_err().to_string().contains("summing to 1"));
    }

    #[test]
    fn an_unreadable_saved_ensemble_says_what_to_do() {
        let store = Store::open_in_memory().unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO ensembles (name, version, definition) VALUES ('x', 1, '{\"format\": 1')",
                [],
            )
            .unwrap();
        let err = store.ensembles().unwrap_err().to_string();
        assert!(err.contains("\"x\" version 1") && err.contains("fit it again"), "{err}");
    }
}
