/* SPDX-License-Identifier: MIT */
/*
 * Linux side of segments: POSIX shared memory objects under /dev/shm,
 * created exclusive, and open-file-description (OFD) locks as liveness
 * facts (docs/PROTOCOL.md, "Liveness locks").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int seg_path(const char *name, char *buf, size_t len)
{
  if (!shmipc__name_valid(name))
    return SHMIPC_E_NAME;
  snprintf(buf, len, "/shmipc-%s", name);
  return SHMIPC_OK;
}

static int errno_code(int e)
{
  switch (e) {
  case ENOENT:
    return SHMIPC_E_NOT_FOUND;
  case EACCES:
  case EPERM:
  case ELOOP: /* O_NOFOLLOW met a symlink: not ours to open */
    return SHMIPC_E_ACCESS;
  case ENOMEM:
  case ENOSPC:
    return SHMIPC_E_NOMEM;
  case EEXIST:
    return SHMIPC_E_EXISTS;
  default:
    return SHMIPC_E_SYSTEM;
  }
}

static void lock_byte(struct flock *fl, int byte)
{
  memset(fl, 0, sizeof *fl);
  fl->l_type = F_WRLCK;
  fl->l_whence = SEEK_SET;
  fl->l_start = byte;
  fl->l_len = 1;
  fl->l_pid = 0; /* required for OFD locks */
}

int shmipc__lock_take(const struct shmipc__seg *s, int byte)
{
  struct flock fl;

  lock_byte(&fl, byte);
  if (fcntl(s->fd, F_OFD_SETLK, &fl) == 0)
    return SHMIPC_OK;
  return errno == EAGAIN || errno == EACCES ? SHMIPC_E_BUSY : SHMIPC_E_SYSTEM;
}

int shmipc__lock_held(const struct shmipc__seg *s, int byte)
{
  struct flock fl;

  /* Our own description's lock never conflicts with itself, so asking
   * about the peer's byte reports only the peer's lock. */
  lock_byte(&fl, byte);
  if (fcntl(s->fd, F_OFD_GETLK, &fl) != 0)
    return SHMIPC_E_SYSTEM;
  return fl.l_type != F_UNLCK;
}

uint32_t shmipc__getpid(void)
{
  return (uint32_t)getpid();
}

uint64_t shmipc__random64(void)
{
  uint64_t v = 0;
  struct timespec ts;

  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v && v != 0)
    return v;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
         ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&v;
}

/* 1 when the shared-memory name @path still names the file open as @fd,
 * 0 when it names another file or none, negative on error. The name maps
 * to /dev/shm on Linux (docs/PROTOCOL.md, "Names and files"). */
static int still_named(const char *path, int fd)
{
  char file[sizeof "/dev/shm" + SHMIPC_MAX_NAME_LEN + 16];
  struct stat a, b;

  snprintf(file, sizeof file, "/dev/shm%s", path);
  if (fstat(fd, &a) != 0)
    return SHMIPC_E_SYSTEM;
  if (lstat(file, &b) != 0)
    return errno == ENOENT ? 0 : errno_code(errno);
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Replace a segment whose host died: its host byte is unlocked. Returns
 * SHMIPC_OK when the name may be free again (the caller retries its
 * exclusive create), SHMIPC_E_EXISTS when a live host holds it.
 *
 * Only a holder of a file's host lock may unlink that file by name, and
 * only after checking that the name still leads to it: between our open
 * and our lock, another host may have reaped the same dead segment and
 * created a new one under the name (whose lock it may not hold yet), and
 * unlinking that would orphan a live host. While we hold the lock nobody
 * else can unlink the file we checked, so check-then-unlink is safe. */
static int reap_stale(const char *path)
{
  struct shmipc__seg old;
  int r;

  old.fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (old.fd < 0)
    return errno == ENOENT ? SHMIPC_OK : errno_code(errno);
  r = shmipc__lock_take(&old, SHMIPC_LOCK_HOST_BYTE);
  if (r == SHMIPC_OK) {
    r = still_named(path, old.fd);
    if (r == 1 && shm_unlink(path) != 0 && errno != ENOENT)
      r = errno_code(errno);
    else if (r >= 0)
      r = SHMIPC_OK; /* unlinked, or already replaced: try again */
  } else if (r == SHMIPC_E_BUSY) {
    r = SHMIPC_E_EXISTS;
  }
  close(old.fd);
  return r;
}

int shmipc__seg_create(const char *name, const struct shmipc__geom *g,
                       uint32_t mode, struct shmipc__seg *out)
{
  struct shmipc__seg s;
  int r, tries;
  void *p;

  memset(&s, 0, sizeof s);
  s.fd = -1;
  r = seg_path(name, s.path, sizeof s.path);
  if (r != SHMIPC_OK)
    return r;

  for (tries = 0;; tries++) {
    if (tries >= 16)
      return SHMIPC_E_EXISTS; /* others keep winning the name */
    s.fd = shm_open(s.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    (mode_t)mode);
    if (s.fd < 0) {
      if (errno != EEXIST)
        return errno_code(errno);
      r = reap_stale(s.path);
      if (r != SHMIPC_OK)
        return r;
      continue;
    }
    /* Until we hold the host lock our new file looks like a dead host's
     * segment to a concurrent creator, which may unlink it (reap_stale).
     * Then our lock fails (it still holds it) or the name no longer leads
     * to our file: the file is unreachable, so drop it - never unlink by
     * name here, the name may be another host's now - and start over.
     * Once we hold the lock and the name is ours, nobody unlinks it. */
    r = shmipc__lock_take(&s, SHMIPC_LOCK_HOST_BYTE);
    if (r == SHMIPC_OK)
      r = still_named(s.path, s.fd);
    else if (r == SHMIPC_E_BUSY)
      r = 0;
    if (r == 1)
      break;
    close(s.fd);
    s.fd = -1;
    if (r < 0)
      return r;
  }
  /* From here we hold the lock on the file the name leads to: unlinking
   * by name on error removes our own file. */
  /* shm_open applied the umask; the configured mode is what we promise. */
  if (fchmod(s.fd, (mode_t)mode) != 0 ||
      ftruncate(s.fd, (off_t)g->segment_size) != 0) {
    r = errno_code(errno);
    goto err_unlink;
  }
  p = mmap(NULL, (size_t)g->segment_size, PROT_READ | PROT_WRITE, MAP_SHARED,
           s.fd, 0);
  if (p == MAP_FAILED) {
    r = errno_code(errno);
    goto err_unlink;
  }
  s.base = p;
  s.geom = *g;
  s.nonce = shmipc__random64();
  *out = s;
  return SHMIPC_OK;

err_unlink:
  shm_unlink(s.path);
  close(s.fd);
  return r;
}

int shmipc__seg_open(const char *name, uint32_t guest_flags,
                     struct shmipc__seg *out)
{
  struct shmipc_wire_header h;
  struct shmipc__seg s;
  struct stat st;
  ssize_t n;
  void *p;
  int r;

  memset(&s, 0, sizeof s);
  r = seg_path(name, s.path, sizeof s.path);
  if (r != SHMIPC_OK)
    return r;
  s.fd = shm_open(s.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (s.fd < 0)
    return errno == ENOENT ? SHMIPC__E_RETRY : errno_code(errno);
  if (fstat(s.fd, &st) != 0) {
    r = SHMIPC_E_SYSTEM;
    goto err_close;
  }
  if (!S_ISREG(st.st_mode)) {
    r = SHMIPC_E_ACCESS;
    goto err_close;
  }
  if (st.st_uid != geteuid() &&
      !(guest_flags & SHMIPC_GUEST_F_ALLOW_OTHER_USER)) {
    r = SHMIPC_E_ACCESS;
    goto err_close;
  }
  if ((uint64_t)st.st_size < sizeof h) {
    /* The host has created but not yet sized it. */
    r = SHMIPC__E_RETRY;
    goto err_close;
  }
  /* Validate a private copy before mapping anything. */
  n = pread(s.fd, &h, sizeof h, 0);
  if (n != (ssize_t)sizeof h) {
    r = SHMIPC_E_SYSTEM;
    goto err_close;
  }
  r = shmipc__header_validate(&h, (uint64_t)st.st_size, &s.geom);
  if (r != SHMIPC_OK)
    goto err_close;
  /* A segment whose host died (host byte unlocked) has nobody to serve:
   * attaching would only end in PEER_GONE at the first liveness check.
   * Wait instead for the next host, which replaces it - as the Go guest
   * does (go/guest.go, errHostAbsent). */
  r = shmipc__lock_held(&s, SHMIPC_LOCK_HOST_BYTE);
  if (r == 0) {
    r = SHMIPC__E_NO_HOST;
    goto err_close;
  }
  if (r < 0)
    goto err_close;
  s.nonce = h.session_nonce;
  p = mmap(NULL, (size_t)s.geom.segment_size, PROT_READ | PROT_WRITE,
           MAP_SHARED, s.fd, 0);
  if (p == MAP_FAILED) {
    r = errno_code(errno);
    goto err_close;
  }
  s.base = p;
  *out = s;
  return SHMIPC_OK;

err_close:
  close(s.fd);
  return r;
}

void shmipc__seg_close(struct shmipc__seg *s, bool unlink_it)
{
  if (s->base != NULL)
    munmap(s->base, (size_t)s->geom.segment_size);
  s->base = NULL;
  if (unlink_it)
    shm_unlink(s->path);
  /* Closing the descriptor drops our liveness lock. */
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
}
