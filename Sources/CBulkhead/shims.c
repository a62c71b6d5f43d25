#define _GNU_SOURCE
#include "CBulkhead.h"

#include <fcntl.h>
#include <malloc.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int bh_shim_openat_beneath(int dirfd, const char *path, int flags, unsigned int mode)
{
    struct open_how how = {
        .flags = (unsigned long long)flags,
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

_Static_assert(BH_SHIM_O_PATH == O_PATH, "O_PATH differs on this platform");

void bh_shim_release_free_memory(void)
{
    (void)malloc_trim(0);
}
