#!/usr/bin/env bash
# The chat demo in headless Chromium (chat_browser_test.py), for a Bazel
# sh_test:
#
#     chat_browser_test.sh CHAT_BINARY SCRIPT
#
# Needs Debian's chromium, chromium-driver and python3-selenium; says which
# one is missing and fails rather than skipping.
set -uo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 CHAT_BINARY SCRIPT" >&2
  exit 2
fi
chat_binary=$1
script=$2
python=/usr/bin/python3

missing() {  # missing WHAT PACKAGE
  echo "FAIL prerequisites: $1 not found; install it with: apt-get install -y $2"
  exit 1
}
[[ -x $python ]] || missing "$python" python3
[[ -x /usr/bin/chromium ]] || missing /usr/bin/chromium chromium
[[ -x /usr/bin/chromedriver ]] || missing /usr/bin/chromedriver chromium-driver
$python -c 'import selenium.webdriver' 2>/dev/null || missing "Python module selenium (for $python)" python3-selenium

# Temp files go in a short directory under /tmp, not under Bazel's
# TEST_TMPDIR: Chromium puts a unix socket in its profile directory, and a
# socket path is limited to 107 bytes, which Bazel's test paths exceed.
tmp_root=$(mktemp -d /tmp/whirl-chat.XXXXXX) || { echo "FAIL prerequisites: no temp directory"; exit 1; }
trap 'rm -rf "$tmp_root"' EXIT
export TEST_TMPDIR=$tmp_root
export TMPDIR=$tmp_root  # Chromium's own temp files (with --disable-dev-shm-usage too)

# Chromium writes under HOME (~/.pki, ~/.cache, crash reports); Bazel's test
# environment may leave it unset, nonexistent or read-only.
if [[ -z ${HOME:-} || ! -d $HOME || ! -w $HOME ]]; then
  HOME=$(mktemp -d "$tmp_root/home.XXXXXX") || { echo "FAIL prerequisites: no temp HOME"; exit 1; }
  export HOME
fi

"$python" "$script" "$chat_binary"
