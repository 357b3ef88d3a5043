# Shell helpers shared by the live tests (tests/t_live.sh, tests/t_live_proc.sh), sourced after
# they set C and S (the client and server namespaces), PIDS (background processes they started),
# tmp (their temporary directory) and pass/fail/failed.

ns_exists() { ip netns list 2>/dev/null | grep -q "^$1\( \|$\)"; }
ns_kill() { # kill every process left in namespace $1 (all of them started by the test)
    ns_exists "$1" || return 0
    for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null; done
}
# ns_teardown: stop what the test started (TERM, 2 s grace, then KILL) and delete both
# namespaces.
ns_teardown() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    ns_kill "$C"; ns_kill "$S"
    i=0
    while [ $i -lt 20 ] && { [ -n "$(ip netns pids "$C" 2>/dev/null)" ] || [ -n "$(ip netns pids "$S" 2>/dev/null)" ]; }; do
        sleep 0.1; i=$((i + 1))
    done
    for ns in "$C" "$S"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    for ns in "$C" "$S"; do ns_exists "$ns" && ip netns del "$ns" 2>/dev/null; done
}
# show_logs FILE...: the last lines of each non-empty file (after a failure)
show_logs() {
    for f in "$@"; do
        [ -s "$f" ] && { echo "== ${f##*/} (last lines)"; tail -n 15 "$f" | sed 's/^/   /'; }
    done 2>/dev/null
}

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); failed="$failed|$1"; echo "FAIL $1"; }
note() { echo "note $1"; }
# wait_until TENTHS CMD...: run CMD every 0.1 s until it succeeds; false once TENTHS tenths of
# a second have passed (wall clock, whatever CMD itself costs) and one last try failed.
now_ds() { read -r up _ </proc/uptime; up=${up%?}; echo "${up%.*}${up#*.}"; }  # /proc/uptime: 2 decimals
wait_until() {
    end=$(( $(now_ds) + $1 )); shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(now_ds)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
inC() { ip netns exec "$C" "$@"; }
inS() { ip netns exec "$S" "$@"; }
alive() { # a running process, not a zombie
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
gone() { ! alive "$1"; }
