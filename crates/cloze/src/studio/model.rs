//! Model screen: Hugging Face search, details and download, the local cache, devices, and loading
//! a model for scoring.

use super::views::*;
use super::{LoadedModel, Studio};
use crate::error::{Error, Result};
use crate::hub::{CachedModel, SearchQuery, resolve_model_in};
use crate::plm::family::{FAMILIES, supported_model_types};
use crate::plm::{DeviceChoice, Plm, Precision};
use crate::store::Store;

pub(super) fn model_records(store: &Store) -> Result<Vec<ModelRecord>> {
    Ok(store
        .models()?
        .into_iter()
        .map(|m| {
            let (spec, path) = match (m.repo_id, m.local_path) {
                (Some(repo), _) => {
                    let rev = m.revision.unwrap_or_default();
                    (format!("{repo}@{}", &rev[..rev.len().min(12)]), repo)
                }
                (None, Some(path)) => (path.clone(), path),
                (None, None) => (String::new(), String::new()),
            };
            ModelRecord { id: m.id, spec, path, family: m.family, added_at: m.added_at }
        })
        .collect())
}

fn cached_view(m: CachedModel) -> CachedModelView {
    let mut refs: Vec<String> = m.snapshots.iter().flat_map(|(_, r)| r.clone()).collect();
    refs.sort();
    CachedModelView {
        repo_id: m.repo_id,
        commits: m.snapshots.into_iter().map(|(c, _)| c).collect(),
        refs,
        size: m.size as f64,
        path: m.path.display().to_string(),
    }
}

pub(super) fn device_choice(kind: DeviceKind) -> DeviceChoice {
    match kind {
        DeviceKind::Cpu => DeviceChoice::Cpu,
        DeviceKind::Cuda => DeviceChoice::Cuda(0),
        DeviceKind::Metal => DeviceChoice::Metal(0),
    }
}

impl DeviceKind {
    /// The name the project records a run's device by (`cpu`, `cuda`, `metal`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Metal => "metal",
        }
    }
}

pub(super) fn model_view(m: &LoadedModel) -> ModelView {
    let info = m.plm.info();
    ModelView {
        spec: m.spec.clone(),
        path: info.path.display().to_string(),
        family: info.family.name().to_string(),
        kind: info.kind,
        reads: info.kind.reads().to_string(),
        pretraining: info.pretraining,
        quantisation: info.quantisation.clone(),
        chat_template: m.plm.chat_template().map(|c| c.file.display().to_string()),
        memory_bytes: info.weight_bytes as f64,
        kv_heads: info.kv_heads as i64,
        parameters: info.parameters as f64,
        hidden_size: info.hidden_size as i64,
        layers: info.layers as i64,
        vocab_size: info.vocab_size as i64,
        max_len: info.max_len as i64,
        has_lm_head: info.has_lm_head,
        mask_token: info.special_tokens.mask.0.clone(),
        device: m.device,
        precision: m.plm.precision(),
        precision_kernel: m.plm.precision().kernel().to_string(),
        bf16_native: Precision::Bf16.native(),
    }
}

/// The Hub tags a query filters on: its `model_type` (checked against the registry) and `gguf`.
fn hub_tags(query: &HubQuery) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    if let Some(mt) = query.model_type.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        if !FAMILIES.iter().any(|f| f.model_types.contains(&mt)) {
            return Err(Error::invalid(format!(
                "model type {mt:?} is not one Cloze Studio runs; pick one of {}",
                supported_model_types()
            )));
        }
        tags.push(mt.to_string());
    }
    if query.gguf_only {
        tags.push("gguf".to_string());
    }
    Ok(tags)
}

impl Studio {
    /// One page of search results; `next` is the previous page's [`HubPage::next`].
    pub fn hub_search(&self, query: &HubQuery, next: Option<&str>) -> Result<HubPage> {
        let q = SearchQuery {
            text: query.text.trim().to_string(),
            task: query.task.clone().filter(|t| !t.is_empty()),
            sort: Some(
                match query.sort {
                    HubSort::Downloads => "downloads",
                    HubSort::Likes => "likes",
                    HubSort::LastModified => "lastModified",
                }
                .to_string(),
            ),
            limit: query.limit.clamp(1, 100) as usize,
            tags: hub_tags(query)?,
        };
        let page = self.hub.search(&q, next)?;
        let models = page
            .models
            .into_iter()
            .map(|m| HubModel {
                supported: m.supported.is_ok(),
                unsupported_reason: m.supported.err(),
                repo_id: m.repo_id,
                task: m.task,
                downloads: m.downloads as f64,
                likes: m.likes as f64,
                license: m.license,
                last_modified: m.last_modified,
                model_type: m.model_type,
                weight_bytes: m.weight_bytes.map(|b| b as f64),
                gguf: m.gguf,
            })
            .filter(|m| m.supported || !query.supported_only)
            .collect();
        Ok(HubPage { models, next: page.next })
    }

    pub fn hub_details(&self, repo_id: &str) -> Result<HubDetails> {
        let d = self.hub.details(repo_id.trim(), "main")?;
        Ok(HubDetails {
            repo_id: d.repo_id,
            commit: d.commit,
            files: d.files.into_iter().map(|(name, size)| HubFile { name, size: size as f64 }).collect(),
            selected: d.selected,
            download_size: d.download_size as f64,
            gguf: d
                .gguf
                .into_iter()
                .map(|g| HubGgufFile { name: g.name, size: g.size as f64, quantisation: g.quantisation })
                .collect(),
            model_type: d.model_type,
            supported: d.supported.is_ok(),
            unsupported_reason: d.supported.err(),
            summary: d.summary,
        })
    }

    /// Downloads the files a model needs into the Hugging Face cache (resuming partial files).
    pub fn hub_download(&self, repo_id: &str, progress: ProgressFn) -> Result<CachedModelView> {
        let repo_id = repo_id.trim();
        let mut total = 0;
        self.hub.download(repo_id, "main", &mut |p| {
            total = p.total;
            let message = format!("{} · {:.1} MB/s", p.file, p.rate / 1e6);
            progress(Progress::new("download", p.done, Some(p.total)).with_message(message))
        })?;
        // The last chunk's report may come before the last small file is in place: end at 100 %.
        progress(Progress::new("download", total, Some(total)).with_message("done"));
        self.cached_models()?
            .into_iter()
            .find(|m| m.repo_id == repo_id)
            .ok_or_else(|| Error::internal(format!("{repo_id} was downloaded but is not in the cache")))
    }

    /// Downloads one GGUF file of a repository (`file`: a name from [`HubDetails::gguf`], or a
    /// quantisation only one of them has) into the cache, resuming a partial one.
    pub fn hub_download_gguf(
        &self,
        repo_id: &str,
        file: &str,
        progress: ProgressFn,
    ) -> Result<DownloadedGguf> {
        let repo_id = repo_id.trim();
        let details = self.hub.details(repo_id, "main")?;
        let chosen = details.pick_gguf(file)?;
        let size = chosen.size;
        let path = self.hub.download_gguf(repo_id, "main", &chosen.name, &mut |p| {
            let message = format!("{} · {:.1} MB/s", p.file, p.rate / 1e6);
            progress(Progress::new("download", p.done, Some(p.total)).with_message(message))
        })?;
        progress(Progress::new("download", size, Some(size)).with_message("done"));
        Ok(DownloadedGguf {
            spec: format!("{repo_id}/{}", chosen.name),
            path: path.display().to_string(),
            size: size as f64,
        })
    }

    /// The `model_type`s the engine runs, by family, for the Hub search's family filter.
    pub fn model_types(&self) -> Vec<ModelTypeOption> {
        FAMILIES
            .iter()
            .flat_map(|f| {
                f.model_types.iter().map(move |mt| ModelTypeOption {
                    model_type: mt.to_string(),
                    family: f.name.to_string(),
                    kind: f.kind,
                })
            })
            .collect()
    }

    pub fn cached_models(&self) -> Result<Vec<CachedModelView>> {
        Ok(self.hub.cache().list()?.into_iter().map(cached_view).collect())
    }

    pub fn remove_cached_model(&self, repo_id: &str) -> Result<Vec<CachedModelView>> {
        if let Some(loaded) = self.model.read().unwrap_or_else(|e| e.into_inner()).as_ref()
            && loaded.spec == repo_id
        {
            return Err(Error::precondition(format!(
                "{repo_id} is the loaded model; load another model before removing it"
            )));
        }
        self.hub.cache().remove(repo_id)?;
        self.cached_models()
    }

    /// The devices this build and machine offer.
    pub fn devices(&self) -> Vec<DeviceOption> {
        let probe = |kind: DeviceKind| match device_choice(kind).open() {
            Ok(_) => DeviceOption { kind, available: true, note: None },
            Err(e) => DeviceOption { kind, available: false, note: Some(e.to_string()) },
        };
        vec![probe(DeviceKind::Cpu), probe(DeviceKind::Cuda), probe(DeviceKind::Metal)]
    }

    /// Loads a model folder, or a repository already in the cache, and records it in the open
    /// project (if any). Replaces the loaded model only when loading succeeds.
    pub fn load_model(&self, spec: &str, device: DeviceKind, progress: ProgressFn) -> Result<ModelView> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::invalid(
                "give a model folder (with config.json) or a downloaded model's name",
            ));
        }
        if !progress(Progress::new("load", 0, Some(2)).with_message(format!("reading {spec}"))) {
            return Err(Error::Cancelled);
        }
        let dir = resolve_model_in(self.hub.cache(), spec)?;
        let plm = Plm::load(&dir, &device_choice(device).open()?)?;
        if !progress(Progress::new("load", 1, Some(2)).with_message("recording the model in the project")) {
            return Err(Error::Cancelled);
        }
        if let Ok(file) = self.project_file() {
            Store::open(&file)?.record_model(spec, &dir, plm.family().name())?;
        }
        let loaded = self.set_model(LoadedModel { plm, spec: spec.to_string(), device });
        progress(Progress::new("load", 2, Some(2)));
        Ok(model_view(&loaded))
    }

    /// Sets the loaded model's precision (f32, or bf16 on the CPU) without reloading it: live
    /// probabilities, evaluations, label-word suggestions, scoring and generation use it from the
    /// next request on. A newly loaded model starts in f32.
    pub fn set_precision(&self, precision: Precision) -> Result<ModelView> {
        let model = self.change_model(|m| m.plm.set_precision(precision))?;
        Ok(model_view(&model))
    }

    pub fn current_model(&self) -> Option<ModelView> {
        self.model().ok().map(|m| model_view(&m))
    }
}
