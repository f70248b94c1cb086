#!/usr/bin/env bash
# System packages the test suite uses beyond the venv: headless Chromium, which renders the
# results site in tests/test_site.py. Installs it with apt-get when running as root and it is
# missing; otherwise says what to do and exits 0 (the browser test then skips with a reason).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: installing chromium with apt-get" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; then
    exit 0
  fi
  echo "install-test-deps: apt-get could not install chromium; the browser test will skip" >&2
  exit 0
fi
echo "install-test-deps: /usr/bin/chromium is missing and this is not root with apt-get;" \
     "install chromium to run the browser test (it is skipped otherwise)" >&2
