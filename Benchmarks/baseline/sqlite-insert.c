/*
 * sqlite-insert.c — the limit for storing chat lines in SQLite: the rows, already in memory, inserted in ONE
 * transaction through ONE prepared statement, from C. No event loop, no queue, no batching decisions: what
 * the history writer is compared against (Benchmarks/history-rate.sh).
 *
 *   sqlite-insert DB ROWS.tsv
 *
 * DB is an existing, migrated Switchboard SQLite file (the same schema as the server's: the `messages` table
 * with its primary key and its foreign key to `connections`, whose rows must be there). ROWS.tsv holds one
 * message a line: connection_id TAB nickname TAB kind TAB body TAB sent_at (what `sqlite3 -separator` or
 * PostgreSQL's `COPY … TO STDOUT` print for those columns; no value may hold a tab, a newline or a backslash
 * escape — the benchmark's lines do not).
 *
 * The connection is opened as the server opens its own (SQLiteConnection.swift): WAL, synchronous=NORMAL,
 * foreign_keys=ON. The file is read whole before the clock starts; the clock runs from BEGIN IMMEDIATE to
 * the end of COMMIT. Values are bound SQLITE_STATIC (no copy), the cheapest SQLite allows.
 *
 * Output: "RESULT mode=sqlite-insert ok=1 rows=N wall_s=… cpu_s=… rows_per_s=…" on stdout. Exit 0 on success,
 * 1 on a SQLite error (printed on stderr), 2 on bad usage or an unreadable file.
 *
 * Build: cc -O2 -o sqlite-insert sqlite-insert.c -lsqlite3
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sqlite3_int64 connection_id;
    const char *field[4]; /* nickname, kind, body, sent_at: pointers into the file's buffer */
    int length[4];
} row_t;

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "sqlite-insert: %s: %s\n", what, sqlite3_errmsg(db));
    printf("RESULT mode=sqlite-insert ok=0 error=sqlite\n");
    return 1;
}

/* Reads PATH whole (NUL-terminated); NULL on failure. */
static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    char *data = malloc(cap);
    for (size_t n; data && (n = fread(data + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (cap - len - 1 == 0) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) return NULL;
    data[len] = 0;
    *size = len;
    return data;
}

/* Splits the buffer into rows in place (tabs and newlines become NULs); returns the row count or -1. */
static long parse_rows(char *data, size_t size, row_t **rows_out) {
    size_t cap = 1024;
    long n = 0;
    row_t *rows = malloc(cap * sizeof *rows);
    char *p = data, *end = data + size;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        *eol = 0;
        if (eol > p) {
            if ((size_t)n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
            char *f[5];
            int k = 0;
            for (char *q = p; k < 5; k++) {
                f[k] = q;
                char *tab = strchr(q, '\t');
                if (k < 4) {
                    if (!tab) return -1;
                    *tab = 0;
                    q = tab + 1;
                } else if (tab) {
                    return -1;
                }
            }
            rows[n].connection_id = strtoll(f[0], NULL, 10);
            for (int i = 0; i < 4; i++) {
                rows[n].field[i] = f[i + 1];
                rows[n].length[i] = (int)strlen(f[i + 1]);
            }
            n++;
        }
        p = eol + 1;
    }
    *rows_out = rows;
    return n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sqlite-insert DB ROWS.tsv\n");
        return 2;
    }
    size_t size = 0;
    char *data = read_file(argv[2], &size);
    if (!data) {
        perror(argv[2]);
        return 2;
    }
    row_t *rows = NULL;
    long n = parse_rows(data, size, &rows);
    if (n < 0) {
        fprintf(stderr, "sqlite-insert: %s: a line without five tab-separated fields\n", argv[2]);
        return 2;
    }

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return fail(db, "open");
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL, NULL,
                     NULL) != SQLITE_OK)
        return fail(db, "pragmas");
    sqlite3_stmt *insert = NULL;
    if (sqlite3_prepare_v3(db,
                           "INSERT INTO messages (connection_id, nickname, kind, body, sent_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, SQLITE_PREPARE_PERSISTENT, &insert, NULL) != SQLITE_OK)
        return fail(db, "prepare");

    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "begin");
    for (long i = 0; i < n; i++) {
        sqlite3_bind_int64(insert, 1, rows[i].connection_id);
        for (int k = 0; k < 4; k++) sqlite3_bind_text(insert, k + 2, rows[i].field[k], rows[i].length[k], SQLITE_STATIC);
        if (sqlite3_step(insert) != SQLITE_DONE) return fail(db, "insert");
        sqlite3_reset(insert);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "commit");
    double wall = clock_s(CLOCK_MONOTONIC) - wall0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;

    sqlite3_finalize(insert);
    sqlite3_close(db);
    printf("RESULT mode=sqlite-insert ok=1 error=none rows=%ld wall_s=%.4f cpu_s=%.4f rows_per_s=%.0f\n", n, wall, cpu,
           wall > 0 ? (double)n / wall : 0);
    return 0;
}
