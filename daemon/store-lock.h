/*
 * One jqd per SQLite database: DB-PATH.lock beside it, held with flock()
 * for as long as the database is open, with the holder's pid inside for
 * the message a second jqd gives ("another jqd (pid N) holds ...").
 *
 * Why a file of its own: SQLite's locks are POSIX record locks on the
 * database itself, which say "database is locked" and nothing of who
 * holds it, and which a second descriptor of ours on the database would
 * drop when closed (POSIX locks are per process and file).  flock() on
 * another file touches none of that; the kernel drops it when its holder
 * dies, whatever the way, so a lock left by a crash is never stale (the
 * file may stay, with a dead pid in it: the next start takes it over).
 *
 * The holder removes the file when it lets go, so that nothing is left
 * beside a database it did not keep (store-sqlite.c removes a database
 * made by a start that failed).  A taker that opened the file just
 * before it was removed holds a lock on a name nobody sees: it checks,
 * after locking, that the name is still its file, and tries again.
 */
#ifndef JQD_STORE_LOCK_H
#define JQD_STORE_LOCK_H

#include <stddef.h>

struct store_lock;

/*
 * Lock db_path (DB-PATH.lock).  Returns the lock, or NULL with err set:
 * another process holds it (with its pid when it wrote one), or the file
 * cannot be made.
 */
struct store_lock	*store_lock_take(const char *db_path, char *err,
			    size_t errlen);
/* Remove the file and let go.  NULL: nothing. */
void			 store_lock_release(struct store_lock *l);

#endif
