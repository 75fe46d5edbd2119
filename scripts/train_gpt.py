#!/usr/bin/python3
"""Train a small GPT-style character model on Debian text and export it to ONNX.

Run with Debian's python:  /usr/bin/python3 scripts/train_gpt.py [--force] [--steps N]

Corpus: /usr/share/games/fortunes/* (package `fortunes`) and
/usr/share/common-licenses/* (package base-files).  Documents are single
fortunes and license paragraphs; a document goes to the held-out set when the
first byte of its sha256 is < 26 (about 10 %), so the split is deterministic
and independent of file order.

Model: 2 pre-LayerNorm transformer blocks, d_model 128, 4 heads, context 128,
learned token and positional embeddings, GELU MLP (4x), causal self-attention
written as explicit MatMul -> scale -> add causal mask -> Softmax -> MatMul,
final LayerNorm and a linear head.  ~0.44 M parameters, trained on CPU with
torch.set_num_threads(2) for a fixed number of steps (default 700, batch 32; about
3.5 minutes on 2 idle cores), AdamW peak lr 6e-3 with warm-up and
cosine decay, seeded and deterministic.

Outputs:
  $CACHE/data/gpt/train.txt, heldout.txt    the split corpus (ASCII)
  $CACHE/models/gpt_char_vocab.json         {"chars": [...], ...}; token id = index
  $CACHE/models/gpt_char.pt                 torch state_dict
  $CACHE/models/gpt_char_op13.onnx, _op17   input "tokens" int64 [1,128],
                                            output "logits" f32 [1,128,vocab]
  $CACHE/models/gpt_char_op*.ref_input.npy / .ref_output.npy
  $CACHE/models/gpt_char_metrics.json       held-out loss/accuracy vs baselines
  manifest.json entries gpt_char_ckpt, gpt_char_op13, gpt_char_op17
"""
import argparse
import collections
import glob
import hashlib
import json
import math
import os
import re
import sys
import time
import warnings

sys.dont_write_bytecode = True  # keep the work tree clean (no scripts/__pycache__)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnport_cache as nc  # noqa: E402

TAG = "train_gpt"
SEED = 20240613
CTX = 128
D_MODEL = 128
N_HEAD = 4
N_LAYER = 2
BATCH = 32
OPSETS = [13, 17]
# Token 0 is '\n', then the 95 printable ASCII characters.
CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
FORTUNE_SKIP = {"ascii-art"}  # pictures, not text


def clean(text):
    text = re.sub(r".\x08", "", text)       # overstrike sequences "X\bY" -> "Y"
    text = text.replace("\t", "    ").replace("\r", "")
    return "".join(c for c in text if c == "\n" or 32 <= ord(c) < 127)


def collect_documents():
    docs = []
    fort = sorted(glob.glob("/usr/share/games/fortunes/*"))
    fort = [p for p in fort if not p.endswith((".dat", ".u8")) and os.path.isfile(p)
            and os.path.basename(p) not in FORTUNE_SKIP]
    if not fort:
        nc.die(TAG, "no fortune files in /usr/share/games/fortunes (apt-get install fortunes)")
    for p in fort:
        with open(p, encoding="utf-8", errors="replace") as f:
            for d in re.split(r"\n%\n", f.read()):
                docs.append(d)
    seen = set()
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        rp = os.path.realpath(p)
        if rp in seen or not os.path.isfile(rp):
            continue
        seen.add(rp)
        with open(rp, encoding="utf-8", errors="replace") as f:
            for d in re.split(r"\n\s*\n", f.read()):
                docs.append(d)
    out, dedup = [], set()
    for d in docs:
        d = clean(d).strip("\n")
        if len(d) < 8 or d in dedup:
            continue
        dedup.add(d)
        out.append(d)
    return out, len(fort), len(seen)


def split_corpus(docs):
    train, held = [], []
    for d in docs:
        (held if hashlib.sha256(d.encode()).digest()[0] < 26 else train).append(d)
    j = lambda ds: "".join(d + "\n%\n" for d in ds)  # noqa: E731
    return j(train), j(held), len(train), len(held)


def make_model(torch, vocab):
    nn = torch.nn
    F = torch.nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
            self.proj = nn.Linear(D_MODEL, D_MODEL)
            mask = torch.full((CTX, CTX), -1e9).triu(1)  # 0 on/below diagonal
            self.register_buffer("mask", mask.view(1, 1, CTX, CTX))
            self.scale = 1.0 / math.sqrt(D_MODEL // N_HEAD)

        def forward(self, x):
            hd = D_MODEL // N_HEAD
            q, k, v = self.qkv(x).split(D_MODEL, dim=2)
            q = q.reshape(-1, CTX, N_HEAD, hd).transpose(1, 2)   # B,H,T,hd
            k = k.reshape(-1, CTX, N_HEAD, hd).transpose(1, 2)
            v = v.reshape(-1, CTX, N_HEAD, hd).transpose(1, 2)
            att = torch.matmul(q, k.transpose(2, 3)) * self.scale  # B,H,T,T
            att = att + self.mask
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, v)                              # B,H,T,hd
            y = y.transpose(1, 2).reshape(-1, CTX, D_MODEL)
            return self.proj(y)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D_MODEL)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(D_MODEL)
            self.fc1 = nn.Linear(D_MODEL, 4 * D_MODEL)
            self.fc2 = nn.Linear(4 * D_MODEL, D_MODEL)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class CharGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, D_MODEL)
            self.pos = nn.Parameter(torch.zeros(1, CTX, D_MODEL))
            self.blocks = nn.ModuleList([Block() for _ in range(N_LAYER)])
            self.ln_f = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, vocab)
            for n, p in self.named_parameters():
                if n.endswith("weight") and p.dim() == 2:
                    nn.init.normal_(p, 0.0, 0.02)
                elif n.endswith("bias"):
                    nn.init.zeros_(p)
            nn.init.normal_(self.pos, 0.0, 0.02)

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x))

    return CharGPT()


def encode(np, text):
    lut = np.full(256, -1, dtype=np.int64)
    for i, c in enumerate(CHARS):
        lut[ord(c)] = i
    ids = lut[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    assert (ids >= 0).all()
    return ids


def evaluate(torch, np, model, ids):
    """Mean next-char cross-entropy (nats) and accuracy over non-overlapping windows."""
    n = (len(ids) - 1) // CTX
    x = torch.from_numpy(ids[: n * CTX].reshape(n, CTX))
    y = torch.from_numpy(ids[1: n * CTX + 1].reshape(n, CTX))
    tot_loss, tot_ok, cnt = 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, n, 64):
            lg = model(x[i:i + 64])
            tot_loss += torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), y[i:i + 64].reshape(-1),
                                                          reduction="sum").item()
            tot_ok += (lg.argmax(-1) == y[i:i + 64]).sum().item()
            cnt += y[i:i + 64].numel()
    return tot_loss / cnt, tot_ok / cnt, cnt


def baselines(np, train_ids, held_ids, vocab):
    cnt = np.bincount(train_ids, minlength=vocab).astype(np.float64) + 1.0
    p = cnt / cnt.sum()
    uni_loss = float(-np.log(p[held_ids[1:]]).mean())
    uni_acc = float((held_ids[1:] == int(p.argmax())).mean())
    big = np.ones((vocab, vocab))
    np.add.at(big, (train_ids[:-1], train_ids[1:]), 1.0)
    big /= big.sum(1, keepdims=True)
    bi_loss = float(-np.log(big[held_ids[:-1], held_ids[1:]]).mean())
    bi_acc = float((big.argmax(1)[held_ids[:-1]] == held_ids[1:]).mean())
    return {"unigram_loss": uni_loss, "unigram_acc": uni_acc, "bigram_loss": bi_loss, "bigram_acc": bi_acc}


def train(torch, np, train_ids, steps, log_every=100):
    vocab = len(CHARS)
    torch.manual_seed(SEED)
    model = make_model(torch, vocab)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=float(os.environ.get("NNPORT_GPT_LR", "6e-3")), betas=(0.9, 0.95))
    warm = 50

    def lr_at(s):
        if s < warm:
            return (s + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    g = torch.Generator().manual_seed(SEED + 1)
    data = torch.from_numpy(train_ids)
    ar = torch.arange(CTX + 1)
    t0 = time.time()
    model.train()
    run = None
    for s in range(steps):
        off = torch.randint(0, len(train_ids) - CTX - 1, (BATCH, 1), generator=g)
        w = data[off + ar]
        lg = model(w[:, :-1])
        loss = torch.nn.functional.cross_entropy(lg.reshape(-1, vocab), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if (s + 1) % log_every == 0 or s == 0:
            nc.log(TAG, "step %5d/%d  train loss %.3f  lr %.2e  %.0f s" % (s + 1, steps, run,
                                                                       sched.get_last_lr()[0], time.time() - t0))
    model.eval()
    return model, time.time() - t0


def export(torch, onnx, np, model, mdir, held_ids, metrics, extra_files):
    entries = {}
    x = torch.from_numpy(held_ids[:CTX].reshape(1, CTX).copy())
    with torch.no_grad():
        y = model(x).numpy()
    for op in OPSETS:
        key = "gpt_char_op%d" % op
        fname = key + ".onnx"
        path = os.path.join(mdir, fname)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.no_grad():
                torch.onnx.export(model, (x,), path + ".tmp", opset_version=op, input_names=["tokens"],
                                  output_names=["logits"], do_constant_folding=True)
        m = onnx.load(path + ".tmp")
        onnx.checker.check_model(m)
        os.replace(path + ".tmp", path)
        ops = collections.Counter(n.op_type for n in m.graph.node)
        ref_in, ref_out = key + ".ref_input.npy", key + ".ref_output.npy"
        nc.save_npy(os.path.join(mdir, ref_in), x.numpy().astype(np.int64))
        nc.save_npy(os.path.join(mdir, ref_out), y.astype(np.float32))
        ins, outs = nc.onnx_io(m)
        files = {ref_in: nc.sha256_file(os.path.join(mdir, ref_in)),
                 ref_out: nc.sha256_file(os.path.join(mdir, ref_out))}
        files.update(extra_files)
        entries[key] = {
            "name": key, "family": "gpt_char", "file": fname, "sha256": nc.sha256_file(path),
            "bytes": os.path.getsize(path), "opset": op, "inputs": ins, "outputs": outs,
            "ops": dict(sorted(ops.items())), "nodes": len(m.graph.node),
            "params": sum(p.numel() for p in model.parameters()),
            "vocab": "gpt_char_vocab.json", "ref_input": ref_in, "ref_output": ref_out,
            "files": files, "metrics": metrics, "seed": SEED,
            "export": {"exporter": "torch.onnx.export (TorchScript)", "training": "EVAL",
                       "do_constant_folding": True},
            "torch_version": torch.__version__, "onnx_version": onnx.__version__,
        }
        nc.log(TAG, "%s: %.2f MB, %d nodes: %s" % (fname, os.path.getsize(path) / 1e6, len(m.graph.node),
                                                  ", ".join("%s %d" % kv for kv in sorted(ops.items()))))
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--force", action="store_true", help="retrain and re-export")
    ap.add_argument("--export-only", action="store_true", help="re-export from the saved checkpoint")
    ap.add_argument("--steps", type=int, default=700)
    a = ap.parse_args()
    mdir, ddir = nc.models_dir(), os.path.join(nc.data_dir(), "gpt")
    mpath = os.path.join(mdir, "manifest.json")
    keys = ["gpt_char_ckpt"] + ["gpt_char_op%d" % op for op in OPSETS]
    if not a.force and not a.export_only and nc.manifest_ok(mpath, keys):
        nc.log(TAG, "gpt_char up to date")
        return
    os.makedirs(mdir, exist_ok=True)
    os.makedirs(ddir, exist_ok=True)
    import numpy as np
    import onnx
    import torch
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    nc.log(TAG, "torch %s, onnx %s" % (torch.__version__, onnx.__version__))

    t0 = time.time()
    docs, nfort, nlic = collect_documents()
    train_txt, held_txt, ntr, nhe = split_corpus(docs)
    nc.log(TAG, "corpus: %d documents from %d fortune files + %d licenses; train %d docs / %d chars, "
           "held-out %d docs / %d chars" % (len(docs), nfort, nlic, ntr, len(train_txt), nhe, len(held_txt)))
    rel = {}
    for nm, txt in (("train.txt", train_txt), ("heldout.txt", held_txt)):
        p = os.path.join(ddir, nm)
        nc.atomic_write_text(p, txt)
        rel["../data/gpt/" + nm] = nc.sha256_file(p)
    vpath = os.path.join(mdir, "gpt_char_vocab.json")
    nc.atomic_write_text(vpath, json.dumps({"chars": CHARS, "size": len(CHARS), "context": CTX,
                                            "note": "token id = index into chars; input text is ASCII"},
                                           indent=1) + "\n")
    rel["gpt_char_vocab.json"] = nc.sha256_file(vpath)
    train_ids, held_ids = encode(np, train_txt), encode(np, held_txt)

    ckpt = os.path.join(mdir, "gpt_char.pt")
    man = nc.load_manifest(mpath)["entries"].get("gpt_char_ckpt")
    if a.export_only:
        if not (man and nc.entry_ok(mdir, man)):
            nc.die(TAG, "--export-only: no valid checkpoint recorded in %s" % mpath)
        model = make_model(torch, len(CHARS))
        model.load_state_dict(torch.load(ckpt))
        model.eval()
        metrics = man["metrics"]
    else:
        nc.log(TAG, "training %d steps, batch %d x %d, on %d threads" % (a.steps, BATCH, CTX,
                                                                       torch.get_num_threads()))
        model, ttime = train(torch, np, train_ids, a.steps)
        torch.save(model.state_dict(), ckpt)
        loss, acc, n = evaluate(torch, np, model, held_ids)
        tr_loss, tr_acc, _ = evaluate(torch, np, model, train_ids[: len(held_ids)])
        metrics = {"heldout_loss": loss, "heldout_acc": acc, "heldout_tokens": n,
                   "heldout_bits_per_char": loss / math.log(2),
                   "train_loss_same_size_prefix": tr_loss, "train_acc_same_size_prefix": tr_acc,
                   "train_seconds": ttime, "steps": a.steps, "batch": BATCH, "context": CTX,
                   "threads": torch.get_num_threads()}
        metrics.update(baselines(np, train_ids, held_ids, len(CHARS)))
        nc.atomic_write_text(os.path.join(mdir, "gpt_char_metrics.json"), json.dumps(metrics, indent=1) + "\n")
        nc.log(TAG, "held-out: loss %.3f nats (%.2f bits/char), next-char acc %.1f%% | unigram baseline "
               "loss %.3f acc %.1f%% | bigram loss %.3f acc %.1f%% | train %.0f s" % (
                   loss, loss / math.log(2), 100 * acc, metrics["unigram_loss"], 100 * metrics["unigram_acc"],
                   metrics["bigram_loss"], 100 * metrics["bigram_acc"], ttime))
        if not loss < metrics["bigram_loss"]:
            nc.die(TAG, "the model did not beat the bigram baseline: training failed")
    ck_files = dict(rel)
    ck_files["gpt_char_metrics.json"] = nc.sha256_file(os.path.join(mdir, "gpt_char_metrics.json"))
    ck_entry = {"name": "gpt_char_ckpt", "file": "gpt_char.pt", "sha256": nc.sha256_file(ckpt),
                "files": ck_files, "metrics": metrics, "seed": SEED,
                "config": {"layers": N_LAYER, "d_model": D_MODEL, "heads": N_HEAD, "context": CTX,
                           "vocab": len(CHARS), "mlp": 4 * D_MODEL, "norm": "pre-LayerNorm",
                           "activation": "gelu (erf)", "positional": "learned"},
                "torch_version": torch.__version__}
    entries = export(torch, onnx, np, model, mdir, held_ids, metrics, rel)
    entries["gpt_char_ckpt"] = ck_entry
    nc.update_manifest(mpath, entries)
    nc.log(TAG, "done in %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
