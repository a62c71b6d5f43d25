/* The public ABI header, re-exported to Swift, and the core's syscall shims. */
#include "../../../include/bulkhead/bulkhead.h"

/*
 * openat2(2) relative to `dirfd`, with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS:
 * the kernel refuses absolute paths, ".." that climbs out of `dirfd`, and
 * symbolic links that lead out. Returns the new descriptor, or -1 with errno
 * set (EXDEV for an escape, ENOSYS on kernels before 5.6). Swift cannot call
 * the variadic syscall(2) itself, hence this shim.
 */
int bh_shim_openat_beneath(int dirfd, const char *path, int flags, unsigned int mode);

/* O_PATH, which Glibc exposes only under _GNU_SOURCE (checked in shims.c). */
enum { BH_SHIM_O_PATH = 010000000 };

/* malloc_trim(0): hands the free pages of every malloc arena back to the
 * system; <malloc.h> is not part of Swift's Glibc module. */
void bh_shim_release_free_memory(void);

/* The private protocol between the core and a plugin's worker process. */
#include "bh_worker_protocol.h"

/*
 * Starts `path` (argv NULL-terminated) as a plugin worker: an empty
 * environment, `channel_fd` as its descriptor 3, /dev/null as stdin,
 * `output_fd` (a pipe the core reads and logs) as its stdout and stderr,
 * every other descriptor closed, default signal dispositions and mask, its
 * own session. Returns the pid, or -1 with errno set.
 */
int bh_shim_spawn_worker(const char *path, char *const argv[], int channel_fd, int output_fd);

/* pipe2(O_CLOEXEC); 0 or -1. */
int bh_shim_pipe(int fds[2]);

/* sendmsg(2) of `len` bytes carrying one descriptor by SCM_RIGHTS; returns bytes sent or -1. */
long bh_shim_send_with_fd(int sock, const void *buf, unsigned long len, int fd);

/* A SOCK_STREAM AF_UNIX socketpair, both ends close-on-exec; 0 or -1. */
int bh_shim_socketpair(int fds[2]);
