#ifndef SWITCHBOARD_CSQLITE_SHIM_H
#define SWITCHBOARD_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_STATIC is a cast of an integer to a function pointer,
// which does not import into Swift; hand it over as a function instead.
static inline sqlite3_destructor_type switchboard_sqlite_static(void) { return SQLITE_STATIC; }

// sqlite3_config is variadic, which Swift cannot call. Turns off SQLite's memory statistics: with them on,
// every allocation SQLite makes takes a global mutex (nothing here reads sqlite3_status or
// sqlite3_memory_used). Only has effect before the library initialises (the first open); SQLITE_MISUSE after.
static inline int switchboard_sqlite_configure(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

#endif
