#!/usr/bin/env bash
# The whole test run in one command: the system packages the tests use (installed when
# missing and this runs as root, else one line naming the package), PostgreSQL when it is
# installed but stopped, the Python install, lint, types, then the tests. Arguments go to
# pytest (`bash tests/run.sh -k send`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

# command the tests run -> the Debian package that has it
packages=(
    chromium:chromium            # real-browser tests of the pages and the issue
    spamassassin:spamassassin    # `issue lint --spam`
    smtp-sink:postfix            # the fast SMTP sink the send benchmark compares against
    dovecot:dovecot-imapd        # the IMAP server that bounce tests read from
    faketime:faketime            # the suite run with the clock a year ahead
)
missing=()
for pair in "${packages[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        echo "tests/run.sh: missing Debian package(s): ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    # Postfix asks how to configure itself; the tests only run its smtp-sink.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL serves the database tests on 127.0.0.1:5432 (user postgres, trust auth); they
# are skipped with a reason when no server answers.
if command -v pg_ctlcluster >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null \
    && [[ $(id -u) == 0 ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
