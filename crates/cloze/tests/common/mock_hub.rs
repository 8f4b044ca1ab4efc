//! A mock Hugging Face Hub on 127.0.0.1 serving the search API (with the Hub's `filter=` tags) and
//! the tiny RoBERTa fixture with the Hub's headers, ranges and injected faults, and `org/tiny-gguf`,
//! a repository of the tiny Llama's GGUF files only; shared by the tests that talk to the Hub.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloze::hub::{Cache, HubClient, Token};
use sha2::{Digest, Sha256};

pub const COMMIT: &str = "fedcba9876543210fedcba9876543210fedcba98";
pub const TOKEN: &str = "hf_mock_secret_token_123";

#[derive(Default)]
pub struct Faults {
    /// API answers to fail with 429, then 500, before answering.
    pub api_failures: Vec<u16>,
    /// Cut the next weights transfer after this many bytes.
    pub cut_weights_after: Option<usize>,
    /// Requests seen: (path, range header).
    pub seen: Vec<(String, Option<String>)>,
    /// Served instead of the next revision listing (a crafted, hostile answer).
    pub listing: Option<serde_json::Value>,
    /// Send weight files in chunks of this many bytes with this pause after each (slow enough
    /// for a test to kill the downloading process mid-file).
    pub throttle: Option<(usize, Duration)>,
}

pub struct MockHub {
    pub base: String,
    pub faults: Arc<Mutex<Faults>>,
}

/// The tiny RoBERTa fixture, plus a model card and a GGUF variant as a Hub repository would have.
pub fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.push((
        "README.md".into(),
        b"---\nlicense: mit\n---\n# tiny\n\nA tiny random RoBERTa for tests.\n".to_vec(),
    ));
    files.push(("model.Q4_K_M.gguf".into(), b"GGUF....".to_vec()));
    files.sort();
    files
}

/// `org/tiny-gguf`: the tiny Llama as GGUF files (f32, Q8_0, Q4_0) and a model card, nothing else.
pub fn gguf_files() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/gguf-llama"));
    let mut files: Vec<(String, Vec<u8>)> = ["model-f32.gguf", "model-q8_0.gguf", "model-q4_0.gguf"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
        .collect();
    files.push(("README.md".into(), b"# tiny-gguf\n\nA tiny random Llama as GGUF.\n".to_vec()));
    files.sort();
    files
}

/// Files the Hub keeps in LFS (listed with their SHA-256, served through the CDN).
fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors") || name.ends_with(".gguf")
}

/// The files a download fetches from the fixture repository.
pub const NEEDED: [&str; 5] = [
    "config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
];

pub fn sha256(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// The git blob id the Hub lists for a file that is not in LFS: SHA-1 of `blob <len>\0` + bytes.
pub fn git_blob_id(b: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

fn head(status: u16, headers: &[(String, String)], len: usize) -> String {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        404 => "Not Found",
        302 => "Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

pub fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    cut: Option<usize>,
) {
    let _ = stream.write_all(head(status, headers, body.len()).as_bytes());
    let body = match cut {
        Some(n) => &body[..n.min(body.len())],
        None => body,
    };
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

pub fn handle(mut stream: TcpStream, base: &str, faults: &Mutex<Faults>, files: &[(String, Vec<u8>)]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let authorized = headers.get("authorization").map(|a| a == &format!("Bearer {TOKEN}")).unwrap_or(false);
    let range = headers.get("range").cloned();
    let mut f = faults.lock().unwrap();
    f.seen.push((target.clone(), range.clone()));
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    if path.starts_with("/api/") {
        if path.contains("/revision/")
            && let Some(listing) = f.listing.take()
        {
            drop(f);
            return respond(&mut stream, 200, &[], &json(listing), None);
        }
        if !f.api_failures.is_empty() {
            let status = f.api_failures.remove(0);
            return respond(&mut stream, status, &[("Retry-After".into(), "0".into())], b"busy", None);
        }
        drop(f);
        if path == "/api/models" {
            let all: Vec<serde_json::Value> = vec![
                serde_json::json!({"id": "org/tiny", "pipeline_tag": "fill-mask", "downloads": 30, "likes": 3,
                    "tags": ["license:mit", "roberta", "fill-mask", "gguf"], "lastModified": "2026-01-01T00:00:00.000Z",
                    "config": {"model_type": "roberta"}, "safetensors": {"parameters": {"F32": 110_000}, "total": 110_000}}),
                serde_json::json!({"id": "org/mamba", "pipeline_tag": "fill-mask", "downloads": 20, "likes": 2,
                    "tags": ["mamba", "fill-mask"], "config": {"model_type": "mamba"}}),
                serde_json::json!({"id": "org/gated", "pipeline_tag": "fill-mask", "downloads": 10, "likes": 1,
                    "tags": ["license:other", "roberta", "fill-mask"], "config": {"model_type": "roberta"}}),
                // GGUF repositories: no config; the Hub's `gguf` summary names the architecture.
                serde_json::json!({"id": "org/tiny-gguf", "pipeline_tag": "text-generation", "downloads": 9, "likes": 1,
                    "tags": ["gguf", "llama", "text-generation", "license:apache-2.0"],
                    "gguf": {"total": 40_000, "architecture": "llama", "context_length": 128}}),
                serde_json::json!({"id": "org/rwkv-gguf", "pipeline_tag": "text-generation", "downloads": 8, "likes": 0,
                    "tags": ["gguf", "rwkv", "text-generation"], "gguf": {"total": 1, "architecture": "rwkv"}}),
            ];
            // `filter=` tags, all required (the pipeline tag is one of an entry's tags, as on the Hub).
            let filters: Vec<&str> = query.split('&').filter_map(|p| p.strip_prefix("filter=")).collect();
            let all: Vec<serde_json::Value> = all
                .into_iter()
                .filter(|m| {
                    let tags = m["tags"].as_array().unwrap();
                    filters.iter().all(|f| tags.iter().any(|t| t == f))
                })
                .collect();
            let start: usize = query
                .split('&')
                .find_map(|p| p.strip_prefix("cursor="))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let limit: usize = query
                .split('&')
                .find_map(|p| p.strip_prefix("limit="))
                .and_then(|c| c.parse().ok())
                .unwrap_or(100);
            let page: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
            let mut headers = vec![];
            if start + limit < all.len() {
                // The next page keeps the query (its filters), as the Hub's links do.
                let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with("cursor=")).collect();
                headers.push((
                    "Link".into(),
                    format!("<{base}/api/models?{}&cursor={}>; rel=\"next\"", kept.join("&"), start + limit),
                ));
            }
            return respond(&mut stream, 200, &headers, &json(serde_json::Value::Array(page)), None);
        }
        let repo = path.trim_start_matches("/api/models/").split("/revision/").next().unwrap_or("");
        if repo == "org/gated" && !authorized {
            return respond(&mut stream, 401, &[], b"{\"error\":\"gated\"}", None);
        }
        if !["org/tiny", "org/gated", "org/corrupt", "org/big", "org/tiny-gguf"].contains(&repo) {
            return respond(&mut stream, 404, &[], b"{}", None);
        }
        let ggufs;
        let files = if repo == "org/tiny-gguf" {
            ggufs = gguf_files();
            &ggufs[..]
        } else {
            files
        };
        let siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|(name, bytes)| {
                if is_lfs(name) {
                    serde_json::json!({"rfilename": name, "blobId": "0000", "size": bytes.len(),
                        "lfs": {"sha256": sha256(bytes), "size": bytes.len()}})
                } else {
                    serde_json::json!({"rfilename": name, "blobId": git_blob_id(bytes), "size": bytes.len()})
                }
            })
            .collect();
        return respond(
            &mut stream,
            200,
            &[],
            &json(serde_json::json!({"id": repo, "sha": COMMIT, "siblings": siblings})),
            None,
        );
    }
    // /{org}/{name}/resolve/{commit}/{file}; LFS files redirect to /cdn/{org}/{name}/{file} as the
    // Hub's do to its CDN.
    let (path, via_cdn) = match path.strip_prefix("/cdn") {
        Some(rest) => {
            let p: Vec<&str> = rest.trim_start_matches('/').splitn(3, '/').collect();
            (format!("/{}/{}/resolve/{COMMIT}/{}", p[0], p[1], p.get(2).unwrap_or(&"")), true)
        }
        None => (path.to_string(), false),
    };
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() != 5 || parts[2] != "resolve" {
        return respond(&mut stream, 404, &[], b"", None);
    }
    let repo = format!("{}/{}", parts[0], parts[1]);
    let ggufs;
    let files = if repo == "org/tiny-gguf" {
        ggufs = gguf_files();
        &ggufs[..]
    } else {
        files
    };
    if is_lfs(parts[4]) && !via_cdn {
        let location = format!("{base}/cdn/{repo}/{}", parts[4]);
        return respond(
            &mut stream,
            302,
            &[("Location".into(), location), ("X-Repo-Commit".into(), COMMIT.into())],
            b"",
            None,
        );
    }
    // CDN addresses are pre-signed on the real Hub: no token needed there, and none is sent.
    if repo == "org/gated" && !authorized && !via_cdn {
        return respond(&mut stream, 401, &[], b"", None);
    }
    let Some((name, bytes)) = files.iter().find(|(n, _)| n == parts[4]) else {
        return respond(&mut stream, 404, &[], b"", None);
    };
    let mut body = bytes.clone();
    if repo == "org/corrupt" && name.ends_with(".safetensors") {
        body[100] ^= 0xff;
    }
    let from: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0usize)
        .min(body.len());
    let cut = if is_lfs(name) { f.cut_weights_after.take() } else { None };
    let throttle = if is_lfs(name) { f.throttle } else { None };
    drop(f);
    let mut headers =
        vec![("ETag".into(), format!("\"{}\"", sha256(bytes))), ("X-Repo-Commit".into(), COMMIT.into())];
    let (status, body) = if from > 0 {
        headers.push(("Content-Range".into(), format!("bytes {from}-{}/{}", body.len() - 1, body.len())));
        (206, &body[from..])
    } else {
        (200, &body[..])
    };
    match throttle {
        Some((chunk, pause)) => respond_slowly(&mut stream, status, &headers, body, chunk, pause),
        None => respond(&mut stream, status, &headers, body, cut),
    }
}

/// [`respond`] in chunks with a pause after each; stops when the client has gone.
pub fn respond_slowly(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    chunk: usize,
    pause: Duration,
) {
    if stream.write_all(head(status, headers, body.len()).as_bytes()).is_err() {
        return;
    }
    for part in body.chunks(chunk.max(1)) {
        if stream.write_all(part).and_then(|_| stream.flush()).is_err() {
            return;
        }
        std::thread::sleep(pause);
    }
}

/// The fixture repository with `model.safetensors` replaced by `len` pseudo-random bytes (for
/// downloads long enough to interrupt).
pub fn big_files(len: usize) -> Vec<(String, Vec<u8>)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let weights: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut files = fixture_files();
    for (name, bytes) in files.iter_mut() {
        if name == "model.safetensors" {
            *bytes = weights.clone();
        }
    }
    files
}

impl MockHub {
    pub fn start() -> Self {
        Self::serving(fixture_files())
    }

    /// A mock Hub whose repositories hold `files`.
    pub fn serving(files: Vec<(String, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Mutex::new(Faults::default()));
        let (b, f) = (base.clone(), faults.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                handle(stream, &b, &f, &files);
            }
        });
        Self { base, faults }
    }
}

pub fn fresh(name: &str) -> Cache {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Cache::new(d)
}

pub fn client(hub: &MockHub, cache: &Cache, token: Option<&str>) -> HubClient {
    let mut c = HubClient::new(&hub.base, token.map(Token::new), cache.clone());
    c.backoff = Duration::from_millis(10);
    c
}
