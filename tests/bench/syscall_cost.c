/* syscall_cost.c — a measuring aid for make bench: what one system call of
 * each kind the shim makes per handshake costs on this machine, so that the
 * table can say how much of a handshake pair's time the shim's system calls
 * take by themselves (their count per pair comes from strace -c).  On a
 * virtual machine a system call can cost twenty times what it costs on bare
 * metal; that alone decides whether a time target is within reach.
 *
 * usage: syscall_cost DIR BURST_BYTES
 * Appends BURST_BYTES at a time to a file in DIR (as the shim appends a
 * burst to its log), and prints one JSON line of nanoseconds per call: the
 * median over batches of the batch's mean, so that a pause of the machine
 * in one batch does not count. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 15
#define PER_BATCH 2000

enum probe { GETPID, FSTAT, FCNTL, GETPEERNAME, WRITE, PROBES };

static const char *const probe_name[PROBES] = {
    [GETPID] = "getpid", [FSTAT] = "fstat", [FCNTL] = "fcntl",
    [GETPEERNAME] = "getpeername", [WRITE] = "write",
};

struct target {
    int log_fd;
    int sock_fd;
    const char *burst;
    size_t burst_len;
};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void call_once(enum probe p, const struct target *t)
{
    struct stat st;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    switch (p) {
    case GETPID:
        (void)syscall(SYS_getpid);        /* glibc caches nothing here, but be sure */
        break;
    case FSTAT:
        (void)fstat(t->log_fd, &st);
        break;
    case FCNTL:
        (void)fcntl(t->sock_fd, F_GETFL);
        break;
    case GETPEERNAME:
        (void)getpeername(t->sock_fd, (struct sockaddr *)&ss, &len);
        break;
    case WRITE:
        if (write(t->log_fd, t->burst, t->burst_len) != (ssize_t)t->burst_len) {
            perror("syscall_cost: write");
            exit(1);
        }
        break;
    case PROBES:
        break;
    }
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cost_ns(enum probe p, const struct target *t)
{
    double means[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < PER_BATCH; i++)
            call_once(p, t);
        means[b] = (now_ns() - t0) / PER_BATCH;
        if (p == WRITE && ftruncate(t->log_fd, 0) != 0) {  /* keep the file small */
            perror("syscall_cost: ftruncate");
            exit(1);
        }
    }
    qsort(means, BATCHES, sizeof means[0], by_value);
    return means[BATCHES / 2];
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: syscall_cost DIR BURST_BYTES\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/syscall_cost.jsonl", argv[1]);
    struct target t = { .burst_len = strtoul(argv[2], NULL, 10) };
    int pair[2];
    if (t.burst_len == 0 || t.burst_len > 1 << 20) {
        fprintf(stderr, "syscall_cost: BURST_BYTES must be 1..1048576\n");
        return 2;
    }
    t.log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (t.log_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        perror("syscall_cost");
        return 1;
    }
    t.sock_fd = pair[0];
    char *burst = malloc(t.burst_len);
    if (!burst)
        return 1;
    memset(burst, 'x', t.burst_len);
    burst[t.burst_len - 1] = '\n';
    t.burst = burst;

    printf("{\"burst_bytes\":%zu", t.burst_len);
    for (int p = 0; p < PROBES; p++)
        printf(",\"%s_ns\":%.0f", probe_name[p], cost_ns((enum probe)p, &t));
    printf("}\n");
    unlink(path);
    free(burst);
    return 0;
}
