#!/usr/bin/env bash
# nnport report: the page renders in headless Chromium with its script run to
# the end (body data-rendered="1") and no console error; it references
# nothing outside itself; bad records get status 1 naming the file and leave
# no page behind.  Writes a screenshot to $B/report.png.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
NN=$B/nnport
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

# tests/data/report/record.json: a hand-written record exercising every
# section, with HTML metacharacters in a name.
ok $NN report tests/data/report/record.json -o "$tmp/report.html"
ok test ! -e "$tmp/report.html.part"
ok grep -q '&lt;record&gt; &amp; &quot;quotes&quot;' "$tmp/report.html"
# the quantize stage's CTC counts (lvm_flow --gate ctc) get their column; the
# optimize stage, without them, a dash in it
ok grep -q '<th>read as float (CTC)</th>' "$tmp/report.html"
ok grep -q '<td>0.999100</td><td>7 of 8</td>' "$tmp/report.html"
ok grep -q '<td>1.000000</td><td>&mdash;</td>' "$tmp/report.html"
ok sh -c "! grep -Eiq '(src|href)=|https?://|@import|url\\(' '$tmp/report.html'"
if [ -n "$CHROMIUM" ]; then
    run_chromium() { timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" "$@"; }
    run_chromium --enable-logging=stderr --v=0 --dump-dom "file://$tmp/report.html" >"$tmp/dom.html" 2>"$tmp/console.log"
    ok grep -q 'data-rendered="1"' "$tmp/dom.html"
    ok sh -c "! grep -q 'CONSOLE' '$tmp/console.log'"
    run_chromium --hide-scrollbars --window-size=1000,1800 --screenshot="$B/report.png" "file://$tmp/report.html" >/dev/null 2>&1
    ok test -s "$B/report.png"
else
    echo "FAIL: chromium is missing (scripts/setup.sh installs it)"; fail=$((fail + 1))
fi

# Bad records.
printf '[1, 2]' > "$tmp/array.json"
printf '{"stages": [' > "$tmp/cut.json"
expect1() { # needle cmd...
    local needle=$1; shift
    "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq 1 ] && grep -qF -- "$needle" "$tmp/err"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $* -> $rc $(cat "$tmp/err")"; fi
}
expect1 "$tmp/array.json: the record must be a JSON object" $NN report "$tmp/array.json" -o "$tmp/a.html"
expect1 "$tmp/cut.json: line 1: not valid JSON" $NN report "$tmp/cut.json" -o "$tmp/b.html"
expect1 "$tmp/missing.json: cannot open" $NN report "$tmp/missing.json" -o "$tmp/c.html"
ok test ! -e "$tmp/a.html" -a ! -e "$tmp/b.html" -a ! -e "$tmp/c.html"
echo "report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
