"""Small pretrained-style tokenizers and a varied corpus for crossover's tokenizer tests.

Trains byte-level BPE tokenizers with `tokenizers` (no network) in the layouts of GPT-2,
GPT-NeoX (NFC, whitespace-run added tokens), Llama-3 (Split regex + ByteLevel, ignore_merges)
and Qwen2 (NFC + single digits), and derives tiktoken ranks files (cl100k and o200k regexes)
from one of them. `reference(name)` gives the reference library's encoder for a fixture.
"""
import base64
import json
import os
import subprocess

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                  r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+"""])

MULTILINGUAL = [
    "Grüße aus Köln! Ça va? L'été à Noël, naïve café, Œuvre — «citation».",
    "Cafe\u0301 and re\u0301sume\u0301 decomposed; Ａｂｃ fullwidth; ﬁ ligature; ℌ and ² and ½.",
    "Привет, мир! Это тест. Ελληνικά: Καλημέρα κόσμε. Українська мова.",
    "مرحبا بالعالم. هذا اختبار ١٢٣٤. עברית: שלום עולם.",
    "नमस्ते दुनिया। यह एक परीक्षण है। বাংলা ভাষা। தமிழ் மொழி.",
    "你好，世界！这是一个测试。日本語のテキスト、カタカナとひらがな。한국어 텍스트입니다.",
    "\u1100\u1161\u11a8 decomposed Hangul, ภาษาไทย ไม่มีช่องว่าง, ქართული, Հայերեն, አማርኛ.",
    "Emoji: 😀😃🎉 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ ☕ 🧑🏿‍💻 and text🙂between.",
]
SPECIAL_CASES = [
    "Whitespace:  two   three    four\t\ttabs\n\n\nnewlines   \n  trailing   ",
    " leading space, then\u00a0nbsp\u00a0\u00a0twice, NEL\u0085here, MVS\u180ehere, LS\u2028PS\u2029ideographic\u3000space",
    "\x1c\x1d\x1e\x1f separators and \x00 nul \x01\x07 controls \x7f del",
    "Digits: 1234567890 3.14159 1,000,000 007 ١٢٣ ①②③ Ⅻ ４２ 12345678901234567890",
    "Contractions: I'LL DON'T he's They'Re we'VE she'd It'S ſ 'S 'll ''quoted''",
    "Specials in text: <|endoftext|> and <|im_start|>user<|im_end|> and <|begin_of_text|>x",
    "sep: a <|sep|>  b\n<|sep|>\tc<|sep|>d",
    "Amen, Amen.Amen xAmen Amenx said Amen",
    "Code:\n    def f(x):\n        return x**2  # comment\n\r\n\tif a != b: pass\r\n",
    "Punctuation!!! ??? ... --- === *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} ||| ~~~",
    "https://example.com/path?q=1&r=2#frag user@example.org /usr/bin/env <html><b>x</b></html>",
    " " * 3000 + "after spaces",
    "=" * 2500 + "x" + "ab" * 1500,
    "\n" * 300 + "end",
    "mixed\r\n\r\nline\rendings\n\r",
    "a",
    " ",
    "\t",
]
INVALID_LINES = [
    b"abc\xffdef",
    b"\xc3\x28 invalid two-byte",
    b"cut three \xe2\x82",
    b"cut four \xf0\x9f\x98 then text",
    b"surrogate \xed\xa0\x80 here",
    b"overlong \xc0\xaf and \xe0\x80\xaf",
    b"too big \xf4\x90\x80\x80 and \xf8\x88\x80\x80\x80",
    b"mixed \xe2\x82\xac ok \x80\x80 bad \xbf",
    b"\xfe\xff\xfe",
]


def kjv_text(ref="Ge1:1-Ex40:38"):
    return subprocess.run(["bible", "-f", ref], check=True, capture_output=True, text=True).stdout


def documents(kjv):
    """The parity corpus: KJV chapters, multilingual text and edge cases (str)."""
    chapters, current = [], []
    for line in kjv.splitlines():
        if line.strip():
            current.append(line)
        if len(current) == 30:
            chapters.append("\n".join(current))
            current = []
    return chapters[:40] + MULTILINGUAL + SPECIAL_CASES


def training_text(kjv):
    return [kjv] + MULTILINGUAL * 20 + SPECIAL_CASES[:12] * 5


def train(tok, specials, vocab_size, texts):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.decoder = decoders.ByteLevel()
    return tok


def make_hf(name, texts, vocab_size=1200):
    if name == "gpt2":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        return train(tok, ["<|endoftext|>"], vocab_size, texts)
    if name == "neox":
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok = train(tok, ["<|endoftext|>", "<|padding|>"], vocab_size, texts)
        tok.add_tokens([AddedToken(" " * n, normalized=True) for n in (2, 3, 4, 8)] +
                       [AddedToken("Amen", single_word=True, normalized=True)])
        return tok
    if name == "gpt2-prefix":  # ByteLevel with add_prefix_space
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        return train(tok, ["<|endoftext|>"], vocab_size, texts)
    if name in ("llama3", "qwen2"):
        tok = Tokenizer(models.BPE(ignore_merges=(name == "llama3")))
        if name == "qwen2":
            tok.normalizer = normalizers.NFC()
        pattern = LLAMA3_PATTERN if name == "llama3" else QWEN2_PATTERN
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        specials = (["<|begin_of_text|>", "<|end_of_text|>"] if name == "llama3"
                    else ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        tok = train(tok, specials, vocab_size, texts)
        tok.add_special_tokens([AddedToken("<|sep|>", lstrip=True, rstrip=True, special=True)])
        return tok
    if name in ("llama2", "mistral", "metaspace-split"):
        # SentencePiece-style BPE with byte_fallback and a fused unk. llama2 writes the space
        # handling as normalizers (Prepend + Replace, no pre-tokenizer); mistral as the Metaspace
        # pre-tokenizer that newer conversions write (prepend to the first piece only, no split);
        # metaspace-split as Metaspace prepending to every piece and splitting at each space.
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.pre_tokenizer = pre_tokenizers.Metaspace()  # for training only
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                      limit_alphabet=120, show_progress=False)
        tok.train_from_iterator(texts, trainer)
        j = json.loads(tok.to_str())
        j["pre_tokenizer"] = None
        vocab = j["model"]["vocab"]
        first = max(vocab.values()) + 1
        for b in range(200):  # <0x00>..<0xC7>: the bytes above have neither a token nor a fallback
            vocab[f"<0x{b:02X}>"] = first + b
        tok = Tokenizer.from_str(json.dumps(j))
        if name == "mistral":
            tok.normalizer = None
            tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
        elif name == "metaspace-split":
            tok.normalizer = None
            tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                         decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        return tok
    raise ValueError(name)


HF_NAMES = ["gpt2", "gpt2-prefix", "neox", "llama3", "qwen2", "llama2", "mistral", "metaspace-split"]
TIKTOKEN_NAMES = {"tiny-cl100k": CL100K_PATTERN, "tiny-o200k": O200K_PATTERN}


def write_fixtures(out_dir, vocab_size=1200):
    """Writes NAME.json for every HF layout and NAME.tiktoken (+ NAME.tiktoken.json) files."""
    os.makedirs(out_dir, exist_ok=True)
    texts = training_text(kjv_text())
    paths = {}
    for name in HF_NAMES:
        path = os.path.join(out_dir, name + ".json")
        make_hf(name, texts, vocab_size).save(path)
        paths[name] = path
    paths.update(_tiktoken_from(paths["gpt2"], out_dir))
    return paths


def write_tiktoken_fixtures(out_dir, texts, vocab_size=1200):
    """Only the tiktoken files (NAME.tiktoken and NAME.tiktoken.json)."""
    os.makedirs(out_dir, exist_ok=True)
    gpt2 = os.path.join(out_dir, "gpt2-base.json")
    make_hf("gpt2", texts, vocab_size).save(gpt2)
    return _tiktoken_from(gpt2, out_dir)


def _tiktoken_from(gpt2_json, out_dir):
    """tiktoken files of a gpt2-layout tokenizer.json: its tokens as bytes, ranked by id."""
    base = json.load(open(gpt2_json))
    inverse = {chr(c): b for b, c in _byte_map().items()}
    ranks = {}
    for token, idx in base["model"]["vocab"].items():
        if token == "<|endoftext|>":
            continue
        ranks[bytes(inverse[ch] for ch in token)] = idx
    paths = {}
    for name, pattern in TIKTOKEN_NAMES.items():
        path = os.path.join(out_dir, name + ".tiktoken")
        with open(path, "w") as f:
            for b, r in sorted(ranks.items(), key=lambda kv: kv[1]):
                f.write(base64.b64encode(b).decode() + " " + str(r) + "\n")
        with open(path + ".json", "w") as f:
            json.dump({"name": name, "pat_str": pattern,
                       "special_tokens": {"<|endoftext|>": max(ranks.values()) + 1}}, f)
        paths[name] = path
    return paths


def _byte_map():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, cs))


def reference(path):
    """encode(list[str]) -> list[list[int]] with the reference library of the file."""
    if path.endswith(".tiktoken"):
        import tiktoken
        side = json.load(open(path + ".json"))
        ranks = {}
        for line in open(path):
            b64, r = line.split()
            ranks[base64.b64decode(b64)] = int(r)
        enc = tiktoken.Encoding(side["name"], pat_str=side["pat_str"], mergeable_ranks=ranks,
                                special_tokens=side["special_tokens"])
        return lambda texts: enc.encode_ordinary_batch(texts)
    tok = Tokenizer.from_file(path)
    return lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
