#!/usr/bin/env bash
# The mppconf action's work (action.yml): run the server and/or client
# suite from the caller's manifests, write the job summary, and give the
# worst exit code as the step output `exit-code`. It never fails the step
# itself, so that the reports are uploaded and JUnit published first;
# action.yml's last step gates.
#
# Inputs come as INPUT_* variables (action.yml maps them); MPPCONF is the
# binary. Outside GitHub, GITHUB_STEP_SUMMARY and GITHUB_OUTPUT may be
# unset: the summary goes to stdout, the output line too.
set -uo pipefail

mppconf="${MPPCONF:-mppconf}"
mppconf="${mppconf/#\~/$HOME}"
dir="${INPUT_REPORT_DIR:-mppconf-report}"
summary="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
output="${GITHUB_OUTPUT:-/dev/stdout}"
worst=0

# Exit codes by how much they say: a usage error (2) first, then findings
# (1), a harness error (3), a stale baseline (4); 0 only if every run is.
rank() { case "$1" in 2) echo 5 ;; 1) echo 4 ;; 3) echo 3 ;; 4) echo 2 ;; 0) echo 0 ;; *) echo 6 ;; esac; }
keep_worst() { if [ "$(rank "$1")" -gt "$(rank "$worst")" ]; then worst="$1"; fi; }
meaning() {
  case "$1" in
    0) echo "conformant" ;; 1) echo "not conformant" ;; 2) echo "usage error" ;;
    3) echo "harness error" ;; 4) echo "stale baseline" ;; *) echo "crashed (exit $1)" ;;
  esac
}

if [ -z "${INPUT_SERVER:-}" ] && [ -z "${INPUT_CLIENT:-}" ]; then
  echo "mppconf action: give the input server (a server target manifest, or reference) and/or client (a client target manifest, or reference)" >&2
  echo "exit-code=2" >>"$output"
  exit 0
fi

rows=()
# run_suite SUITE TARGET BASELINE EXTRA_ARGS
run_suite() {
  local suite="$1" target="$2" baseline="$3" extra="$4"
  local args=("$suite")
  if [ "$target" = "reference" ]; then args+=(--reference); else args+=(--target "$target"); fi
  [ -n "$baseline" ] && args+=(--baseline "$baseline")
  [ -n "${INPUT_SHARD:-}" ] && args+=(--shard "$INPUT_SHARD")
  [ "${INPUT_STRICT:-false}" = "true" ] && args+=(--strict)
  args+=(--report-dir "$dir/$suite")
  # Extra arguments split on blanks, as a shell would (no quoting).
  # shellcheck disable=SC2206
  [ -n "$extra" ] && args+=($extra)
  echo "::group::mppconf ${args[*]}"
  "$mppconf" "${args[@]}"
  local code=$?
  echo "::endgroup::"
  echo "mppconf $suite: exit code $code ($(meaning "$code"))"
  keep_worst "$code"
  rows+=("| $suite | \`$target\` | $code | $(meaning "$code") |")
}

[ -n "${INPUT_SERVER:-}" ] && run_suite server "$INPUT_SERVER" "${INPUT_SERVER_BASELINE:-}" "${INPUT_SERVER_ARGS:-}"
[ -n "${INPUT_CLIENT:-}" ] && run_suite client "$INPUT_CLIENT" "${INPUT_CLIENT_BASELINE:-}" "${INPUT_CLIENT_ARGS:-}"

{
  echo "## mppconf: $(meaning "$worst")"
  echo
  echo "| suite | target | exit code | verdict |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  # Each run's per-spec Markdown: findings with the requirement, Expected,
  # Actual and the command that reruns each; the full table folded.
  for suite in server client; do
    for md in "$dir/$suite"/*.md; do
      [ -f "$md" ] || continue
      cat "$md"
      echo
    done
  done
} >>"$summary"

echo "exit-code=$worst" >>"$output"
