# Shared by the harness tests (sourced, not run): PASS/FAIL helpers, the fake stages, a
# scratch folder removed on exit. Tests run from the repository root (tests/run.sh does that).
# WF_BUILD (else BUILD, as tests/run.sh exports it) selects the build folder (default build).
set -u
B=${WF_BUILD:-${BUILD:-build}}
WF=$B/waterfall
TMP=$(mktemp -d /tmp/wf-test.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }
# expect WHAT CONDITION-COMMAND...: PASS when the command succeeds.
expect() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what: '$*' is false"; fi
}
# q DB SQL: one query through the sqlite3 shell (Debian's sqlite3, installed by make deps).
q() { sqlite3 -batch -noheader "$1" "$2"; }
eq() { [ "$1" = "$2" ] || { echo "  got '$1', wanted '$2'" >&2; return 1; }; }

[ -x "$WF" ] || { fail "setup: $WF is not built"; exit 1; }

# The fake stages (tests/harness/fake_stage.c): one program linked under many stage names.
make_fakes() {
    FAKES=$TMP/stages
    mkdir -p "$FAKES"
    gcc -O2 -std=c11 -D_GNU_SOURCE tests/harness/fake_stage.c -o "$FAKES/fake" -lm || {
        fail "setup: cannot build the fake stage"
        exit 1
    }
    local s
    for s in "$@"; do ln -sf fake "$FAKES/sam-$s"; done
}

# A COCO-layout folder for the fakes (they never read it; the harness hashes it).
make_fake_coco() {
    COCO=$TMP/coco
    mkdir -p "$COCO/annotations" "$COCO/val2017"
    echo '{"images": [], "annotations": [], "categories": []}' >"$COCO/annotations/instances_val2017.json"
    : >"$COCO/val2017/000000000001.jpg"
}

# The processes of the fake stages still alive (started from this test's scratch folder).
fake_procs() { pgrep -f "^$TMP/stages/" || true; }
