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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

enum ownfd_kind { OWNFD_FILE, OWNFD_PIPE, OWNFD_SOCKET, OWNFD_OTHER };

struct owned_fd {
    int fd;                     /* -1: none */
    bool borrowed;              /* the program's (stderr): checked, never closed */
    enum ownfd_kind kind;
    dev_t dev;
    ino_t ino;
    char *rest;                 /* the unwritten end of a line cut short */
    size_t rest_len;
    size_t frag_len;            /* ...and how much of it the target has */
    bool rest_on_heap;
    char rest_inline[1024];     /* rest, when it fits: no allocation on a failure path */
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

/* What o's number names now.  OURS: the object it was opened on (*st is its
 * fstat).  GONE: nothing, or another object: the number is the program's.
 * UNSURE: fstat failed for another reason (EIO, ENOMEM): the descriptor is
 * open and most likely still ours; *st is not filled. */
enum ownfd_state { OWNFD_OURS, OWNFD_GONE, OWNFD_UNSURE };
enum ownfd_state ownfd_state(const struct owned_fd *o, struct stat *st);

/* Close o unless its number is surely something else now; forget it
 * either way. */
void ownfd_release(struct owned_fd *o);

/* In a fork child: close the child's copy of the parent's descriptor
 * unless its number is surely something else now; the rest of a cut line
 * is the parent's to write. */
void ownfd_release_copy(struct owned_fd *o);

/* Forget o without closing: its number belongs to the program now. */
void ownfd_forget(struct owned_fd *o);

/* RLIMIT_FSIZE, read at most once a second: a file write that passes it
 * makes the kernel kill the program with SIGXFSZ (systemd's LimitFSIZE=,
 * `ulimit -f`). */
rlim_t ownfd_size_limit(void);

/* Write up to len bytes as one write (or send): never blocking, never
 * raising SIGPIPE.  A short write is completed only while the target takes
 * more at once (a regular file, or a pipe within a few milliseconds).
 * Returns the bytes written, or -1 with errno. */
ssize_t ownfd_write(const struct owned_fd *o, const void *buf, size_t len);

/* Write one whole line.  A line cut short (a full disk) is taken back out
 * of a file that ends with it; where that cannot be done (a pipe's reader
 * has the bytes, an append-only file, another writer came after it) the
 * rest is kept and written before the next line, so no line is ever glued
 * onto a fragment.  Returns the line's bytes when it went out, or will
 * (its rest is kept); 0 when it was not written at all (errno set). */
size_t ownfd_write_line(struct owned_fd *o, const void *line, size_t len);

/* Before the shim lets go of o (exit, rotation): the rest of a line cut
 * short is written, or else the fragment taken back out of the file. */
void ownfd_finish(struct owned_fd *o);

/* The program's stderr, to write to without ever blocking: when it is a
 * pipe (a stalled reader would block every write), the same pipe opened
 * again as a non-blocking description of our own; else stderr itself,
 * borrowed (sockets are sent to without blocking).  False if it is closed. */
bool ownfd_open_stderr(struct owned_fd *o);

/* Write one warning line to the program's stderr that way (opened for the
 * line, released after), never raising SIGPIPE. */
void ownfd_say(const char *line, size_t len);

/* The same, for what goes wrong while the shim runs (it cannot write its
 * log or key log, cannot find libssl): only the process's first such line
 * is written (DESIGN rule 3: one warning at most); the rest is counted in
 * `dropped` events. */
void ownfd_say_once(const char *line, size_t len);

/* Open a file to append to, for the shim: created mode 0600, no symbolic
 * link followed, non-blocking (a FIFO without a reader fails with ENXIO
 * instead of waiting), and refused (EPERM) when it is a regular file
 * that another user owns (their file in a shared directory). */
int ownfd_open_append(const char *path);

#endif
