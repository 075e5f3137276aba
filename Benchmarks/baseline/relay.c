/*
 * relay.c — the featureless baseline: a single-threaded epoll broadcast relay.
 *
 *   on connect:        "* welcome\r\n"
 *   line "text" from guestN  →  "<guestN> text\r\n" to every OTHER client
 *   line "/quit"       →  that client is closed
 *
 * Lines end at '\n' (a trailing '\r' is dropped). Non-blocking sockets, level-triggered epoll,
 * one growable output buffer per client, flushed with write() and EPOLLOUT while it is non-empty.
 * No limits, no telnet, no database: it is the floor a real chat server is compared against.
 *
 * Usage: relay PORT            (listens on 127.0.0.1 only)
 * Build: cc -O2 -o relay relay.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

typedef struct client {
    int fd;
    unsigned long id;  /* guest number */
    int want_out;      /* EPOLLOUT currently registered */
    buf_t in, out;
    struct client *prev, *next;
} client_t;

static int epfd;
static client_t *clients;        /* doubly linked list of everyone connected */
static unsigned long next_guest = 1;

static void buf_append(buf_t *b, const char *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { perror("realloc"); exit(1); }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_consume(buf_t *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void set_events(client_t *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

static void drop(client_t *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev) c->prev->next = c->next; else clients = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* Writes as much of c's output as the socket takes; returns -1 if the client died. */
static int flush_out(client_t *c) {
    while (c->out.len > 0) {
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n > 0) { buf_consume(&c->out, (size_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    set_events(c, c->out.len > 0);
    return 0;
}

/* Queues "<guestN> line\r\n" on everyone but the sender; flushing happens once per read batch. */
static void relay(client_t *from, const char *line, size_t n) {
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "<guest%lu> ", from->id);
    for (client_t *c = clients; c; c = c->next) {
        if (c == from) continue;
        buf_append(&c->out, prefix, (size_t)plen);
        buf_append(&c->out, line, n);
        buf_append(&c->out, "\r\n", 2);
    }
}

static void flush_all(void) {
    client_t *c = clients;
    while (c) {
        client_t *next = c->next;
        if (c->out.len > 0 && flush_out(c) < 0) drop(c);
        c = next;
    }
}

/* Reads what is there and handles complete lines; returns -1 when the client is gone or quit. */
static int on_readable(client_t *c) {
    char chunk[65536];
    for (;;) {
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n > 0) { buf_append(&c->in, chunk, (size_t)n); if ((size_t)n < sizeof chunk) break; continue; }
        if (n == 0) return -1;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return -1;
    }
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->in.data + start, '\n', c->in.len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - c->in.data);
        size_t len = end - start;
        if (len > 0 && c->in.data[start + len - 1] == '\r') len--;
        if (len == 5 && memcmp(c->in.data + start, "/quit", 5) == 0) return -1;
        relay(c, c->in.data + start, len);
        start = end + 1;
    }
    buf_consume(&c->in, start);
    return 0;
}

static void on_accept(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client_t *c = calloc(1, sizeof *c);
        if (!c) { perror("calloc"); exit(1); }
        c->fd = fd;
        c->id = next_guest++;
        c->next = clients;
        if (clients) clients->prev = c;
        clients = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        buf_append(&c->out, "* welcome\r\n", 11);
        if (flush_out(c) < 0) drop(c);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (listen(listener, 4096) < 0) { perror("listen"); return 1; }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            client_t *c = events[i].data.ptr;
            if (!c) { on_accept(listener); continue; }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (on_readable(c) < 0) {
                    /* A client may appear again later in this batch: mark it dead instead of freeing. */
                    c->fd = -c->fd - 1;
                    continue;
                }
            }
            if ((events[i].events & EPOLLOUT) && c->fd >= 0 && flush_out(c) < 0) c->fd = -c->fd - 1;
        }
        /* Reap the dead, then push the batch's relayed lines out. */
        client_t *c = clients;
        while (c) {
            client_t *next = c->next;
            if (c->fd < 0) { c->fd = -c->fd - 1; drop(c); }
            c = next;
        }
        flush_all();
    }
}
