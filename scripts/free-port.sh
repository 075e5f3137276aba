# free_port — prints a TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick, through Python;
# without Python, a random port that refuses a connection). Sourced by scripts/with-postgres.sh and
# Benchmarks/lib.sh: the one definition.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return 0
    fi
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}
