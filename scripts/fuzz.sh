#!/usr/bin/env bash
# Fuzzing (cargo-fuzz; nightly features on the stable toolchain through RUSTC_BOOTSTRAP=1).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     run every target (or those named) SECONDS each
#                                             (default 60), starting from the seed corpus
#   scripts/fuzz.sh --coverage [TARGET...]    line coverage of the targets over their corpus
#                                             and seeds (llvm-cov): a summary per rvs-core
#                                             module, the full report and HTML in
#                                             fuzz/coverage/TARGET/; with several targets,
#                                             also all of them together (fuzz/coverage/all/)
#   scripts/fuzz.sh --seeds [TARGET...]       minimise the corpus into fuzz/seeds/TARGET
#                                             (the seed corpus kept in the repository)
#
# The working corpus (fuzz/corpus/TARGET) is not versioned; fuzz/seeds/TARGET is, and is read
# by every run. Coverage needs llvm-tools for the toolchain's LLVM:
# `rustup component add llvm-tools-preview`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
ALL=(wire ipv6 nat64 fragments pipeline pipeline_stateful config keepalived adm sync control control_decode)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz

mode=run
case ${1:-} in
  --coverage) mode=coverage; shift ;;
  --seeds) mode=seeds; shift ;;
esac
secs=60
if [[ $mode == run && ${1:-} =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
targets=("$@")
((${#targets[@]})) || targets=("${ALL[@]}")

corpora() { mkdir -p "corpus/$1" "seeds/$1"; echo "corpus/$1 seeds/$1"; }

# The rvs-core modules whose line coverage the summary names (the state machines).
MODULES=(session nat synproxy pipeline/ext pipeline/synproxy pipeline/conn_new pipeline/acl pipeline/proxyproto acl toa proxyproto sync wire)

# llvm-tools of the toolchain's LLVM (llvm-cov, llvm-profdata).
llvm_bin() {
  local sysroot llvm
  sysroot=$(rustc --print sysroot)
  llvm=$sysroot/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
  [[ -x $llvm/llvm-cov ]] || {
    echo "fuzz.sh: no llvm-cov in $llvm: rustup component add llvm-tools-preview" >&2
    exit 1
  }
  echo "$llvm"
}
IGNORE='(\.cargo/registry|/rustc/|/library/|fuzz_targets/)'

# module_summary REPORT: line coverage per rvs-core module of an llvm-cov report.
module_summary() {
  local m
  for m in "${MODULES[@]}"; do
    # report.txt columns: file, regions, missed, cover, functions, missed, executed, lines, missed, cover, ...
    awk -v m="dataplane/core/src/$m" '
      index($1, m "/") || $1 ~ (m "\\.rs$") { lines += $8; missed += $9; files++ }
      END { if (files) printf "  %-22s %6d lines %6.1f%% covered (%d files)\n", substr(m, 20), lines, lines ? 100 * (lines - missed) / lines : 0, files }
    ' "$1"
  done
  awk '$1 == "TOTAL" { printf "  %-22s %6d lines %6.1f%% covered\n", "all (rvs-core, proto, ctrl)", $8, $8 ? 100 * ($8 - $9) / $8 : 0 }' "$1"
}

coverage() {
  local t=$1 llvm bin prof out
  llvm=$(llvm_bin)
  # shellcheck disable=SC2046
  cargo fuzz coverage "$t" $(corpora "$t") >/dev/null
  bin=$(find target -path "*/coverage/*/release/$t" -type f | head -n1)
  prof=coverage/$t/coverage.profdata
  [[ -n $bin && -f $prof ]] || {
    echo "fuzz.sh: cargo fuzz coverage left no binary or profile for $t" >&2
    exit 1
  }
  out=coverage/$t
  "$llvm/llvm-cov" report "$bin" -instr-profile="$prof" -ignore-filename-regex="$IGNORE" >"$out/report.txt"
  "$llvm/llvm-cov" show "$bin" -instr-profile="$prof" -ignore-filename-regex="$IGNORE" \
    -format=html -output-dir="$out/html" >/dev/null
  echo "== $t: line coverage by rvs-core module ($(find "corpus/$t" "seeds/$t" -type f | wc -l) inputs)"
  module_summary "$out/report.txt"
  echo "   full report: fuzz/$out/report.txt, HTML: fuzz/$out/html/index.html"
}

# coverage_union TARGET...: the targets together (their profiles merged, every binary's
# coverage map): what the fuzz suite reaches of each module. A module parsed by one target
# and built by another (the PROXY header: `wire` parses it, the pipelines write it) counts
# both.
coverage_union() {
  local llvm profs=() objs=() t bin out=coverage/all
  llvm=$(llvm_bin)
  for t in "$@"; do
    bin=$(find target -path "*/coverage/*/release/$t" -type f | head -n1)
    [[ -n $bin && -f coverage/$t/coverage.profdata ]] || continue
    profs+=("coverage/$t/coverage.profdata")
    if ((${#objs[@]})); then objs+=(-object "$bin"); else objs+=("$bin"); fi
  done
  ((${#profs[@]} > 1)) || return 0
  mkdir -p "$out"
  "$llvm/llvm-profdata" merge -sparse "${profs[@]}" -o "$out/coverage.profdata"
  "$llvm/llvm-cov" report "${objs[@]}" -instr-profile="$out/coverage.profdata" -ignore-filename-regex="$IGNORE" >"$out/report.txt"
  echo "== all ${#profs[@]} targets together: line coverage by rvs-core module"
  module_summary "$out/report.txt"
  echo "   full report: fuzz/$out/report.txt"
}

for t in "${targets[@]}"; do
  case $mode in
    run)
      echo "== fuzz $t for ${secs}s"
      # shellcheck disable=SC2046
      cargo fuzz run "$t" $(corpora "$t") -- -max_total_time="$secs"
      ;;
    seeds)
      echo "== minimise the corpus of $t into seeds/$t"
      corpora "$t" >/dev/null
      cargo fuzz cmin "$t" "corpus/$t" >/dev/null 2>&1
      rm -rf "seeds/$t.new"
      mkdir -p "seeds/$t.new"
      # shellcheck disable=SC2046
      cargo fuzz run "$t" "seeds/$t.new" "corpus/$t" "seeds/$t" -- -merge=1 >/dev/null 2>&1
      rm -rf "seeds/$t"
      mv "seeds/$t.new" "seeds/$t"
      echo "   $(find "seeds/$t" -type f | wc -l) inputs, $(du -sh "seeds/$t" | cut -f1)"
      ;;
    coverage) coverage "$t" ;;
  esac
done
[[ $mode == coverage ]] && coverage_union "${targets[@]}"
exit 0
