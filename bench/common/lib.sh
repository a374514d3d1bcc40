# Shell helpers of the benchmarks' drivers (bench/registrar/compare.sh,
# bench/bootstorm/run.sh): source it, with ROOT set to the repository.
#
#   tree_pids PID        the PID and all its descendants (nothing once PID has exited)
#   tree_ticks PID       CPU ticks of that tree: utime+stime of every live process, plus the
#                        cutime+cstime of each (its children that exited and were reaped:
#                        PostgreSQL backends closed by an idle pool, autovacuum workers) — so
#                        a process that exits inside a step is neither lost nor counted from
#                        its birth
#   code_under_test DIR  the code a run measures: unless SRC is set, `git archive HEAD` of
#                        $ROOT unpacked into DIR (a commit, not the working tree others are
#                        editing), SRC=DIR; SRC_COMMIT = its short commit (with
#                        " (+ uncommitted changes)" for a SRC given with changes)

tree_pids() {
  local p=${1:-} c
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
  echo "$p"
  for c in $(ps -o pid= --ppid "$p"); do tree_pids "$c"; done
}

tree_ticks() {
  local p t=0 v
  for p in $(tree_pids "${1:-}"); do
    v=$(awk '{print $14+$15+$16+$17}' "/proc/$p/stat" 2>/dev/null) && [ -n "$v" ] && t=$((t + v))
  done
  echo $t
}

code_under_test() {
  if [ -z "${SRC:-}" ]; then
    SRC=$1; rm -rf "$SRC"; mkdir -p "$SRC"
    git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
    SRC_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
  else
    SRC_COMMIT="$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  fi
}
