//! Every command through Tauri's real IPC path (mock runtime): arguments named as the generated
//! bindings name them, results and `{kind, message}` errors as the UI receives them, progress events
//! from jobs. The studio behind the commands is tested in depth in `cloze::studio`; this checks the
//! shell: registration, argument names, serialisation, state.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cloze::hub::{Cache, HubClient};
use cloze::studio::Studio;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{Listener, Manager};

use crate::{Jobs, Picked, Reports, Shared, mock_specta_builder};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Harness {
    app: tauri::App<MockRuntime>,
    webview: tauri::WebviewWindow<MockRuntime>,
    dir: PathBuf,
    called: Mutex<BTreeSet<String>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cloze-ipc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // An offline Hub client: nothing here may touch the network.
        let hub = HubClient::new("http://127.0.0.1:9", None, Cache::new(dir.join("hf"))).with_offline(true);
        let studio: Shared = Arc::new(Studio::new(dir.join("config"), hub));
        // Reports "open" with a script that records the path it was given (no browser here).
        let opener = dir.join("open-with.sh");
        std::fs::write(
            &opener,
            "#!/bin/sh\nd=\"$(dirname \"$0\")\"\nprintf '%s' \"$1\" > \"$d/opened.tmp\" && mv -f \"$d/opened.tmp\" \"$d/opened.txt\"\n",
        )
            .unwrap();
        std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let builder = mock_specta_builder();
        let app = mock_builder()
            .invoke_handler(builder.invoke_handler())
            .manage(studio)
            .manage(Jobs::default())
            .manage(Picked::default())
            .manage(Reports::new(Some(opener.into())))
            .build(tauri::generate_context!())
            .expect("mock app");
        builder.mount_events(&app);
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        Self { app, webview, dir, called: Mutex::new(BTreeSet::new()) }
    }

    /// Invokes `cmd` with `args` as the UI does; the error is the rejected value the UI would see.
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.call_in(&self.webview, cmd, args)
    }

    /// The user chooses `path` for `purpose` in the (scripted) native dialog of the main window.
    fn choose(&self, purpose: &str, path: impl AsRef<std::path::Path>) {
        let path = path.as_ref().to_path_buf();
        self.app.state::<Picked>().script(Some(path.clone()));
        let request = json!({"purpose": purpose, "title": null, "default_path": null, "filters": []});
        assert_eq!(self.ok("pick_path", json!({"request": request})), json!(path.display().to_string()));
    }

    /// [`Harness::call`] from another window.
    fn call_in(
        &self,
        webview: &tauri::WebviewWindow<MockRuntime>,
        cmd: &str,
        args: Value,
    ) -> Result<Value, Value> {
        self.called.lock().unwrap().insert(cmd.to_string());
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The app's own origin on Linux and macOS (local: app commands are allowed).
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(webview, request).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args).unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// The command fails with an `AppError` of `kind`; returns its message.
    fn err(&self, cmd: &str, args: Value, kind: &str) -> String {
        let e = self.call(cmd, args).expect_err(cmd);
        assert_eq!(e["kind"], kind, "{cmd}: {e}");
        e["message"].as_str().unwrap().to_string()
    }
}

fn prompt() -> Value {
    json!({
        "template": "{text_a} It was {mask}.",
        "verbalizer": {
            "classes": [{"name": "positive", "words": ["great", "good"]}, {"name": "negative", "words": ["terrible", "bad"]}],
            "multi_token": "first",
            "aggregate": "mean-prob"
        },
        "calibrate": false
    })
}

/// The command names the generated bindings call.
fn bound_commands() -> BTreeSet<String> {
    let text = std::fs::read_to_string(PathBuf::from(ROOT).join(crate::BINDINGS)).unwrap();
    text.split("__TAURI_INVOKE<")
        .skip(1)
        .filter_map(|part| {
            part.split_once(">(\"").and_then(|(_, rest)| rest.split_once('"')).map(|(n, _)| n.to_string())
        })
        .collect()
}

#[test]
fn every_command_through_ipc() {
    let h = Harness::new("all");
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = events.clone();
    h.app.listen_any("job-progress", move |e| {
        sink.lock().unwrap().push(serde_json::from_str(e.payload()).unwrap())
    });

    assert_eq!(h.ok("recent_projects", json!({})), json!([]));
    assert_eq!(h.ok("current_project", json!({})), Value::Null);
    assert!(
        h.err(
            "rows_page",
            json!({"datasetId": 1, "labelSetId": null, "offset": 0, "limit": 5}),
            "precondition"
        )
        .contains("no project is open")
    );
    let path = h.dir.join("reviews.cloze");
    h.choose("new-project", &path);
    let project = h.ok("create_project", json!({"path": path}));
    assert_eq!(project["name"], "reviews");
    assert_eq!(h.ok("current_project", json!({}))["name"], "reviews");

    // Data.
    let csv = format!("{ROOT}/samples/reviews.csv");
    h.choose("data-file", &csv);
    let settings = json!({"format": "auto", "has_header": null, "text_column": null, "text_b_column": null,
        "label_column": null, "id_column": null, "encoding": "auto", "skip_bad_rows": false, "explicit_columns": false});
    let preview = h.ok("preview_file", json!({"path": csv, "settings": settings}));
    assert_eq!(preview["columns"], json!(["id", "text", "label"]));
    let request =
        json!({"path": csv, "name": "reviews", "settings": settings, "split": "train", "classes": []});
    let imported = h.ok("import_dataset", json!({"job": "import-1", "request": request}));
    assert_eq!(imported["rows"], 16);
    let dataset = imported["dataset"]["id"].as_i64().unwrap();
    let set = imported["label_set"]["id"].as_i64().unwrap();
    assert!(events.lock().unwrap().iter().any(|e| e["job"] == "import-1" && e["stage"] == "import"));
    let extra =
        h.ok("create_label_set", json!({"datasetId": dataset, "name": "topic", "classes": ["a", "b"]}));
    assert_eq!(extra["classes"], json!(["a", "b"]));
    assert_eq!(h.ok("dataset_stats", json!({"datasetId": dataset, "labelSetId": set}))["rows"], 16);
    let page = h.ok("rows_page", json!({"datasetId": dataset, "labelSetId": set, "offset": 0, "limit": 5}));
    let ids: Vec<i64> = page["rows"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 5);

    // Models (the Hub is offline here: its commands fail with kind "unavailable", saying so).
    let devices = h.ok("devices", json!({}));
    assert_eq!(devices[0], json!({"kind": "cpu", "available": true, "note": null}));
    assert_eq!(h.ok("current_model", json!({})), Value::Null);
    let model = format!("{ROOT}/tests/fixtures/parity/roberta");
    h.choose("model-folder", &model);
    let loaded = h.ok("load_model", json!({"job": "load-1", "spec": model, "device": "cpu"}));
    assert_eq!(loaded["family"], "roberta");
    assert_eq!(h.ok("current_model", json!({}))["mask_token"], "<mask>");
    assert_eq!(
        (loaded["precision"].as_str(), loaded["precision_kernel"].as_str()),
        (Some("f32"), Some("f32"))
    );
    let bf16 = h.ok("set_precision", json!({"precision": "bf16"}));
    assert_eq!(bf16["precision"], "bf16");
    assert!(bf16["precision_kernel"].as_str().unwrap().starts_with("bf16"), "{bf16}");
    assert!(bf16["bf16_native"].is_boolean(), "{bf16}");
    assert_eq!(h.ok("current_model", json!({}))["precision"], "bf16");
    h.call("set_precision", json!({"precision": "fp16"})).expect_err("no such precision");
    assert_eq!(h.ok("set_precision", json!({"precision": "f32"})), loaded);
    assert_eq!(h.ok("cached_models", json!({})), json!([]));
    let query = json!({"text": "bert", "task": "fill-mask", "sort": "downloads", "limit": 5, "supported_only": true,
            "model_type": "llama", "gguf_only": true});
    assert!(h.err("hub_search", json!({"query": query, "next": null}), "unavailable").contains("offline"));
    h.err("hub_details", json!({"repoId": "org/tiny"}), "unavailable");
    let download = h.call("hub_download", json!({"job": "dl-1", "repoId": "org/tiny"})).expect_err("offline");
    assert!(download["kind"] == "unavailable" || download["kind"] == "not-found", "{download}");
    let gguf = h
        .call("hub_download_gguf", json!({"job": "dl-2", "repoId": "org/tiny", "file": "Q4_K_M"}))
        .expect_err("offline");
    assert_eq!(gguf["kind"], "unavailable", "{gguf}");
    let types = h.ok("model_types", json!({}));
    assert!(
        types
            .as_array()
            .unwrap()
            .contains(&json!({"model_type": "qwen2", "family": "llama", "kind": "decoder"}))
    );
    assert!(
        h.err("remove_cached_model", json!({"repoId": "org/tiny"}), "not-found").contains("not in the cache")
    );

    // Prompt studio.
    let t = h.ok("parse_template", json!({"source": "{text_a} It was {mask}."}));
    assert_eq!(t["segments"][2], json!({"kind": "mask"}));
    let moved = h.ok(
        "template_from_segments",
        json!({"segments": [{"kind": "mask"}, {"kind": "text", "text": " "},
        {"kind": "field", "name": "text_a", "shortenable": true, "post": null}]}),
    );
    assert_eq!(moved["text"], "{mask} {text_a}");
    assert!(h.err("parse_template", json!({"source": "{text_a"}), "invalid-input").contains("{"));
    let previews = h.ok("preview_prompt", json!({"prompt": prompt(), "rowIds": ids}));
    assert_eq!(previews.as_array().unwrap().len(), 5);
    assert_eq!(previews[0]["demos"], Value::Null, "no {{demo}}, no demonstrations' budget");
    // {demo}: filled from the labelled rows as `cloze classify --demos` fills it, its budget shown.
    let mut with_demos = prompt();
    with_demos["template"] = json!("{text_a} It was {mask}. {demo}");
    let previews = h.ok("preview_prompt", json!({"prompt": with_demos, "rowIds": ids}));
    for pv in previews.as_array().unwrap() {
        let d = &pv["demos"];
        assert_eq!(d["count"], 2, "{pv}");
        assert!(d["tokens"].as_i64().unwrap() > 0 && d["fit"].as_i64().unwrap() <= 2, "{d}");
        assert_eq!(
            d["left"].as_i64().unwrap(),
            pv["budget"].as_i64().unwrap()
                - pv["length"].as_i64().unwrap()
                - pv["truncated"].as_i64().unwrap()
        );
        assert!(d["summary"].as_str().unwrap().starts_with("demos: 2 × ≈"), "{d}");
    }
    let demo_probs = h.ok("zero_shot", json!({"prompt": with_demos, "rowIds": ids}));
    assert_eq!(demo_probs.as_array().unwrap().len(), 5);
    // A model without a chat template says so, with the setting to turn off.
    let mut chat = prompt();
    chat["chat"] = json!({"format": "model-template", "system": null});
    let no_chat = h.err("preview_prompt", json!({"prompt": chat, "rowIds": ids}), "precondition");
    assert!(
        no_chat.contains("has no chat template") && no_chat.contains("turn off “Use chat template”"),
        "{no_chat}"
    );
    let check = h.ok("check_verbalizer", json!({"prompt": prompt()}));
    assert_eq!(check["classes"][0]["class"], "positive");
    let probs = h.ok("zero_shot", json!({"prompt": prompt(), "rowIds": ids}));
    assert_eq!(probs[0]["probs"].as_array().unwrap().len(), 2);
    let eval = h.ok("evaluate_prompt", json!({"job": "eval-1", "prompt": prompt(), "labelSetId": set}));
    assert_eq!(eval["rows"], 16);
    let words = h.ok("suggest_label_words", json!({"prompt": prompt(), "labelSetId": set, "perClass": 3}));
    assert_eq!(words[0]["words"].as_array().unwrap().len(), 3);
    // Template suggestions (jobs): word edits with the loaded model; T5's with a T5 folder as the
    // generator (refused until it is chosen), and the loaded RoBERTa refused as a generator.
    let edits =
        h.ok("suggest_template_edits", json!({"job": "tpl-1", "prompt": prompt(), "labelSetId": set}));
    assert_eq!((edits["method"].as_str(), edits["rows"].as_i64()), (Some("word-edits"), Some(16)));
    let list = edits["suggestions"].as_array().unwrap();
    assert!(list.len() > 5 && list.iter().filter(|s| s["current"] == true).count() == 1, "{edits}");
    assert!(events.lock().unwrap().iter().any(|e| e["job"] == "tpl-1" && e["stage"] == "edit"));
    let t5 = format!("{ROOT}/tests/fixtures/parity/t5");
    let with = |job: &str, generator: Value| json!({"job": job, "prompt": prompt(), "labelSetId": set, "generator": generator});
    h.err("generate_templates", with("tpl-2", json!(t5)), "not-allowed");
    h.choose("model-folder", &t5);
    let generated = h.ok("generate_templates", with("tpl-3", json!(t5)));
    assert_eq!(
        (generated["method"].as_str(), generated["generator"].as_str()),
        (Some("t5"), Some(t5.as_str()))
    );
    let list = generated["suggestions"].as_array().unwrap();
    assert!(list.iter().any(|s| s["current"] == true) && list.len() > 1, "{generated}");
    assert!(list.iter().all(|s| !s["template"].as_str().unwrap().contains("extra_id")));
    let refused = h.err("generate_templates", with("tpl-4", Value::Null), "invalid-input");
    assert!(refused.contains("roberta cannot generate templates"), "{refused}");
    assert_eq!(
        h.ok("save_prompt", json!({"name": "sentiment", "prompt": prompt()}))["template"]["version"],
        1
    );
    // Template ensembles: two saved prompt versions fitted, saved, listed, scoring rows, deleted.
    let mut other = prompt();
    other["template"] = json!("{text_a} All in all, {mask}.");
    h.ok("save_prompt", json!({"name": "other", "prompt": other}));
    let versions = h.ok("prompt_versions", json!({}));
    let members: Vec<Value> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| json!({"template_id": v["template_id"], "verbalizer_id": v["verbalizer_id"]}))
        .collect();
    assert_eq!(members.len(), 2);
    let request =
        json!({"label_set_id": set, "members": members, "weighting": "dev-accuracy", "calibrate": false});
    let fitted = h.ok("fit_ensemble", json!({"job": "ens-1", "request": request}));
    assert_eq!((fitted["rows"].as_i64(), fitted["weightings"].as_array().unwrap().len()), (Some(16), 3));
    assert!(events.lock().unwrap().iter().any(|e| e["job"] == "ens-1" && e["stage"] == "ensemble"));
    let one =
        json!({"label_set_id": set, "members": [members[0]], "weighting": "uniform", "calibrate": false});
    assert!(
        h.err("fit_ensemble", json!({"job": "ens-2", "request": one}), "precondition")
            .contains("two or more")
    );
    let saved = h.ok("save_ensemble", json!({"name": "both", "json": fitted["json"]}));
    assert_eq!(saved["version"], 1);
    assert_eq!(h.ok("ensembles", json!({})).as_array().unwrap().len(), 1);
    let wrong = json!({"job": "ens-3", "labelSetId": extra["id"], "ensembleId": saved["id"]});
    assert!(h.err("score_rows_with_ensemble", wrong, "invalid-input").contains("classes"));
    let scored = json!({"job": "ens-4", "labelSetId": set, "ensembleId": saved["id"]});
    assert_eq!(h.ok("score_rows_with_ensemble", scored)["kind"], "ensemble");
    let live = h.ok("ensemble_zero_shot", json!({"ensembleId": saved["id"], "rowIds": &ids[..2]}));
    let live = live.as_array().unwrap();
    assert_eq!((live.len(), live[0]["members"].as_array().unwrap().len()), (2, 2));
    assert_eq!(live[0]["combined"]["row_id"], ids[0]);
    // Exported to a file chosen in the save dialog; a path not chosen there is not allowed.
    let file = h.dir.join("both.json");
    let export = json!({"ensembleId": saved["id"], "path": file});
    h.err("export_ensemble", export.clone(), "not-allowed");
    h.choose("export-file", &file);
    assert_eq!(h.ok("export_ensemble", export), json!(file.display().to_string()));
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"weighting\": \"dev-accuracy\""));
    assert_eq!(h.ok("delete_ensemble", json!({"id": saved["id"]})), json!([]));
    let no_chat = json!({"format": "none", "system": null});
    let text = h.ok(
        "generation_prompt",
        json!({"template": "Review: {text_a} It was {mask}.", "chat": no_chat, "rowId": ids[0]}),
    );
    assert!(text.as_str().unwrap().starts_with("Review: ") && text.as_str().unwrap().ends_with(" It was"));
    // The try-it panel's row prompt in the chat template: this model has none, and says so.
    let chat = json!({"format": "model-template", "system": null});
    let args = json!({"template": "Review: {text_a} It was {mask}.", "chat": chat, "rowId": ids[0]});
    assert!(h.err("generation_prompt", args, "precondition").contains("has no chat template"));
    let options = json!({"decoding": {"kind": "greedy"}, "max_new_tokens": 4, "stop": []});
    let refused = json!({"job": "gen-1", "prompt": "Hello", "options": options});
    assert!(h.err("generate_text", refused, "invalid-input").contains("needs a decoder"));

    // Labelling, on the empty second label set of the same rows.
    assert_eq!(h.ok("label_state", json!({})), Value::Null);
    let s = h.ok(
        "start_labelling",
        json!({"labelSetId": extra["id"], "strategy": {"kind": "file-order"}, "runId": null}),
    );
    assert_eq!(s["remaining"], 16);
    assert_eq!(h.ok("label_current", json!({"classIndex": 1}))["labelled_in_session"], 1);
    h.err("accept_suggestion", json!({}), "precondition");
    assert_eq!(h.ok("skip_current", json!({}))["item"]["row"]["position"], 2);
    assert_eq!(h.ok("undo_last", json!({}))["item"]["row"]["position"], 1);
    assert_eq!(h.ok("label_state", json!({}))["labelled_in_session"], 1);
    let run = h.ok("score_rows", json!({"job": "score-1", "labelSetId": set, "prompt": prompt()}));
    assert_eq!(run["status"], "finished");
    assert_eq!(
        h.ok("runs", json!({"labelSetId": set})).as_array().unwrap().len(),
        2,
        "the ensemble's and this"
    );
    let table = h.ok(
        "label_table",
        json!({"labelSetId": set, "query": {"filter": "all", "run_id": null,
        "max_confidence": null, "offset": 0, "limit": 10}}),
    );
    assert_eq!(table["total"], 16);
    assert_eq!(
        h.ok("bulk_accept", json!({"labelSetId": set, "runId": run["id"], "rowIds": ids})),
        0,
        "every row of this set has an imported label, so none was scored"
    );

    // Check labels (a job) on the 16 imported labels; the Suspicious filter lists what it flagged
    // with the evidence, and a suggestion is accepted by row.
    let options = json!({"folds": 5, "seed": 42});
    let check = h.ok("check_labels", json!({"job": "check-1", "labelSetId": set, "options": options}));
    assert_eq!((&check["rows_checked"], &check["options"]), (&json!(16), &options), "{check}");
    let suspicious = h.ok(
        "label_table",
        json!({"labelSetId": set, "query": {"filter": "suspicious", "run_id": null,
        "max_confidence": null, "offset": 0, "limit": 50}}),
    );
    assert_eq!(suspicious["total"], check["flagged"]);
    assert_eq!(suspicious["check"]["id"], check["id"]);
    let flagged: Vec<&Value> = suspicious["rows"].as_array().unwrap().iter().collect();
    assert!(flagged.iter().all(|r| r["suspicion"]["given"] == r["row"]["label"]), "{suspicious}");
    let not_flagged = json!({"labelSetId": set, "rowId": 999_999});
    assert!(h.err("accept_check_suggestion", not_flagged, "precondition").contains("not suspicious"));
    if let Some(first) = flagged.first() {
        let row = h.ok("accept_check_suggestion", json!({"labelSetId": set, "rowId": first["row"]["id"]}));
        assert_eq!(row["label"], first["suspicion"]["suggested"]);
    }
    let too_few = json!({"job": "check-2", "labelSetId": set, "options": {"folds": 9, "seed": 1}});
    assert!(h.err("check_labels", too_few, "precondition").contains("label more rows"));

    // Export.
    let out = h.dir.join("labels.csv");
    h.choose("export-file", &out);
    let exported = h.ok(
        "export_labels",
        json!({"request": {"label_set_id": extra["id"], "path": out,
        "format": "csv", "sources": ["human"], "min_confidence": null, "replace": false}}),
    );
    assert_eq!(exported["written"], 1);
    // The file exists now: the UI is told so by kind, asks “Replace?”, and sends `replace`.
    let again = json!({"request": {"label_set_id": extra["id"], "path": out,
        "format": "csv", "sources": ["human"], "min_confidence": null, "replace": false}});
    assert!(h.err("export_labels", again.clone(), "already-exists").contains("“Replace”"));
    let mut replace = again;
    replace["request"]["replace"] = json!(true);
    assert_eq!(h.ok("export_labels", replace)["written"], 1);
    // Never over the open project, even with replace (and even when chosen in the save dialog).
    h.choose("export-file", project["path"].as_str().unwrap());
    let mut over = json!({"request": {"label_set_id": extra["id"], "path": project["path"],
        "format": "csv", "sources": ["human"], "min_confidence": null, "replace": true}});
    assert!(h.err("export_labels", over.clone(), "invalid-input").contains("input"));
    over["request"]["replace"] = json!(false);
    h.err("export_labels", over, "invalid-input");

    // Tuning: two short fine-tuning runs on the labelled rows, listed, detailed and compared.
    let mut hyper = h.ok("tune_defaults", json!({"strategy": "finetune"}));
    assert_eq!(hyper["learning_rate"], 2e-5);
    hyper["epochs"] = json!(1);
    hyper["dropout"] = json!(0.0);
    let request = json!({"name": "ft-1", "strategy": "finetune", "template": "{text_a} It was {mask}.",
        "verbalizer": prompt()["verbalizer"], "verbalizer_kind": "manual", "label_set_id": set, "shots": null,
        "dev_fraction": 0.25, "hyper": hyper, "resume": false});
    // The cost before starting: a job that writes nothing, whose estimate the run then keeps.
    let estimate = h.ok("estimate_tuning", json!({"job": "estimate-1", "request": request}));
    assert_eq!(
        (&estimate["strategy"], &estimate["evaluations"]),
        (&json!("finetune"), &json!(2)),
        "{estimate}"
    );
    assert!(estimate["seconds"].as_f64().unwrap() > 0.0 && estimate["steps"].as_u64().unwrap() >= 1);
    assert!(!h.dir.join("reviews.cloze.runs").join("ft-1").exists());
    assert_eq!(h.ok("list_runs", json!({})).as_array().unwrap().len(), 0);
    let mut request = request;
    request["estimate"] = estimate.clone();
    let tuned = h.ok("start_tuning", json!({"job": "tune-1", "request": request}));
    assert_eq!((&tuned["status"], &tuned["precision"]), (&json!("finished"), &json!("f32")));
    let mut second = request.clone();
    second["name"] = json!("ft-2");
    second["hyper"]["seed"] = json!(5);
    second["precision"] = json!("bf16");
    second["estimate"] = Value::Null;
    assert_eq!(h.ok("start_tuning", json!({"job": "tune-2", "request": second}))["precision"], "bf16");
    assert_eq!(h.ok("list_runs", json!({})).as_array().unwrap().len(), 2);
    let details = h.ok("run_details", json!({"name": "ft-1"}));
    assert!(details["loss_svg"].as_str().unwrap().starts_with("<svg"), "{details}");
    assert_eq!(details["last_eval"]["rows"], 4);
    for key in ["steps", "evaluations", "peak_bytes"] {
        assert_eq!(details["estimate"][key], estimate[key], "{key}");
    }
    assert_eq!(details["estimate"]["measurement"]["update_tokens"], estimate["measurement"]["update_tokens"]);
    assert!(details["wall_seconds"].as_f64().unwrap() > 0.0, "{details}");
    let second_details = h.ok("run_details", json!({"name": "ft-2"}));
    assert_eq!(second_details["estimate"], Value::Null);
    assert_eq!(second_details["auto"], Value::Null, "a strategy chosen by hand has no reasons");
    // "Recommended": the tiny RoBERTa reads label words at the template's {mask}: fine-tuning.
    let mut recommend = request.clone();
    recommend["recommended"] = json!({"budget_seconds": null});
    let choice = h.ok("recommend_tuning", json!({"request": recommend}));
    assert_eq!(choice["strategy"], "finetune", "{choice}");
    assert!(choice["reasons"][0].as_str().unwrap().contains("LM-BFF"), "{choice}");
    recommend["recommended"]["budget_seconds"] = json!(-1);
    assert!(
        h.err("recommend_tuning", json!({"request": recommend}), "invalid-input").contains("“Time budget”")
    );
    let diff = h.ok("compare_runs", json!({"a": "ft-1", "b": "ft-2"}));
    assert!(diff.as_array().unwrap().iter().any(|d| d["key"] == "hyper.seed"), "{diff}");
    assert!(
        diff.as_array().unwrap().iter().any(|d| d["key"] == "precision" && d["b"] == "\"bf16\""),
        "{diff}"
    );
    h.err("run_details", json!({"name": "../etc"}), "invalid-input");

    // Runs exported as jobs (a model folder, a report of two runs, a bundle), refused where the form
    // cannot hold the run, and a bundle imported back as a run.
    let export = |kind: &str, runs: &[&str], name: &str| {
        let path = h.dir.join(name);
        h.choose("export-file", &path);
        json!({"job": format!("export-{kind}"), "request": {"runs": runs, "kind": kind, "path": path, "replace": false}})
    };
    let model = h.ok("export_run", export("model", &["ft-1"], "ft-model"));
    assert!(model["message"].as_str().unwrap().contains("AutoModelForMaskedLM"), "{model}");
    assert!(h.dir.join("ft-model/README.md").is_file());
    h.ok("export_run", export("report", &["ft-1", "ft-2"], "report.html"));
    assert!(std::fs::read_to_string(h.dir.join("report.html")).unwrap().contains("2 runs compared"));
    // The report just written opens (with the recording opener); a file it did not write as a report
    // does not.
    assert_eq!(h.ok("open_report", json!({"path": h.dir.join("report.html")})), Value::Null);
    // The launcher is taken to have opened the file once it has run for a moment, so on a loaded
    // machine the recording script may finish after the command returned: wait for its file.
    let recorded = h.dir.join("opened.txt");
    let waited = std::time::Instant::now();
    while !recorded.exists() && waited.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let opened = std::fs::read_to_string(&recorded).unwrap();
    assert_eq!(PathBuf::from(opened), h.dir.join("report.html").canonicalize().unwrap());
    let m = h.err("open_report", json!({"path": h.dir.join("ft-model/README.md")}), "not-allowed");
    assert!(m.contains("README.md") && m.contains("“Open in browser”"), "{m}");
    assert!(h.err("export_run", export("peft", &["ft-1"], "adapter"), "precondition").contains("finetune"));
    h.err("export_run", export("model", &["ft-1", "ft-2"], "two"), "invalid-input");
    h.ok("export_run", export("bundle", &["ft-1"], "bundle"));
    h.choose("model-folder", h.dir.join("bundle"));
    let imported = h.ok(
        "import_prompt",
        json!({"job": "import-1", "request": {"path": h.dir.join("bundle"), "name": "from-bundle",
        "template": null, "verbalizer": null}}),
    );
    assert_eq!(imported["name"], "from-bundle");
    assert_eq!(imported["status"], "finished");

    // Runs over seeds: a job of one run per seed, the group with its spread, listed and read back.
    let mut over = request.clone();
    over["name"] = json!("ft-seeds");
    over["estimate"] = Value::Null;
    over["seeds"] = json!([13, 21]);
    let group = h.ok("tune_over_seeds", json!({"job": "seeds-1", "request": over}));
    let names: Vec<&str> =
        group["runs"].as_array().unwrap().iter().map(|r| r["run"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ft-seeds-seed-13", "ft-seeds-seed-21"], "{group}");
    assert_eq!((&group["finished"], &group["accuracy"]["n"]), (&json!(2), &json!(2)), "{group}");
    assert_eq!(h.ok("list_seed_groups", json!({})), json!([group.clone()]));
    assert_eq!(h.ok("seed_group", json!({"name": "ft-seeds"})), group);
    assert_eq!(h.ok("run_details", json!({"name": "ft-seeds-seed-21"}))["summary"]["status"], "finished");
    over["seeds"] = json!([13, 13]);
    over["name"] = json!("twice");
    assert!(
        h.err("tune_over_seeds", json!({"job": "seeds-2", "request": over}), "invalid-input")
            .contains("seed 13 is given twice")
    );
    h.err("seed_group", json!({"name": "ft-1"}), "not-found");

    // Multi-label, on a third label set of the same rows: the switch, a toggle, scoring as a job,
    // thresholds fitted and set, a multi-hot export.
    let tags = h.ok("create_label_set", json!({"datasetId": dataset, "name": "tags", "classes": ["x", "y"]}));
    let ml = h.ok("multi_label", json!({"labelSetId": tags["id"]}));
    assert_eq!((&ml["multi_label"], &ml["run_id"]), (&json!(false), &Value::Null));
    assert_eq!(h.ok("set_multi_label", json!({"labelSetId": tags["id"], "on": true}))["multi_label"], true);
    let question = json!({"template": "{text_a} Is it {label}? {mask}", "yes_words": ["great"], "no_words": ["terrible"]});
    let ml = h.ok("set_multi_label_prompt", json!({"labelSetId": tags["id"], "prompt": question}));
    assert_eq!(ml["prompt"], question);
    h.err("fit_multi_label_thresholds", json!({"labelSetId": tags["id"]}), "precondition");
    h.ok(
        "start_labelling",
        json!({"labelSetId": tags["id"], "strategy": {"kind": "file-order"}, "runId": null}),
    );
    let s = h.ok("label_current", json!({"classIndex": 0}));
    assert_eq!(s["item"]["multi"]["checked"], json!([true, false]), "{s}");
    let ml = h.ok("score_multi_label", json!({"job": "ml-1", "labelSetId": tags["id"]}));
    assert_eq!(ml["scored_rows"], 16);
    // With a tuning run instead of the question: a one-label-per-row run is refused.
    let refused = json!({"job": "ml-2", "labelSetId": tags["id"], "run": "ft-1"});
    assert!(h.err("score_multi_label", refused, "precondition").contains("one label per row"));
    assert_eq!(ml["thresholds"][0]["positives"], 1);
    assert_eq!(ml["metrics"]["rows"], 1);
    let ml = h.ok("set_multi_label_thresholds", json!({"labelSetId": tags["id"], "values": [0.25, 0.75]}));
    assert_eq!(ml["thresholds"][1]["value"], 0.75);
    assert_eq!(
        h.ok("fit_multi_label_thresholds", json!({"labelSetId": tags["id"]}))["thresholds"][0]["positives"],
        1
    );
    let multi_out = h.dir.join("tags.csv");
    h.choose("export-file", &multi_out);
    let request = json!({"request": {"label_set_id": tags["id"], "path": multi_out,
        "format": "multi-hot-csv", "sources": [], "min_confidence": null, "replace": false}});
    assert_eq!(h.ok("export_labels", request)["written"], 1);
    assert!(std::fs::read_to_string(&multi_out).unwrap().starts_with("id,split,text_a,text_b,labels,x,y\n"));

    // Jobs, the app, closing.
    assert_eq!(h.ok("cancel_job", json!({"job": "nothing-running"})), false);
    assert!(h.ok("ui_ready", json!({})).as_f64().unwrap() >= 0.0);
    assert_eq!(h.ok("forget_recent_project", json!({"path": project["path"]})), json!([]));
    assert_eq!(h.ok("close_project", json!({})), Value::Null);
    let reopened = h.ok("open_project", json!({"path": project["path"]}));
    let topic = reopened["label_sets"].as_array().unwrap().iter().find(|s| s["id"] == extra["id"]).unwrap();
    assert_eq!(topic["labelled"], 1, "the label made through IPC is in the file");

    // A malformed request is refused by Tauri before it reaches the engine.
    assert!(h.call("label_current", json!({"class_index": 0})).is_err(), "arguments are camelCase");

    let called = h.called.lock().unwrap().clone();
    let missing: Vec<_> = bound_commands().difference(&called).cloned().collect();
    assert!(missing.is_empty(), "commands in the bindings that this test does not call: {missing:?}");
}

/// The try-it panel's generation through IPC: every piece reaches the UI as a `generated-text` event
/// of its job, in order, and joins to the result; `cancel_job` during a generation stops it with
/// kind `cancelled`.
#[test]
fn generation_streams_pieces_to_the_ui_and_cancel_stops_it() {
    let h = Harness::new("generate");
    let model = format!("{ROOT}/tests/fixtures/parity/llama");
    h.choose("model-folder", &model);
    assert_eq!(h.ok("load_model", json!({"job": "load", "spec": model, "device": "cpu"}))["kind"], "decoder");
    let pieces: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = pieces.clone();
    let app = h.app.handle().clone();
    h.app.listen_any("generated-text", move |e| {
        let piece: Value = serde_json::from_str(e.payload()).unwrap();
        // The user presses Cancel as the third piece of the second job arrives.
        if piece["job"] == "gen-cancel" && piece["index"] == 2 {
            assert!(app.state::<Jobs>().cancel("gen-cancel"));
        }
        sink.lock().unwrap().push(piece);
    });
    let options = json!({"decoding": {"kind": "sample", "temperature": 1.0, "top_p": 1.0, "seed": 7},
        "max_new_tokens": 12, "stop": []});
    let done = h.ok("generate_text", json!({"job": "gen-ok", "prompt": "The movie was", "options": options}));
    assert_eq!(done["new_tokens"], 12);
    assert_eq!(done["stop"], "length");
    let of = |job: &str| -> Vec<Value> {
        pieces.lock().unwrap().iter().filter(|p| p["job"] == job).cloned().collect()
    };
    let ok = of("gen-ok");
    let order: Vec<u64> = ok.iter().map(|p| p["index"].as_u64().unwrap()).collect();
    assert_eq!(order, (0..ok.len() as u64).collect::<Vec<_>>(), "pieces arrive in order");
    assert!(!ok.is_empty() && ok.len() <= 12, "one piece per token at most: {}", ok.len());
    // The pieces join to the result except where a character's bytes span two tokens (generate.rs
    // streams a placeholder there; /work/notes/ask-tryit.md): the panel shows the result at the end.
    assert!(done["text"].as_str().unwrap().ends_with(ok.last().unwrap()["text"].as_str().unwrap()));

    let args = json!({"job": "gen-cancel", "prompt": "The movie was", "options": options});
    h.err("generate_text", args, "cancelled");
    assert_eq!(of("gen-cancel").len(), 3, "no piece after the cancel");
    assert_eq!(h.ok("cancel_job", json!({"job": "gen-cancel"})), false, "the job is over");
}

/// Another window (another studio on the same project file) labelled the row first: the UI gets a
/// `conflict` naming the row and the other decision, and the reloaded state shows the next row.
#[test]
fn a_label_another_window_saved_first_reaches_the_ui_as_a_conflict() {
    let h = Harness::new("conflict");
    let path = h.dir.join("p.cloze");
    h.choose("new-project", &path);
    h.ok("create_project", json!({"path": path}));
    let csv = h.dir.join("texts.csv");
    std::fs::write(&csv, "id,text\nr0,first\nr1,second\n").unwrap();
    let settings = json!({"format": "auto", "has_header": null, "text_column": null, "text_b_column": null,
        "label_column": null, "id_column": null, "encoding": "auto", "skip_bad_rows": false, "explicit_columns": false});
    h.choose("data-file", &csv);
    let request = json!({"path": csv, "name": "texts", "settings": settings, "split": "unlabelled",
        "classes": ["positive", "negative"]});
    let set =
        h.ok("import_dataset", json!({"job": "import-1", "request": request}))["label_set"]["id"].clone();
    let s = h
        .ok("start_labelling", json!({"labelSetId": set, "strategy": {"kind": "file-order"}, "runId": null}));
    assert_eq!(s["item"]["row"]["ext_id"], "r0");
    let hub = HubClient::new("http://127.0.0.1:9", None, Cache::new(h.dir.join("hf"))).with_offline(true);
    let other = Studio::new(h.dir.join("config-2"), hub);
    other.open_project(path.to_str().unwrap()).unwrap();
    other.start_labelling(set.as_i64().unwrap(), cloze::label::QueueOrder::FileOrder, None).unwrap();
    other.label_current(1).unwrap();
    let message = h.err("label_current", json!({"classIndex": 0}), "conflict");
    assert!(message.contains("row r0 was labelled `negative` by another session"), "{message}");
    let reloaded = h.ok("label_state", json!({}));
    assert_eq!(reloaded["item"]["row"]["ext_id"], "r1");
    assert_eq!(reloaded["labelled_in_session"], 0);
}

/// Every command that reads or writes a file the UI names refuses a path the user did not choose
/// in this window (`not-allowed`), touches nothing, and accepts it once chosen.
#[test]
fn ipc_refuses_paths_the_user_did_not_pick() {
    let h = Harness::new("paths");
    let other = tauri::WebviewWindowBuilder::new(&h.app, "other", Default::default()).build().unwrap();
    let project = h.dir.join("p.cloze");
    let m = h.err("create_project", json!({"path": project}), "not-allowed");
    assert!(m.contains("p.cloze") && m.contains("Browse"), "{m}");
    assert!(!project.exists(), "nothing was created");
    h.err("open_project", json!({"path": "/etc/passwd"}), "not-allowed");
    h.choose("new-project", &project);
    h.ok("create_project", json!({"path": project}));

    let settings = json!({"format": "auto", "has_header": null, "text_column": null, "text_b_column": null,
        "label_column": null, "id_column": null, "encoding": "auto", "skip_bad_rows": false, "explicit_columns": false});
    for secret in ["/etc/passwd", "/etc/../etc/shadow", "relative.csv"] {
        h.err("preview_file", json!({"path": secret, "settings": settings}), "not-allowed");
    }
    let csv = format!("{ROOT}/samples/reviews.csv");
    let request =
        json!({"path": csv, "name": "reviews", "settings": settings, "split": "train", "classes": []});
    h.err("import_dataset", json!({"job": "i-0", "request": request}), "not-allowed");
    // Chosen as a model folder is not chosen as a data file.
    h.choose("model-folder", format!("{ROOT}/samples"));
    h.err("preview_file", json!({"path": csv, "settings": settings}), "not-allowed");
    h.choose("data-file", &csv);
    h.ok("preview_file", json!({"path": csv, "settings": settings}));
    let imported = h.ok("import_dataset", json!({"job": "i-1", "request": request}));
    // Another window did not choose it.
    let e = h.call_in(&other, "preview_file", json!({"path": csv, "settings": settings})).unwrap_err();
    assert_eq!(e["kind"], "not-allowed", "{e}");

    let model = format!("{ROOT}/tests/fixtures/parity/roberta");
    h.err("load_model", json!({"job": "l-0", "spec": model, "device": "cpu"}), "not-allowed");
    h.err("load_model", json!({"job": "l-1", "spec": "/", "device": "cpu"}), "not-allowed");

    let out = h.dir.join("labels.csv");
    let export = json!({"request": {"label_set_id": imported["label_set"]["id"], "path": out,
        "format": "csv", "sources": [], "min_confidence": null, "replace": true}});
    h.err("export_labels", export.clone(), "not-allowed");
    assert!(!out.exists(), "nothing was written");
    // A file in a chosen folder is not the chosen file.
    h.choose("export-file", h.dir.join("elsewhere.csv"));
    h.err("export_labels", export.clone(), "not-allowed");
    h.choose("export-file", &out);
    assert_eq!(h.ok("export_labels", export)["written"], 16);

    // Only reports the app wrote open in the browser, and nothing is launched for the others.
    for never in ["/etc/passwd", project.to_str().unwrap(), out.to_str().unwrap(), "report.html"] {
        h.err("open_report", json!({"path": never}), "not-allowed");
    }
    assert!(!h.dir.join("opened.txt").exists(), "no opener ran");

    // A recent project opens from any window; the dialog cancelled chooses nothing.
    let e = h.call_in(&other, "open_project", json!({"path": project}));
    assert!(e.is_ok(), "{e:?}");
    h.app.state::<Picked>().script(None);
    let request = json!({"purpose": "data-file", "title": null, "default_path": null, "filters": []});
    assert_eq!(h.ok("pick_path", json!({"request": request})), Value::Null);
}
