#!/usr/bin/env bash
# test_info.sh FASTPOOL_INFO: fastpool-info runs, exits 0, and what it says
# matches this host: the core and PU counts (lscpu, nproc), a pool pinned
# to the CPU set it is given (taskset), UCX's tcp and a shared-memory
# transport, no GPU where there is no CUDA driver, valid JSON, and a bad
# option refused naming it.
set -uo pipefail
info=$1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$("$info") || { echo "FAIL: fastpool-info exited $?"; echo "$out"; exit 1; }
echo "$out"

field() { awk -v k="$1" '$1 == k {print $2; exit}' <<<"$out"; }
cores=$(field cores:)
pus=$(field PUs:)
if command -v lscpu >/dev/null; then
    want=$(lscpu -p=Socket,Core | grep -v '^#' | sort -u | wc -l)
    [[ $cores == "$want" ]] || fail "cores: $cores, lscpu says $want"
    want=$(lscpu -p=CPU | grep -v '^#' | wc -l)
    [[ $pus == "$want" ]] || fail "PUs: $pus, lscpu says $want"
fi
usable=$(sed -n 's/^  usable here: \([0-9]*\) cores, \([0-9]*\) PUs.*/\1 \2/p' <<<"$out")
[[ ${usable#* } == "$(nproc)" ]] || fail "usable PUs '${usable#* }', nproc says $(nproc)"
grep -q "^  a pool: ${usable% *} executors (one per core)" <<<"$out" ||
    fail "a pool's executors are not one per usable core (${usable% *})"

# a CPU set of one PU: one usable core, the pool pinned there
if command -v taskset >/dev/null && (($(nproc) > 1)); then
    last=$(taskset -pc $$ | sed 's/.*: //; s/.*[,-]//')
    one=$(taskset -c "$last" "$info") || fail "under taskset: exit $?"
    grep -q "^  usable here: 1 cores, 1 PUs ($last)" <<<"$one" ||
        fail "under taskset -c $last: $(grep usable <<<"$one")"
    grep -q "^    executor 0 -> core [0-9]* (PU $last)" <<<"$one" ||
        fail "under taskset -c $last the executor is not on PU $last"
fi

# UCX: tcp and a shared-memory transport, both used
ucx=$(sed -n '/^UCX /,/^$/p' <<<"$out")
grep -Eq "^    tcp +[^ ]+ +tcp$" <<<"$ucx" || fail "UCX section lists no tcp"
grep -Eq "^    (posix|sysv|cma|xpmem|knem) +[^ ]+ +shm$" <<<"$ucx" ||
    fail "UCX section lists no shared-memory transport"
grep -q "^    same host:   shm (" <<<"$ucx" || fail "no shm for the same host"

# GPUs: none without a CUDA driver
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    grep -q "^  none (no CUDA driver: .*libcuda.so.1" <<<"$out" ||
        fail "GPU section does not say none (no CUDA driver: ...)"
fi

# the build
grep -Eq "^  version: +[0-9]+\.[0-9]+\.[0-9]+$" <<<"$out" || fail "no version"
if [[ ${FP_TEST_HAVE_PMIX:-0} == 1 ]]; then
    want_pmix="yes (PMIx "
else
    want_pmix="no (built without PMIx headers)"
fi
grep -Eq "^  PMIx: +" <<<"$out" || fail "no PMIx line"
grep -qF "  PMIx:        $want_pmix" <<<"$out" ||
    fail "PMIx line does not start '$want_pmix'"
grep -qF "  encryption:  yes (AES-256-GCM, opt-in: FP_ENCRYPT=1)" <<<"$out" ||
    fail "encryption line does not say yes (AES-256-GCM, ...)"

# JSON: one valid object with the same counts
if command -v python3 >/dev/null; then
    "$info" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = d["topology"]
assert t["cores"] == int(sys.argv[1]) and t["pus"] == int(sys.argv[2]), t
assert any(x["class"] == "tcp" for x in d["ucx"]["transports"])
assert d["build"]["pmix"].startswith(sys.argv[3]), d["build"]["pmix"]
assert d["build"]["encryption"].startswith("yes (AES-256-GCM"), d["build"]
' "$cores" "$pus" "$want_pmix" || fail "--json"
fi

# a bad option: exit 2, naming it
err=$("$info" --bogus 2>&1); rc=$?
[[ $rc == 2 ]] || fail "--bogus: exit $rc, expected 2"
grep -q "unknown option '--bogus'" <<<"$err" || fail "--bogus: '$err'"

((fails == 0)) && echo "test_info: OK" || { echo "test_info: $fails failure(s)"; exit 1; }
