# Shared by the bench/*_compare.sh scripts (sourced, not run).
#
# Sets `here` (the whirl tree or its runfiles), the pinned cores
# `server_core` and `load_core`, and defines wait_for_port, cpu_ticks and
# median.

here="${RUNFILES_DIR:-$0.runfiles}/whirl"
[[ -d "$here" ]] || here="$(cd "$(dirname "$0")/.." && pwd)"
server_core=0 load_core=1
if [[ $(nproc) -lt 2 ]]; then load_core=0; fi

# wait_for_port PORT: until something accepts on 127.0.0.1:PORT (5 s).
wait_for_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$(basename "$0"): nothing listens on $1" >&2
  return 1
}

# cpu_ticks PID...: their utime+stime together, in clock ticks.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}

# median: of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
