/* rotate.h — shifting a log file's older generations: path.1 … path.N. */
#ifndef SHIM_ROTATE_H
#define SHIM_ROTATE_H

/* Rename path → path.1, path.1 → path.2, … keeping `keep` old files (0: the
 * current file is simply removed).  Returns 0, or -1 with errno set. */
int rotate_files(const char *path, unsigned keep);

#endif
