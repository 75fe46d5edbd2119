#!/usr/bin/python3
"""Turns build/conformance*.json (tests/conformance.c --json) into
docs/CONFORMANCE.md: totals per suite, and per op the cases passed, failed
and skipped with the reasons for each skip, and prints the combined
"conformance: P passed, F failed, S skipped" line.

  scripts/conformance_report.py OUT.md RESULT.json...
"""
import collections
import json
import os
import re
import sys

SUITE_NAMES = {"conformance-onnx123": "ONNX 1.23 (../shared/onnx-tests)",
               "conformance-debian": "Debian libonnx-testdata"}


def reason(msg):
    """A skip message without case-specific node names, for grouping."""
    msg = re.sub(r"^prepare: |^load: ", "", msg)
    msg = re.sub(r"\[[^\]]*\] ", "", msg)
    return msg.strip()[:160]


def main(argv):
    out, paths = argv[0], argv[1:]
    suites = []
    per_op = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0, 0]))
    reasons = collections.defaultdict(collections.Counter)
    failures = []
    P = F = S = 0
    for p in paths:
        key = os.path.splitext(os.path.basename(p))[0]
        name = SUITE_NAMES.get(key, key)
        d = json.load(open(p))
        suites.append((name, d["passed"], d["failed"], d["skipped"], len(d["cases"])))
        P += d["passed"]; F += d["failed"]; S += d["skipped"]
        for c in d["cases"]:
            k = {"pass": 0, "fail": 1, "skip": 2}[c["status"]]
            ops = c["ops"] or ["(none)"]
            for op in sorted(set(ops)):
                per_op[op][name][k] += 1
            if c["status"] == "skip":
                reasons[ops[0] if len(ops) == 1 else ",".join(sorted(set(ops)))][reason(c["message"])] += 1
            if c["status"] == "fail":
                failures.append((name, c["case"], c["message"]))
    names = [s[0] for s in suites]
    L = ["# Conformance", "",
         "Written by `make conformance` (scripts/conformance.sh). Every case of the ONNX backend test data is loaded,",
         "prepared and run on every data set by `build/conformance` (one forked process per case, 20 s limit) and its",
         "outputs are compared with the case's expected outputs at rtol 1e-3, atol 1e-7 (the ONNX suite's defaults).",
         "", "- **passed**: every output of every data set matched.",
         "- **failed**: a wrong number, a wrong shape, a crash, a time-out, or an error other than a refusal.",
         "- **skipped**: refused with NN_ERR_UNSUPPORTED when loaded or prepared, with a message naming what is not",
         "  supported (never a silently wrong number).", "",
         "| suite | cases | passed | failed | skipped |", "|---|---|---|---|---|"]
    for n, p, f, s, c in suites:
        L.append("| %s | %d | %d | %d | %d |" % (n, c, p, f, s))
    L.append("| **both** | %d | **%d** | **%d** | %d |" % (sum(s[4] for s in suites), P, F, S))
    L += ["", "Cases that use several ops count under each of them below, so the per-op rows add up to more than the totals.", ""]
    if failures:
        L += ["## Failures", ""] + ["- %s `%s`: %s" % f for f in failures] + [""]
    L += ["## Per op", "", "| op | " + " | ".join("%s pass/fail/skip" % n for n in names) + " |",
          "|---|" + "---|" * len(names)]
    for op in sorted(per_op, key=str.lower):
        cells = []
        for n in names:
            p, f, s = per_op[op].get(n, [0, 0, 0])
            cells.append("%d / %d / %d" % (p, f, s) if p + f + s else "-")
        L.append("| %s | %s |" % (op, " | ".join(cells)))
    L += ["", "## Why cases are skipped", "", "Grouped by the ops of the case and the refusal message.", ""]
    for ops in sorted(reasons, key=str.lower):
        for msg, n in reasons[ops].most_common():
            L.append("- %s (%d): %s" % (ops, n, msg.replace("|", "\\|")))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(L) + "\n")
    os.replace(out + ".tmp", out)
    print("wrote %s" % out)
    print("conformance: %d passed, %d failed, %d skipped" % (P, F, S))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
