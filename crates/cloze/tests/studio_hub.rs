//! The studio's Model screen operations against the mock Hub: search with the supported filter,
//! details, a download with progress and cancel, the cache listing, loading a downloaded model by
//! repository id (recorded in the project at its commit), and removal; the family and GGUF filters,
//! and a GGUF-only repository: its quantisations listed, one downloaded and loaded by name.

mod common;

use cloze::plm::Kind;
use cloze::studio::Studio;
use cloze::studio::views::{DeviceKind, HubQuery, HubSort, Progress};
use common::mock_hub::*;

#[test]
fn search_details_download_load_remove() {
    let hub = MockHub::start();
    let cache = fresh("studio-hub");
    let config = cache.root().join("config");
    let studio = Studio::new(&config, client(&hub, &cache, None));
    studio.create_project(cache.root().join("p.cloze").to_str().unwrap()).unwrap();

    let q = HubQuery {
        text: "tiny model".into(),
        task: Some("fill-mask".into()),
        sort: HubSort::Likes,
        limit: 2,
        supported_only: false,
        model_type: None,
        gguf_only: false,
    };
    let page = studio.hub_search(&q, None).unwrap();
    assert_eq!(page.models.len(), 2);
    assert!(page.models[0].supported && page.models[0].unsupported_reason.is_none());
    assert!(
        !page.models[1].supported && page.models[1].unsupported_reason.as_deref().unwrap().contains("mamba")
    );
    assert_eq!(page.models[0].weight_bytes, Some(440_000.0));
    let page2 = studio.hub_search(&q, page.next.as_deref()).unwrap();
    assert_eq!(page2.models.len(), 1);
    assert_eq!(page2.next, None);
    let only = studio.hub_search(&HubQuery { supported_only: true, ..q }, None).unwrap();
    assert_eq!(only.models.iter().map(|m| m.repo_id.as_str()).collect::<Vec<_>>(), ["org/tiny"]);
    assert!(hub.faults.lock().unwrap().seen[0].0.contains("sort=likes"));

    let details = studio.hub_details("org/tiny").unwrap();
    assert_eq!(details.commit, COMMIT);
    assert!(details.supported);
    let mut selected = details.selected.clone();
    selected.sort();
    assert_eq!(selected, NEEDED);
    assert!(details.download_size > 0.0);
    let gguf: Vec<(&str, Option<&str>)> =
        details.gguf.iter().map(|g| (g.name.as_str(), g.quantisation.as_deref())).collect();
    assert_eq!(gguf, [("model.Q4_K_M.gguf", Some("Q4_K_M"))]);

    // Cancelled at the first progress report: nothing usable is cached.
    let cancelled = studio.hub_download("org/tiny", &mut |_| false).unwrap_err();
    assert_eq!(cancelled.kind(), cloze::error::ErrorKind::Cancelled);

    let mut seen: Vec<Progress> = Vec::new();
    let cached = studio
        .hub_download("org/tiny", &mut |p| {
            seen.push(p);
            true
        })
        .unwrap();
    assert_eq!(cached.repo_id, "org/tiny");
    assert_eq!(cached.commits, [COMMIT]);
    assert_eq!(cached.refs, ["main"]);
    assert!(cached.size > 0.0);
    let last = seen.last().unwrap();
    assert_eq!(Some(last.done), last.total);
    assert_eq!(studio.cached_models().unwrap(), std::slice::from_ref(&cached));

    let model = studio.load_model("org/tiny", DeviceKind::Cpu, &mut |_| true).unwrap();
    assert_eq!(model.family, "roberta");
    let summary = studio.current_project().unwrap().unwrap();
    assert_eq!(summary.models.len(), 1);
    assert!(summary.models[0].spec.starts_with("org/tiny@fedcba987654"), "{}", summary.models[0].spec);

    let refused = studio.remove_cached_model("org/tiny").unwrap_err();
    assert!(refused.to_string().contains("loaded model"), "{refused}");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/bert");
    studio.load_model(fixture, DeviceKind::Cpu, &mut |_| true).unwrap();
    assert!(studio.remove_cached_model("org/tiny").unwrap().is_empty());
    assert!(studio.cached_models().unwrap().is_empty());
}

#[test]
fn hub_family_filter_gguf_marks_and_quantisation_download() {
    let hub = MockHub::start();
    let cache = fresh("studio-hub-gguf");
    let studio = Studio::new(cache.root().join("config"), client(&hub, &cache, None));

    // The family filter offers every model_type of the registry, with its family and kind.
    let types = studio.model_types();
    let qwen2 = types.iter().find(|t| t.model_type == "qwen2").unwrap();
    assert_eq!((qwen2.family.as_str(), qwen2.kind), ("llama", Kind::Decoder));
    assert!(types.iter().any(|t| t.model_type == "t5" && t.kind == Kind::EncoderDecoder));

    let q = HubQuery {
        text: String::new(),
        task: None,
        sort: HubSort::Downloads,
        limit: 10,
        supported_only: false,
        model_type: Some("llama".into()),
        gguf_only: true,
    };
    let page = studio.hub_search(&q, None).unwrap();
    let found: Vec<(&str, bool, bool)> =
        page.models.iter().map(|m| (m.repo_id.as_str(), m.gguf, m.supported)).collect();
    assert_eq!(found, [("org/tiny-gguf", true, true)]);
    assert!(hub.faults.lock().unwrap().seen.last().unwrap().0.contains("filter=llama&filter=gguf"));
    let refused =
        studio.hub_search(&HubQuery { model_type: Some("mamba".into()), ..q.clone() }, None).unwrap_err();
    assert!(refused.to_string().contains("llama, mistral, qwen2"), "{refused}");
    let all_gguf =
        studio.hub_search(&HubQuery { model_type: None, supported_only: true, ..q }, None).unwrap();
    assert_eq!(
        all_gguf.models.iter().map(|m| m.repo_id.as_str()).collect::<Vec<_>>(),
        ["org/tiny", "org/tiny-gguf"]
    );

    let details = studio.hub_details("org/tiny-gguf").unwrap();
    assert!(details.supported && details.selected.is_empty());
    let quants: Vec<Option<&str>> = details.gguf.iter().map(|g| g.quantisation.as_deref()).collect();
    assert_eq!(quants, [Some("F32"), Some("Q4_0"), Some("Q8_0")]);
    assert!(details.gguf.iter().all(|g| g.size > 0.0));

    let mut last = None;
    let got = studio
        .hub_download_gguf("org/tiny-gguf", "Q4_0", &mut |p| {
            last = Some(p);
            true
        })
        .unwrap();
    assert_eq!(got.spec, "org/tiny-gguf/model-q4_0.gguf");
    assert_eq!(got.size, details.gguf[1].size);
    let last = last.unwrap();
    assert_eq!(Some(last.done), last.total);
    let model = studio.load_model(&got.spec, DeviceKind::Cpu, &mut |_| true).unwrap();
    assert_eq!((model.family.as_str(), model.quantisation.as_deref()), ("llama", Some("Q4_0")));
    assert!(studio.cached_models().unwrap().iter().any(|m| m.repo_id == "org/tiny-gguf"));
    let cancelled = studio.hub_download_gguf("org/tiny-gguf", "model-f32.gguf", &mut |_| false).unwrap_err();
    assert_eq!(cancelled.kind(), cloze::error::ErrorKind::Cancelled);
}
