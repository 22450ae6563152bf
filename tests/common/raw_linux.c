/* SPDX-License-Identifier: MIT */
/* A raw view of a segment on Linux (see raw.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "raw.h"

static void path_of(const char *name, char *buf, size_t len)
{
  snprintf(buf, len, "/shmipc-%s", name);
}

int raw_open(const char *name, struct raw *r)
{
  struct stat st;
  char path[128];
  void *p;
  int fd;

  memset(r, 0, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  path_of(name, path, sizeof path);
  fd = shm_open(path, O_RDWR, 0);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  r->size = (size_t)st.st_size;
  /* an empty file (size 0) fails here with EINVAL */
  p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    return -e;
  }
  r->handle = fd;
  r->base = p;
  return 0;
}

void raw_close(struct raw *r)
{
  munmap(r->base, r->size);
  close((int)r->handle);
}

int raw_owner_only(struct raw *r)
{
  struct stat st;

  if (fstat((int)r->handle, &st) != 0)
    return -1;
  return (st.st_mode & 0777) == 0600 && st.st_uid == geteuid();
}

int raw_exists(const char *name)
{
  char path[128];
  int fd;

  path_of(name, path, sizeof path);
  fd = shm_open(path, O_RDONLY, 0);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  return errno == ENOENT ? 0 : -1;
}

/* A segment nobody holds the host lock on. */
int raw_make_stale(const char *name)
{
  char path[128];
  int fd, r;

  path_of(name, path, sizeof path);
  fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return -1;
  r = ftruncate(fd, 4096);
  close(fd);
  return r;
}

int raw_resize(struct raw *r, size_t size)
{
  return ftruncate((int)r->handle, (off_t)size);
}

const char *raw_resize_unsupported(void) { return NULL; }

void raw_wake(struct raw *r, uint32_t *word, uint32_t bit)
{
  (void)r;
  (void)bit;
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The owner (often root) passes any mode bits: another user's
 * segment is checked by the access tests of test_access.c, which run the
 * guest as uid 65534. */
int raw_make_forbidden(const char *name)
{
  (void)name;
  return -2;
}

void raw_forbidden_drop(void) {}

const char *raw_forbidden_unsupported(void)
{
  return "its owner (often root) opens any file: test_access.c runs a guest "
         "as another uid instead";
}
