/*
 * Who may use jqd: the token, and the Unix peers let in by their
 * credentials.
 *
 * A connection is let in without authenticating only when the kernel
 * vouches for it: on a Unix socket, a peer whose uid is jqd's own or
 * root's or an allow-user, or that is a member of an allow-group or of the
 * socket file's group while the file's mode lets that group connect.  The
 * "other" permission bits of a socket never let anyone in.  Everybody
 * else -- every TCP client, and other Unix peers -- must send the token
 * (op auth) first; with no token configured they are turned away.  The
 * insecure-tcp option, for tests on loopback, lets TCP clients in too.
 *
 * The token lives in a file: token-file, or, when jqd has a TCP listener
 * and no token-file, jqc_default_token_file().  jqd makes the file, with
 * a random token, mode 0600, when it does not exist.
 *
 * Functions return 0, or -1 after logging why.
 */
#ifndef JQD_ACCESS_H
#define JQD_ACCESS_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>

struct config;

struct access {
	uid_t		*uids;		/* allow-user, jqd's uid, root */
	size_t		 nuids;
	gid_t		*gids;		/* allow-group */
	size_t		 ngids;
};

/* Who a Unix socket's file lets in besides the allowed users. */
struct access_socket {
	gid_t		 gid;		/* the file's group */
	bool		 group_may;	/* its mode lets the group connect */
};

/* Resolve allow-user and allow-group (names or numbers). */
int	 access_init(struct access *a, const struct config *cfg);
void	 access_fini(struct access *a);

/*
 * Describe the socket file at path (for access_unix_peer).  A socket
 * without a file (abstract) lets in only the allowed users.
 */
void	 access_socket_stat(const char *path, struct access_socket *as);

/*
 * May the peer on Unix socket fd use jqd without the token?  *uid is set
 * to the peer's uid (-1 if unknown).  Asks the kernel only; never blocks.
 */
bool	 access_unix_peer(const struct access *a,
	    const struct access_socket *as, int fd, long *uid);

/*
 * Read the token in path; make the file with a new random token first
 * when create is set and it does not exist.  *token is malloc'd,
 * NUL-terminated, without surrounding whitespace, at most 4095 bytes.
 */
int	 access_token_load(const char *path, bool create, char **token,
	    size_t *len);

/*
 * Make the directory of the default Unix socket path: the system one
 * (/run/jqd) mode 0755, a user's mode 0700; a user's must then be owned by
 * the user and closed to everybody else.
 */
int	 access_socket_dir(const char *path);

#endif
