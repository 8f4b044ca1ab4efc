//! The Hub client against a mock Hub on 127.0.0.1 that serves the search API and the tiny RoBERTa
//! fixture with the Hub's headers, ranges, and injected faults: paging, a download with progress, a
//! connection dropped mid-file then resumed, a corrupted file rejected, a gated model with and
//! without a token, 429/500 retried, offline mode — and no token in any file written. GGUF: search
//! by family and GGUF tag, GGUF repositories marked, one chosen quantisation downloaded (resumed,
//! checked) and loaded by name.

use std::io::Read;

use candle_core::Device;
use cloze::hub::SearchQuery;
use cloze::plm::Plm;

mod common;

use common::mock_hub::*;

#[test]
fn search_pages_and_flags_support() {
    let hub = MockHub::start();
    let c = client(&hub, &fresh("hub-search"), None);
    let q = SearchQuery {
        text: "tiny model".into(),
        task: Some("fill-mask".into()),
        sort: None,
        limit: 2,
        tags: vec![],
    };
    let page = c.search(&q, None).unwrap();
    assert_eq!(page.models.iter().map(|m| m.repo_id.as_str()).collect::<Vec<_>>(), ["org/tiny", "org/mamba"]);
    assert_eq!(page.models[0].license.as_deref(), Some("mit"));
    assert_eq!(page.models[0].weight_bytes, Some(440_000));
    assert_eq!(page.models[1].weight_bytes, None);
    assert!(page.models[0].supported.is_ok());
    assert!(page.models[1].supported.as_ref().unwrap_err().contains("mamba"));
    let next = page.next.expect("a second page");
    let page2 = c.search(&q, Some(&next)).unwrap();
    assert_eq!(page2.models.len(), 1);
    assert_eq!(page2.next, None);
    let first = &hub.faults.lock().unwrap().seen[0].0;
    assert!(
        first.contains("search=tiny%20model")
            && first.contains("filter=fill-mask")
            && first.contains("limit=2"),
        "{first}"
    );
    let offline = c.clone().with_offline(true).search(&q, None).unwrap_err().to_string();
    assert!(offline.contains("offline") && offline.contains("cloze hub list"), "{offline}");
}

#[test]
fn download_with_progress_retries_resume_and_offline_use() {
    let hub = MockHub::start();
    let cache = fresh("hub-download");
    {
        let mut f = hub.faults.lock().unwrap();
        f.api_failures = vec![429, 500];
        f.cut_weights_after = Some(100_000);
    }
    let c = client(&hub, &cache, None);
    let mut seen = Vec::new();
    let dir = c
        .download("org/tiny", "main", &mut |p| {
            seen.push((p.done, p.total));
            true
        })
        .unwrap();
    // the files a model needs (not the card, the GGUF variant or reference.json)
    let total: u64 = fixture_files()
        .iter()
        .filter(|(n, _)| NEEDED.contains(&n.as_str()))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(seen.last().unwrap(), &(total, total), "progress reaches the total");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress never goes back");
    let ranges: Vec<String> = hub.faults.lock().unwrap().seen.iter().filter_map(|(_, r)| r.clone()).collect();
    assert_eq!(
        ranges,
        ["bytes=100000-", "bytes=100000-"],
        "the broken transfer resumed, through the redirect"
    );
    // the snapshot is in the Python layout and loads
    assert!(dir.ends_with(format!("models--org--tiny/snapshots/{COMMIT}")));
    assert!(std::fs::read_link(dir.join("model.safetensors")).unwrap().starts_with("../../blobs"));
    assert!(Plm::load(&dir, &Device::Cpu).is_ok());
    // again: nothing is fetched
    let before = hub.faults.lock().unwrap().seen.len();
    c.download("org/tiny", "main", &mut |_| true).unwrap();
    assert_eq!(hub.faults.lock().unwrap().seen.len(), before + 1, "only the revision lookup");
    // offline: the cached snapshot, no request
    let offline = c.clone().with_offline(true);
    assert_eq!(offline.download("org/tiny", "main", &mut |_| true).unwrap(), dir);
    assert_eq!(hub.faults.lock().unwrap().seen.len(), before + 1);
    assert!(
        offline
            .download("org/gated", "main", &mut |_| true)
            .unwrap_err()
            .to_string()
            .contains("not in the Hugging Face cache")
    );
    // cancelling keeps nothing half-stored in the snapshot
    let other = fresh("hub-cancel");
    let err = client(&hub, &other, None).download("org/tiny", "main", &mut |_| false).unwrap_err();
    assert!(matches!(err, cloze::Error::Cancelled));
}

#[test]
fn details_list_files_selection_and_card() {
    let hub = MockHub::start();
    let d = client(&hub, &fresh("hub-details"), None).details("org/tiny", "main").unwrap();
    assert_eq!(d.commit, COMMIT);
    assert_eq!(
        d.selected,
        [
            "config.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "tokenizer.json",
            "model.safetensors"
        ]
    );
    let sizes: u64 = fixture_files()
        .iter()
        .filter(|(n, _)| NEEDED.contains(&n.as_str()))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(d.download_size, sizes);
    let gguf: Vec<(&str, u64, Option<&str>)> =
        d.gguf.iter().map(|g| (g.name.as_str(), g.size, g.quantisation.as_deref())).collect();
    assert_eq!(gguf, [("model.Q4_K_M.gguf", 8, Some("Q4_K_M"))]);
    assert_eq!(d.model_type.as_deref(), Some("roberta"));
    assert!(d.supported.is_ok());
    assert_eq!(d.summary.as_deref(), Some("A tiny random RoBERTa for tests."));
    assert_eq!(d.files.len(), fixture_files().len());
    let missing =
        client(&hub, &fresh("hub-details-404"), None).details("org/none", "main").unwrap_err().to_string();
    assert!(missing.contains("not found on the Hub"), "{missing}");
}

#[test]
fn corrupted_files_are_rejected() {
    let hub = MockHub::start();
    let cache = fresh("hub-corrupt");
    let err =
        client(&hub, &cache, None).download("org/corrupt", "main", &mut |_| true).unwrap_err().to_string();
    assert!(err.contains("does not match the Hub's SHA-256") && err.contains("download again"), "{err}");
    let snapshot = cache.repo_dir("org/corrupt").unwrap().join("snapshots").join(COMMIT);
    assert!(!snapshot.join("model.safetensors").exists());
}

#[test]
fn gated_models_need_a_token_that_is_never_written_down() {
    let hub = MockHub::start();
    let cache = fresh("hub-gated");
    let err =
        client(&hub, &cache, None).download("org/gated", "main", &mut |_| true).unwrap_err().to_string();
    assert!(err.contains("needs an access token") && err.contains("HF_TOKEN"), "{err}");
    let wrong = client(&hub, &cache, Some("hf_wrong"))
        .download("org/gated", "main", &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(wrong.contains("refused with the token given") && !wrong.contains("hf_wrong"), "{wrong}");
    let c = client(&hub, &cache, Some(TOKEN));
    let dir = c.download("org/gated", "main", &mut |_| true).unwrap();
    assert!(Plm::load(&dir, &Device::Cpu).is_ok());
    assert!(!format!("{c:?}").contains(TOKEN), "Debug output hides the token");
    // No file in the cache contains the token.
    fn scan(dir: &std::path::Path) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                scan(&p);
            } else {
                let mut bytes = Vec::new();
                std::fs::File::open(&p).unwrap().read_to_end(&mut bytes).unwrap();
                assert!(
                    !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                    "token found in {}",
                    p.display()
                );
            }
        }
    }
    scan(cache.root());
}

#[test]
fn hub_search_filters_by_family_tag_and_marks_gguf_repositories() {
    let hub = MockHub::start();
    let c = client(&hub, &fresh("hub-search-gguf"), None);
    let q = |tags: &[&str]| SearchQuery {
        text: String::new(),
        task: None,
        sort: None,
        limit: 10,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    let ids =
        |page: &cloze::hub::SearchPage| page.models.iter().map(|m| m.repo_id.clone()).collect::<Vec<_>>();
    let gguf = c.search(&q(&["gguf"]), None).unwrap();
    assert_eq!(ids(&gguf), ["org/tiny", "org/tiny-gguf", "org/rwkv-gguf"]);
    assert!(gguf.models.iter().all(|m| m.gguf), "every result of filter=gguf is marked");
    let tiny = &gguf.models[1];
    assert_eq!(tiny.gguf_architecture.as_deref(), Some("llama"));
    assert!(tiny.supported.is_ok(), "a llama GGUF is supported: {:?}", tiny.supported);
    let rwkv = gguf.models[2].supported.as_ref().unwrap_err();
    assert!(rwkv.contains("rwkv") && rwkv.contains("llama, mistral, qwen2"), "{rwkv}");
    // Tags combine (all required), and each goes to the Hub as its own `filter=`.
    assert_eq!(ids(&c.search(&q(&["llama", "gguf"]), None).unwrap()), ["org/tiny-gguf"]);
    assert!(hub.faults.lock().unwrap().seen.last().unwrap().0.contains("&filter=llama&filter=gguf"));
    let roberta = c.search(&q(&["roberta"]), None).unwrap();
    assert_eq!(ids(&roberta), ["org/tiny", "org/gated"]);
    assert!(!roberta.models[1].gguf, "no gguf tag, no mark");
    // The next page keeps the filters.
    let first = c.search(&SearchQuery { limit: 1, ..q(&["roberta"]) }, None).unwrap();
    let second = c.search(&q(&[]), first.next.as_deref()).unwrap();
    assert_eq!(ids(&second), ["org/gated"]);
}

#[test]
fn gguf_only_repository_downloads_the_chosen_quantisation_resumed_and_checked() {
    let hub = MockHub::start();
    let cache = fresh("hub-gguf");
    let c = client(&hub, &cache, None);
    let d = c.details("org/tiny-gguf", "main").unwrap();
    assert!(d.supported.is_ok() && d.selected.is_empty(), "{:?}", d.supported);
    let quants: Vec<(&str, Option<&str>)> =
        d.gguf.iter().map(|g| (g.name.as_str(), g.quantisation.as_deref())).collect();
    assert_eq!(
        quants,
        [
            ("model-f32.gguf", Some("F32")),
            ("model-q4_0.gguf", Some("Q4_0")),
            ("model-q8_0.gguf", Some("Q8_0"))
        ]
    );
    assert_eq!(
        d.gguf[2].size,
        gguf_files().iter().find(|f| f.0 == "model-q8_0.gguf").unwrap().1.len() as u64
    );
    // The whole-repository download says what to do instead.
    let all = c.download("org/tiny-gguf", "main", &mut |_| true).unwrap_err().to_string();
    assert!(all.contains("GGUF files only") && all.contains("--gguf"), "{all}");

    let chosen = d.pick_gguf("q8_0").unwrap().name.clone();
    hub.faults.lock().unwrap().cut_weights_after = Some(20_000);
    let mut last = (0, 0);
    let path = c
        .download_gguf("org/tiny-gguf", "main", &chosen, &mut |p| {
            last = (p.done, p.total);
            true
        })
        .unwrap();
    assert_eq!(last.0, last.1, "progress reaches the file's size");
    let want = &gguf_files().into_iter().find(|f| f.0 == chosen).unwrap().1;
    assert_eq!(&std::fs::read(&path).unwrap(), want, "the resumed file is the Hub's, byte for byte");
    let ranges: Vec<String> = hub.faults.lock().unwrap().seen.iter().filter_map(|(_, r)| r.clone()).collect();
    assert!(ranges.iter().any(|r| r == "bytes=20000-"), "resumed where it broke off: {ranges:?}");
    let snapshot = path.parent().unwrap();
    let names: Vec<String> = std::fs::read_dir(snapshot)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, std::slice::from_ref(&chosen), "only the chosen file is fetched");

    // Loaded by name from the cache, offline too.
    let spec = format!("org/tiny-gguf/{chosen}");
    let resolved = cloze::hub::resolve_model_in(&cache, &spec).unwrap();
    assert_eq!(resolved, path);
    let plm = Plm::load(&resolved, &Device::Cpu).unwrap();
    assert_eq!(plm.info().quantisation.as_deref(), Some("Q8_0"));
    let offline = client(&hub, &cache, None).with_offline(true);
    assert_eq!(offline.download_gguf("org/tiny-gguf", "main", &chosen, &mut |_| true).unwrap(), path);
    let missing =
        cloze::hub::resolve_model_in(&cache, "org/tiny-gguf/model-q4_0.gguf").unwrap_err().to_string();
    assert!(missing.contains("without model-q4_0.gguf") && missing.contains("download"), "{missing}");

    // Names that are not among its GGUF files are refused, listing them.
    let no_such = c.download_gguf("org/tiny-gguf", "main", "model-q2_k.gguf", &mut |_| true).unwrap_err();
    assert!(no_such.to_string().contains("its GGUF files: model-f32.gguf"), "{no_such}");
    let not_gguf = c.download_gguf("org/tiny-gguf", "main", "README.md", &mut |_| true).unwrap_err();
    assert!(not_gguf.to_string().contains("not a .gguf file"), "{not_gguf}");
}
