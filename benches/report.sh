# Sourced by benches/run.sh: turns the JSON each `weir bench` run left in
# $work, the RSS samples and the start-up times into the markdown report.
# Reads only files; runs nothing against the broker.

# j <name> <jq filter>: a field of $work/<name>.json, or "n/a".
j() {
    local value
    value=$(jq -r "$2 // empty" "$work/$1.json" 2>/dev/null || true)
    echo "${value:-n/a}"
}

# num <value> <printf format>: formats a number, passing "n/a" through.
num() {
    if [[ $1 == n/a ]]; then echo n/a; else awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; fi
}

# ms <µs>: a latency in milliseconds.
ms() {
    if [[ $1 == n/a ]]; then echo n/a; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v / 1000 }'; fi
}

# lat <name> <field>: "p50 / p99 / p99.9 / max" of a latency summary.
lat() {
    echo "p50 $(ms "$(j "$1" ".$2.p50_us")"), p99 $(ms "$(j "$1" ".$2.p99_us")"), p99.9 $(ms "$(j "$1" ".$2.p999_us")"), max $(ms "$(j "$1" ".$2.max_us")")"
}

# pct <name> <limit name>: the figure as a percentage of that limit.
pct() {
    num "$(j "$1" "[.vs_limits[] | select(.limit == \"$2\") | .fraction * 100] | first")" '%.0f%%'
}

# times <name> <figure>: a latency figure as a multiple of fdatasync p99.
times() {
    num "$(j "$1" "[.vs_limits[] | select(.figure == \"$2\") | .fraction] | first")" '%.2f×'
}

throughput() { # <name>
    echo "$(num "$(j "$1" .records_per_s)" '%.0f') records/s, $(num "$(j "$1" .mb_per_s)" '%.1f') MB/s"
}

produce_row() { # <name> <title>
    echo "| $2 | $(throughput "$1"); produce latency $(lat "$1" latency_us) | $(pct "$1" "fdatasync'd sequential write") of fdatasync'd write, $(pct "$1" "buffered sequential write") of buffered write; p99 = $(times "$1" "produce p99") fdatasync p99 |"
}

paced_row() { # <name> <title>: a fixed-rate producer-only run
    echo "| $2 | achieved $(throughput "$1"); produce latency $(lat "$1" latency_us) | p99 = $(times "$1" "produce p99") fdatasync p99 |"
}

# default_window: what page_cache_window_mib=auto chose for broker A, from its log.
default_window() {
    if grep -q 'page-cache window on (auto)' "$work/serve-durable.log" 2>/dev/null; then
        echo "on, 64 MiB per partition (auto: this VM reports free memory to its host)"
    else
        echo "off (auto: caching left to the kernel)"
    fi
}

# rss <label> [phase]: "peak" (or the median in one phase) of the samples, MiB.
rss() {
    local file="$work/rss-$1.log"
    [[ -s $file ]] || { echo n/a; return; }
    if [[ -n ${2:-} ]]; then
        awk -v p="$2" '$1 == p { print $2 }' "$file" | sort -n |
            awk '{ v[NR] = $1 } END { if (NR) printf "%.1f MiB", v[int((NR + 1) / 2)] / 1024; else print "n/a" }'
    else
        awk '$2 > m { m = $2 } END { printf "%.1f MiB", m / 1024 }' "$file"
    fi
}

# cpu <name> <field>: from $work/<name>.cpu, the command's wall seconds (1),
# the broker's CPU seconds (2), the load generator's (3) or the hypervisor's
# steal (4); "n/a" if missing.
cpu() {
    local value
    value=$(awk -v f="$2" '{ print $f }' "$work/$1.cpu" 2>/dev/null || true)
    echo "${value:-n/a}"
}

cpu_row() { # <name> <title>: where the CPU went while that workload ran
    local wall broker client steal
    wall=$(cpu "$1" 1) broker=$(cpu "$1" 2) client=$(cpu "$1" 3) steal=$(cpu "$1" 4)
    [[ $wall == n/a ]] && { echo "| $2 | n/a | n/a | n/a | n/a | n/a |"; return; }
    [[ $steal == n/a ]] && steal=0
    awk -v t="$2" -v w="$wall" -v b="$broker" -v c="$client" -v s="$steal" -v n="$(nproc)" 'BEGIN {
        if (w <= 0) w = 1e-9
        printf "| %s | %.2f s | %.2f s (%.2f cores) | %.2f s (%.2f cores) | %.0f%% | %.0f%% |\n",
            t, w, b, b / w, c, c / w, 100 * (b + c) / (w * n), 100 * s / (w * n) }'
}

# verdict <value> <op> <bound>: "met" / "not met" / "n/a".
verdict() {
    [[ $1 == n/a || -z $1 || $3 == n/a ]] && { echo n/a; return; }
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? (a >= b) : (a <= b); print (ok ? "met" : "**not met**") }'
}

# cores_to_consume <name> <MB/s>: cores (broker and load generator together)
# workload <name> would need to read at <MB/s>, at the CPU per MB it used.
cores_to_consume() {
    local broker client
    broker=$(cpu "$1" 2) client=$(cpu "$1" 3)
    [[ $broker == n/a || $client == n/a || $2 == n/a ]] && { echo n/a; return; }
    awk -v b="$broker" -v c="$client" -v bytes="$(j "$1" .bytes)" -v r="$2" 'BEGIN {
        if (bytes > 0) printf "%.1f", r * (b + c) / (bytes / 1e6); else print "n/a" }'
}

# busy_floor <name> <per> [client]: the least wall time workload <name>
# could have taken on this machine's cores given the CPU it used (none of it
# idle), as a multiple of <per> seconds; with "client", counting only the
# load generator's CPU, as if the broker had cost nothing.
busy_floor() {
    local broker client
    broker=$(cpu "$1" 2) client=$(cpu "$1" 3)
    [[ ${3:-} == client ]] && broker=0
    [[ $broker == n/a || $client == n/a || $2 == n/a ]] && { echo n/a; return; }
    awk -v b="$broker" -v c="$client" -v n="$(nproc)" -v per="$2" 'BEGIN {
        if (per > 0) printf "%.2f", (b + c) / n / per; else print "n/a" }'
}

lower() { # <a> <b>: the smaller of two figures; either if the other is n/a
    [[ $1 == n/a ]] && { echo "$2"; return; }
    [[ $2 == n/a ]] && { echo "$1"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'
}

ratio() { # <a> <b>: a / b, or n/a
    [[ $1 == n/a || $2 == n/a ]] && { echo n/a; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

write_report() {
    local sync_p99 durable_frac consume_ratio consume_first_ratio groups_cost p99_ratio rss_steady startup_s
    sync_p99=$(j limits .fdatasync_latency.p99_us)
    durable_frac=$(j durable "[.vs_limits[] | select(.limit == \"fdatasync'd sequential write\") | .fraction] | first")
    # Against the second synced-write figure too; the verdict takes the
    # lower fraction, that is the faster disk.
    local durable_frac_again durable_verdict_frac
    durable_frac_again=$(ratio "$(j durable .mb_per_s)" "$(j limits_again .synced_write_mb_s)")
    durable_verdict_frac=$(lower "$durable_frac" "$durable_frac_again")
    consume_ratio=$(ratio "$(j consume1 .mb_per_s)" "$(j durable .mb_per_s)")
    consume_first_ratio=$(ratio "$(j consume1_first .mb_per_s)" "$(j durable .mb_per_s)")
    local consume_m2_ratio p99_l1_ratio
    consume_m2_ratio=$(ratio "$(j consume1_m2 .mb_per_s)" "$(j durable .mb_per_s)")
    p99_l1_ratio=$(ratio "$(j half_l1 .latency_us.p99_us)" "$sync_p99")
    groups_cost=$(ratio "$(j consume5 .seconds)" "$(j consume1 .seconds)")
    local consume_cores groups_floor groups_client_floor consume_ceiling consume_ceiling_ratio
    consume_cores=$(cores_to_consume consume1 "$(awk -v d="$(j durable .mb_per_s)" 'BEGIN { if (d != "") print 2 * d; else print "n/a" }')")
    groups_floor=$(busy_floor consume5 "$(j consume1 .seconds)")
    groups_client_floor=$(busy_floor consume5 "$(j consume1 .seconds)" client)
    consume_ceiling=$(j consume1 .fetch_threads.ceiling_mb_per_s)
    consume_ceiling_ratio=$(ratio "$consume_ceiling" "$(j durable .mb_per_s)")
    local groups_broker_cpu
    groups_broker_cpu=$(ratio "$(cpu consume5 2)" "$(cpu consume1 2)")
    p99_ratio=$(ratio "$(j half .latency_us.p99_us)" "$sync_p99")
    local never_p99_ratio sync_p99_again p99_again_ratio p99_l1_again_ratio
    never_p99_ratio=$(ratio "$(j half_never .latency_us.p99_us)" "$sync_p99")
    sync_p99_again=$(j limits_again .fdatasync_latency.p99_us)
    p99_again_ratio=$(ratio "$(j half .latency_us.p99_us)" "$sync_p99_again")
    p99_l1_again_ratio=$(ratio "$(j half_l1 .latency_us.p99_us)" "$sync_p99_again")
    local kernel_frac kernel_consume_ratio kernel_p99_ratio light_p99_ratio
    kernel_frac=$(j kernel "[.vs_limits[] | select(.limit == \"fdatasync'd sequential write\") | .fraction] | first")
    local kernel_frac_again kernel_verdict_frac
    kernel_frac_again=$(ratio "$(j kernel .mb_per_s)" "$(j limits_again .synced_write_mb_s)")
    kernel_verdict_frac=$(lower "$kernel_frac" "$kernel_frac_again")
    kernel_consume_ratio=$(ratio "$(j consume1_kernel .mb_per_s)" "$(j kernel .mb_per_s)")
    kernel_p99_ratio=$(ratio "$(j half_kernel .latency_us.p99_us)" "$sync_p99")
    light_p99_ratio=$(ratio "$(j e2e_light .produce_latency_us.p99_us)" "$sync_p99")
    local linger_ratio commit_p99_ratio
    linger_ratio=$(ratio 5000 "$sync_p99")
    commit_p99_ratio=$(ratio "$(j limits_again .group_commit.latency.p99_us)" "$sync_p99")
    local p99_loaded_sync_ratio
    p99_loaded_sync_ratio=$(ratio "$(j half .latency_us.p99_us)" "$(j limits_again .group_commit.sync_latency.p99_us)")
    rss_steady=$(rss durable idle-many)
    startup_s=$(awk -v m="$startup_clean_ms" 'BEGIN { printf "%.3f", m / 1000 }')
    local gib window
    window=$(default_window)
    gib=$(awk -v b="$log_bytes" 'BEGIN { printf "%.2f", b / 1073741824 }')

    cat <<EOF
# Weir benchmark report — $(date '+%Y-%m-%d %H:%M')

- Machine: $(uname -srm), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
- Data directory filesystem: $(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
- Weir: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo " (with uncommitted changes)")
- Mode: $([[ $quick == 1 ]] && echo "quick (WEIR_BENCH_QUICK=1)" || echo full), ${seconds} s per timed workload; load generator on the same machine
- Page-cache window with default settings: $window; the \`off\` rows below show the other side
- MB = 10^6 bytes of record key + value; latencies from \`send()\` to the delivery report (produce) or to consumer receipt (end-to-end)

## Machine limits (\`weir bench limits\`)

| limit | value |
|---|---|
| sequential write, buffered (1 MiB writes, no sync) | $(num "$(j limits .buffered_write_mb_s)" '%.1f') MB/s |
| sequential write, fdatasync per 1 MiB | $(num "$(j limits .synced_write_mb_s)" '%.1f') MB/s |
| the same, measured again just before the latency workloads | $(num "$(j limits_again .synced_write_mb_s)" '%.1f') MB/s |
| fdatasync latency, 1 KiB appends | $(lat limits fdatasync_latency) |
| the same, measured again just before the latency workloads | $(lat limits_again fdatasync_latency) |
| group commit at $(num "$(j limits_again .group_commit.target_mb_s)" '%.1f') MB/s (the 50% workloads' rate; achieved $(num "$(j limits_again .group_commit.achieved_mb_s)" '%.1f')): 1 KiB appends to 8 files, no broker, write to synced | $(lat limits_again group_commit.latency) |
| … each of its $(j limits_again .group_commit.sync_latency.count) syncs (syncfs), carrying what arrived during the last | $(lat limits_again group_commit.sync_latency) |
| loopback TCP, one stream | $(num "$(j limits .loopback_tcp_mb_s)" '%.1f') MB/s |

## Workloads

| workload | result | vs limits |
|---|---|---|
$(produce_row durable "1 KiB × 8 partitions, acks=all, default settings (flush=always), max rate")
$(produce_row never "1 KiB × 8 partitions, acks=all, flush=never, max rate")
$(produce_row small "100 B × 8 partitions, acks=all, flush=always, max rate")
| 1 group reads the 1 KiB topic from the start, first read ($(j consume1_first .records_per_group) records; older than the window, if on: from disk) | $(throughput consume1_first) in $(num "$(j consume1_first .seconds)" '%.2f') s | $(pct consume1_first "loopback TCP") of loopback TCP |
| 1 group reads the same records again (from the page cache, except what a window dropped) | $(throughput consume1) in $(num "$(j consume1 .seconds)" '%.2f') s | $(pct consume1 "loopback TCP") of loopback TCP |
| 1 group of 2 members (4 partitions each) reads them again | $(throughput consume1_m2) in $(num "$(j consume1_m2 .seconds)" '%.2f') s | $(pct consume1_m2 "loopback TCP") of loopback TCP |
| 5 groups read the same topic at once | $(throughput consume5) in total, in $(num "$(j consume5 .seconds)" '%.2f') s | $(pct consume5 "loopback TCP") of loopback TCP |
$(paced_row half "1 KiB × 8 partitions, acks=all, flush=always, at $(j half .target_records_per_s) records/s (50% of durable max), after a $(j half .warmup_secs) s warm-up")
$(paced_row half_l1 "the same with linger.ms=1")
$(paced_row half_never "the same rate and settings as the linger.ms=5 row, flush=never (nothing synced)")
| end-to-end at $(j e2e .target_records_per_s) records/s (50% of durable max; achieved $(num "$(j e2e .records_per_s)" '%.0f')), 1 KiB, acks=all, 8 partitions | produce $(lat e2e produce_latency_us); end-to-end $(lat e2e e2e_latency_us) | produce p99 = $(times e2e "produce p99"), end-to-end p99 = $(times e2e "end-to-end p99") fdatasync p99 |
| end-to-end at 1000 records/s, linger.ms=0 (no load) | produce $(lat e2e_light produce_latency_us); end-to-end $(lat e2e_light e2e_latency_us) | produce p99 = $(times e2e_light "produce p99") fdatasync p99 |
$(produce_row kernel "1 KiB × 8 partitions, acks=all, flush=always, \`--page-cache-window-mib off\`, max rate")
| 1 group reads that topic ($(j consume1_kernel .records_per_group) records) | $(throughput consume1_kernel) in $(num "$(j consume1_kernel .seconds)" '%.2f') s | $(pct consume1_kernel "loopback TCP") of loopback TCP |
$(paced_row half_kernel "the same at $(j half_kernel .target_records_per_s) records/s (50% of that max)")
| end-to-end at $(j e2e_kernel .target_records_per_s) records/s (50% of that max), same settings | produce $(lat e2e_kernel produce_latency_us); end-to-end $(lat e2e_kernel e2e_latency_us) | produce p99 = $(times e2e_kernel "produce p99") fdatasync p99 |
| $(j many .partitions) partitions, 100k keyed 1 KiB records | $(throughput many) | $(pct many "fdatasync'd sequential write") of fdatasync'd write |
| broker RSS, flush=always run | peak $(rss durable); idle after the $(j many .partitions)-partition workload $rss_steady | |
| broker RSS, flush=never run | peak $(rss never) | |
| start-up after ${gib} GiB of log (.log files) | clean shutdown: ${startup_clean_ms} ms; after SIGKILL: ${startup_crash_ms} ms (spawn → ready line) | |

## Where the CPU went

Each workload's command from start to exit (connecting and setting up
included): the broker's CPU time from \`/proc/<pid>/stat\`, the load
generator's (\`weir bench\` and its librdkafka threads) from this script's
waited-for children, and both together as a share of the $(nproc) cores. On a
virtual machine the host also takes CPU time from those cores (steal, from
\`/proc/stat\`): time in which nothing here ran, so busy plus steal near 100%
means the workload was short of CPU. A reader that leaves cores idle is
waiting, not short of CPU: one librdkafka consumer keeps one fetch in flight
per broker and parses each response on one thread before it asks for the next.

| workload | wall | broker CPU | load generator CPU | machine busy | taken by the host (steal) |
|---|---|---|---|---|---|
$(cpu_row durable "produce 1 KiB, durable, max rate")
$(cpu_row consume1_first "1 group, first read")
$(cpu_row consume1 "1 group, second read")
$(cpu_row consume1_m2 "1 group of 2 members")
$(cpu_row consume5 "5 groups")
$(cpu_row half "produce at 50% of durable max")
$(cpu_row half_never "produce at 50% of durable max, flush=never")
$(cpu_row e2e "end-to-end at 50% of durable max")
$(cpu_row kernel "produce 1 KiB, durable, window off")
$(cpu_row consume1_kernel "1 group, window off")

## Issue 4 targets

| target | measured | verdict |
|---|---|---|
| durable 1 KiB produce ≥ 60% of fdatasync'd sequential write (verdict against the faster of the two disk figures) | $(num "$durable_frac" '%.2f'); against the second disk figure $(num "$durable_frac_again" '%.2f') (window off: $(num "$kernel_frac" '%.2f'), $(num "$kernel_frac_again" '%.2f')) | $(verdict "$durable_verdict_frac" ">=" 0.6) (off: $(verdict "$kernel_verdict_frac" ">=" 0.6)) |
| consume ≥ 2× durable produce (MB/s), second read | one consumer: $consume_ratio× (first read: $consume_first_ratio×; window off: $kernel_consume_ratio×); a group of 2: $consume_m2_ratio×. At the CPU per MB the second read used (broker and reader), 2× would take $consume_cores of $(nproc) cores. The one consumer's librdkafka fetch thread, which receives and parses each response before asking for the next, used CPU enough that it could not pass $(num "$consume_ceiling" '%.0f') MB/s ($consume_ceiling_ratio×) against a broker answering at once | one: $(verdict "$consume_ratio" ">=" 2) (off: $(verdict "$kernel_consume_ratio" ">=" 2)); group of 2: $(verdict "$consume_m2_ratio" ">=" 2) |
| 5 groups cost ≤ 1.5× one group (wall time to read the topic from the page cache) | $groups_cost× (broker CPU: $groups_broker_cpu×). The CPU the five used, on $(nproc) cores never idle, takes at least $groups_floor×; the load generator's CPU alone, as if the broker cost nothing, $groups_client_floor× | $(verdict "$groups_cost" "<=" 1.5) |
| p99 produce latency at 50% of max durable rate ≤ 2.5× fdatasync p99 (producer only) | linger.ms=5 (default): $p99_ratio× (window off: $kernel_p99_ratio×); linger.ms=1: $p99_l1_ratio×; at 1000 records/s, linger.ms=0: $light_p99_ratio×. With nothing synced (flush=never, linger.ms=5, same rate): $never_p99_ratio×. The producer's default linger.ms=5, the longest a record waits before it is sent, is alone $linger_ratio× fdatasync p99. The disk alone at that rate, with group commit and no broker, client or network, gave p99 $(ms "$(j limits_again .group_commit.latency.p99_us)") = $commit_p99_ratio×; against the p99 of its syncs at that load ($(ms "$(j limits_again .group_commit.sync_latency.p99_us)")) the linger.ms=5 p99 is $p99_loaded_sync_ratio×. Against the fdatasync p99 measured just before them ($(ms "$sync_p99_again")): linger.ms=5 $p99_again_ratio×, linger.ms=1 $p99_l1_again_ratio× | linger 5: $(verdict "$p99_ratio" "<=" 2.5) (off: $(verdict "$kernel_p99_ratio" "<=" 2.5)); linger 1: $(verdict "$p99_l1_ratio" "<=" 2.5) |
| broker RSS ≤ 64 MiB steady with 1,000 partitions ($(j many .partitions) measured) | $rss_steady | $(verdict "${rss_steady% MiB}" "<=" 64) |
| start-up after 5 GiB < 1 s (${gib} GiB measured) | ${startup_s} s | $(verdict "$startup_s" "<=" 1) |

## Commands

$(for c in "${commands[@]}"; do echo "- $c"; done)

Broker: \`weir serve --listen 127.0.0.1:0 --data-dir <temp> [--flush never | --page-cache-window-mib off]\`; RSS from \`/proc/<pid>/status\` every 200 ms.
EOF
    if [[ -s $work/failures ]]; then
        printf '\n## Failures\n\n'
        sed 's/^/- /' "$work/failures"
    fi
}
