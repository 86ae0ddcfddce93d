# Shared by the bench's shell tests: `check NAME COMMAND...` runs COMMAND
# and prints ok or FAIL with NAME (returning 1 on a failure, so that
# `check ... || explain` can say more); `finish_checks` prints the summary
# and exits non-zero if any check failed.
failures=0 checks=0
check() {
  checks=$((checks + 1))
  if "${@:2}"; then echo "ok   $1"; else
    echo "FAIL $1"
    failures=$((failures + 1))
    return 1
  fi
}
finish_checks() {
  echo "$((checks - failures))/$checks checks passed"
  exit $((failures > 0))
}
