/* notify.c — the shim's warnings, also sent to `sslshim run` (notify.h). */
#include "notify.h"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify_runner(const char *line, size_t len)
{
    /* config.notify is "@NAME"; the address is NAME after a NUL (abstract) */
    size_t name_len = strlen(config.notify);
    if (name_len < 2)
        return;
    int saved_errno = errno;
    struct sockaddr_un to = { .sun_family = AF_UNIX };
    memcpy(to.sun_path + 1, config.notify + 1, name_len - 1);
    socklen_t to_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    /* A socket for this line only: warnings are a few per process, and a
     * descriptor kept open would be one more for the program to meet. */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        (void)sendto(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&to, to_len);
        close(fd);
    }
    errno = saved_errno;
}
