# Helpers shared by the iperf3 benchmarks (bench/net.sh, bench/net-handoff.sh);
# sourced, not run. Uses DURATION (seconds per iperf3 run).

# Median of numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

# gbits PORT [-R]: one iperf3 run against 127.0.0.1:PORT, prints Gbit/s.
gbits() {
    timeout $((DURATION + 30)) iperf3 -c 127.0.0.1 -p "$1" -t "$DURATION" ${2:-} -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' ||
        echo nan
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (max 10 s).
wait_port() {
    for _ in $(seq 100); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
