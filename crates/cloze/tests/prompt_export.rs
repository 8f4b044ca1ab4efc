//! Exporting tuned runs and reading them back: prompt bundles, PEFT prompt-tuning adapters
//! (checked key by key and tensor by tensor), and the logits `scripts/peft-parity.py` compares with
//! PEFT's on the same fixtures (written to `$CLOZE_PEFT_PARITY_DIR`, default
//! `target/tmp/peft-parity`); fine-tuned model folders, HTML reports and cluster jobs
//! (`scripts/export-parity.py` runs those against transformers and accelerate).

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::data::{Example, SplitMix64};
use cloze::export::{bundle, job, model, peft, report};
use cloze::files::Replace;
use cloze::tune::{self, DataSource, SoftPlacement, TuneConfig, TuneStrategy, TunedRun};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn fixture(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prompt-export-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rows(n: usize, seed: u64) -> Vec<Example> {
    const WORDS: [&str; 8] = ["the", "film", "story", "was", "good", "bad", "music", "plot"];
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let text: Vec<&str> = (0..4 + rng.below(3)).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            let mut ex = Example::new(format!("r{i}"), text.join(" "));
            ex.label = Some(if i % 2 == 0 { "positive" } else { "negative" }.into());
            ex
        })
        .collect()
}

fn verbalizer() -> Verbalizer {
    Verbalizer::from_json(r#"{"negative": ["bad"], "positive": ["good"]}"#).unwrap()
}

/// A soft-prompt run of two updates on `model`, its soft vectors placed as asked.
fn tuned(model: &Path, placement: SoftPlacement, dir: &Path) -> PathBuf {
    tuned_with(TuneStrategy::SoftPrompt, model, "{soft:3} {text_a} It was {mask}.", placement, dir)
}

/// A run of two updates with `strategy` on `model` through `template`, into `dir/run`.
fn tuned_with(
    strategy: TuneStrategy,
    model: &Path,
    template: &str,
    placement: SoftPlacement,
    dir: &Path,
) -> PathBuf {
    let mut c = TuneConfig::new(strategy, model, DataSource::Inline);
    c.template = Some(template.into());
    c.verbalizer = Some(verbalizer());
    c.soft_placement = placement;
    c.hyper.max_steps = Some(2);
    c.hyper.batch_size = 4;
    c.hyper.seed = 5;
    c.hyper.dropout = Some(0.0);
    let run = dir.join("run");
    tune::run(&c, &rows(8, 1), &rows(4, 2), &run, &Device::Cpu, false, &mut |_| true).unwrap();
    run
}

fn probabilities(run: &Path, base: Option<&Path>) -> Vec<Vec<u32>> {
    let (_, tuned) = TunedRun::load_over(run, base, &Device::Cpu).unwrap();
    tuned
        .classify(&rows(6, 9), &mut |_, _| true)
        .unwrap()
        .into_iter()
        .map(|p| p.probs.iter().map(|(_, v)| v.to_bits()).collect())
        .collect()
}

/// The header of a safetensors file and its data.
fn safetensors_parts(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

#[test]
fn peft_files_hold_exactly_what_peft_reads() {
    let dir = temp("peft-files");
    let run = tuned(&fixture("roberta"), SoftPlacement::BeforeInput, &dir);
    let out = dir.join("adapter");
    peft::export_peft(&run, &out, Replace::Refuse, &Device::Cpu).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["adapter_config.json", "adapter_model.safetensors"]);

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap()).unwrap();
    let model = std::fs::canonicalize(fixture("roberta")).unwrap();
    let expected = serde_json::json!({
        "peft_type": "PROMPT_TUNING",
        "task_type": "FEATURE_EXTRACTION",
        "num_virtual_tokens": 3,
        "token_dim": 64,
        "num_transformer_submodules": 1,
        "num_attention_heads": 4,
        "num_layers": 2,
        "base_model_name_or_path": model.display().to_string(),
        "revision": null,
        "prompt_tuning_init": "RANDOM",
        "inference_mode": true,
    });
    let (got, want) = (config.as_object().unwrap(), expected.as_object().unwrap());
    assert_eq!(got.keys().collect::<Vec<_>>().len(), want.len(), "{config}");
    for (key, value) in want {
        assert_eq!(got.get(key), Some(value), "adapter_config.json key {key}");
    }

    let (header, data) = safetensors_parts(&out.join("adapter_model.safetensors"));
    let header = header.as_object().unwrap();
    let mut keys: Vec<&String> = header.keys().collect();
    keys.sort();
    assert_eq!(keys, ["__metadata__", "prompt_embeddings"]);
    assert_eq!(header["__metadata__"], serde_json::json!({"format": "pt"}));
    let t = &header["prompt_embeddings"];
    assert_eq!(t["dtype"], "F32");
    assert_eq!(t["shape"], serde_json::json!([3, 64]));
    assert_eq!(t["data_offsets"], serde_json::json!([0, 3 * 64 * 4]));
    // Tensor by tensor: the run's soft prompt, bit for bit.
    let saved = candle_core::safetensors::load(run.join("prompt.safetensors"), &Device::Cpu).unwrap();
    let soft: Vec<f32> = saved["soft_prompt"].flatten_all().unwrap().to_vec1().unwrap();
    let exported: Vec<f32> = data.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(
        exported.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        soft.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );

    // Written again only when asked.
    let again = peft::export_peft(&run, &out, Replace::Refuse, &Device::Cpu).unwrap_err().to_string();
    assert!(again.contains("already exists") && again.contains("--force"), "{again}");
    peft::export_peft(&run, &out, Replace::Allow, &Device::Cpu).unwrap();
}

#[test]
fn peft_round_trip_gives_the_same_probabilities() {
    let dir = temp("peft-round-trip");
    let run = tuned(&fixture("roberta"), SoftPlacement::BeforeInput, &dir);
    let adapter = dir.join("adapter");
    peft::export_peft(&run, &adapter, Replace::Refuse, &Device::Cpu).unwrap();
    let import = peft::PeftImport {
        model: None,
        template: "{text_a} It was {mask}.".into(),
        verbalizer: verbalizer(),
    };
    let back = dir.join("imported");
    let config = peft::import_peft(&adapter, &import, &back, Replace::Refuse, &Device::Cpu).unwrap();
    assert_eq!(config.template.as_deref(), Some("{soft:3} {text_a} It was {mask}."));
    assert_eq!(config.soft_placement, SoftPlacement::BeforeInput);
    assert_eq!(probabilities(&back, None), probabilities(&run, None));
}

#[test]
fn peft_import_refuses_a_mismatched_token_dim() {
    let dir = temp("peft-token-dim");
    let adapter = dir.join("adapter");
    std::fs::create_dir_all(&adapter).unwrap();
    let config = serde_json::json!({
        "peft_type": "PROMPT_TUNING", "task_type": "FEATURE_EXTRACTION", "num_virtual_tokens": 2,
        "token_dim": 48, "num_transformer_submodules": 1, "base_model_name_or_path": fixture("roberta"),
    });
    std::fs::write(adapter.join("adapter_config.json"), config.to_string()).unwrap();
    let weights = peft::safetensors_f32("prompt_embeddings", &[0.5; 96], &[2, 48], &[("format", "pt")]);
    std::fs::write(adapter.join("adapter_model.safetensors"), weights).unwrap();
    let import = peft::PeftImport {
        model: None,
        template: "{text_a} It was {mask}.".into(),
        verbalizer: verbalizer(),
    };
    let msg = peft::import_peft(&adapter, &import, &dir.join("run"), Replace::Refuse, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("token_dim is 48") && msg.contains("hidden size 64"), "{msg}");
    assert!(msg.contains("adapter_config.json"), "{msg}");
    assert!(!dir.join("run").exists(), "nothing written");

    // The tensor's shape must be the config's; other adapter kinds are named.
    let cases: [(serde_json::Value, &str); 3] = [
        (serde_json::json!({"peft_type": "LORA"}), "LORA"),
        (serde_json::json!({"peft_type": "PROMPT_TUNING", "token_dim": 48}), "num_virtual_tokens"),
        (
            serde_json::json!({"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 3, "token_dim": 48}),
            "shape [2, 48]",
        ),
    ];
    for (config, needle) in cases {
        std::fs::write(adapter.join("adapter_config.json"), config.to_string()).unwrap();
        let msg = peft::read_peft(&adapter).unwrap_err().to_string();
        assert!(msg.contains(needle) && msg.contains("adapter_"), "{needle}: {msg}");
    }
}

#[test]
fn peft_export_refuses_soft_tokens_not_before_the_input() {
    let dir = temp("peft-placement");
    // RoBERTa puts <s> before the template: the soft vectors stand at positions 1..=3.
    let run = tuned(&fixture("roberta"), SoftPlacement::InTemplate, &dir);
    let msg =
        peft::export_peft(&run, &dir.join("adapter"), Replace::Refuse, &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("positions [1, 2, 3]") && msg.contains("--format bundle"), "{msg}");
    assert!(msg.contains("--soft-placement before-input"), "{msg}");
    assert!(!dir.join("adapter").exists());
    // A template whose soft vectors stand in the middle cannot be placed before the input at all.
    let mut c = TuneConfig::new(TuneStrategy::SoftPrompt, fixture("roberta"), DataSource::Inline);
    c.template = Some("{text_a} {soft:2} It was {mask}.".into());
    c.verbalizer = Some(verbalizer());
    c.soft_placement = SoftPlacement::BeforeInput;
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("starts with its only {soft}"), "{msg}");
}

#[test]
fn bundle_classifies_bit_for_bit_and_refuses_another_model() {
    let dir = temp("bundle");
    let run = tuned(&fixture("roberta"), SoftPlacement::InTemplate, &dir);
    let out = dir.join("bundle");
    let written = bundle::export_bundle(&run, &out, Replace::Refuse).unwrap();
    assert_eq!(written.manifest.format_version, bundle::BUNDLE_VERSION);
    assert_eq!(written.manifest.model.family, "roberta");
    for f in [
        "manifest.json",
        "template.txt",
        "verbalizer.json",
        "prompt.safetensors",
        "config.json",
        "metrics.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let opened = bundle::open_bundle(&out, None).unwrap();
    assert_eq!(probabilities(&out, opened.base_model.as_deref()), probabilities(&run, None));

    // The same bundle as one .zip archive.
    let archive = dir.join("bundle.zip");
    bundle::export_bundle(&run, &archive, Replace::Refuse).unwrap();
    let opened_zip = bundle::open_bundle(&archive, None).unwrap();
    assert_eq!(opened_zip.manifest, opened.manifest);
    assert_eq!(probabilities(&opened_zip.dir, opened_zip.base_model.as_deref()), probabilities(&run, None));
    let unpacked = opened_zip.dir.clone();
    drop(opened_zip);
    assert!(!unpacked.exists(), "the unpacked folder is removed");

    // Another model (one weight byte changed) is refused, naming what differs and what to do.
    let other = dir.join("other-model");
    std::fs::create_dir_all(&other).unwrap();
    for entry in std::fs::read_dir(fixture("roberta")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, other.join(p.file_name().unwrap())).unwrap();
    }
    let mut weights = std::fs::read(other.join("model.safetensors")).unwrap();
    let last = weights.len() - 1;
    weights[last] ^= 1;
    std::fs::write(other.join("model.safetensors"), weights).unwrap();
    let msg = bundle::open_bundle(&out, Some(&other)).unwrap_err().to_string();
    assert!(
        msg.contains("another model") && msg.contains("config and weights") && msg.contains("--model"),
        "{msg}"
    );
    let msg = bundle::open_bundle(&archive, Some(&other)).unwrap_err().to_string();
    assert!(msg.contains("bundle.zip") && msg.contains("another model"), "{msg}");
    // The same model elsewhere is accepted.
    let same = dir.join("same-model");
    std::fs::create_dir_all(&same).unwrap();
    for entry in std::fs::read_dir(fixture("roberta")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, same.join(p.file_name().unwrap())).unwrap();
    }
    assert!(bundle::open_bundle(&out, Some(&same)).is_ok());

    // A changed file, and a newer format, are refused.
    let prompt = out.join("prompt.safetensors");
    let original = std::fs::read(&prompt).unwrap();
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    std::fs::write(&prompt, &changed).unwrap();
    let msg = bundle::open_bundle(&out, None).unwrap_err().to_string();
    assert!(msg.contains("prompt.safetensors") && msg.contains("changed"), "{msg}");
    std::fs::write(&prompt, &original).unwrap();
    let manifest = out.join("manifest.json");
    let text =
        std::fs::read_to_string(&manifest).unwrap().replace("\"format_version\": 1", "\"format_version\": 2");
    std::fs::write(&manifest, text).unwrap();
    let msg = bundle::open_bundle(&out, None).unwrap_err().to_string();
    assert!(msg.contains("format version 2") && msg.contains("Update Cloze Studio"), "{msg}");

    // The output is never the run itself, and an existing bundle is replaced only when asked.
    let msg = bundle::export_bundle(&run, &run.join("b"), Replace::Allow).unwrap_err().to_string();
    assert!(msg.contains("inside it"), "{msg}");
    let msg = bundle::export_bundle(&run, &out, Replace::Refuse).unwrap_err().to_string();
    assert!(msg.contains("already exists"), "{msg}");
}

/// Cloze Studio's logits on a rendered row, beside the exported adapter, for
/// `scripts/peft-parity.py`: the ids without the soft placeholders (what PEFT is given), and the
/// logits over the whole vocabulary at each position of the input (masked LM; a decoder's up to
/// `{mask}`) or of the decoder (T5, after the decoder start and the label word's tokens).
fn parity_case(name: &str, root: &Path) {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = tuned(&fixture(name), SoftPlacement::BeforeInput, &dir);
    let adapter = dir.join("adapter");
    let written = peft::export_peft(&run, &adapter, Replace::Refuse, &Device::Cpu).unwrap();
    let (_, tuned) = TunedRun::load(&run, &Device::Cpu).unwrap();
    let TunedRun::Prompt { model, .. } = tuned else { panic!("a prompt run") };
    let plm = model.plm();
    let mut rendered = model.render(&rows(1, 3)[0]).unwrap();
    if plm.kind() == cloze::plm::Kind::Decoder {
        // A decoder reads the label word after the text before {mask}: the input ends there (the
        // mask placeholder is no token of its vocabulary).
        rendered.ids.truncate(rendered.mask_positions[0]);
    }
    let n = rendered.soft_slots.len();
    assert_eq!(n, 3);
    assert!(rendered.soft_slots.iter().enumerate().all(|(i, s)| s.position == i));
    let batch = plm.batch(&[rendered.ids.as_slice()]).unwrap();
    let embeds = model.input_embeddings(&[&rendered], &batch).unwrap();
    let states = plm.encode(&embeds, batch.attention()).unwrap();
    let head = plm.lm_head().unwrap();
    let (states, decoder_ids) = match plm.kind() {
        cloze::plm::Kind::EncoderDecoder => {
            assert_eq!(written.config["num_transformer_submodules"], 2);
            let (header, _) = safetensors_parts(&adapter.join("adapter_model.safetensors"));
            assert_eq!(header["prompt_embeddings"]["shape"], serde_json::json!([2 * n, plm.hidden_size()]));
            let mut ids = vec![plm.decoder_start_id().unwrap()];
            ids.extend(plm.tokenizer().encode_plain("good").unwrap());
            let dec = plm.batch(&[ids.as_slice()]).unwrap();
            let out = plm.decode(
                &states,
                batch.attention(),
                &plm.embed_tokens(dec.ids()).unwrap(),
                dec.attention(),
            );
            (out.unwrap(), Some(ids))
        }
        _ => (states, None),
    };
    let (_, t, h) = states.dims3().unwrap();
    let logits = head.logits_full(&head.transform(&states.reshape((t, h)).unwrap()).unwrap()).unwrap();
    let logits: Vec<Vec<f32>> = logits.to_dtype(candle_core::DType::F32).unwrap().to_vec2().unwrap();
    let case = serde_json::json!({
        "model": std::fs::canonicalize(fixture(name)).unwrap(),
        "task_type": written.config["task_type"],
        "input_ids": rendered.ids[n..],
        "decoder_input_ids": decoder_ids,
        "virtual_tokens": n,
        "logits": logits,
    });
    std::fs::write(dir.join("cloze_logits.json"), case.to_string()).unwrap();
}

#[test]
fn peft_parity_cases_for_a_masked_lm_a_decoder_and_t5() {
    let root = std::env::var_os("CLOZE_PEFT_PARITY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peft-parity"));
    for name in ["roberta", "llama", "t5"] {
        parity_case(name, &root);
        assert!(root.join(name).join("cloze_logits.json").is_file());
    }
}

#[test]
fn model_folder_loads_back_with_its_card() {
    let dir = temp("model-folder");
    let run = tuned_with(
        TuneStrategy::Finetune,
        &fixture("bert"),
        "{text_a} It was {mask}.",
        SoftPlacement::InTemplate,
        &dir,
    );
    let out = dir.join("model");
    let done = model::export_model(&run, &out, Replace::Refuse).unwrap();
    assert_eq!(done.auto_class, "AutoModelForMaskedLM");
    for f in ["README.md", "config.json", "model.safetensors", "tokenizer.json"] {
        assert!(done.files.iter().any(|n| n == f), "{f} in {:?}", done.files);
    }
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    for needle in [
        "---\nlibrary_name: transformers\n",
        "pipeline_tag: fill-mask",
        "tags:",
        "{text_a} It was {mask}.",
        "\"positive\"",
        "accuracy",
    ] {
        assert!(card.contains(needle), "{needle}: {card}");
    }
    // The folder is the run's model, byte for byte, and loads.
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        std::fs::read(run.join("model/model.safetensors")).unwrap()
    );
    cloze::plm::Plm::load(&out, &Device::Cpu).unwrap();

    let again = model::export_model(&run, &out, Replace::Refuse).unwrap_err().to_string();
    assert!(again.contains("already exists"), "{again}");
    let soft = tuned(&fixture("roberta"), SoftPlacement::BeforeInput, &temp("model-folder-soft"));
    let msg = model::export_model(&soft, &dir.join("soft-model"), Replace::Refuse).unwrap_err().to_string();
    assert!(msg.contains("soft-prompt run") && msg.contains("export prompt"), "{msg}");
    assert!(!dir.join("soft-model").exists());
}

#[test]
fn report_is_one_self_contained_page() {
    let dir = temp("report");
    let a = tuned(&fixture("roberta"), SoftPlacement::BeforeInput, &dir.join("a"));
    let b = tuned_with(
        TuneStrategy::Finetune,
        &fixture("bert"),
        "{text_a} It was {mask}.",
        SoftPlacement::InTemplate,
        &dir.join("b"),
    );
    let cases: [(Vec<PathBuf>, &[&str]); 2] = [
        (
            vec![a.clone()],
            &[
                "Loss",
                "Dev accuracy",
                "Dev confusion matrix",
                "Reliability",
                "precision",
                "{soft:3}",
                "positive",
            ],
        ),
        (vec![a.clone(), b.clone()], &["2 runs compared", "Training loss", "finetune", "soft-prompt"]),
    ];
    for (i, (runs, needles)) in cases.into_iter().enumerate() {
        let out = dir.join(format!("report-{i}.html"));
        report::export_report(&runs, &out, Replace::Refuse).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "{i}");
        for n in needles {
            assert!(html.contains(n), "{i}: {n}");
        }
        // Nothing loaded from elsewhere.
        for banned in ["<script", "src=\"http", "href=\"http", "@import"] {
            assert!(!html.contains(banned), "{i}: {banned}");
        }
        let again = report::export_report(&runs, &out, Replace::Refuse).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
    }
    let none = report::export_report(&[], &dir.join("none.html"), Replace::Refuse).unwrap_err().to_string();
    assert!(none.contains("at least one run"), "{none}");
    let missing = report::export_report(&[dir.join("nowhere")], &dir.join("x.html"), Replace::Refuse)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("not a run folder"), "{missing}");
}

#[test]
fn job_holds_the_rows_the_start_and_the_script() {
    let dir = temp("job");
    let run = tuned(&fixture("roberta"), SoftPlacement::BeforeInput, &dir);
    let out = dir.join("job");
    let done = job::export_job(&run, rows(8, 1), rows(4, 2), &out, Replace::Refuse, &Device::Cpu).unwrap();
    assert_eq!((done.train_rows, done.dev_rows, done.start), (8, 4, "initial_adapter"));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["README.md", "dev.jsonl", "initial_adapter", "job.json", "train.jsonl", "train.py"]);
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("job.json")).unwrap()).unwrap();
    assert_eq!(job["total_steps"], 2);
    assert_eq!(job["classes"], serde_json::json!(["negative", "positive"]));
    assert_eq!(job["hyper"]["seed"], 5);
    let train = std::fs::read_to_string(out.join("train.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(train.lines().next().unwrap()).unwrap();
    let ids = first["input_ids"].as_array().unwrap();
    let at = first["mask_position"].as_u64().unwrap() as usize;
    assert!(at < ids.len() && first["text"].as_str().unwrap().contains("<mask>"), "{first}");
    // The adapter the run started from: PEFT's files, the run's size.
    let adapter = peft::read_peft(&out.join("initial_adapter")).unwrap();
    assert_eq!(adapter.config["num_virtual_tokens"], 3);
    assert_eq!(std::fs::read_to_string(out.join("train.py")).unwrap(), job::TRAIN_PY);

    // A run PEFT cannot hold, and a decoder, are refused before anything is written.
    let in_template = tuned(&fixture("roberta"), SoftPlacement::InTemplate, &temp("job-in-template"));
    let decoder = tuned(&fixture("llama"), SoftPlacement::BeforeInput, &temp("job-decoder"));
    for (run, needle) in [(in_template, "before-input"), (decoder, "masked LMs")] {
        let target = dir.join("refused");
        let msg = job::export_job(&run, rows(8, 1), vec![], &target, Replace::Refuse, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{needle}: {msg}");
        assert!(!target.exists());
    }
}
