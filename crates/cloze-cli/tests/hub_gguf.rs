//! `cloze hub` with GGUF repositories, through the built binary against the mock Hub: search by
//! family and GGUF tag with GGUF results marked, `show` listing quantisations, `download --gguf`
//! fetching one chosen file that then loads by name (`org/name/FILE.gguf`).

#[path = "common/hub_cli.rs"]
mod hub_cli;
#[path = "../../cloze/tests/common/mock_hub.rs"]
mod mock_hub;

use hub_cli::{cloze, fresh_dir};
use mock_hub::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn hub_search_by_family_and_gguf_then_download_one_quantisation_and_generate() {
    let hub = MockHub::start();
    let root = fresh_dir("cli-hub-gguf");

    let out = cloze(&hub, &root, &["hub", "search", "", "--family", "llama", "--gguf"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("org/tiny-gguf")
            && lines[0].contains("GGUF llama")
            && lines[0].ends_with("supported")
    );
    let query = hub.faults.lock().unwrap().seen.last().unwrap().0.clone();
    assert!(query.contains("&filter=llama&filter=gguf") && !query.contains("fill-mask"), "{query}");

    let out = cloze(&hub, &root, &["hub", "search", "x", "--family", "mamba"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--family \"mamba\"") && text(&out.stderr).contains("qwen2"));

    let out = cloze(&hub, &root, &["hub", "show", "org/tiny-gguf"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("--gguf FILE|QUANT") && !shown.contains("download:"), "{shown}");
    assert!(
        shown.lines().any(|l| l.trim_start().starts_with("Q8_0") && l.contains("model-q8_0.gguf")),
        "{shown}"
    );

    let out = cloze(&hub, &root, &["hub", "download", "org/tiny-gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cloze hub download org/tiny-gguf --gguf"), "{}", text(&out.stderr));

    let out = cloze(&hub, &root, &["hub", "download", "org/tiny-gguf", "--gguf", "q8_0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("org/tiny-gguf/model-q8_0.gguf is in"), "{}", text(&out.stderr));

    let out = cloze(
        &hub,
        &root,
        &[
            "generate",
            "-m",
            "org/tiny-gguf/model-q8_0.gguf",
            "The movie was",
            "--max-new-tokens",
            "3",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["ids"].as_array().unwrap().len(), 3);

    let out = cloze(&hub, &root, &["generate", "-m", "org/tiny-gguf/model-q4_0.gguf", "Hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--gguf model-q4_0.gguf"), "{}", text(&out.stderr));
}
