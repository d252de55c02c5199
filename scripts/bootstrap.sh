#!/usr/bin/env bash
# Install what the control machine needs: the Debian packages in apt-packages.txt and the .venv.
# Idempotent and quick when nothing changed (stamp files keyed on the inputs' contents).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_list=$(grep -v '^\s*#' apt-packages.txt | awk 'NF' | sort -u | tr '\n' ' ')
apt_stamp=build/.apt-$(printf '%s' "$apt_list" | sha256sum | cut -c1-16)
if [ ! -f "$apt_stamp" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: installing Debian packages needs root (run as root or via sudo): $apt_list" >&2
    exit 1
  fi
  # One question per package: a package dpkg has never heard of (no output) is as missing as a removed one.
  missing=()
  for p in $apt_list; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # postfix: install the programs only. Left to its default ("Internet Site") the package would write
    # /etc/postfix/main.cf and start a system-wide Postfix on port 25; the tests start private instances.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p build && rm -f build/.apt-* && touch "$apt_stamp"
fi

# requirements.lock pins every Python package CI installs, with hashes (`make lock` refreshes it from
# pyproject.toml); the project itself is then installed on top without resolving anything again.
py_stamp=.venv/.stamp-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$py_stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q --require-hashes -r requirements.lock
  .venv/bin/pip install -q --no-deps -e .
  rm -f .venv/.stamp-* && touch "$py_stamp"
fi
