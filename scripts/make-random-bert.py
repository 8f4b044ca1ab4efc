#!/usr/bin/env python3
"""A random-weight BertForMaskedLM the size of bert-base-uncased (768 hidden, 12 layers, 12 heads,
3072 FFN, 30522 word pieces), with numpy, safetensors and tokenizers only: no PyTorch, so that
scripts/gpu-check.sh can benchmark on a bare machine in a minute. Weights ~ N(0, 0.02) as
transformers initialises them, layer norms at 1 and 0, the decoder tied to the word embeddings
(left out of the file, as save_pretrained does). Deterministic for a seed.

The PyTorch comparisons use ../shared/bench/make_models.py instead (the same shapes, made by
transformers); this file is for the CUDA check, where only cloze's own figures are compared.

Usage: python make-random-bert.py OUT_DIR [--layers 12] [--seed 0]
"""
import argparse
import json
import os

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

VOCAB = 30522
WORDS = "the a an and or but it is was this that of in on at to for with movie film great terrible good bad . , ! ?".split()


def vocab():
    # bert-base-uncased's layout: [PAD] 0, [unused*] 1-99, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103.
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += WORDS
    tokens += [f"##w{i}" for i in range(VOCAB - len(tokens))]
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB
    return {t: i for i, t in enumerate(tokens)}


def tokenizer():
    tok = Tokenizer(models.WordPiece(vocab(), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 101), ("[SEP]", 102)]
    )
    tok.decoder = decoders.WordPiece()
    # Kept whole by the pre-tokenizer, at their vocabulary ids.
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return tok


def weights(cfg, seed):
    rng = np.random.default_rng(seed)
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    w = {}

    def normal(name, *shape):
        w[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    def norm(name):
        w[name + ".weight"] = np.ones(h, np.float32)
        w[name + ".bias"] = np.zeros(h, np.float32)

    def dense(name, out_dim, in_dim):
        normal(name + ".weight", out_dim, in_dim)
        w[name + ".bias"] = np.zeros(out_dim, np.float32)

    e = "bert.embeddings."
    normal(e + "word_embeddings.weight", v, h)
    normal(e + "position_embeddings.weight", cfg["max_position_embeddings"], h)
    normal(e + "token_type_embeddings.weight", cfg["type_vocab_size"], h)
    norm(e + "LayerNorm")
    for n in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{n}."
        for m in ("query", "key", "value"):
            dense(p + "attention.self." + m, h, h)
        dense(p + "attention.output.dense", h, h)
        norm(p + "attention.output.LayerNorm")
        dense(p + "intermediate.dense", i, h)
        dense(p + "output.dense", h, i)
        norm(p + "output.LayerNorm")
    dense("cls.predictions.transform.dense", h, h)
    norm("cls.predictions.transform.LayerNorm")
    w["cls.predictions.bias"] = np.zeros(v, np.float32)
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = {
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": VOCAB, "hidden_size": 768,
        "num_hidden_layers": args.layers, "num_attention_heads": 12, "intermediate_size": 3072,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "tie_word_embeddings": True,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file(weights(cfg, args.seed), os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    tokenizer().save(os.path.join(args.out, "tokenizer.json"))
    print(f"random bert ({args.layers} layers) in {args.out}")


if __name__ == "__main__":
    main()
