/*
 * loadgen.c — Switchboard's load generator for line chat servers: one thread, non-blocking sockets,
 * level-triggered epoll, no dependencies. Fast enough that the server, not the tool, is measured;
 * every result says how busy the tool was (tool_cores) so a saturated run can be told apart.
 *
 *   loadgen fanout --port P [--clients 50 --messages 200 --batch 64]
 *       C clients connect and each reads its welcome (first line); after --settle-ms every client
 *       sends M lines "BENCH <client> <seq> <send-ns>\r\n" as fast as the socket takes them, a batch
 *       at a time. Every received line holding "BENCH " is a delivery, C·M·(C−1) expected. Latency =
 *       receive time − embedded send time (CLOCK_MONOTONIC). Throughput = deliveries ÷ (last delivery
 *       − first send).
 *   loadgen paced --port P [--clients 50 --rate 2000 --duration 5]
 *       the same lines at a fixed total rate: line k of the whole fleet is due at start + k/R and is
 *       sent by client k mod C. The embedded time is when the line was DUE, so a late send counts as
 *       latency (no coordinated omission). A timerfd wakes the tool at each due time.
 *   fanout and paced, --senders S: only clients 0..S-1 send; the others (the receivers) only read. Every
 *       client still expects every line but its own (one chat), so the counting stays exact, and the
 *       latency and recv_lines_per_s are measured at the receivers only. --port2 P2 connects the
 *       receivers to a second server (several servers on one database are one chat): then every
 *       measured delivery is a line said on the --port server and delivered by the --port2 server.
 *   loadgen churn --port P [--connections 2000 --concurrency 50] [--quit]
 *       N cycles of connect → read the welcome → close, K in flight (the cycle of ../shared's loadgen
 *       --churn). --quit: connect → read the welcome → "/quit" → wait for the server to close instead.
 *   loadgen hold --port P --server-pid PID [--connections 2000 --settle 1]
 *       reads the server's VmRSS, opens N idle connections (welcomes read), keeps reading what arrives
 *       for --settle seconds, reads VmRSS again: growth per connection.
 *
 *   loadgen crowd --port P --server-pid PID [--connections 100000 --senders 50 --messages 20 --sources 8]
 *       a crowd's whole visit, in phases: reads the server's idle VmRSS; opens N connections (welcomes read:
 *       welcome_*), waits --settle seconds and reads VmRSS (held_*: growth per connection); the first
 *       --senders clients each send --messages lines as in fanout, every client expecting every line but
 *       its own (fanout_*; --senders 0 skips it); then every client leaves at once (closes, --leave-chunk
 *       at a time between looks at the sockets) while a probe connects every --probe-ms and times its
 *       welcome (probe_*: the newcomer's wait), and the server's VmRSS is sampled every 10 ms (leave_*);
 *       the probing goes on --after-leave seconds past the last close — or, when the server's welcome says
 *       how many are connected, past the first probe that was alone (leave_drained_s: the leave worked
 *       off) — when VmRSS is read again (rss_after_leave_kib, against rss_idle_kib) and VmHWM (the
 *       process's lifetime peak). tool_cores
 *       is the busiest phase's. LOADGEN_PROBE_LOG=1 in the environment prints every probe's wait to stderr.
 *   loadgen http --port P [--path /api/stats --concurrency 50 --requests 5000]
 *       K keep-alive HTTP/1.1 connections each send GET PATH, read the whole response (Content-Length), and
 *       send the next, until N requests are answered. Latency = response complete − request sent; a status
 *       other than 200 counts as bad (and fails the run).
 *
 * --ws (fanout, paced, churn, hold): speak WebSocket (RFC 6455) instead of lines: each connection first
 * upgrades with GET --ws-path (default /chat); every line sent is one masked text frame (a zero mask key,
 * which the RFC allows, so the payload goes as it is), every text frame received is one line. Pings are
 * answered. Counted from the TCP connect as part of the connection, like --tls.
 *
 * --tls (every mode): speak TLS (OpenSSL, 1.2 or newer, no certificate check, no session resumption:
 * every connection is a full handshake), counted from the TCP connect as part of the connection (churn:
 * connect → handshake → welcome → close is one cycle). Needs a build with -DLOADGEN_TLS -lssl -lcrypto.
 *
 * Common: --host (IPv4, default 127.0.0.1), --timeout S (whole run, default 60), --server-pid PID
 * (server CPU over the measured phase), --connect-concurrency K (connections being set up at once);
 * --sources K (loopback --host only): connection i binds 127.0.0.(2 + i mod K) before connecting, with
 * IP_BIND_ADDRESS_NO_PORT so that the port is picked at connect() for the whole 4-tuple — each source
 * address has the ephemeral port range (net.ipv4.ip_local_port_range) to itself, which is how more
 * connections than that range (28 232 by default) reach one server port;
 * --server-pid2 PID (the --port2 server), --db-pid PID (a database's postmaster: its CPU and its
 * children's, the backends included, summed over the processes alive at both ends of the phase).
 *
 * Output: one line "RESULT mode=… ok=0|1 k=v …" on stdout; a short human summary on stderr. Exit
 * status 0 when ok=1, 1 when the run failed or was incomplete, 2 on bad usage.
 *
 * CPU: tool_cpu_s is this process's CPU (CLOCK_PROCESS_CPUTIME_ID) over the measured phase;
 * server_cpu_s the server's, summed over its threads from /proc/PID/task/TID/schedstat (ns) when the
 * kernel has it, else /proc/PID/stat utime+stime (clock ticks); server_cpu_stat_s is always the
 * latter; server2_cpu_s and db_cpu_s the same way. *_cores = CPU seconds ÷ wall seconds.
 *
 * hold, --server-pid2 PID: that process's RSS growth is added (a TLS terminator's backend).
 *
 * Build: cc -O2 -o loadgen loadgen.c          (plain only)
 *        cc -O2 -DLOADGEN_TLS -o loadgen loadgen.c -lssl -lcrypto     (with --tls; libssl-dev)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

/* ------------------------------------------------------------------ clocks and /proc */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads /proc/PID/stat into buf; returns the fields after the command name (which may hold spaces and
 * parentheses, hence the last ')'), or NULL if unreadable. */
static const char *proc_stat_fields(int pid, char *buf, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p ? p + 1 : NULL;
}

/* utime + stime of PID from /proc/PID/stat, in seconds; -1 if unreadable. */
static double proc_stat_cpu_s(int pid) {
    char buf[4096];
    const char *p = proc_stat_fields(pid, buf, sizeof buf);
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Sum of the first field (ns on CPU) of /proc/PID/task/ * /schedstat; -1 if the kernel has none. */
static double proc_schedstat_cpu_s(int pid) {
    char path[96], buf[128];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    unsigned long long total = 0;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            total += strtoull(buf, NULL, 10);
            seen = 1;
        }
        fclose(f);
    }
    closedir(d);
    return seen ? (double)total / 1e9 : -1;
}

/* A "Name:  N kB" field (VmRSS:, VmHWM:) of PID's /proc/PID/status in KiB; -1 if unreadable. */
static long proc_status_kib(int pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) { kib = strtol(line + n, NULL, 10); break; }
    fclose(f);
    return kib;
}

static long proc_rss_kib(int pid) { return proc_status_kib(pid, "VmRSS:"); }

/* CPU of PID: schedstat when the kernel has it, else /proc/PID/stat; -1 if unreadable. */
static double proc_cpu_s(int pid) {
    double s = proc_schedstat_cpu_s(pid);
    return s >= 0 ? s : proc_stat_cpu_s(pid);
}

/* Parent PID from /proc/PID/stat; -1 if unreadable. */
static int proc_ppid(int pid) {
    char buf[1024];
    const char *p = proc_stat_fields(pid, buf, sizeof buf);
    int ppid;
    return p && sscanf(p, " %*c %d", &ppid) == 1 ? ppid : -1;
}

/* A postmaster and its children (backends, writers): CPU by PID, so that a phase sums only the processes
 * alive at both ends (a backend that came or went in between would count its whole life or nothing). */
#define MAX_DB_PROCS 256
typedef struct {
    int n, pid[MAX_DB_PROCS];
    double cpu[MAX_DB_PROCS];
} db_sample_t;

static void db_take(int root, db_sample_t *s) {
    s->n = 0;
    if (root <= 0) return;
    s->pid[s->n] = root;
    s->cpu[s->n++] = proc_cpu_s(root);
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && s->n < MAX_DB_PROCS) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int pid = atoi(e->d_name);
        if (pid == root || proc_ppid(pid) != root) continue;
        double cpu = proc_cpu_s(pid);
        if (cpu < 0) continue;
        s->pid[s->n] = pid;
        s->cpu[s->n++] = cpu;
    }
    closedir(d);
}

/* CPU the processes in both samples spent between them; -1 without a database. */
static double db_delta(const db_sample_t *a, const db_sample_t *b) {
    if (a->n == 0 || b->n == 0) return -1;
    double sum = 0;
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->pid[j] == b->pid[i]) { sum += b->cpu[i] - a->cpu[j]; break; }
    return sum;
}

/* CPU of the tool and the server(s) at one instant; the difference of two covers a phase. */
typedef struct {
    uint64_t wall_ns;
    double tool, server, server_stat, server2;
    db_sample_t db;
} sample_t;

static int server_pid, server2_pid, db_pid;

static sample_t take_sample(void) {
    sample_t s = {.wall_ns = now_ns(), .tool = self_cpu_s(), .server = -1, .server_stat = -1, .server2 = -1};
    if (server_pid > 0) {
        s.server_stat = proc_stat_cpu_s(server_pid);
        s.server = proc_schedstat_cpu_s(server_pid);
        if (s.server < 0) s.server = s.server_stat;
    }
    if (server2_pid > 0) s.server2 = proc_cpu_s(server2_pid);
    db_take(db_pid, &s.db);
    return s;
}

/* ------------------------------------------------------------------ latency histogram */
/* Log-linear buckets over nanoseconds: values below 2^SUB_BITS exactly, above that 2^SUB_BITS
 * buckets per power of two (relative width < 1/128). */
#define SUB_BITS 7
#define SUBS (1u << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS + 1) * SUBS)

static uint64_t hist[NBUCKETS], hist_n, hist_max;

static unsigned bucket_of(uint64_t v) {
    if (v < SUBS) return (unsigned)v;
    unsigned top = 63u - (unsigned)__builtin_clzll(v); /* ≥ SUB_BITS */
    unsigned shift = top - SUB_BITS;
    return (shift + 1) * SUBS + (unsigned)((v >> shift) & (SUBS - 1));
}

static uint64_t bucket_high(unsigned b) { /* largest value that lands in bucket b */
    if (b < SUBS) return b;
    unsigned shift = b / SUBS - 1, sub = b % SUBS;
    return (((uint64_t)SUBS + sub) << shift) + ((1ull << shift) - 1);
}

static void hist_add(uint64_t v) {
    hist[bucket_of(v)]++;
    hist_n++;
    if (v > hist_max) hist_max = v;
}

static double hist_pct_us(double p) { /* smallest bucket edge with ≥ p% of samples at or below it */
    if (hist_n == 0) return 0;
    uint64_t want = (uint64_t)((p / 100.0) * (double)hist_n);
    if ((double)want < (p / 100.0) * (double)hist_n) want++;
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) {
            uint64_t v = bucket_high(b);
            return (double)(v < hist_max ? v : hist_max) / 1e3;
        }
    }
    return (double)hist_max / 1e3;
}

/* ------------------------------------------------------------------ options */

enum { FANOUT, PACED, CHURN, HOLD, HTTP, CROWD };
static const char *mode_names[] = {"fanout", "paced", "churn", "hold", "http", "crowd"};
#define MODE_COUNT 6

static struct {
    int mode;
    const char *host;
    int port, port2, senders;
    double timeout;
    int clients, messages, batch, settle_ms;
    double rate, duration;
    int connections, concurrency, connect_concurrency, quit, tls, ws, requests;
    const char *ws_path, *path;
    double settle;
    int sources, probe_ms, leave_chunk, senders_set;
    double after_leave;
} opt = {
    .probe_ms = 50, .leave_chunk = 1000, .after_leave = 6,
    .ws_path = "/chat", .path = "/api/stats", .requests = 5000,
    .host = "127.0.0.1", .timeout = 60, .clients = 50, .messages = 200, .batch = 64, .settle_ms = 200,
    .rate = 2000, .duration = 5, .connections = 2000, .concurrency = 50, .connect_concurrency = 64,
    .settle = 1,
};

static void usage(FILE *f) {
    fputs("usage: loadgen fanout|paced|churn|hold|crowd|http --port PORT [options]\n"
          "  common:  --host ADDR (IPv4, 127.0.0.1)  --timeout S (60)  --server-pid PID\n"
          "           --connect-concurrency K (64)  --sources K (0: connect from 127.0.0.2 … 127.0.0.K+1, loopback)\n"
          "           --server-pid2 PID (the --port2 server; hold: its RSS counts too)  --db-pid PID (a postmaster: it\n"
          "           and its children)  --tls (TLS to the server; a build with -DLOADGEN_TLS)\n"
          "  fanout:  --clients C (50)  --messages M (200)  --batch B (64 lines per write)  --settle-ms MS (200)\n"
          "  paced:   --clients C (50)  --rate LINES_PER_S (2000)  --duration S (5)  --settle-ms MS (200)\n"
          "  both:    --senders S (all): only clients 0..S-1 send, latency is measured at the others\n"
          "           --port2 PORT: those others connect to a second server (cross-server delivery)\n"
          "  churn:   --connections N (2000)  --concurrency K (50)  --quit (send /quit, wait for the close)\n"
          "  hold:    --connections N (2000)  --settle S (1)  --server-pid PID (required)\n"
          "  crowd:   --connections N  --settle S  --senders S (50; 0 = no fan-out)  --messages M (200)  --batch B\n"
          "           --probe-ms MS (50)  --leave-chunk K (1000)  --after-leave S (6)  --server-pid PID (required)\n"
          "  http:    --path PATH (/api/stats)  --concurrency K (50)  --requests N (5000)\n"
          "  --ws:    WebSocket instead of lines (not http), upgrading at --ws-path PATH (/chat)\n"
          "Prints one 'RESULT mode=... ok=1 ...' line on stdout; exit 0 only when ok=1.\n",
          f);
}

static void bad_usage(const char *msg, const char *arg) {
    fprintf(stderr, "loadgen: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    usage(stderr);
    exit(2);
}

static double num(const char *s, const char *name, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "loadgen: %s must be a number from %g to %g, not '%s'\n", name, lo, hi, s);
        exit(2);
    }
    return v;
}

/* ------------------------------------------------------------------ connections */

enum { C_FREE, C_CONNECTING, C_OPEN, C_CLOSED };

typedef struct {
    int fd;
    uint8_t state, welcomed, want_out, quit_sent;
    uint32_t id;              /* client number (fanout/paced/hold) */
    uint32_t sent;            /* BENCH lines written into out so far */
    char *in;                 /* an unfinished line */
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    uint64_t started_ns;      /* churn: cycle start; http: request sent */
    uint8_t ws_state;         /* --ws: 1 = waiting for the 101 response, 2 = frames */
    char *wb;                 /* --ws: received bytes not yet a whole frame */
    size_t wb_len, wb_cap;
#ifdef LOADGEN_TLS
    SSL *ssl;                 /* --tls: the connection's TLS state (NULL until the TCP connect is done) */
    uint8_t handshaking;
#endif
} conn_t;

static conn_t *conns;
static int nconns;
static int ep = -1, timer_fd = -1;
#define TIMER_TAG UINT32_MAX
static struct sockaddr_in addr, addr2; /* addr2: the receivers' server (--port2) */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2; older C libraries lack the name */
#endif
static uint64_t deadline_ns;

/* counters */
static uint64_t n_connect_failed, n_peer_closed, n_welcomed, n_other_lines, n_tls_failed;
static uint64_t deliveries, n_bad, n_self, n_order;
static uint64_t recv_deliveries; /* to the receivers (the clients past --senders; all when every client sends) */
static uint64_t last_delivery_ns, last_recv_delivery_ns;
static uint32_t *next_seq; /* fanout/paced/crowd: next expected seq, [receiver * S + sender] */
static int last_errno;
static int inflight;       /* connecting or waiting for the welcome */

static void ep_mod(conn_t *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = (uint8_t)want_out;
}

#ifdef LOADGEN_TLS
static SSL_CTX *tls_ctx;
#endif

static void conn_close(conn_t *c) {
#ifdef LOADGEN_TLS
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; } /* no close_notify: the socket just closes, as a client that leaves */
    c->handshaking = 0;
#endif
    if (c->fd >= 0) close(c->fd); /* close() also removes it from epoll */
    if (c->state == C_CONNECTING || (c->state == C_OPEN && !c->welcomed)) inflight--;
    c->fd = -1;
    c->state = C_CLOSED;
    c->want_out = 0;
    c->in_len = c->out_off = c->out_len = 0;
    c->wb_len = 0;
    c->ws_state = 0;
}

static void queue_upgrade(conn_t *c, const struct sockaddr_in *to);

static int conn_open(conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { last_errno = errno; return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* like the servers measured */
    const struct sockaddr_in *to = opt.port2 && c->id >= (uint32_t)opt.senders ? &addr2 : &addr;
    if (opt.sources) { /* 127.0.0.(2 + slot mod K); the port is chosen by connect(), per 4-tuple */
        struct sockaddr_in from = {.sin_family = AF_INET};
        from.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)((c - conns) % opt.sources));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)&from, sizeof from) < 0) {
            last_errno = errno;
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        last_errno = errno;
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    c->welcomed = c->quit_sent = 0;
    c->want_out = 1;
    c->in_len = c->out_off = c->out_len = 0;
    c->started_ns = now_ns();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { last_errno = errno; close(fd); c->fd = -1; return -1; }
    inflight++;
    if (opt.ws) queue_upgrade(c, to);
    return 0;
}

static void out_reserve(conn_t *c, size_t more) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + more <= c->out_cap) return;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + more) cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p) { perror("realloc"); exit(2); }
    c->out = p;
    c->out_cap = cap;
}

static char *put_uint(char *p, uint64_t v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static void queue_raw(conn_t *c, const char *s, size_t n) {
    out_reserve(c, n);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* --ws: one frame from the client, masked with a zero key (the payload goes as it is). */
static void queue_ws_frame(conn_t *c, uint8_t opcode, const char *s, size_t n) {
    out_reserve(c, n + 14);
    uint8_t *p = (uint8_t *)c->out + c->out_len;
    *p++ = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        *p++ = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        *p++ = 0x80 | 126;
        *p++ = (uint8_t)(n >> 8);
        *p++ = (uint8_t)n;
    } else {
        *p++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--) *p++ = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memset(p, 0, 4);
    p += 4;
    memcpy(p, s, n);
    c->out_len = (size_t)((char *)p + n - c->out);
}

/* One line: CRLF-terminated, or one text frame with --ws. */
static void queue_line(conn_t *c, const char *s, size_t n) {
    if (opt.ws) {
        queue_ws_frame(c, 0x1, s, n);
        return;
    }
    out_reserve(c, n + 2);
    memcpy(c->out + c->out_len, s, n);
    memcpy(c->out + c->out_len + n, "\r\n", 2);
    c->out_len += n + 2;
}

static void queue_upgrade(conn_t *c, const struct sockaddr_in *to) {
    char request[512];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     opt.ws_path, opt.host, ntohs(to->sin_port));
    queue_raw(c, request, (size_t)n);
    c->ws_state = 1;
}

static void queue_bench_line(conn_t *c, uint32_t seq, uint64_t ts) {
    char line[64];
    char *p = line;
    memcpy(p, "BENCH ", 6);
    p = put_uint(p + 6, c->id);
    *p++ = ' ';
    p = put_uint(p, seq);
    *p++ = ' ';
    p = put_uint(p, ts);
    queue_line(c, line, (size_t)(p - line));
}

static void on_eof(conn_t *c, int err);

/* Writes what the socket takes; keeps EPOLLOUT while something is left (or more lines are to come). */
static void conn_flush(conn_t *c, int more_to_come) {
#ifdef LOADGEN_TLS
    if (c->ssl) {
        while (c->out_off < c->out_len) {
            int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
            if (n > 0) { c->out_off += (size_t)n; continue; }
            int err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) { ep_mod(c, 1); return; }
            on_eof(c, err == SSL_ERROR_SYSCALL && errno ? errno : EPROTO);
            return;
        }
        ep_mod(c, more_to_come);
        return;
    }
#endif
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { ep_mod(c, 1); return; }
        on_eof(c, errno);
        return;
    }
    ep_mod(c, more_to_come);
}

/* ------------------------------------------------------------------ the run's state */

static int sending;            /* fanout: the burst has started */
static uint32_t fleet;         /* fanout/paced: C */
static uint32_t nsenders;      /* fanout/paced: S, the clients that send (C unless --senders) */
static uint64_t expected;      /* fanout/paced: deliveries expected */
static uint64_t churn_started, churn_done, churn_failed;

static void fanout_refill(conn_t *c) {
    if (!sending || c->state != C_OPEN || c->id >= nsenders || c->sent >= (uint32_t)opt.messages) return;
    if (c->out_off < c->out_len) return; /* the last batch is not out yet: no fresh timestamps behind it */
    uint64_t ts = now_ns();
    for (int i = 0; i < opt.batch && c->sent < (uint32_t)opt.messages; i++) queue_bench_line(c, c->sent++, ts);
    conn_flush(c, c->sent < (uint32_t)opt.messages);
}

static const char *parse_uint(const char *p, const char *end, uint64_t *v) {
    if (p >= end || *p < '0' || *p > '9') return NULL;
    uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9') x = x * 10 + (uint64_t)(*p++ - '0');
    *v = x;
    return p;
}

static conn_t *probe;             /* crowd: the newcomer that connects during the leave (conns[N]) */
static int server_counts;         /* crowd: the server's welcome says how many are connected */

/* "… N clients connected …" in a welcome: N, or -1 when the server does not say. */
static long welcome_count(const char *line, size_t len) {
    const char *p = memmem(line, len, " client", 7);
    if (!p) return -1;
    const char *q = p;
    while (q > line && q[-1] >= '0' && q[-1] <= '9') q--;
    return q < p ? strtol(q, NULL, 10) : -1;
}
static uint64_t probe_failed;     /* crowd: probes refused or closed before their welcome */
static void probe_welcomed(const char *line, size_t len);

static void on_welcome(conn_t *c, const char *line, size_t len) {
    c->welcomed = 1;
    inflight--;
    if (c == probe) { probe_welcomed(line, len); return; }
    n_welcomed++;
    if (opt.mode == CROWD && welcome_count(line, len) >= 0) server_counts = 1;
    if (opt.mode == CHURN && !opt.quit) { /* welcomed: the cycle is done, the client closes */
        hist_add(now_ns() - c->started_ns);
        churn_done++;
        conn_close(c);
        c->state = C_FREE;
    } else if (opt.mode == CHURN) {
        queue_line(c, "/quit", 5);
        conn_flush(c, 0);
        if (c->state == C_OPEN) c->quit_sent = 1; /* else the send failed: on_eof counted a failed cycle */
    }
}

static void on_line(conn_t *c, const char *line, size_t len, uint64_t now) {
    if (!c->welcomed) { on_welcome(c, line, len); return; }
    if (opt.mode != FANOUT && opt.mode != PACED && opt.mode != CROWD) { n_other_lines++; return; }
    const char *m = memmem(line, len, "BENCH ", 6);
    if (!m) { n_other_lines++; return; }
    const char *end = line + len, *p = m + 6;
    uint64_t from, seq, ts;
    if (!(p = parse_uint(p, end, &from)) || p >= end || *p++ != ' ' || !(p = parse_uint(p, end, &seq)) ||
        p >= end || *p++ != ' ' || !parse_uint(p, end, &ts) || from >= nsenders) {
        n_bad++;
        return;
    }
    if (from == c->id) { n_self++; return; } /* the servers measured never echo to the sender */
    uint32_t *want = &next_seq[(size_t)c->id * nsenders + from];
    if (seq != *want) n_order++; /* lost, repeated or reordered: each sender's lines arrive in order */
    *want = (uint32_t)seq + 1;
    deliveries++;
    last_delivery_ns = now;
    /* Latency at the receivers only: with --port2 the senders' own deliveries are local to their server. */
    if (c->id >= nsenders || nsenders == fleet) {
        recv_deliveries++;
        last_recv_delivery_ns = now;
        hist_add(now > ts ? now - ts : 0);
    }
}

static void feed(conn_t *c, const char *p, size_t n, uint64_t now) {
    const char *end = p + n;
    if (c->in_len) { /* finish the line left over from the last read */
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->in_len + take > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap : 256;
            while (cap < c->in_len + take) cap *= 2;
            char *q = realloc(c->in, cap);
            if (!q) { perror("realloc"); exit(2); }
            c->in = q;
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, p, take);
        c->in_len += take;
        if (!nl) return;
        size_t len = c->in_len;
        c->in_len = 0;
        on_line(c, c->in, len && c->in[len - 1] == '\r' ? len - 1 : len, now);
        p = nl + 1;
        if (c->state != C_OPEN) return;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) { /* keep the start of a line for the next read */
            size_t rest = (size_t)(end - p);
            if (rest > c->in_cap) {
                char *q = realloc(c->in, rest < 256 ? 256 : rest);
                if (!q) { perror("realloc"); exit(2); }
                c->in = q;
                c->in_cap = rest < 256 ? 256 : rest;
            }
            memcpy(c->in, p, rest);
            c->in_len = rest;
            return;
        }
        size_t len = (size_t)(nl - p);
        on_line(c, p, len && p[len - 1] == '\r' ? len - 1 : len, now);
        p = nl + 1;
        if (c->state != C_OPEN) return;
    }
}

static uint64_t n_bad_upgrade;

/* Keeps bytes[0..n) in c->wb (they are not a whole frame yet). */
static void keep_partial(conn_t *c, const char *p, size_t n) {
    if (n > c->wb_cap) {
        size_t cap = c->wb_cap ? c->wb_cap : 256;
        while (cap < n) cap *= 2;
        char *q = realloc(c->wb, cap);
        if (!q) { perror("realloc"); exit(2); }
        c->wb = q;
        c->wb_cap = cap;
    }
    memmove(c->wb, p, n);
    c->wb_len = n;
}

/* --ws: the 101 response, then frames; every text frame is a line. */
static void ws_feed(conn_t *c, const char *p, size_t n, uint64_t now) {
    if (c->wb_len) { /* finish what the last read left */
        size_t have = c->wb_len;
        if (have + n > c->wb_cap) {
            size_t cap = c->wb_cap;
            while (cap < have + n) cap *= 2;
            char *q = realloc(c->wb, cap);
            if (!q) { perror("realloc"); exit(2); }
            c->wb = q;
            c->wb_cap = cap;
        }
        memcpy(c->wb + have, p, n);
        c->wb_len = 0;
        p = c->wb;
        n = have + n;
    }
    size_t off = 0;
    if (c->ws_state == 1) {
        const char *end = memmem(p, n, "\r\n\r\n", 4);
        if (!end) {
            if (n > 16384) { n_bad_upgrade++; on_eof(c, EPROTO); return; }
            keep_partial(c, p, n);
            return;
        }
        if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) { n_bad_upgrade++; on_eof(c, EPROTO); return; }
        off = (size_t)(end + 4 - p);
        c->ws_state = 2;
    }
    while (off + 2 <= n) {
        const uint8_t *h = (const uint8_t *)p + off;
        uint8_t opcode = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t header = 2;
        if (len == 126) {
            if (off + 4 > n) break;
            len = (uint64_t)h[2] << 8 | h[3];
            header = 4;
        } else if (len == 127) {
            if (off + 10 > n) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
            header = 10;
        }
        if (h[1] & 0x80) header += 4; /* servers do not mask; skip a key if one came */
        if (off + header + len > n) break;
        const char *payload = p + off + header;
        off += header + (size_t)len;
        if (opcode == 0x1 || opcode == 0x0) {
            on_line(c, payload, (size_t)len, now);
        } else if (opcode == 0x9) { /* ping: pong with its payload */
            queue_ws_frame(c, 0xA, payload, (size_t)len);
            conn_flush(c, opt.mode == FANOUT && sending && c->sent < (uint32_t)opt.messages);
        } /* close: the TCP close follows; pong, binary: nothing to do */
        if (c->state != C_OPEN) return;
    }
    if (off < n) keep_partial(c, p + off, n - off);
}

/* ---- http mode */
static uint64_t http_started, http_done, http_bad;
static void http_send(conn_t *c) {
    if (http_started >= (uint64_t)opt.requests) return;
    http_started++;
    char request[512];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.path, opt.host, opt.port);
    queue_raw(c, request, (size_t)n);
    c->started_ns = now_ns();
    conn_flush(c, 0);
}

/* Collects one response at a time in c->in: the head up to CRLF CRLF, then Content-Length bytes. */
static void http_feed(conn_t *c, const char *p, size_t n, uint64_t now) {
    if (c->in_len + n + 1 > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;
        while (cap < c->in_len + n + 1) cap *= 2;
        char *q = realloc(c->in, cap);
        if (!q) { perror("realloc"); exit(2); }
        c->in = q;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    for (;;) {
        c->in[c->in_len] = 0;
        const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return;
        size_t head = (size_t)(end + 4 - c->in);
        const char *cl = strcasestr(c->in, "\r\ncontent-length:");
        if (!cl || cl > end) { http_bad++; on_eof(c, EPROTO); return; }
        size_t body = (size_t)strtoull(cl + 17, NULL, 10);
        if (c->in_len < head + body) return;
        if (c->in_len < 12 || memcmp(c->in + 9, "200", 3) != 0) http_bad++;
        hist_add(now - c->started_ns);
        http_done++;
        memmove(c->in, c->in + head + body, c->in_len - head - body);
        c->in_len -= head + body;
        http_send(c);
        if (c->state != C_OPEN) return;
    }
}

static void input(conn_t *c, const char *p, size_t n, uint64_t now) {
    if (opt.mode == HTTP) http_feed(c, p, n, now);
    else if (opt.ws) ws_feed(c, p, n, now);
    else feed(c, p, n, now);
}

static void on_eof(conn_t *c, int err) {
    if (opt.mode == CHURN && c->quit_sent) { /* the server closed after /quit: a cycle done */
        hist_add(now_ns() - c->started_ns);
        churn_done++;
    } else {
        if (err) last_errno = err;
        n_peer_closed++;
        if (opt.mode == CHURN) churn_failed++;
    }
    conn_close(c);
    if (opt.mode == CHURN) c->state = C_FREE;
    if (c == probe) { probe_failed++; c->state = C_FREE; }
}

static char rbuf[256 * 1024];

static void on_readable(conn_t *c) {
#ifdef LOADGEN_TLS
    if (c->ssl) { /* read records until OpenSSL wants the socket again: a record may wait in its buffer */
        for (;;) {
            int n = SSL_read(c->ssl, rbuf, (int)sizeof rbuf);
            if (n > 0) {
                input(c, rbuf, (size_t)n, now_ns());
                if (c->state != C_OPEN) return;
                continue;
            }
            int err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_READ) return;
            if (err == SSL_ERROR_WANT_WRITE) { ep_mod(c, 1); return; }
            if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) { on_eof(c, 0); return; }
            on_eof(c, err == SSL_ERROR_SYSCALL && errno ? errno : EPROTO);
            return;
        }
    }
#endif
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n > 0) {
            input(c, rbuf, (size_t)n, now_ns());
            if (c->state != C_OPEN) return;
            if ((size_t)n < sizeof rbuf) return; /* drained (level-triggered: a later byte wakes us again) */
            continue;
        }
        if (n == 0) { on_eof(c, 0); return; }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        /* A reset after /quit is still the server closing the connection. */
        on_eof(c, errno);
        return;
    }
}

static void on_event(conn_t *c, uint32_t events) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            last_errno = err;
            n_connect_failed++;
            conn_close(c);
            if (opt.mode == CHURN) { churn_failed++; c->state = C_FREE; }
            if (c == probe) { probe_failed++; c->state = C_FREE; }
            return;
        }
        c->state = C_OPEN;
        ep_mod(c, c->out_off < c->out_len);
        if (opt.mode == HTTP) { /* no welcome: connected is set up */
            c->welcomed = 1;
            inflight--;
        }
#ifdef LOADGEN_TLS
        if (tls_ctx) {
            c->ssl = SSL_new(tls_ctx);
            if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) { on_eof(c, ENOMEM); return; }
            SSL_set_connect_state(c->ssl);
            c->handshaking = 1;
        }
#endif
    }
#ifdef LOADGEN_TLS
    if (c->handshaking) { /* the handshake first; the welcome may already sit in OpenSSL's buffer after it */
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ) { ep_mod(c, 0); return; }
            if (err == SSL_ERROR_WANT_WRITE) { ep_mod(c, 1); return; }
            n_tls_failed++;
            on_eof(c, err == SSL_ERROR_SYSCALL && errno ? errno : EPROTO);
            return;
        }
        c->handshaking = 0;
        ep_mod(c, c->out_off < c->out_len);
        on_readable(c);
        if (c->state != C_OPEN) return;
        if (c->out_off < c->out_len) conn_flush(c, 0);
        return;
    }
#endif
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        on_readable(c);
        if (c->state != C_OPEN) return;
    }
    if (events & EPOLLOUT) {
        if (c->out_off < c->out_len) conn_flush(c, opt.mode == FANOUT && sending && c->sent < (uint32_t)opt.messages);
        else if (opt.mode == FANOUT) fanout_refill(c);
        else ep_mod(c, 0);
    }
}

/* ------------------------------------------------------------------ the loop */

static int timed_out;
static void (*on_timer)(void);
static int max_wait_ms = 100; /* crowd's leave: a few ms, so the probe and the RSS samples keep time */
static int top_up_busy;       /* set by a top_up that has more to do at once: do not wait for events */

/* Runs the event loop until done() says so or the deadline passes (sets timed_out); top_up() runs
 * before every wait (opens connections, starts cycles). */
static void run_until(int (*done)(void), void (*top_up)(void), uint64_t until_ns) {
    static struct epoll_event events[1024];
    for (;;) {
        if (top_up) top_up();
        if (done && done()) return;
        uint64_t now = now_ns();
        if (now >= deadline_ns) { timed_out = 1; return; }
        if (until_ns && now >= until_ns) return;
        uint64_t limit = until_ns && until_ns < deadline_ns ? until_ns : deadline_ns;
        int wait_ms = (int)((limit - now + 999999) / 1000000);
        if (wait_ms > max_wait_ms) wait_ms = max_wait_ms;
        if (top_up_busy) wait_ms = 0;
        int n = epoll_wait(ep, events, 1024, wait_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == TIMER_TAG) {
                uint64_t ticks;
                if (read(timer_fd, &ticks, sizeof ticks) < 0) { /* spurious: nothing due */ }
                if (on_timer) on_timer();
                continue;
            }
            conn_t *c = &conns[events[i].data.u32];
            if (c->state == C_CONNECTING || c->state == C_OPEN) on_event(c, events[i].events);
        }
    }
}

/* Setting up a fleet (fanout, paced, hold): opens connections, at most connect_concurrency at once. */
static int opened;
static void fleet_top_up(void) {
    while (opened < nconns && inflight < opt.connect_concurrency) {
        conn_t *c = &conns[opened++];
        if (conn_open(c) < 0) { n_connect_failed++; c->state = C_CLOSED; }
    }
}
static int fleet_up(void) { return opened == nconns && inflight == 0; }

static int all_delivered(void) { return deliveries >= expected || n_peer_closed > 0; }

/* ------------------------------------------------------------------ paced sending */

static uint64_t paced_start_ns, paced_total, paced_next, paced_first_send_ns, paced_last_send_ns;

static uint64_t due_ns(uint64_t k) { return paced_start_ns + (uint64_t)((double)k * 1e9 / opt.rate); }

static void arm_timer(uint64_t at_ns) {
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(at_ns / 1000000000u), .tv_nsec = (long)(at_ns % 1000000000u)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void paced_tick(void) {
    uint64_t now = now_ns(), before = paced_next;
    while (paced_next < paced_total && due_ns(paced_next) <= now) {
        conn_t *c = &conns[paced_next % nsenders];
        if (c->state == C_OPEN) {
            queue_bench_line(c, (uint32_t)(paced_next / nsenders), due_ns(paced_next));
            conn_flush(c, 0);
        }
        paced_next++;
    }
    if (paced_next > before) {
        if (!paced_first_send_ns) paced_first_send_ns = now;
        paced_last_send_ns = now;
    }
    if (paced_next < paced_total) arm_timer(due_ns(paced_next));
}

/* ------------------------------------------------------------------ churn */

static void churn_top_up(void) {
    for (int i = 0; i < nconns && churn_started < (uint64_t)opt.connections; i++) {
        conn_t *c = &conns[i];
        if (c->state != C_FREE) continue;
        churn_started++;
        if (conn_open(c) < 0) { n_connect_failed++; churn_failed++; }
    }
}
static int churn_finished(void) { return churn_done + churn_failed >= (uint64_t)opt.connections; }

/* ------------------------------------------------------------------ report */

static char result[4096];
static size_t result_len;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(result + result_len, sizeof result - result_len, fmt, ap);
    va_end(ap);
    if (n > 0 && result_len + (size_t)n < sizeof result) result_len += (size_t)n;
}

/* The phase's wall time and CPU, each key after PREFIX ("" for a mode's single phase). */
static void put_phase_as(const char *prefix, sample_t a, sample_t b) {
    double wall = (double)(b.wall_ns - a.wall_ns) / 1e9;
    double tool = b.tool - a.tool;
    put(" %swall_s=%.4f %stool_cpu_s=%.4f %stool_cores=%.3f", prefix, wall, prefix, tool, prefix, wall > 0 ? tool / wall : 0);
    if (a.server >= 0 && b.server >= 0) {
        double s = b.server - a.server;
        put(" %sserver_cpu_s=%.4f %sserver_cores=%.3f", prefix, s, prefix, wall > 0 ? s / wall : 0);
    }
    if (*prefix) return; /* the crowd's phases: the rest is for the single-phase modes */
    if (a.server_stat >= 0 && b.server_stat >= 0) put(" server_cpu_stat_s=%.3f", b.server_stat - a.server_stat);
    if (a.server2 >= 0 && b.server2 >= 0) {
        double s = b.server2 - a.server2;
        put(" server2_cpu_s=%.4f server2_cores=%.3f", s, wall > 0 ? s / wall : 0);
    }
    double db = db_delta(&a.db, &b.db);
    if (db >= 0) put(" db_cpu_s=%.4f db_cores=%.3f db_procs=%d", db, wall > 0 ? db / wall : 0, b.db.n);
}

static void put_phase(sample_t a, sample_t b) { put_phase_as("", a, b); }

static void put_latency(const char *prefix) {
    put(" %ssamples=%" PRIu64 " %sp50_us=%.1f %sp99_us=%.1f %smax_us=%.1f", prefix, hist_n, prefix,
        hist_pct_us(50), prefix, hist_pct_us(99), prefix, (double)hist_max / 1e3);
}

static int finish(int ok, const char *error) {
    char head[256];
    snprintf(head, sizeof head, "RESULT mode=%s ok=%d error=%s", mode_names[opt.mode], ok, ok ? "none" : error);
    printf("%s%s connect_failed=%" PRIu64 " peer_closed=%" PRIu64 " tls=%d tls_failed=%" PRIu64 " ws=%d ws_bad_upgrade=%" PRIu64 " last_errno=%s\n", head,
           result, n_connect_failed, n_peer_closed, opt.tls, n_tls_failed, opt.ws, n_bad_upgrade, last_errno ? strerrorname_np(last_errno) : "none");
    fflush(stdout);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ modes */

static int run_fleet_mode(void) { /* fanout and paced */
    fleet = (uint32_t)opt.clients;
    nsenders = opt.senders ? (uint32_t)opt.senders : fleet;
    nconns = opt.clients;
    conns = calloc((size_t)nconns, sizeof *conns);
    next_seq = calloc((size_t)fleet * nsenders, sizeof *next_seq);
    if (!conns || !next_seq) { perror("calloc"); return 2; }
    for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].id = (uint32_t)i; }

    run_until(fleet_up, fleet_top_up, 0);
    put(" clients=%d welcomed=%" PRIu64, opt.clients, n_welcomed);
    if (timed_out || n_welcomed < (uint64_t)nconns) return finish(0, timed_out ? "timeout_connecting" : "connect_failed");
    /* Let join notices drain before the clock starts (they are read and ignored). */
    run_until(NULL, NULL, now_ns() + (uint64_t)opt.settle_ms * 1000000u);
    if (n_peer_closed) return finish(0, "peer_closed");
    n_other_lines = 0;

    sample_t a, b;
    if (opt.mode == FANOUT) {
        expected = (uint64_t)opt.messages * nsenders * (fleet - 1);
        put(" messages=%d batch=%d", opt.messages, opt.batch);
        a = take_sample();
        sending = 1;
        for (int i = 0; i < nconns; i++) fanout_refill(&conns[i]);
        run_until(all_delivered, NULL, 0);
        b = take_sample();
        b.wall_ns = last_delivery_ns ? last_delivery_ns : b.wall_ns; /* throughput ends at the last delivery */
    } else {
        uint64_t per_client = (uint64_t)(opt.rate * opt.duration / nsenders + 0.5);
        if (per_client == 0) per_client = 1;
        paced_total = per_client * nsenders;
        expected = paced_total * (fleet - 1);
        timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
        if (timer_fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &ev) < 0) { perror("timerfd"); return 2; }
        on_timer = paced_tick;
        a = take_sample();
        paced_start_ns = a.wall_ns + 1000000; /* first line 1 ms from now */
        arm_timer(paced_start_ns);
        run_until(all_delivered, NULL, 0);
        b = take_sample();
        /* Lines sent per second between the first and the last send (the schedule's rate if on time). */
        double send_s = (double)(paced_last_send_ns - paced_first_send_ns) / 1e9;
        put(" rate=%.0f duration_s=%.3f lines=%" PRIu64 " lines_sent=%" PRIu64 " achieved_rate=%.0f", opt.rate,
            opt.duration, paced_total, paced_next, send_s > 0 && paced_next > 1 ? (double)(paced_next - 1) / send_s : 0);
    }
    double wall = (double)(b.wall_ns - a.wall_ns) / 1e9;
    put(" expected=%" PRIu64 " deliveries=%" PRIu64 " deliveries_per_s=%.0f", expected, deliveries,
        wall > 0 ? (double)deliveries / wall : 0);
    /* Lines per second as the receivers saw them: each line reaches every receiver (C-1 of them when every
     * client sends), from the first send to the receivers' last delivery. */
    uint32_t receivers = nsenders < fleet ? fleet - nsenders : fleet;
    uint64_t per_line = nsenders < fleet ? receivers : fleet - 1;
    double recv_wall = last_recv_delivery_ns > a.wall_ns ? (double)(last_recv_delivery_ns - a.wall_ns) / 1e9 : 0;
    put(" senders=%u receivers=%u port2=%d recv_deliveries=%" PRIu64 " recv_lines_per_s=%.0f", nsenders, receivers,
        opt.port2, recv_deliveries, recv_wall > 0 ? (double)recv_deliveries / (double)per_line / recv_wall : 0);
    put(" order_errors=%" PRIu64 " self=%" PRIu64 " bad=%" PRIu64 " other_lines=%" PRIu64, n_order, n_self, n_bad,
        n_other_lines);
    put_phase(a, b);
    put_latency("lat_");
    if (timed_out) return finish(0, "timeout");
    if (n_peer_closed) return finish(0, "peer_closed");
    if (deliveries != expected) return finish(0, "incomplete");
    if (n_order || n_self || n_bad) return finish(0, "wrong_lines");
    return finish(1, NULL);
}

static int run_churn(void) {
    nconns = opt.concurrency;
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) { perror("calloc"); return 2; }
    for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].state = C_FREE; }
    sample_t a = take_sample();
    run_until(churn_finished, churn_top_up, 0);
    sample_t b = take_sample();
    double wall = (double)(b.wall_ns - a.wall_ns) / 1e9;
    put(" connections=%d concurrency=%d completed=%" PRIu64 " failed=%" PRIu64 " connections_per_s=%.0f",
        opt.connections, opt.concurrency, churn_done, churn_failed, wall > 0 ? (double)churn_done / wall : 0);
    put_phase(a, b);
    put_latency("cycle_");
    if (timed_out) return finish(0, "timeout");
    if (churn_failed || churn_done != (uint64_t)opt.connections) return finish(0, "failed_cycles");
    n_peer_closed = 0; /* with --quit, every close was the server answering it */
    return finish(1, NULL);
}

static int run_hold(void) {
    if (server_pid <= 0) bad_usage("hold needs", "--server-pid");
    nconns = opt.connections;
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) { perror("calloc"); return 2; }
    for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].id = (uint32_t)i; }
    long before = proc_rss_kib(server_pid);
    long before2 = server2_pid > 0 ? proc_rss_kib(server2_pid) : 0;
    if (before < 0 || before2 < 0) return finish(0, "no_server_rss");
    sample_t a = take_sample();
    run_until(fleet_up, fleet_top_up, 0);
    sample_t b = take_sample();
    put(" connections=%d welcomed=%" PRIu64, opt.connections, n_welcomed);
    put_phase(a, b);
    if (timed_out || n_welcomed < (uint64_t)nconns) return finish(0, timed_out ? "timeout_connecting" : "connect_failed");
    /* Keep reading while the server settles: queued join notices drain instead of piling up. */
    run_until(NULL, NULL, now_ns() + (uint64_t)(opt.settle * 1e9));
    long after = proc_rss_kib(server_pid);
    long after2 = server2_pid > 0 ? proc_rss_kib(server2_pid) : 0;
    if (after < 0 || after2 < 0) return finish(0, "server_gone");
    double per = (double)(after - before + after2 - before2) / nconns;
    put(" settle_s=%.1f rss_before_kib=%ld rss_after_kib=%ld", opt.settle, before, after);
    if (server2_pid > 0) put(" rss2_before_kib=%ld rss2_after_kib=%ld", before2, after2);
    put(" rss_per_connection_kib=%.3f", per);
    if (timed_out) return finish(0, "timeout");
    if (n_peer_closed) return finish(0, "peer_closed");
    return finish(1, NULL);
}

/* ------------------------------------------------------------------ crowd */

static uint64_t probe_due_ns, probe_started_ns, probe_late; /* late: welcomed after more than 1 s */
static uint64_t probe_count;
static long probe_last_connected = -1;
static int leave_closed;                 /* crowd connections closed so far in the leave */
static uint64_t leave_last_close_ns, leave_end_ns, rss_next_ns, leave_start_ns;
static uint64_t leave_drained_ns; /* a probe's welcome said 1 client connected (itself): the leave is worked off */
#define LEAVE_DRAIN_WAIT_S 120u
static long leave_rss_peak;

/* The probe's welcome: its wait is one sample; the count the server says ("… N clients connected …") is kept. */
static void probe_welcomed(const char *line, size_t len) {
    uint64_t now = now_ns(), waited = now - probe_started_ns;
    hist_add(waited);
    probe_count++;
    if (waited > 1000000000u) probe_late++;
    long count = welcome_count(line, len);
    if (count >= 0) probe_last_connected = count;
    if (probe_last_connected == 1 && leave_last_close_ns && !leave_drained_ns) leave_drained_ns = now;
    if (getenv("LOADGEN_PROBE_LOG")) fprintf(stderr, "probe at %.3f s: %.1f ms, closed %d\n", (double)(probe_started_ns - leave_start_ns) / 1e9, (double)waited / 1e6, leave_closed);
    conn_close(probe);
    probe->state = C_FREE;
    probe_due_ns = now + (uint64_t)opt.probe_ms * 1000000u;
}

static void leave_sample_rss(uint64_t now) {
    if (now < rss_next_ns) return;
    rss_next_ns = now + 10000000u;
    long rss = proc_rss_kib(server_pid);
    if (rss > leave_rss_peak) leave_rss_peak = rss;
}

/* The leave: closes the crowd a chunk at a time, starts a probe when one is due, samples the RSS. */
static void leave_top_up(void) {
    uint64_t now = now_ns();
    int end = leave_closed + opt.leave_chunk < nconns ? leave_closed + opt.leave_chunk : nconns;
    for (; leave_closed < end; leave_closed++)
        if (conns[leave_closed].state == C_CONNECTING || conns[leave_closed].state == C_OPEN) conn_close(&conns[leave_closed]);
    if (leave_closed == nconns && !leave_last_close_ns) leave_last_close_ns = now_ns();
    /* --after-leave counts from the last close, or, with a server whose welcome says how many are connected,
     * from the first probe that was alone: RSS "after" is then read once the server has worked the leave off
     * (waiting for that at most LEAVE_DRAIN_WAIT_S past the last close: then leave_drained_s=-1). */
    if (leave_last_close_ns && !leave_end_ns &&
        (!server_counts || leave_drained_ns || now > leave_last_close_ns + LEAVE_DRAIN_WAIT_S * 1000000000u)) {
        uint64_t base = !server_counts ? leave_last_close_ns : leave_drained_ns ? leave_drained_ns : now;
        leave_end_ns = base + (uint64_t)(opt.after_leave * 1e9);
    }
    top_up_busy = leave_closed < nconns;
    if (probe->state == C_FREE && now >= probe_due_ns && (!leave_end_ns || now < leave_end_ns)) {
        probe_started_ns = now;
        if (conn_open(probe) < 0) { n_connect_failed++; probe->state = C_FREE; probe_due_ns = now + 1000000u; }
    }
    leave_sample_rss(now_ns());
}

/* Done once every client has left, --after-leave has passed and no probe is still waiting. */
static int leave_done(void) { return leave_end_ns && now_ns() >= leave_end_ns && probe->state == C_FREE; }

static int run_crowd(void) {
    if (server_pid <= 0) bad_usage("crowd needs", "--server-pid");
    fleet = (uint32_t)opt.connections;
    nsenders = opt.senders_set ? (uint32_t)opt.senders : 50;
    if (nsenders > fleet) bad_usage("--senders must be at most", "--connections");
    nconns = opt.connections;
    conns = calloc((size_t)nconns + 1, sizeof *conns);
    next_seq = calloc((size_t)fleet * (nsenders ? nsenders : 1), sizeof *next_seq);
    if (!conns || !next_seq) { perror("calloc"); return 2; }
    for (int i = 0; i <= nconns; i++) { conns[i].fd = -1; conns[i].id = (uint32_t)i; }
    probe = &conns[nconns];
    probe->state = C_FREE;

    long idle = proc_rss_kib(server_pid);
    if (idle < 0) return finish(0, "no_server_rss");
    put(" connections=%d sources=%d rss_idle_kib=%ld", opt.connections, opt.sources, idle);
    sample_t a = take_sample();
    run_until(fleet_up, fleet_top_up, 0);
    sample_t b = take_sample();
    put(" welcomed=%" PRIu64, n_welcomed);
    put_phase_as("welcome_", a, b);
    if (timed_out || n_welcomed < (uint64_t)nconns) return finish(0, timed_out ? "timeout_connecting" : "connect_failed");

    run_until(NULL, NULL, now_ns() + (uint64_t)(opt.settle * 1e9)); /* join notices drain, read and ignored */
    long held = proc_rss_kib(server_pid);
    if (held < 0) return finish(0, "server_gone");
    put(" settle_s=%.1f rss_held_kib=%ld held_rss_per_connection_kib=%.3f", opt.settle, held,
        (double)(held - idle) / nconns);
    if (n_peer_closed) return finish(0, "peer_closed");

    double fanout_tool = 0, fanout_wall = 0;
    if (nsenders) {
        n_other_lines = 0;
        expected = (uint64_t)opt.messages * nsenders * (fleet - 1);
        sample_t c = take_sample();
        sending = 1;
        for (uint32_t i = 0; i < nsenders; i++) fanout_refill(&conns[i]);
        run_until(all_delivered, NULL, 0);
        sample_t d = take_sample();
        d.wall_ns = last_delivery_ns ? last_delivery_ns : d.wall_ns;
        double wall = (double)(d.wall_ns - c.wall_ns) / 1e9;
        put(" senders=%u messages=%d batch=%d expected=%" PRIu64 " deliveries=%" PRIu64 " deliveries_per_s=%.0f", nsenders,
            opt.messages, opt.batch, expected, deliveries, wall > 0 ? (double)deliveries / wall : 0);
        put(" order_errors=%" PRIu64 " self=%" PRIu64 " bad=%" PRIu64 " other_lines=%" PRIu64, n_order, n_self, n_bad,
            n_other_lines);
        put_phase_as("fanout_", c, d);
        fanout_tool = d.tool - c.tool;
        fanout_wall = (double)(d.wall_ns - c.wall_ns);
        put_latency("fanout_lat_");
        if (timed_out) return finish(0, "timeout_fanout");
        if (n_peer_closed) return finish(0, "peer_closed");
        if (deliveries != expected) return finish(0, "incomplete");
        if (n_order || n_self || n_bad) return finish(0, "wrong_lines");
        sending = 0;
    }

    memset(hist, 0, sizeof hist);
    hist_n = hist_max = 0;
    long before_leave = proc_rss_kib(server_pid);
    leave_rss_peak = before_leave;
    max_wait_ms = 5;
    sample_t e = take_sample();
    leave_start_ns = e.wall_ns;
    if (getenv("LOADGEN_PROBE_LOG")) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        fprintf(stderr, "leave starts at monotonic %.6f, realtime %ld.%06ld\n", (double)leave_start_ns / 1e9, (long)rt.tv_sec, rt.tv_nsec / 1000);
    }
    run_until(leave_done, leave_top_up, 0);
    sample_t f = take_sample();
    top_up_busy = 0;
    long after = proc_rss_kib(server_pid), hwm = proc_status_kib(server_pid, "VmHWM:");
    if (after < 0) return finish(0, "server_gone");
    double closing = leave_last_close_ns ? (double)(leave_last_close_ns - e.wall_ns) / 1e9 : 0;
    double drained = leave_drained_ns ? (double)(leave_drained_ns - e.wall_ns) / 1e9 : -1;
    put(" rss_before_leave_kib=%ld leave_rss_peak_kib=%ld rss_after_leave_kib=%ld rss_hwm_kib=%ld after_leave_s=%.1f"
        " leave_closing_s=%.3f leave_drained_s=%.3f", before_leave, leave_rss_peak, after, hwm, opt.after_leave, closing, drained);
    put(" probe_interval_ms=%d probes=%" PRIu64 " probes_late=%" PRIu64 " probes_failed=%" PRIu64
        " probe_last_connected=%ld", opt.probe_ms, probe_count, probe_late, probe_failed, probe_last_connected);
    put_latency("probe_");
    put_phase_as("leave_", e, f);
    /* The busiest the tool was in any phase: a run where it was near a core is marked by the scripts. */
    double busiest = 0, phases[][2] = {{b.tool - a.tool, (double)(b.wall_ns - a.wall_ns)},
                                       {f.tool - e.tool, (double)(f.wall_ns - e.wall_ns)}, {fanout_tool, fanout_wall}};
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        if (phases[i][1] > 0 && phases[i][0] / (phases[i][1] / 1e9) > busiest) busiest = phases[i][0] / (phases[i][1] / 1e9);
    put(" tool_cores=%.3f", busiest);
    if (timed_out) return finish(0, "timeout_leaving");
    if (probe_count == 0) return finish(0, "no_probe");
    if (probe_failed) return finish(0, "probe_failed");
    return finish(1, NULL);
}

static int http_finished(void) { return http_done >= (uint64_t)opt.requests || n_peer_closed > 0; }

static int run_http(void) {
    nconns = opt.concurrency;
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) { perror("calloc"); return 2; }
    for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].id = (uint32_t)i; }
    run_until(fleet_up, fleet_top_up, 0);
    if (timed_out || n_connect_failed) return finish(0, timed_out ? "timeout_connecting" : "connect_failed");
    sample_t a = take_sample();
    for (int i = 0; i < nconns; i++) http_send(&conns[i]);
    run_until(http_finished, NULL, 0);
    sample_t b = take_sample();
    double wall = (double)(b.wall_ns - a.wall_ns) / 1e9;
    put(" path=%s requests=%d concurrency=%d completed=%" PRIu64 " bad_status=%" PRIu64 " requests_per_s=%.0f", opt.path,
        opt.requests, opt.concurrency, http_done, http_bad, wall > 0 ? (double)http_done / wall : 0);
    put_phase(a, b);
    put_latency("req_");
    if (timed_out) return finish(0, "timeout");
    if (n_peer_closed) return finish(0, "peer_closed");
    if (http_bad) return finish(0, "bad_status");
    return finish(1, NULL);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc < 2) bad_usage("missing mode", NULL);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    int m;
    for (m = 0; m < MODE_COUNT && strcmp(argv[1], mode_names[m]); m++) {}
    if (m == MODE_COUNT) bad_usage("unknown mode", argv[1]);
    opt.mode = m;

    enum { O_HOST = 256, O_PORT, O_TIMEOUT, O_PID, O_CC, O_CLIENTS, O_MESSAGES, O_BATCH, O_SETTLE_MS, O_RATE,
           O_DURATION, O_CONNECTIONS, O_CONCURRENCY, O_SETTLE, O_PORT2, O_SENDERS, O_PID2, O_DB_PID, O_QUIT, O_TLS, O_WS, O_WS_PATH, O_PATH, O_REQUESTS,
           O_SOURCES, O_PROBE_MS, O_LEAVE_CHUNK, O_AFTER_LEAVE };
    static const struct option longs[] = {
        {"host", 1, 0, O_HOST}, {"port", 1, 0, O_PORT}, {"timeout", 1, 0, O_TIMEOUT}, {"server-pid", 1, 0, O_PID},
        {"connect-concurrency", 1, 0, O_CC}, {"clients", 1, 0, O_CLIENTS}, {"messages", 1, 0, O_MESSAGES},
        {"batch", 1, 0, O_BATCH}, {"settle-ms", 1, 0, O_SETTLE_MS}, {"rate", 1, 0, O_RATE},
        {"duration", 1, 0, O_DURATION}, {"connections", 1, 0, O_CONNECTIONS}, {"concurrency", 1, 0, O_CONCURRENCY},
        {"settle", 1, 0, O_SETTLE}, {"port2", 1, 0, O_PORT2}, {"senders", 1, 0, O_SENDERS},
        {"server-pid2", 1, 0, O_PID2}, {"db-pid", 1, 0, O_DB_PID}, {"quit", 0, 0, O_QUIT}, {"tls", 0, 0, O_TLS},
        {"ws", 0, 0, O_WS}, {"ws-path", 1, 0, O_WS_PATH}, {"path", 1, 0, O_PATH}, {"requests", 1, 0, O_REQUESTS},
        {"sources", 1, 0, O_SOURCES}, {"probe-ms", 1, 0, O_PROBE_MS}, {"leave-chunk", 1, 0, O_LEAVE_CHUNK},
        {"after-leave", 1, 0, O_AFTER_LEAVE},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0},
    };
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (o) {
        case O_HOST: opt.host = optarg; break;
        case O_PORT: opt.port = (int)num(optarg, "--port", 1, 65535); break;
        case O_TIMEOUT: opt.timeout = num(optarg, "--timeout", 0.001, 86400); break;
        case O_PID: server_pid = (int)num(optarg, "--server-pid", 1, 1 << 22); break;
        case O_CC: opt.connect_concurrency = (int)num(optarg, "--connect-concurrency", 1, 100000); break;
        case O_CLIENTS: opt.clients = (int)num(optarg, "--clients", 2, 1000000); break;
        case O_MESSAGES: opt.messages = (int)num(optarg, "--messages", 1, 100000000); break;
        case O_BATCH: opt.batch = (int)num(optarg, "--batch", 1, 1000000); break;
        case O_SETTLE_MS: opt.settle_ms = (int)num(optarg, "--settle-ms", 0, 600000); break;
        case O_RATE: opt.rate = num(optarg, "--rate", 0.001, 1e8); break;
        case O_DURATION: opt.duration = num(optarg, "--duration", 0.001, 86400); break;
        case O_CONNECTIONS: opt.connections = (int)num(optarg, "--connections", 1, 1000000); break;
        case O_QUIT: opt.quit = 1; break;
        case O_TLS: opt.tls = 1; break;
        case O_WS: opt.ws = 1; break;
        case O_WS_PATH: opt.ws_path = optarg; break;
        case O_PATH: opt.path = optarg; break;
        case O_REQUESTS: opt.requests = (int)num(optarg, "--requests", 1, 100000000); break;
        case O_CONCURRENCY: opt.concurrency = (int)num(optarg, "--concurrency", 1, 100000); break;
        case O_SETTLE: opt.settle = num(optarg, "--settle", 0, 86400); break;
        case O_PORT2: opt.port2 = (int)num(optarg, "--port2", 1, 65535); break;
        case O_SENDERS:
            opt.senders = (int)num(optarg, "--senders", m == CROWD ? 0 : 1, 4096);
            opt.senders_set = 1;
            break;
        case O_SOURCES: opt.sources = (int)num(optarg, "--sources", 0, 250); break;
        case O_PROBE_MS: opt.probe_ms = (int)num(optarg, "--probe-ms", 1, 60000); break;
        case O_LEAVE_CHUNK: opt.leave_chunk = (int)num(optarg, "--leave-chunk", 1, 1000000); break;
        case O_AFTER_LEAVE: opt.after_leave = num(optarg, "--after-leave", 0, 3600); break;
        case O_PID2: server2_pid = (int)num(optarg, "--server-pid2", 1, 1 << 22); break;
        case O_DB_PID: db_pid = (int)num(optarg, "--db-pid", 1, 1 << 22); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) bad_usage("unexpected argument", argv[optind]);
    if (!opt.port) bad_usage("missing", "--port");
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) bad_usage("--host must be an IPv4 address, not", opt.host);
    if (opt.mode == PACED && opt.duration >= opt.timeout) bad_usage("--duration must be shorter than", "--timeout");
    if (opt.port2 && opt.mode != FANOUT && opt.mode != PACED) bad_usage("--port2 is for", "fanout and paced");
    if (opt.senders_set && opt.mode != FANOUT && opt.mode != PACED && opt.mode != CROWD)
        bad_usage("--senders is for", "fanout, paced and crowd");
    if (opt.mode != CROWD && opt.senders > opt.clients) bad_usage("--senders must be at most", "--clients");
    if (opt.sources && (ntohl(addr.sin_addr.s_addr) >> 24) != 127) bad_usage("--sources needs a loopback --host, not", opt.host);
    if (opt.port2 && (!opt.senders || opt.senders == opt.clients))
        bad_usage("--port2 needs receivers:", "--senders S below --clients");
    if (opt.ws && opt.mode == HTTP) bad_usage("--ws is not for", "http");
    if (strlen(opt.ws_path) > 256 || strlen(opt.path) > 256) bad_usage("paths are at most 256 bytes:", opt.path);
    addr2 = addr;
    addr2.sin_port = htons((uint16_t)opt.port2);

    if (opt.tls) {
#ifdef LOADGEN_TLS
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx) { fprintf(stderr, "loadgen: cannot make a TLS context\n"); return 2; }
        SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
#else
        bad_usage("--tls needs a build with", "-DLOADGEN_TLS -lssl -lcrypto");
#endif
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t need = (rlim_t)(opt.mode == CHURN || opt.mode == HTTP ? opt.concurrency
                               : opt.mode == HOLD || opt.mode == CROWD ? opt.connections + 1 : opt.clients) + 16;
        if (rl.rlim_cur < need) {
            fprintf(stderr, "loadgen: %llu connections need more than the open-file limit %llu\n",
                    (unsigned long long)need - 16, (unsigned long long)rl.rlim_cur);
            return 2;
        }
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("epoll_create1"); return 2; }
    deadline_ns = now_ns() + (uint64_t)(opt.timeout * 1e9);

    switch (opt.mode) {
    case FANOUT:
    case PACED: return run_fleet_mode();
    case CHURN: return run_churn();
    case HTTP: return run_http();
    case CROWD: return run_crowd();
    default: return run_hold();
    }
}
