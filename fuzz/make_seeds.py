#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from small hand-made inputs, a few lines of the
shared datasets (../shared/data, when present) and the repository's samples and fixtures.

Run from anywhere: python3 fuzz/make_seeds.py. It only adds or overwrites its own seed files."""
import collections, io, json, os, pickle, sqlite3, struct, subprocess, sys, types, zipfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(FUZZ)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/data"


def put(target, name, data):
    # "../known": inputs that still crash a target (an open bug), kept out of the CI corpus.
    d = os.path.join(FUZZ, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# --- templates: both syntaxes, every option, and hostile shapes
templates = [
    "{text_a} It was {mask}.",
    "Premise: {text_a|full} Hypothesis: {text_b|decap} Answer: {mask}",
    '{soft:5} {text_a} {soft:"In summary, it was"} {mask}.',
    "{text_a|lower} {text_a|strip} {text_a|period} {text_a|cap} {text_a|full|lower} {mask}",
    "{{literal}} {sentence} {MASK} {soft} {Soft:2}",
    '{soft:"a \\"quoted\\" \\\\ text"} {mask}',
    "Très bien 😀\n\t{text_a}\n{mask}。",
    "[MASK] <mask> {text_a} {mask} {mask}",
    "{ } {1st} {mask}} {{{ {mask",
    "{soft:99999999999999999999} {mask}",
    '{"placeholder":"text_a"} It was {"mask"}.',
    '{"meta": "sentence", "shortenable": False} {"soft": "It was"} {"mask"}.',
    '{"soft": None, "duplicate": 20} {"placeholder": "text_a", "post_processing": lambda x: x.lower()} {"mask"}',
    '{"placeholder": "text_b", "add_prefix_space": ""} {"text": "It was"} {"mask"} {"soft_id": 1, "soft": None}',
    '{"special": "<eos>"} {"mask", "same": True} {"post_processing": "mlp"}',
    "{'placeholder': 'text_a', 'shortenable': 'True'} {'mask'}",
    '{"placeholder":"text_a", "post_processing": "lambda x: x.strip(\'.\')"} {"mask"}',
    '{"soft": "x", "duplicate": -1} {"mask"}',
]
def put_all(target, items):
    for i, item in enumerate(items):
        put(target, f"seed-{i:02}", item)


put_all("template", templates)

# --- verbalizers
verbalizers = [
    open(os.path.join(REPO, "samples", "sentiment.verbalizer.json"), encoding="utf-8").read(),
    '["terrible", "great"]',
    '[["bad", "awful"], ["good"], "neutral"]',
    '{"good": "good", "GOOD": ["GOOD"], " great": "great"}',
    '{"a": [], "b": [""], "c": [" "], "": ["x"]}',
    '{"x": 1, "y": null, "z": {"w": true}}',
    '{"négatif": ["affreux 😡"], "positif": ["génial\\u0000"]}',
    '{"a": ["w"], "a": ["v"]}',
    "[[[]]]",
]
put_all("verbalizer", verbalizers)


# --- data files: two option bytes, then the file (see fuzz_targets/data_reader.rs)
def lines(path, n=6):
    try:
        with open(os.path.join(SHARED, path), "rb") as f:
            return b"".join(f.readline()[:300].rstrip(b"\r\n") + b"\n" for _ in range(n))
    except OSError:
        return None

EXT = {"txt": 0, "csv": 1, "tsv": 2, "jsonl": 3}
data = [
    ("txt", lines("sms_spam_uci/SMSSpamCollection")),
    ("tsv", lines("glue_rte_JiYishan/dev.tsv", 4)),
    ("tsv", lines("glue_sst2_TaoCesc/dev.tsv")),
    ("csv", lines("ag_news_csv/test.csv", 4)),
    ("txt", lines("emotion_dair/train.txt")),
    ("txt", lines("harvardnlp_sent-conv-torch/TREC.test.all")),
    ("tsv", lines("intent_TaoCesc/snips/dev.tsv")),
    ("csv", open(os.path.join(REPO, "samples", "reviews.csv"), "rb").read()[:1500]),
    ("jsonl", b'{"text": "good movie", "label": "pos", "id": 1}\n{"text": "bad", "label": 0}\n\n{"text": null}\n[1]\n'),
    ("csv", b'text,label\n"multi\nline ""quoted""",pos\n"unterminated,neg\n'),
    ("tsv", b'sentence\tlabel\n"Hi" she said\t1\nno tab here\n\t\t\n'),
    ("txt", "\ufeffpos caf\u00e9 bien\nneg mauvais\n".encode("utf-8")),
    ("txt", "text;label\ncaf\u00e9 cr\u00e8me;good\n".encode("latin-1")),
    ("txt", "\ufefftext\tlabel\nhello\tpos\n".encode("utf-16-le")),
    ("txt", "\ufefftext\tlabel\nhello\tpos\n".encode("utf-16-be")),
    ("txt", "\ufefftext,label\nhello,pos\n".encode("utf-32")),
    ("csv", b"text,label\r\na\x00b,1\r\n,\r\n"),
    ("txt", b"a b\n" * 3 + b"x" * 2000 + b" y\n"),
]
for i, (ext, body) in enumerate(data):
    if body is None:
        continue
    for ctl in (EXT[ext], EXT[ext] | 0x80):
        put("data_reader", f"seed-{i:02}-{ctl:02x}", bytes([ctl, 0]) + body)
# forced formats and encodings
put("data_reader", "forced-delimited", bytes([0b00011100, ord(";")]) + b"a;b;c\nd;e;f\n")
put("data_reader", "forced-labelsentence", bytes([0b00011000, 0]) + b"pos good\nneg bad\n")
put("data_reader", "forced-jsonl-latin1", bytes([0b01110100, 0]) + '{"text": "\u00e9", "label": "x"}\n'.encode("latin-1"))

# --- config.json: the fixtures and invalid values
fixtures = os.path.join(REPO, "tests", "fixtures", "parity")
for fam in sorted(os.listdir(fixtures)) if os.path.isdir(fixtures) else []:
    p = os.path.join(fixtures, fam, "config.json")
    if os.path.isfile(p):
        put("plm_config", f"fixture-{fam}", open(p, "rb").read())
base = {"model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_act": "gelu"}
bad = [
    {"num_attention_heads": 0}, {"num_attention_heads": 5}, {"num_hidden_layers": 0},
    {"layer_norm_eps": -1.0}, {"layer_norm_eps": 0}, {"vocab_size": 18446744073709551615},
    {"hidden_size": "32"}, {"hidden_act": "swish"}, {"position_embedding_type": "relative_key"},
    {"model_type": "gpt2"}, {"model_type": None, "architectures": ["RobertaForMaskedLM"]},
    {"max_position_embeddings": 0}, {"pad_token_id": 4294967296},
]
for i, b in enumerate(bad):
    put("plm_config", f"bad-{i:02}", json.dumps({**base, **b}))
put("plm_config", "distilbert-heads0", json.dumps({"model_type": "distilbert", "vocab_size": 10, "dim": 8,
    "n_layers": 1, "n_heads": 0, "hidden_dim": 16, "max_position_embeddings": 8, "activation": "gelu"}))


# --- safetensors: tiny files of every dtype, and broken headers
def safetensors(tensors, header_extra=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_extra:
        header.update(header_extra)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data

put("safetensors", "f32", safetensors({"embeddings.word_embeddings.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
                                        "LayerNorm.gamma": ("F32", [3], struct.pack("<3f", 1, 1, 1))},
                                       {"__metadata__": {"format": "pt"}}))
for dt, size in [("F16", 2), ("BF16", 2), ("F64", 8), ("I64", 8), ("U8", 1), ("I32", 4), ("U32", 4), ("BOOL", 1), ("F8_E4M3", 1)]:
    put("safetensors", dt.lower(), safetensors({"w": (dt, [2, 2], bytes(range(1, 4 * size + 1)))}))
put("safetensors", "huge-shape", safetensors({"w": ("F32", [100000, 100000], b"\0" * 16)}))
put("safetensors", "bad-offsets", struct.pack("<Q", 60) + b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,99]}}    ')
put("safetensors", "huge-header-len", struct.pack("<Q", 1 << 62) + b"{}")
put("safetensors", "empty", b"")


# --- pickle: a torch-style state dict (protocol 2), built without torch
def torch_pickle(tensors):
    torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
    def _rebuild_tensor_v2(*a): pass
    _rebuild_tensor_v2.__module__ = "torch._utils"; _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    class FloatStorage: pass
    class HalfStorage: pass
    class LongStorage: pass
    for c in (FloatStorage, HalfStorage, LongStorage):
        c.__module__ = "torch"; c.__qualname__ = c.__name__; setattr(torch, c.__name__, c)
    torch._utils = utils
    sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils

    class Storage:
        def __init__(self, cls, key, n): self.cls, self.key, self.n = cls, key, n
    class T:
        def __init__(self, storage, offset, shape, stride):
            self.args = (storage, offset, shape, stride, False, collections.OrderedDict())
        def __reduce__(self): return (_rebuild_tensor_v2, self.args)
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", obj.cls, obj.key, "cpu", obj.n)
            return None
    sd = collections.OrderedDict()
    kinds = {"float": FloatStorage, "half": HalfStorage, "long": LongStorage}
    for name, (kind, key, n, offset, shape, stride) in tensors.items():
        sd[name] = T(Storage(kinds[kind], key, n), offset, shape, stride)
    buf = io.BytesIO(); P(buf, protocol=2).dump(sd)
    del sys.modules["torch"], sys.modules["torch._utils"]
    return buf.getvalue()

pk = torch_pickle({"bert.embeddings.word_embeddings.weight": ("float", "0", 16, 0, (4, 4), (4, 1)),
                   "cls.predictions.bias": ("float", "0", 16, 4, (4,), (1,))})
put("pickle", "state-dict.pkl", pk)
put("pickle", "transposed.pkl", torch_pickle({"w": ("float", "0", 16, 0, (4, 4), (1, 4)), "h": ("half", "0", 32, 0, (8,), (1,))}))
put("../known", "pickle-huge-tensor.pkl", torch_pickle({"w": ("float", "0", 16, 0, (100000, 100000), (100000, 1))}))
put("pickle", "outside.pkl", torch_pickle({"w": ("long", "../../etc/passwd", 2, 0, (2,), (1,))}))
put("pickle", "not-a-dict.pkl", pickle.dumps([1, "two", 3.0, (4,), {5: b"6"}], protocol=2))
put("pickle", "os-system.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
zbuf = io.BytesIO()
with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", pk); z.writestr("archive/data/0", struct.pack("<16f", *range(16)))
    z.writestr("archive/version", "3\n")
put("pickle", "pytorch_model.bin", zbuf.getvalue())


# --- GGUF (v3): header, metadata of every value type, two tensors
def gstr(s):
    b = s.encode(); return struct.pack("<Q", len(b)) + b

def gguf(kvs, tensors, version=3):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, typ, val in kvs:
        out += gstr(key) + struct.pack("<I", typ) + val
    offset = 0
    for name, dims, ggml_type, nbytes in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset); offset += (nbytes + 31) // 32 * 32
    out += b"\0" * (-len(out) % 32)
    for _, _, _, nbytes in tensors:
        out += bytes(range(nbytes % 256)) * (nbytes // 256) + bytes(range(nbytes % 256))
        out += b"\0" * (-len(out) % 32)
    return out

kvs = [("general.architecture", 8, gstr("bert")), ("bert.block_count", 4, struct.pack("<I", 2)),
       ("bert.attention.layer_norm_epsilon", 6, struct.pack("<f", 1e-12)),
       ("general.alignment", 4, struct.pack("<I", 32)), ("x.u8", 0, b"\x07"), ("x.i64", 11, struct.pack("<q", -5)),
       ("x.bool", 7, b"\x01"), ("x.f64", 12, struct.pack("<d", 0.5)),
       ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gstr("[PAD]") + gstr("[MASK]") + gstr("hello"))]
put("gguf", "bert-f32.gguf", gguf(kvs, [("token_embd.weight", [4, 3], 0, 48), ("output_norm.weight", [4], 0, 16)]))
put("gguf", "f16-q8.gguf", gguf(kvs[:2], [("a", [8], 1, 16), ("b", [32], 8, 34)]))
put("gguf", "v2.gguf", gguf(kvs[:1], [("a", [2], 0, 8)], version=2))
put("gguf", "huge-dims.gguf", gguf(kvs[:1], [("a", [1 << 40, 1 << 20], 0, 8)]))
put("gguf", "huge-counts.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 1 << 60))
put("gguf", "huge-string.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62))
put("gguf", "huge-array.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("a") + struct.pack("<IIQ", 9, 4, 1 << 61))

# --- project files: a real empty project and one with a dataset (made by the CLI if built),
# someone else's SQLite database, and non-projects
cli = os.environ.get("CLOZE_BIN")
if cli and os.path.exists(cli):
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        p = os.path.join(t, "p.cloze")
        subprocess.run([cli, "project", "new", p], check=True, capture_output=True)
        put("store_open", "empty-project.cloze", open(p, "rb").read())
        d = os.path.join(t, "d.csv")
        open(d, "w").write("text,label\ngood,pos\nbad,neg\n")
        subprocess.run([cli, "project", "import", p, d, "--name", "tiny"], check=True, capture_output=True)
        put("store_open", "tiny-project.cloze", open(p, "rb").read())
import tempfile
with tempfile.TemporaryDirectory() as t:
    p = os.path.join(t, "other.sqlite")
    c = sqlite3.connect(p); c.execute("create table t(a, b)"); c.execute("insert into t values (1, 'x')"); c.commit(); c.close()
    put("store_open", "other.sqlite", open(p, "rb").read())
put("store_open", "zero-bytes", b"")
put("store_open", "text", b"text,label\nhello,pos\n")
put("store_open", "sqlite-header-only", b"SQLite format 3\0" + b"\x10\x00\x01\x01\x00\x40\x20\x20" + b"\0" * 76)
print("seeds written to", os.path.join(FUZZ, "corpus"))
