"""The tokenizer files `crossover export hf` writes for a run prepared with a tokenizer.json.

  tok_check_export.py make DIR            writes DIR/neox.json (tok_fixtures' GPT-NeoX layout) and
                                          the tiktoken fixtures DIR/tiny-cl100k.tiktoken and
                                          DIR/tiny-o200k.tiktoken (with their .json)
  tok_check_export.py check EXPORT IDS    AutoTokenizer.from_pretrained(EXPORT) must encode each
                                          text of IDS (JSON: texts, crossover's ids, mask, eos)
                                          to crossover's ids, with crossover's mask and eos; with
                                          "tiktoken": FILE in IDS, also every document of the
                                          tokenizer parity corpus to tiktoken's
                                          encode_ordinary ids
Prints `RESULT {json}`; exits non-zero on a difference.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    if sys.argv[1] == "make":
        import tok_fixtures
        os.makedirs(sys.argv[2], exist_ok=True)
        texts = tok_fixtures.training_text(tok_fixtures.kjv_text("Ge1:1-Ge20:18"))
        tok_fixtures.make_hf("neox", texts, 600).save(os.path.join(sys.argv[2], "neox.json"))
        tok_fixtures.write_tiktoken_fixtures(sys.argv[2], texts, 600)
        return
    from transformers import AutoTokenizer
    export, ids_path = sys.argv[2], sys.argv[3]
    want = json.load(open(ids_path))
    tok = AutoTokenizer.from_pretrained(export)
    problems = []
    for text, ids in zip(want["texts"], want["ids"]):
        got = tok(text)["input_ids"]
        if got != ids:
            problems.append(f"{text!r}: AutoTokenizer {got[:12]}, crossover {ids[:12]}")
    if tok.mask_token_id != want["mask"]:
        problems.append(f"mask_token_id {tok.mask_token_id}, crossover {want['mask']}")
    if tok.eos_token_id != want["eos"]:
        problems.append(f"eos_token_id {tok.eos_token_id}, crossover {want['eos']}")
    if tok.decode(want["ids"][0]) != want["texts"][0]:
        problems.append(f"decode gives {tok.decode(want['ids'][0])!r}")
    documents = 0
    if "tiktoken" in want:
        import tok_fixtures
        docs = tok_fixtures.documents(tok_fixtures.kjv_text())
        reference = tok_fixtures.reference(want["tiktoken"])(docs)
        documents = len(docs)
        for doc, ids in zip(docs, reference):
            got = tok(doc)["input_ids"]
            if got != ids:
                k = next((i for i in range(min(len(got), len(ids))) if got[i] != ids[i]),
                         min(len(got), len(ids)))
                problems.append(f"{doc[:60]!r}: differs at token {k}: AutoTokenizer "
                                f"{got[max(0, k - 2):k + 4]}, tiktoken {ids[max(0, k - 2):k + 4]}")
    print("\n".join(problems))
    print("RESULT " + json.dumps({"texts": len(want["texts"]), "documents": documents,
                                  "problems": len(problems),
                                  "tokenizer_class": type(tok).__name__}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
