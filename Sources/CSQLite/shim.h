#ifndef SWITCHBOARD_CSQLITE_SHIM_H
#define SWITCHBOARD_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT and SQLITE_STATIC are casts of integers to function pointers,
// which do not import into Swift; hand them over as functions instead.
static inline sqlite3_destructor_type switchboard_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type switchboard_sqlite_static(void) { return SQLITE_STATIC; }

#endif
