#define _GNU_SOURCE
#include "CBulkhead.h"

#include <errno.h>
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

#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>

static int spawn(const char *path, char *const argv[], int channel_fd, int output_fd);

int bh_shim_spawn_worker(const char *path, char *const argv[], int channel_fd, int output_fd)
{
    /* dup2 onto itself would leave close-on-exec set: work from a copy above 3. */
    int channel = fcntl(channel_fd, F_DUPFD_CLOEXEC, BHW_CHANNEL_FD + 1);
    if (channel < 0) return -1;
    int rc = spawn(path, argv, channel, output_fd);
    int saved = errno;
    close(channel);
    errno = saved;
    return rc;
}

static int spawn(const char *path, char *const argv[], int channel_fd, int output_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    if (posix_spawnattr_init(&at) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, output_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, output_fd, 2);
    posix_spawn_file_actions_adddup2(&fa, channel_fd, BHW_CHANNEL_FD);
    posix_spawn_file_actions_addclosefrom_np(&fa, BHW_CHANNEL_FD + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    char *const env[] = {NULL};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

long bh_shim_send_with_fd(int sock, const void *buf, unsigned long len, int fd)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return (long)n;
}

int bh_shim_socketpair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

int bh_shim_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}
