#!/bin/bash
# Builds probe.c with gcc and clang and runs it: the in-sandbox checks, then
# the modes that must end the process, checking how it died.
set -u
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export TMPDIR="$out"
status=0
for cc in gcc clang; do
    command -v "$cc" >/dev/null || { echo "SKIP $cc: not installed"; continue; }
    echo "== $cc"
    "$cc" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I../../Sources/CBulkhead/include \
        -o "$out/probe-$cc" probe.c ../../Sources/bulkhead-worker/sandbox.c -lseccomp -lpthread -ldl || { status=1; continue; }
    "$out/probe-$cc" || status=1
    "$out/probe-$cc" nodump >"$out/nodump" || { cat "$out/nodump"; status=1; }
    tail -1 "$out/nodump" | sed 's/^/nodump: /'
    expect() { # mode, wanted status, what
        # Through sh, so that its "Bad system call" notice can be silenced.
        local rc
        rc=$(sh -c '"$0" "$1" >/dev/null 2>&1; echo $?' "$out/probe-$cc" "$1" 2>/dev/null)
        if [ "$rc" = "$2" ]; then echo "PASS $1: exit status $rc ($3)"; else echo "FAIL $1: exit status $rc, wanted $2 ($3)"; status=1; fi
    }
    expect exec 159 "SIGSYS: seccomp killed execve"
    expect x32 159 "SIGSYS: x32 syscall numbers are a bad arch"
    expect segv 139 "SIGSEGV passed through the waiting parent"
    # PID 1 ignores self-sent default-action signals, so abort()'s SIGABRT is
    # dropped and glibc's fallback (hlt -> SIGSEGV) ends it.
    expect abort 139 "abort() in PID 1 ends as SIGSEGV"
    # Likewise the soft limit's SIGXCPU is dropped for PID 1; the hard limit's SIGKILL is not.
    expect cpu 137 "RLIMIT_CPU hard limit SIGKILL"
done
exit $status
