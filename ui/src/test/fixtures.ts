import type { AutoChoice, Hyper, LabelSetInfo, LabelState, ModelView, ProjectSummary, RunSummaryView, SegmentView, TemplateView } from "../bindings";

export function templateView(segments: SegmentView[]): TemplateView {
  const text = segments.map((s) => (s.kind === "text" ? s.text : s.kind === "field" ? `{${s.name}}` : s.kind === "mask" ? "{mask}" : `{soft:${s.count}}`)).join("");
  return {
    text,
    openprompt: text.replace("{mask}", '{"mask"}').replace("{text_a}", '{"placeholder":"text_a"}'),
    segments,
    mask_count: segments.filter((s) => s.kind === "mask").length,
    fields: segments.flatMap((s) => (s.kind === "field" ? [s.name] : [])),
  };
}

export const BASIC_SEGMENTS: SegmentView[] = [
  { kind: "field", name: "text_a", shortenable: true, post: null },
  { kind: "text", text: " It was " },
  { kind: "mask" },
  { kind: "text", text: "." },
];

export const LABEL_SET: LabelSetInfo = {
  id: 7, dataset_id: 3, name: "sentiment", classes: ["negative", "positive"], labelled: 2,
  by_class: [{ class: "negative", count: 1 }, { class: "positive", count: 1 }], multi_label: false,
};

export const PROJECT: ProjectSummary = {
  path: "/tmp/demo.cloze", name: "demo",
  datasets: [{ id: 3, name: "reviews", source_path: "/tmp/reviews.csv", format: "csv", encoding: "utf-8", columns: ["id", "text", "label"], row_count: 10, imported_at: "2026-11-24", splits: [{ split: "train", rows: 10 }] }],
  label_sets: [LABEL_SET], models: [], templates: [], verbalizers: [], notices: [],
};

export function labelState(over: Partial<LabelState> = {}): LabelState {
  return {
    label_set: LABEL_SET,
    strategy: { kind: "file-order" },
    run_id: null,
    item: {
      row: { id: 100, position: 0, ext_id: "1", text_a: "A gorgeous, witty film.", text_b: null, split: "train", label: null, label_source: null },
      suggestion: { run_id: 1, predicted: "positive", confidence: 0.91, probs: [{ class: "negative", prob: 0.09 }, { class: "positive", prob: 0.91 }] },
      multi: null,
    },
    remaining: 9,
    labelled_in_session: 0,
    distribution_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
    can_undo: false,
    ...over,
  };
}

/** A tiny BERT loaded on the CPU, as the Tune screen's tests see it. */
export const TUNE_MODEL: ModelView = {
  spec: "bert-tiny", path: "/m", family: "bert", parameters: 4_000_000, hidden_size: 128, layers: 2,
  vocab_size: 30522, max_len: 512, has_lm_head: true, mask_token: "[MASK]", device: "cpu",
  kind: "encoder", pretraining: "masked-lm", reads: "at the {mask} token", quantisation: null, chat_template: null, memory_bytes: 4.4e8, kv_heads: 12,
  precision: "f32", precision_kernel: "f32", bf16_native: false,
};

/** A strategy's hyperparameters with the learning rate and epochs given. */
export const tuneHyper = (lr: number, epochs: number): Hyper => ({
  learning_rate: lr, weight_decay: 0.01, warmup_ratio: 0.06, epochs, max_steps: null, batch_size: 8, grad_accumulation: 1,
  max_grad_norm: 1, eval_every: 0, patience: 0, seed: 13, dropout: null, max_len: null,
});

/** "Recommended" for the tests' settings: prompt-based fine-tuning (the strategy the form used to start with). */
export const RECOMMEND_FINETUNE: AutoChoice = {
  strategy: "finetune",
  reasons: ["the model reads label words at the template's {mask} and has 4 M parameters (at most 400 M): prompt-based fine-tuning (LM-BFF)"],
};

/** A finished fine-tuning run in the run list. */
export const finishedRun = (name: string, acc: number): RunSummaryView => ({
  name, strategy: "finetune", model: "/m", precision: "f32", status: "finished", steps: 6, dev_accuracy: acc, dev_macro_f1: acc, multi_label: false, dev_micro_f1: null, seconds: 1.5,
});
