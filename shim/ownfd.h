/* ownfd.h — the descriptors the shim writes to (its log, the key log),
 * written without ever touching one that is no longer its own.
 *
 * Daemons close every descriptor after start-up (a close loop, closefrom,
 * dup2 over 0-2) and then open files and sockets that get the freed numbers.
 * A number is therefore not an identity: the object behind it is.  An owned
 * descriptor remembers the device and inode it was opened on and is checked
 * with fstat before each write; when the check fails the number is forgotten,
 * never closed or written (it is the program's now), and the caller opens its
 * target again.  Descriptors are moved above the low numbers that programs
 * dup2 over or assume are free, and are close-on-exec.
 *
 * Writes never block the program (the descriptor is non-blocking, sockets
 * are sent to with MSG_DONTWAIT) and never make the kernel signal it
 * (MSG_NOSIGNAL; SIGPIPE held back around writes to pipes and FIFOs). */
#ifndef SHIM_OWNFD_H
#define SHIM_OWNFD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

enum ownfd_kind { OWNFD_FILE, OWNFD_PIPE, OWNFD_SOCKET, OWNFD_OTHER };

struct owned_fd {
    int fd;                     /* -1: none */
    bool borrowed;              /* the program's (stderr): checked, never closed */
    enum ownfd_kind kind;
    dev_t dev;
    ino_t ino;
};

#define OWNFD_NONE { .fd = -1 }

/* The lowest number the shim moves its descriptors to, when the
 * descriptor limit allows it. */
#define OWNFD_FLOOR 100

/* Take a descriptor the shim has just opened: moved above the low numbers,
 * close-on-exec, non-blocking, its identity remembered.  False (fd closed,
 * errno set) if it cannot be described. */
bool ownfd_adopt(struct owned_fd *o, int fd);

/* Use one of the program's descriptors (stderr) without owning it. */
bool ownfd_borrow(struct owned_fd *o, int fd);

/* Whether o still names the object it was opened on; *st is its fstat. */
bool ownfd_check(const struct owned_fd *o, struct stat *st);

/* Close o if it is still ours, forget it either way. */
void ownfd_release(struct owned_fd *o);

/* Forget o without closing: its number belongs to the program now. */
void ownfd_forget(struct owned_fd *o);

/* Write up to len bytes as one write (or send): never blocking, never
 * raising SIGPIPE.  A short write is completed only while the target takes
 * more at once (a regular file, or a pipe within a few milliseconds).
 * Returns the bytes written, or -1 with errno. */
ssize_t ownfd_write(const struct owned_fd *o, const void *buf, size_t len);

/* Write one warning line to the program's stderr the same way: never
 * blocking (a pipe is opened again as a non-blocking description of our
 * own for the line), never raising SIGPIPE.  Nothing if stderr is closed. */
void ownfd_say(const char *line, size_t len);

/* Open a file to append to, for the shim: created mode 0600, no symbolic
 * link followed, non-blocking (a FIFO without a reader fails with ENXIO
 * instead of waiting), and refused (EPERM) when it is a regular file
 * that another user owns (their file in a shared directory). */
int ownfd_open_append(const char *path);

#endif
