//! The Hugging Face Hub over its REST API: search, and downloading a model's needed files into the
//! shared cache with progress, resume, retries and checksum verification.
//!
//! Why not the `hf-hub` crate: 1.0 pulls the Xet stack (≈ 280 crates, minutes of build here) and its
//! downloads neither resume a broken transfer nor verify checksums; 0.5 has no search. This client is
//! a blocking `ureq` agent (rustls) and a few hundred lines, and writes the cache exactly as
//! `huggingface_hub` does ([`super::Cache`]).
//!
//! API references: <https://huggingface.co/docs/hub/api>,
//! <https://github.com/huggingface/huggingface_hub/blob/main/src/huggingface_hub/file_download.py>

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Cache, Token};
use crate::error::{Error, ErrorKind, Result, Source, Text};

/// A failure of the Hub.
fn hub_err(kind: ErrorKind, message: impl Into<Text>) -> Error {
    Error::Hub { kind, message: message.into(), source: None }
}

/// A failure of the Hub, caused by `e`.
fn hub_cause(
    kind: ErrorKind,
    message: impl Into<Text>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Hub { kind, message: message.into(), source: Some(Box::new(e)) }
}

/// What to search for.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SearchQuery {
    pub text: String,
    /// A pipeline tag such as `fill-mask`.
    pub task: Option<String>,
    /// `downloads` (default), `likes` or `lastModified`.
    pub sort: Option<String>,
    pub limit: usize,
    /// Tags every result carries (the Hub's `filter=`, one per tag, all required): a `model_type`
    /// such as `llama` or `t5` ([`crate::plm::family::FAMILIES`]), or `gguf` for repositories with
    /// GGUF files.
    pub tags: Vec<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    pub repo_id: String,
    pub task: Option<String>,
    pub downloads: u64,
    pub likes: u64,
    pub license: Option<String>,
    pub last_modified: Option<String>,
    pub model_type: Option<String>,
    /// Size of the safetensors weights, from the Hub's parameter counts (when it has them).
    pub weight_bytes: Option<u64>,
    /// The repository holds GGUF files (tagged `gguf`); the architecture they hold when the Hub
    /// says (`llama`, `qwen2`...).
    pub gguf: bool,
    pub gguf_architecture: Option<String>,
    /// Whether the engine can run it, and if not, why.
    pub supported: std::result::Result<(), String>,
}

/// A page of search results and the address of the next page, if any.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchPage {
    pub models: Vec<ModelSummary>,
    pub next: Option<String>,
}

/// Download progress, after every chunk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DownloadProgress {
    pub file: String,
    /// Bytes of all needed files already on disk.
    pub done: u64,
    pub total: u64,
    /// Bytes per second over this download so far.
    pub rate: f64,
}

/// What a model repository holds and what a download would fetch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelDetails {
    pub repo_id: String,
    pub commit: String,
    /// Every file with its size in bytes.
    pub files: Vec<(String, u64)>,
    /// The files [`HubClient::download`] would fetch, and their total size.
    pub selected: Vec<String>,
    pub download_size: u64,
    /// The repository's GGUF files, each of which [`HubClient::download_gguf`] fetches alone.
    pub gguf: Vec<GgufFile>,
    pub model_type: Option<String>,
    pub supported: std::result::Result<(), String>,
    /// The model card's first paragraph.
    pub summary: Option<String>,
}

/// One GGUF file of a repository: its name, size and the quantisation its name gives.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GgufFile {
    pub name: String,
    pub size: u64,
    /// `Q4_K_M`, `Q8_0`, `F16`... as llama.cpp names them in file names; `None` when the name says none.
    pub quantisation: Option<String>,
}

impl ModelDetails {
    /// The GGUF file `choice` names: a file name of the repository, or a quantisation (`q4_k_m`,
    /// any case) exactly one of its GGUF files has.
    pub fn pick_gguf(&self, choice: &str) -> Result<&GgufFile> {
        let choice = choice.trim();
        let listed = || {
            let names: Vec<String> = self
                .gguf
                .iter()
                .map(|g| match &g.quantisation {
                    Some(q) => format!("{} ({q})", g.name),
                    None => g.name.clone(),
                })
                .collect();
            if names.is_empty() { "it has none".to_string() } else { format!("it has {}", names.join(", ")) }
        };
        if let Some(g) = self.gguf.iter().find(|g| g.name == choice) {
            return Ok(g);
        }
        let same: Vec<&GgufFile> = self
            .gguf
            .iter()
            .filter(|g| g.quantisation.as_deref().is_some_and(|q| q.eq_ignore_ascii_case(choice)))
            .collect();
        match same.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::invalid(format!(
                "{}: no GGUF file named or quantised {choice:?}; {}",
                self.repo_id,
                listed()
            ))),
            _ => Err(Error::invalid(format!(
                "{}: several GGUF files are {choice}; name the file: {}",
                self.repo_id,
                same.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The quantisations llama.cpp writes into file names, longest first (so `Q4_K_M` wins over `Q4_K`).
const QUANTISATIONS: [&str; 30] = [
    "IQ3_XXS", "IQ2_XXS", "IQ3_XS", "IQ2_XS", "IQ4_XS", "IQ4_NL", "Q3_K_XL", "Q4_K_XL", "Q3_K_S", "Q3_K_M",
    "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "IQ1_S", "IQ2_S", "IQ3_S", "Q2_K", "Q3_K", "Q4_K",
    "Q5_K", "Q6_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16", "F16",
];

/// The quantisation a GGUF file's name gives (`model.Q4_K_M.gguf`, `smollm2-135m-q8_0.gguf`,
/// `ggml-model-f16.gguf`), in llama.cpp's upper-case spelling; `F32` too.
pub fn gguf_quantisation(file_name: &str) -> Option<String> {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let stem = base.strip_suffix(".gguf").or_else(|| base.strip_suffix(".GGUF"))?.to_ascii_uppercase();
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    QUANTISATIONS.iter().chain(&["F32"]).find_map(|q| {
        stem.match_indices(q)
            .any(|(at, _)| {
                boundary(stem[..at].chars().next_back()) && boundary(stem[at + q.len()..].chars().next())
            })
            .then(|| q.to_string())
    })
}

/// Whether the engine reads a GGUF file of this `general.architecture` (the Hub's `gguf.architecture`).
fn gguf_support(architecture: Option<&str>) -> std::result::Result<(), String> {
    match architecture {
        Some(a) if crate::plm::gguf::reads_architecture(a) => Ok(()),
        Some(a) => Err(format!(
            "GGUF of architecture {a}; Cloze Studio reads GGUF files of {}",
            crate::plm::gguf::READ_ARCHITECTURES.join(", ")
        )),
        None => Err("a GGUF repository whose architecture the Hub does not give".into()),
    }
}

/// A file of a repository at a commit, as the API lists it. Nothing of it is trusted: before a
/// download uses it to form a path, [`RepoFile::check`] validates it.
#[derive(Debug, Clone, PartialEq)]
struct RepoFile {
    name: String,
    /// The listed size (`None` when the listing gives none).
    size: Option<u64>,
    /// sha256 of the contents for LFS files; the git blob id (sha1) otherwise; lowercased.
    etag: String,
    lfs: bool,
}

/// The largest file a download accepts (the biggest single weight files on the Hub are ≈ 50 GB).
pub const MAX_FILE_BYTES: u64 = 64 << 30;

impl RepoFile {
    fn bytes(&self) -> u64 {
        self.size.unwrap_or(0)
    }

    /// Checks what a download takes from the listing (`listing` names it, `org/name@rev`) before
    /// anything is written: the file name is a relative path inside the repository (a weight
    /// shard's, one name), the blob id is the git sha1 (40 hex digits) or the LFS sha256 (64), and
    /// the size is given and at most [`MAX_FILE_BYTES`].
    fn check(&self, listing: &str) -> Result<()> {
        let what = format!("{listing}: the Hub's listing has a file name,");
        crate::files::safe_relative_path(&self.name, &what)?;
        let refuse = |problem: String| {
            hub_err(
                ErrorKind::InvalidInput,
                format!(
                    "{listing}: the Hub's listing {problem}; nothing was downloaded (is HF_ENDPOINT a Hugging Face \
                     Hub?)"
                ),
            )
        };
        let (kind, len) = if self.lfs { ("LFS sha256", 64) } else { ("blob id", 40) };
        if self.etag.len() != len || !self.etag.bytes().all(|c| c.is_ascii_hexdigit()) {
            let shown: String = self.etag.chars().take(80).collect();
            return Err(refuse(format!(
                "gives {} the {kind} {shown:?}, which is not {len} hex digits",
                self.name
            )));
        }
        match self.size {
            None => Err(refuse(format!("gives no size for {}", self.name))),
            Some(n) if n > MAX_FILE_BYTES => Err(refuse(format!(
                "says {} is {n} bytes, more than the {MAX_FILE_BYTES} a download accepts",
                self.name
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// The fields a search asks for.
const EXPAND: &str = "&expand[]=pipeline_tag&expand[]=downloads&expand[]=likes&expand[]=tags&expand[]=lastModified\
                      &expand[]=config&expand[]=safetensors&expand[]=gguf";

/// Bytes of the weights from the Hub's safetensors summary (parameters per dtype).
fn weight_bytes(safetensors: &serde_json::Value) -> Option<u64> {
    let params = safetensors["parameters"].as_object()?;
    Some(
        params
            .iter()
            .map(|(dtype, n)| {
                let width = match dtype.as_str() {
                    "F64" | "I64" | "U64" => 8,
                    "F32" | "I32" | "U32" => 4,
                    "F16" | "BF16" | "I16" | "U16" => 2,
                    _ => 1,
                };
                n.as_u64().unwrap_or(0) * width
            })
            .sum(),
    )
}

/// Which families the engine runs, for the search results' "supported" flag: the registry's
/// answer ([`crate::plm::family::support`]).
fn support(model_type: Option<&str>, task: Option<&str>) -> std::result::Result<(), String> {
    match model_type {
        Some(_) => crate::plm::family::support(model_type).map(|_| ()),
        None if matches!(task, Some("fill-mask" | "text-generation" | "text2text-generation")) => {
            Err("the Hub does not say which architecture it is".into())
        }
        None => Err("not a language model the engine can prompt".into()),
    }
}

/// A Hub client.
#[derive(Debug, Clone)]
pub struct HubClient {
    endpoint: String,
    token: Option<Token>,
    offline: bool,
    cache: Cache,
    agent: ureq::Agent,
    /// Attempts per request for 429, 5xx and dropped connections.
    pub attempts: u32,
    /// The first wait between attempts; doubled after each.
    pub backoff: Duration,
}

impl HubClient {
    /// A client for `endpoint` (e.g. `https://huggingface.co`) writing into `cache`.
    pub fn new(endpoint: &str, token: Option<Token>, cache: Cache) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .build();
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
            offline: false,
            cache,
            agent: config.into(),
            attempts: 5,
            backoff: Duration::from_millis(500),
        }
    }

    /// `HF_ENDPOINT`, `HF_HUB_OFFLINE`, the token from [`Token::from_env`], the cache from
    /// [`Cache::from_env`].
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
        let mut c = Self::new(&endpoint, Token::from_env(), Cache::from_env());
        c.offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.as_str(), "1" | "true" | "yes" | "ON" | "on"))
            .unwrap_or(false);
        c
    }

    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn offline_error(&self, what: &str) -> Error {
        hub_err(
            ErrorKind::Unavailable,
            Text::from(format!(
                "offline (HF_HUB_OFFLINE is set), so {what} is not possible; cached models still work"
            ))
            .cli_only(" — `cloze hub list` shows them"),
        )
    }

    /// One request with retries: 429 and 5xx answers and connection failures are tried again after
    /// a growing wait (or the server's `Retry-After`).
    fn call(&self, url: &str, range_from: u64) -> Result<ureq::http::Response<ureq::Body>> {
        let mut wait = self.backoff;
        let mut last = String::new();
        let mut cause: Option<Source> = None;
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(wait);
                wait *= 2;
            }
            let mut req = self.agent.get(url);
            if let Some(t) = &self.token {
                req = req.header("Authorization", format!("Bearer {}", t.secret()));
            }
            if range_from > 0 {
                req = req.header("Range", format!("bytes={range_from}-"));
            }
            match req.call() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 429 || status >= 500 {
                        if let Some(secs) = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                        {
                            wait = Duration::from_secs(secs.min(30));
                        }
                        last = format!("the Hub answered HTTP {status}");
                        cause = None;
                        continue;
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    last = format!("cannot reach {}", self.endpoint);
                    cause = Some(e.into());
                }
            }
        }
        Err(Error::Hub {
            kind: ErrorKind::Unavailable,
            message: format!(
                "{last} (tried {} times); check the connection, or work offline with cached models (HF_HUB_OFFLINE=1)",
                self.attempts.max(1)
            )
            .into(),
            source: cause,
        })
    }

    fn check_status(&self, resp: &ureq::http::Response<ureq::Body>, what: &str) -> Result<()> {
        let status = resp.status().as_u16();
        let (kind, message) = match status {
            200..=299 => return Ok(()),
            401 | 403 if self.token.is_none() => (
                ErrorKind::Precondition,
                format!(
                    "{what} needs an access token (the model is gated or private): accept its terms on the Hub, then set \
                 HF_TOKEN or log in with the Hugging Face tools"
                ),
            ),
            401 | 403 => (
                ErrorKind::Precondition,
                format!(
                    "{what} was refused with the token given: check that it is valid and has access (HTTP {status})"
                ),
            ),
            404 => (
                ErrorKind::NotFound,
                format!("{what} was not found on the Hub (HTTP 404); check the repository id and revision"),
            ),
            _ => (ErrorKind::Unavailable, format!("{what} failed: HTTP {status}")),
        };
        Err(hub_err(kind, message))
    }

    fn get_json(&self, url: &str, what: &str) -> Result<(serde_json::Value, Option<String>)> {
        let mut resp = self.call(url, 0)?;
        self.check_status(&resp, what)?;
        let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(parse_next_link);
        let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| {
            hub_cause(ErrorKind::Unavailable, format!("{what}: the answer could not be read"), e)
        })?;
        let json = serde_json::from_str(&text).map_err(|e| {
            hub_cause(ErrorKind::Internal, format!("{what}: the Hub answered something that is not JSON"), e)
        })?;
        Ok((json, next))
    }

    /// Searches the Hub's models. `next` continues from a previous page's [`SearchPage::next`].
    pub fn search(&self, query: &SearchQuery, next: Option<&str>) -> Result<SearchPage> {
        if self.offline {
            return Err(self.offline_error("searching the Hub"));
        }
        let url = match next {
            Some(n) => n.to_string(),
            None => {
                let mut url = format!(
                    "{}/api/models?search={}&sort={}&direction=-1&limit={}{EXPAND}",
                    self.endpoint,
                    encode(&query.text),
                    encode(query.sort.as_deref().unwrap_or("downloads")),
                    query.limit.clamp(1, 100)
                );
                if let Some(t) = &query.task {
                    url.push_str(&format!("&filter={}", encode(t)));
                }
                for tag in query.tags.iter().filter(|t| !t.trim().is_empty()) {
                    url.push_str(&format!("&filter={}", encode(tag.trim())));
                }
                url
            }
        };
        let (json, next) = self.get_json(&url, "the model search")?;
        let models = json
            .as_array()
            .ok_or_else(|| hub_err(ErrorKind::Internal, "the model search did not return a list"))?
            .iter()
            .map(|m| {
                let task = m["pipeline_tag"].as_str().map(String::from);
                let model_type = m["config"]["model_type"].as_str().map(String::from);
                let tags: Vec<&str> = m["tags"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t.as_str()).collect())
                    .unwrap_or_default();
                let gguf = tags.contains(&"gguf") || m["gguf"].is_object();
                let gguf_architecture = m["gguf"]["architecture"].as_str().map(String::from);
                let supported = match support(model_type.as_deref(), task.as_deref()) {
                    Err(_) if gguf => gguf_support(gguf_architecture.as_deref()),
                    s => s,
                };
                ModelSummary {
                    repo_id: m["id"].as_str().or(m["modelId"].as_str()).unwrap_or_default().to_string(),
                    downloads: m["downloads"].as_u64().unwrap_or(0),
                    likes: m["likes"].as_u64().unwrap_or(0),
                    license: m["tags"].as_array().and_then(|tags| {
                        tags.iter()
                            .filter_map(|t| t.as_str())
                            .find_map(|t| t.strip_prefix("license:"))
                            .map(String::from)
                    }),
                    last_modified: m["lastModified"].as_str().map(String::from),
                    weight_bytes: weight_bytes(&m["safetensors"]),
                    supported,
                    gguf,
                    gguf_architecture,
                    task,
                    model_type,
                }
            })
            .collect();
        Ok(SearchPage { models, next })
    }

    /// The commit a revision points at and the repository's files.
    fn repo_files(&self, repo_id: &str, revision: &str) -> Result<(String, Vec<RepoFile>)> {
        super::cache::folder_name(repo_id)?;
        super::cache::check_revision(revision)?;
        let url = format!("{}/api/models/{repo_id}/revision/{}?blobs=true", self.endpoint, encode(revision));
        let (json, _) = self.get_json(&url, &format!("{repo_id}@{revision}"))?;
        let commit = json["sha"]
            .as_str()
            .ok_or_else(|| {
                hub_err(ErrorKind::Internal, format!("{repo_id}@{revision}: the Hub gave no commit sha"))
            })?
            .to_string();
        super::cache::check_commit(&commit, &format!("{repo_id}@{revision}: the Hub's commit"))?;
        let files = json["siblings"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|f| {
                        let name = f["rfilename"].as_str()?.to_string();
                        let lfs = f["lfs"]["sha256"].as_str();
                        Some(RepoFile {
                            size: f["lfs"]["size"].as_u64().or(f["size"].as_u64()),
                            etag: lfs.or(f["blobId"].as_str()).unwrap_or_default().to_ascii_lowercase(),
                            lfs: lfs.is_some(),
                            name,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((commit, files))
    }

    fn small_text(&self, repo_id: &str, commit: &str, file: &str) -> Result<Option<String>> {
        let mut resp = self.call(&format!("{}/{repo_id}/resolve/{commit}/{file}", self.endpoint), 0)?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        self.check_status(&resp, &format!("{repo_id}/{file}"))?;
        resp.body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_string()
            .map(Some)
            .map_err(|e| hub_cause(ErrorKind::Unavailable, format!("{repo_id}/{file}"), e))
    }

    /// The repository's files, what a download would fetch, the architecture and whether the
    /// engine runs it, and the model card's summary.
    pub fn details(&self, repo_id: &str, revision: &str) -> Result<ModelDetails> {
        if self.offline {
            return Err(self.offline_error("looking up a model on the Hub"));
        }
        let (commit, files) = self.repo_files(repo_id, revision)?;
        let has = |n: &str| files.iter().any(|f| f.name == n);
        let model_type = if has("config.json") {
            self.small_text(repo_id, &commit, "config.json")?
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|c| c["model_type"].as_str().map(String::from))
        } else {
            None
        };
        let summary = if has("README.md") {
            self.small_text(repo_id, &commit, "README.md")?.and_then(|t| card_summary(&t))
        } else {
            None
        };
        let (selected, download_size) = match needed_files(&files) {
            Ok(n) => (n.iter().map(|f| f.name.clone()).collect(), n.iter().map(|f| f.bytes()).sum()),
            Err(_) => (Vec::new(), 0),
        };
        let gguf: Vec<GgufFile> = files
            .iter()
            .filter(|f| is_gguf(&f.name))
            .map(|f| GgufFile {
                name: f.name.clone(),
                size: f.bytes(),
                quantisation: gguf_quantisation(&f.name),
            })
            .collect();
        let supported = match needed_files(&files) {
            // A GGUF-only repository: one of its files is what a user downloads (whether its
            // architecture is read shows when it loads: the listing does not say).
            Err(_) if gguf_only(&files) => Ok(()),
            Err(why) => Err(why),
            Ok(_) => support(model_type.as_deref(), Some("fill-mask")),
        };
        Ok(ModelDetails {
            repo_id: repo_id.to_string(),
            commit,
            gguf,
            files: files.iter().map(|f| (f.name.clone(), f.bytes())).collect(),
            selected,
            download_size,
            model_type,
            supported,
            summary,
        })
    }

    /// Downloads what the engine needs of `repo_id@revision` into the cache and returns the
    /// snapshot folder. Files already cached are not fetched again; a partial file left by a broken
    /// or cancelled transfer (or a killed process) is resumed. Every value of the listing that forms
    /// a path is checked before anything is written; each file is checked against its listed size
    /// and hash (SHA-256 for LFS files, the git blob id otherwise) before it is renamed into the
    /// cache. Offline, the cached snapshot is returned.
    pub fn download(
        &self,
        repo_id: &str,
        revision: &str,
        progress: &mut dyn FnMut(&DownloadProgress) -> bool,
    ) -> Result<PathBuf> {
        if self.offline {
            return self.cache.snapshot(repo_id, revision);
        }
        let (commit, files) = self.repo_files(repo_id, revision)?;
        let needed = needed_files(&files).map_err(|m| {
            if gguf_only(&files) {
                hub_err(
                    ErrorKind::InvalidInput,
                    Text::from(format!("{repo_id} holds GGUF files only; download one of them"))
                        .cli_only(format!(" (`cloze hub download {repo_id} --gguf Q4_K_M`, `cloze hub show {repo_id}` lists them)"))
                        .app_only(": pick a quantisation on the Model screen"),
                )
            } else {
                hub_err(ErrorKind::InvalidInput, format!("{repo_id}: {m}"))
            }
        })?;
        self.fetch_files(repo_id, revision, &commit, &needed, progress)?;
        Ok(self.cache.repo_dir(repo_id)?.join("snapshots").join(&commit))
    }

    /// Downloads one GGUF file of `repo_id@revision` (`file`: a name from
    /// [`ModelDetails::gguf`]) into the cache, with the same checks, resume and verification as
    /// [`HubClient::download`], and returns its path (a file [`crate::plm::Plm::load`] opens; by
    /// name it is `org/name/FILE.gguf`, see [`super::resolve_model`]). Offline, the cached file.
    pub fn download_gguf(
        &self,
        repo_id: &str,
        revision: &str,
        file: &str,
        progress: &mut dyn FnMut(&DownloadProgress) -> bool,
    ) -> Result<PathBuf> {
        if !is_gguf(file) {
            return Err(Error::invalid(format!(
                "{file} is not a .gguf file; name one of {repo_id}'s GGUF files"
            )));
        }
        if self.offline {
            let path = self.cache.snapshot(repo_id, revision)?.join(file);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(self.offline_error(&format!("downloading {repo_id}/{file}")))
            };
        }
        let (commit, files) = self.repo_files(repo_id, revision)?;
        let Some(wanted) = files.iter().find(|f| f.name == file) else {
            let names: Vec<&str> =
                files.iter().filter(|f| is_gguf(&f.name)).map(|f| f.name.as_str()).collect();
            return Err(hub_err(
                ErrorKind::NotFound,
                format!(
                    "{repo_id}@{revision} has no file {file}; its GGUF files: {}",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                ),
            ));
        };
        self.fetch_files(repo_id, revision, &commit, &[wanted], progress)?;
        Ok(self.cache.repo_dir(repo_id)?.join("snapshots").join(&commit).join(file))
    }

    /// Checks the listed `needed` files, fetches those not yet in the snapshot of `commit`, and
    /// points `revision` at the commit.
    fn fetch_files(
        &self,
        repo_id: &str,
        revision: &str,
        commit: &str,
        needed: &[&RepoFile],
        progress: &mut dyn FnMut(&DownloadProgress) -> bool,
    ) -> Result<()> {
        let listing = format!("{repo_id}@{revision}");
        for file in needed {
            file.check(&listing)?;
        }
        let total: u64 = needed.iter().map(|f| f.bytes()).sum();
        let snapshot = self.cache.repo_dir(repo_id)?.join("snapshots").join(commit);
        let mut done = 0u64;
        let started = Instant::now();
        for file in needed {
            if snapshot.join(&file.name).exists() {
                done += file.bytes();
                continue;
            }
            self.fetch(repo_id, commit, file, &mut done, total, started, progress)?;
        }
        self.cache.write_ref(repo_id, revision, commit)
    }

    /// Fetches one checked file into `blobs/<etag>.incomplete` (resuming what is there), verifies
    /// it and stores it in the cache. A blob already in the cache (shared with another snapshot, or
    /// stored just before the process was killed) is only linked.
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &self,
        repo_id: &str,
        commit: &str,
        file: &RepoFile,
        done: &mut u64,
        total: u64,
        started: Instant,
        progress: &mut dyn FnMut(&DownloadProgress) -> bool,
    ) -> Result<()> {
        let blobs = self.cache.repo_dir(repo_id)?.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let etag = crate::files::safe_name(&file.etag, "the blob id")?;
        let size = file.bytes();
        let blob = blobs.join(etag);
        if std::fs::metadata(&blob).map(|m| m.is_file() && m.len() == size).unwrap_or(false) {
            self.cache.link_blob(repo_id, commit, &file.name, etag)?;
            *done += size;
            return Ok(());
        }
        let partial = blobs.join(format!("{etag}.incomplete"));
        let url = format!("{}/{repo_id}/resolve/{commit}/{}", self.endpoint, file.name);
        let what = format!("{repo_id}/{}", file.name);
        let base = *done;
        let mut attempts = 0;
        loop {
            let have = match std::fs::metadata(&partial) {
                Ok(m) if m.len() <= size => m.len(),
                Ok(_) => {
                    std::fs::remove_file(&partial).map_err(|e| Error::io(&partial, e))?;
                    0
                }
                Err(_) => 0,
            };
            let outcome = if have == size && size > 0 {
                Ok(()) // complete before the previous process stopped: only verify and store it
            } else {
                let mut report = |written: u64| {
                    *done = base + written;
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    progress(&DownloadProgress {
                        file: file.name.clone(),
                        done: *done,
                        total,
                        rate: *done as f64 / secs,
                    })
                };
                self.receive(&url, &what, &partial, (have, size), &mut report)?
            };
            match outcome {
                Ok(()) => break,
                Err(why) => {
                    attempts += 1;
                    if attempts >= self.attempts.max(1) {
                        return Err(hub_err(
                            ErrorKind::Unavailable,
                            format!(
                                "{what}: {why} ({attempts} attempts); run the download again to resume it"
                            ),
                        ));
                    }
                    std::thread::sleep(self.backoff);
                }
            }
        }
        let actual = file_hash(&partial, file.lfs)?;
        if actual != file.etag {
            let _ = std::fs::remove_file(&partial);
            let hash = if file.lfs { "SHA-256" } else { "git blob id" };
            return Err(hub_err(
                ErrorKind::Unavailable,
                format!(
                    "{what}: the downloaded file does not match the Hub's {hash} ({actual} instead of {}); it was \
                     deleted, download again",
                    file.etag
                ),
            ));
        }
        self.cache.store_file(repo_id, commit, &file.name, etag, &partial)?;
        *done = base + size;
        Ok(())
    }

    /// One transfer of `url` into `partial` (`size` bytes in all), from byte `have` when the
    /// server resumes there. `Ok(Err(why))` is a transfer that broke off or went wrong and may be
    /// tried again (what was received in order is kept); `Err` is final (a cancel, an HTTP refusal,
    /// a local write error).
    fn receive(
        &self,
        url: &str,
        what: &str,
        partial: &Path,
        (have, size): (u64, u64),
        report: &mut dyn FnMut(u64) -> bool,
    ) -> Result<std::result::Result<(), String>> {
        let mut resp = self.call(url, have)?;
        self.check_status(&resp, what)?;
        let resumed = resp.status().as_u16() == 206;
        if resumed {
            // `Content-Range: bytes <from>-<to>/<size>`: the server must resume where the file ends.
            let from = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if from != Some(have) {
                std::fs::remove_file(partial).map_err(|e| Error::io(partial, e))?;
                return Ok(Err(format!(
                    "the server resumed the transfer at {from:?} instead of byte {have}; it starts again"
                )));
            }
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(partial)
            .map_err(|e| Error::io(partial, e))?;
        let mut written = if resumed { have } else { 0 };
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        let result: std::io::Result<()> = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if written + n as u64 > size {
                        drop(out);
                        std::fs::remove_file(partial).map_err(|e| Error::io(partial, e))?;
                        return Ok(Err(format!(
                            "the server sent more than the {size} bytes the listing gives"
                        )));
                    }
                    out.write_all(&buf[..n]).map_err(|e| Error::io(partial, e))?;
                    written += n as u64;
                    if !report(written) {
                        return Err(Error::Cancelled);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        out.flush().map_err(|e| Error::io(partial, e))?;
        drop(out);
        Ok(match result {
            Ok(()) if written == size => Ok(()),
            Ok(()) => Err(format!("the transfer broke off at {written} of {size} bytes")),
            Err(e) => Err(format!("the transfer broke off at {written} of {size} bytes ({e})")),
        })
    }
}

/// The hash the Hub lists for a file: the SHA-256 of an LFS file's contents, the git blob id
/// (SHA-1 of `blob <len>\0` and the contents) of another; lowercase hex. Syncs the file too, so the
/// rename that follows a successful check is durable.
fn file_hash(path: &Path, lfs: bool) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut sha256 = Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    if !lfs {
        sha1.update(format!("blob {len}\0").as_bytes());
    }
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        if lfs {
            sha256.update(&buf[..n]);
        } else {
            sha1.update(&buf[..n]);
        }
    }
    let _ = f.sync_all();
    let digest: Vec<u8> = if lfs { sha256.finalize().to_vec() } else { sha1.finalize().to_vec() };
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn is_gguf(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gguf")
}

/// A repository whose weights are GGUF files only (no safetensors or PyTorch weights).
fn gguf_only(files: &[RepoFile]) -> bool {
    files.iter().any(|f| is_gguf(&f.name))
        && !files.iter().any(|f| f.name.ends_with(".safetensors") || f.name.ends_with(".bin"))
}

/// The files a masked-LM needs: config, tokenizer (tokenizer.json, or the vocabulary files), and
/// weights (safetensors preferred, sharded with its index, else pytorch_model.bin).
fn needed_files(files: &[RepoFile]) -> std::result::Result<Vec<&RepoFile>, String> {
    let find = |n: &str| files.iter().find(|f| f.name == n);
    let mut out = Vec::new();
    out.push(find("config.json").ok_or("the repository has no config.json at its top level")?);
    for optional in ["tokenizer_config.json", "special_tokens_map.json"] {
        out.extend(find(optional));
    }
    match find("tokenizer.json") {
        Some(t) => out.push(t),
        None => {
            let vocab: Vec<&RepoFile> =
                ["vocab.txt", "vocab.json", "merges.txt"].iter().filter_map(|n| find(n)).collect();
            if vocab.is_empty() {
                return Err("no tokenizer.json, vocab.txt or vocab.json in the repository".into());
            }
            out.extend(vocab);
        }
    }
    if let Some(w) = find("model.safetensors") {
        out.push(w);
    } else if let Some(index) = find("model.safetensors.index.json") {
        out.push(index);
        // shards sit beside their index (a name with a `/` is no shard of it)
        out.extend(files.iter().filter(|f| {
            f.name.starts_with("model-") && f.name.ends_with(".safetensors") && !f.name.contains('/')
        }));
    } else if let Some(w) = find("pytorch_model.bin") {
        out.push(w);
    } else {
        return Err("no model.safetensors or pytorch_model.bin in the repository".into());
    }
    Ok(out)
}

/// The first paragraph of a model card that is prose: after the YAML front matter, not a heading,
/// badge, HTML or table line; at most 600 characters.
fn card_summary(card: &str) -> Option<String> {
    let body = match card.strip_prefix("---") {
        Some(rest) => rest.split_once("\n---").map(|(_, b)| b).unwrap_or(rest),
        None => card,
    };
    let paragraph: Vec<&str> = body
        .split("\n\n")
        .map(str::trim)
        .find(|p| {
            !p.is_empty()
                && !p.starts_with('#')
                && !p.starts_with('<')
                && !p.starts_with('!')
                && !p.starts_with('|')
                && !p.starts_with("```")
        })?
        .lines()
        .map(str::trim)
        .collect();
    let text = paragraph.join(" ");
    Some(if text.chars().count() > 600 {
        format!("{}…", text.chars().take(600).collect::<String>())
    } else {
        text
    })
}

fn parse_next_link(header: &str) -> Option<String> {
    header.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Some(part[start..end].to_string())
    })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> RepoFile {
        RepoFile { name: name.into(), size: Some(1), etag: "e".into(), lfs: false }
    }

    #[test]
    fn gguf_quantisation_is_read_from_the_file_name() {
        let cases = [
            ("model.Q4_K_M.gguf", Some("Q4_K_M")),
            ("smollm2-135m-instruct-q8_0.gguf", Some("Q8_0")),
            ("Qwen2.5-0.5B-Instruct-Q4_K_S.gguf", Some("Q4_K_S")),
            ("sub/ggml-model-f16.gguf", Some("F16")),
            ("llama-3.2-1b-IQ3_XXS.gguf", Some("IQ3_XXS")),
            ("tiny-bf16.gguf", Some("BF16")),
            ("tiny-f32.gguf", Some("F32")),
            ("model.gguf", None),
            ("q4_0-notes.txt", None),
            ("XQ4_0.gguf", None),
        ];
        for (name, want) in cases {
            assert_eq!(gguf_quantisation(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn pick_gguf_by_name_or_quantisation() {
        let file =
            |name: &str| GgufFile { name: name.into(), size: 1, quantisation: gguf_quantisation(name) };
        let d = ModelDetails {
            repo_id: "org/m".into(),
            commit: String::new(),
            files: vec![],
            selected: vec![],
            download_size: 0,
            gguf: vec![file("m.Q4_K_M.gguf"), file("m.Q8_0.gguf"), file("sub/m.Q8_0.gguf")],
            model_type: None,
            supported: Ok(()),
            summary: None,
        };
        assert_eq!(d.pick_gguf("q4_k_m").unwrap().name, "m.Q4_K_M.gguf");
        assert_eq!(d.pick_gguf("sub/m.Q8_0.gguf").unwrap().name, "sub/m.Q8_0.gguf");
        let cases = [
            ("Q8_0", "several GGUF files are Q8_0; name the file"),
            ("Q2_K", "it has m.Q4_K_M.gguf (Q4_K_M)"),
        ];
        for (choice, want) in cases {
            let e = d.pick_gguf(choice).unwrap_err().to_string();
            assert!(e.contains(want), "{choice}: {e}");
        }
    }

    #[test]
    fn needed_files_prefer_safetensors() {
        type Expected<'a> = std::result::Result<Vec<&'a str>, &'a str>;
        let cases: Vec<(Vec<&str>, Expected)> = vec![
            (
                vec!["config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin", "README.md"],
                Ok(vec!["config.json", "tokenizer.json", "model.safetensors"]),
            ),
            (
                vec!["config.json", "vocab.txt", "pytorch_model.bin", "tokenizer_config.json"],
                Ok(vec!["config.json", "tokenizer_config.json", "vocab.txt", "pytorch_model.bin"]),
            ),
            (
                vec![
                    "config.json",
                    "tokenizer.json",
                    "model.safetensors.index.json",
                    "model-00001-of-00002.safetensors",
                    "model-00002-of-00002.safetensors",
                ],
                Ok(vec![
                    "config.json",
                    "tokenizer.json",
                    "model.safetensors.index.json",
                    "model-00001-of-00002.safetensors",
                    "model-00002-of-00002.safetensors",
                ]),
            ),
            (vec!["tokenizer.json", "model.safetensors"], Err("no config.json")),
            (vec!["config.json", "tokenizer.json", "model.Q4_K_M.gguf"], Err("no model.safetensors")),
        ];
        for (names, expected) in cases {
            let files: Vec<RepoFile> = names.iter().map(|n| f(n)).collect();
            match (needed_files(&files), expected) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), want)
                }
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{names:?}: {:?} vs {want:?}", got.map(|v| v.len())),
            }
        }
    }

    #[test]
    fn listings_are_checked_before_they_form_paths() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let file = |name: &str, etag: &str, lfs: bool, size: Option<u64>| RepoFile {
            name: name.into(),
            size,
            etag: etag.into(),
            lfs,
        };
        let cases: Vec<(RepoFile, Option<&str>)> = vec![
            (file("config.json", sha1, false, Some(10)), None),
            (file("onnx/config.json", sha1, false, Some(0)), None),
            (file("model.safetensors", sha256, true, Some(MAX_FILE_BYTES)), None),
            (file("../config.json", sha1, false, Some(10)), Some("not a plain relative path")),
            (file("/etc/passwd", sha1, false, Some(10)), Some("not a plain relative path")),
            (file("config.json", "../../../x", false, Some(10)), Some("not 40 hex digits")),
            (file("config.json", &format!("{}/../x", &sha1[..35]), false, Some(10)), Some("not 40 hex")),
            (file("model.safetensors", "../../evil", true, Some(10)), Some("LFS sha256")),
            (file("model.safetensors", sha1, true, Some(10)), Some("not 64 hex digits")),
            (file("config.json", "", false, Some(10)), Some("blob id")),
            (file("config.json", sha1, false, None), Some("gives no size")),
            (file("model.safetensors", sha256, true, Some(MAX_FILE_BYTES + 1)), Some("more than")),
        ];
        for (f, want) in cases {
            match (f.check("org/x@main"), want) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => {
                    let e = e.to_string();
                    assert!(e.contains(want) && e.contains("org/x@main"), "{}: {e}", f.name);
                }
                (got, want) => panic!("{}: {got:?}, expected {want:?}", f.name),
            }
        }
        let shards: Vec<RepoFile> = ["config.json", "tokenizer.json", "model.safetensors.index.json"]
            .into_iter()
            .chain(["model-00001-of-00001.safetensors", "model-../x.safetensors"])
            .map(f)
            .collect();
        let picked: Vec<&str> = needed_files(&shards).unwrap().iter().map(|f| f.name.as_str()).collect();
        assert!(!picked.contains(&"model-../x.safetensors"), "{picked:?}");
    }

    #[test]
    fn links_and_encoding() {
        assert_eq!(
            parse_next_link(r#"<https://hub/api/models?cursor=abc&limit=2>; rel="next""#).as_deref(),
            Some("https://hub/api/models?cursor=abc&limit=2")
        );
        assert_eq!(parse_next_link(r#"<x>; rel="prev""#), None);
        let card = "---\nlicense: mit\n---\n# Tiny\n\n![badge](x)\n\nA tiny RoBERTa\nfor tests.\n\nMore.";
        assert_eq!(card_summary(card).as_deref(), Some("A tiny RoBERTa for tests."));
        assert_eq!(card_summary("# only a title"), None);
        assert_eq!(encode("bert base/ü"), "bert%20base%2F%C3%BC");
        assert_eq!(format!("{:?}", Token::new("hf_secret")), "Token(***)");
        assert!(support(Some("gpt2"), Some("text-generation")).is_ok());
        assert!(support(Some("mamba"), Some("text-generation")).unwrap_err().contains("is not supported"));
        assert!(support(Some("bert"), Some("fill-mask")).is_ok());
        let st = serde_json::json!({"parameters": {"F32": 100, "BF16": 10}, "total": 110});
        assert_eq!(weight_bytes(&st), Some(420));
        assert_eq!(weight_bytes(&serde_json::Value::Null), None);
    }
}
