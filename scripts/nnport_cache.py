"""Shared helpers for nnport's model/data scripts (run with /usr/bin/python3).

Cache layout (root: $NNPORT_CACHE, default ~/.cache/nnport):
  models/manifest.json   one entry per model file, keyed by name
  data/manifest.json     one entry per prepared data set, keyed by name
Each entry records sha256 of every file it produced, so a script can skip
work whose outputs exist and still hash to what was recorded.
"""
import hashlib
import json
import os
import sys
import tempfile
import time


def cache_dir():
    return os.environ.get("NNPORT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnport")


def models_dir():
    return os.path.join(cache_dir(), "models")


def data_dir():
    return os.path.join(cache_dir(), "data")


def log(tag, msg):
    print("[%s] %s" % (tag, msg), flush=True)


def die(tag, msg):
    print("[%s] ERROR: %s" % (tag, msg), file=sys.stderr, flush=True)
    sys.exit(1)


def sha256_file(path, _memo={}):
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    _memo[key] = h.hexdigest()
    return _memo[key]


def load_manifest(path):
    if not os.path.exists(path):
        return {"entries": {}}
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return {"entries": {}}
    m.setdefault("entries", {})
    return m


def atomic_write_text(path, text):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def update_manifest(path, entries, **top):
    """Merge entries (dict name -> entry) into the manifest at path."""
    m = load_manifest(path)
    m["entries"].update(entries)
    m.update(top)
    m["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_text(path, json.dumps(m, indent=1, sort_keys=True) + "\n")
    return m


def entry_files(entry):
    """(relative path, sha256) pairs recorded in an entry."""
    out = []
    if "file" in entry and "sha256" in entry:
        out.append((entry["file"], entry["sha256"]))
    for rel, sha in sorted(entry.get("files", {}).items()):
        out.append((rel, sha))
    return out


def entry_ok(base, entry):
    """True when every file recorded by entry exists under base and matches its sha256."""
    files = entry_files(entry)
    if not files:
        return False
    for rel, sha in files:
        p = os.path.join(base, rel)
        if not os.path.isfile(p) or sha256_file(p) != sha:
            return False
    return True


def manifest_ok(path, names):
    base = os.path.dirname(os.path.abspath(path))
    m = load_manifest(path)
    for n in names:
        e = m["entries"].get(n)
        if e is None or not entry_ok(base, e):
            return False
    return True


def save_npy(path, arr):
    import numpy as np
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


# ONNX TensorProto element types -> the names nnport and onnxruntime-node use
ONNX_DTYPE_NAMES = {0: "undefined", 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
                    6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64",
                    12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16"}


def onnx_value_info(vi):
    """{"name", "shape", "dtype"} of an onnx ValueInfoProto; symbolic dims stay strings."""
    t = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return {"name": vi.name, "shape": dims, "dtype": ONNX_DTYPE_NAMES.get(t.elem_type, str(t.elem_type))}


def onnx_io(model):
    inits = {i.name for i in model.graph.initializer}
    return ([onnx_value_info(v) for v in model.graph.input if v.name not in inits],
            [onnx_value_info(v) for v in model.graph.output])
