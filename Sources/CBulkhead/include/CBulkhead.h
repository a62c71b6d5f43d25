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
