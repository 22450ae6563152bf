/* SPDX-License-Identifier: MIT */
/*
 * Linux side of segments: POSIX shared memory objects under /dev/shm,
 * created exclusive, or sealed memfds for launched guests, and
 * open-file-description (OFD) locks as liveness facts (docs/PROTOCOL.md,
 * "Liveness locks", "Launched guests"). The guest's attach runs over the
 * operations below from segment.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Liveness locks are open-file-description locks: they belong to the open
 * file, so two opens in one process conflict like two processes do, and
 * the kernel drops them when the last reference to the open file goes. */
struct shmipc__seg_os {
  int fd; /* the shared-memory file */
};

/* The file of segment "X" is /dev/shm/shmipc-X (docs/PROTOCOL.md, "Names
 * and files"); shm_open() takes the part after /dev/shm. */
const char shmipc__seg_prefix[] = "/dev/shm/shmipc-";
/* No global namespace: /dev/shm is one for the whole machine (or
 * container) already, and its file modes decide who may open a segment. */
const char shmipc__seg_prefix_global[] = "";

int shmipc__seg_create_global(const char *name, const struct shmipc__geom *g,
                              const char *peer_sid, struct shmipc__seg *out)
{
  (void)name;
  (void)g;
  (void)peer_sid;
  (void)out;
  return shmipc__fail(SHMIPC_E_INVALID,
                      "SHMIPC_HOST_F_GLOBAL is Windows-only (the Global\\ "
                      "namespace)");
}

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

/* Record that @what of segment file @path (a shm_open() name) failed with
 * errno @e; returns the code. */
static int os_fail(const char *what, const char *path, int e)
{
  return shmipc__fail(errno_code(e), "%s /dev/shm%s: %s", what, path,
                      strerror(e));
}

/* A role's lock is one byte of the file (docs/PROTOCOL.md). */
static void lock_byte(struct flock *fl, enum shmipc__role role)
{
  memset(fl, 0, sizeof *fl);
  fl->l_type = F_WRLCK;
  fl->l_whence = SEEK_SET;
  fl->l_start = role == SHMIPC__ROLE_HOST ? SHMIPC_LOCK_HOST_BYTE
                                          : SHMIPC_LOCK_GUEST_BYTE;
  fl->l_len = 1;
  fl->l_pid = 0; /* required for OFD locks */
}

int shmipc__lock_take(const struct shmipc__seg *s, enum shmipc__role role)
{
  struct flock fl;

  lock_byte(&fl, role);
  if (fcntl(s->os->fd, F_OFD_SETLK, &fl) == 0)
    return SHMIPC_OK;
  return errno == EAGAIN || errno == EACCES ? SHMIPC_E_BUSY : SHMIPC_E_SYSTEM;
}

int shmipc__lock_held(const struct shmipc__seg *s, enum shmipc__role role)
{
  struct flock fl;

  /* Our own description's lock never conflicts with itself, so asking
   * about the peer's byte reports only the peer's lock. */
  lock_byte(&fl, role);
  if (fcntl(s->os->fd, F_OFD_GETLK, &fl) != 0)
    return SHMIPC_E_SYSTEM;
  return fl.l_type != F_UNLCK;
}

int shmipc__lock_open(struct shmipc__seg *s)
{
  (void)s; /* the locks are bytes of the file, open already */
  return SHMIPC_OK;
}

uint32_t shmipc__getpid(void) { return (uint32_t)getpid(); }

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
  struct shmipc__seg_os os;
  struct shmipc__seg old = {.os = &os};
  int r;

  os.fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (os.fd < 0)
    return errno == ENOENT ? SHMIPC_OK : errno_code(errno);
  r = shmipc__lock_take(&old, SHMIPC__ROLE_HOST);
  if (r == SHMIPC_OK) {
    r = still_named(path, os.fd);
    if (r == 1 && shm_unlink(path) != 0 && errno != ENOENT)
      r = errno_code(errno);
    else if (r >= 0)
      r = SHMIPC_OK; /* unlinked, or already replaced: try again */
  } else if (r == SHMIPC_E_BUSY) {
    r = SHMIPC_E_EXISTS;
  }
  close(os.fd);
  return r;
}

/* Reserve the segment's memory in its file now, so that a store too small
 * for it fails here (ENOSPC: SHMIPC_E_NOMEM) instead of faulting (SIGBUS)
 * in host or guest at the first touch of a page it has no room for. tmpfs
 * refuses a length beyond its own size before allocating anything; one
 * beyond its free space allocates until full, then gives back what that
 * call took. A signal interrupts the allocation (EINTR: older kernels'
 * tmpfs for any signal, newer ones for a fatal one only) and undoes that
 * call's pages too, so after one the rest goes in pieces that a signal
 * cannot undo all at once. A file system without fallocate (EOPNOTSUPP;
 * tmpfs has it since Linux 3.5) leaves the file sparse, as ftruncate made
 * it: such a store is not reserved. */
static int reserve(int fd, uint64_t size)
{
  const uint64_t min_step = (uint64_t)1 << 20;
  uint64_t off = 0, step = size, len;

  while (off < size) {
    len = size - off < step ? size - off : step;
    if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0) {
      off += len;
      continue;
    }
    switch (errno) {
    case EINTR:
      step = len / 2 > min_step ? len / 2 : min_step;
      continue;
    case EOPNOTSUPP:
    case ENOSYS:
      return SHMIPC_OK;
    case EFBIG:
      return SHMIPC_E_NOMEM;
    default:
      return errno_code(errno);
    }
  }
  return SHMIPC_OK;
}

int shmipc__seg_create(const char *name, const struct shmipc__geom *g,
                       uint32_t mode, struct shmipc__seg *out)
{
  struct shmipc__seg s;
  int r, tries;
  void *p;

  memset(&s, 0, sizeof s);
  r = seg_path(name, s.path, sizeof s.path);
  if (r != SHMIPC_OK)
    return r;
  s.os = malloc(sizeof *s.os);
  if (s.os == NULL)
    return SHMIPC_E_NOMEM;

  for (tries = 0;; tries++) {
    r = SHMIPC_E_EXISTS; /* others keep winning the name */
    if (tries >= 16)
      goto err_free;
    s.os->fd =
        shm_open(s.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 (mode_t)mode);
    if (s.os->fd < 0) {
      r = errno_code(errno);
      if (errno != EEXIST) {
        r = os_fail("creating", s.path, errno);
        goto err_free;
      }
      r = reap_stale(s.path);
      if (r != SHMIPC_OK)
        goto err_free;
      continue;
    }
    /* Until we hold the host lock our new file looks like a dead host's
     * segment to a concurrent creator, which may unlink it (reap_stale).
     * Then our lock fails (it still holds it) or the name no longer leads
     * to our file: the file is unreachable, so drop it - never unlink by
     * name here, the name may be another host's now - and start over.
     * Once we hold the lock and the name is ours, nobody unlinks it. */
    r = shmipc__lock_take(&s, SHMIPC__ROLE_HOST);
    if (r == SHMIPC_OK)
      r = still_named(s.path, s.os->fd);
    else if (r == SHMIPC_E_BUSY)
      r = 0;
    if (r == 1)
      break;
    close(s.os->fd);
    if (r < 0)
      goto err_free;
  }
  /* From here we hold the lock on the file the name leads to: unlinking
   * by name on error removes our own file. */
  /* shm_open applied the umask; the configured mode is what we promise. */
  if (fchmod(s.os->fd, (mode_t)mode) != 0 ||
      ftruncate(s.os->fd, (off_t)g->segment_size) != 0) {
    r = os_fail("sizing", s.path, errno);
    goto err_unlink;
  }
  r = reserve(s.os->fd, g->segment_size);
  if (r != SHMIPC_OK)
    goto err_unlink; /* the pages reserved so far go with the file */
  p = mmap(NULL, (size_t)g->segment_size, PROT_READ | PROT_WRITE, MAP_SHARED,
           s.os->fd, 0);
  if (p == MAP_FAILED) {
    r = os_fail("mapping", s.path, errno);
    goto err_unlink;
  }
  s.base = p;
  s.geom = *g;
  s.nonce = shmipc__random64();
  *out = s;
  return SHMIPC_OK;

err_unlink:
  shm_unlink(s.path);
  close(s.os->fd);
err_free:
  free(s.os);
  return r;
}

int shmipc__seg_os_open(const char *name, uint32_t guest_flags,
                        struct shmipc__seg *s)
{
  /* SHMIPC_GUEST_F_GLOBAL was refused before (guest.c, config_check). */
  (void)guest_flags;
  int r = seg_path(name, s->path, sizeof s->path);

  if (r != SHMIPC_OK)
    return r;
  s->os = malloc(sizeof *s->os);
  if (s->os == NULL)
    return SHMIPC_E_NOMEM;
  s->os->fd = shm_open(s->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (s->os->fd < 0) {
    r = errno == ENOENT ? SHMIPC__E_NO_SEGMENT
                        : os_fail("opening", s->path, errno);
    free(s->os);
    s->os = NULL;
    return r;
  }
  return SHMIPC_OK;
}

int shmipc__seg_os_stat(const struct shmipc__seg *s,
                        struct shmipc__seg_stat *out)
{
  struct stat st;

  if (fstat(s->os->fd, &st) != 0)
    return SHMIPC_E_SYSTEM;
  out->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  out->regular = S_ISREG(st.st_mode);
  out->mine = st.st_uid == geteuid();
  return SHMIPC_OK;
}

int shmipc__seg_os_read_header(const struct shmipc__seg *s,
                               struct shmipc_wire_header *out)
{
  /* Read, not mapped: nothing is mapped before the header is validated. */
  if (pread(s->os->fd, out, sizeof *out, 0) != (ssize_t)sizeof *out)
    return SHMIPC_E_SYSTEM;
  return SHMIPC_OK;
}

bool shmipc__seg_os_size_matches(uint64_t size, uint64_t segment_size)
{
  return size == segment_size;
}

int shmipc__seg_os_map(struct shmipc__seg *s)
{
  void *p = mmap(NULL, (size_t)s->geom.segment_size, PROT_READ | PROT_WRITE,
                 MAP_SHARED, s->os->fd, 0);

  if (p == MAP_FAILED)
    return errno_code(errno);
  s->base = p;
  return SHMIPC_OK;
}

/* The seals of an anonymous segment: its size is fixed for good, so that
 * no holder of the descriptor can shrink it under the other side's
 * mapping (SIGBUS) or grow it (docs/PROTOCOL.md, "Launched guests"). */
#define ANON_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* A number from the first line of file @path: 1, or 0 when there is none
 * ("max", no file). */
static int read_u64(const char *path, const char *key, uint64_t *out)
{
  char line[128];
  size_t klen = key != NULL ? strlen(key) : 0;
  FILE *f = fopen(path, "re");
  int ok = 0;

  if (f == NULL)
    return 0;
  while (!ok && fgets(line, sizeof line, f) != NULL) {
    char *end;
    if (key != NULL && strncmp(line, key, klen) != 0)
      continue;
    errno = 0;
    *out = strtoull(line + klen, &end, 10);
    ok = errno == 0 && end != line + klen;
    if (key != NULL && ok && strstr(end, "kB") != NULL)
      *out *= 1024;
    if (key == NULL)
      break;
  }
  fclose(f);
  return ok;
}

/* The room left under one memory cgroup directory @dir and each of its
 * ancestors: min(limit - usage); *room unchanged where no limit. */
static void cgroup_room(char *dir, const char *limit, const char *usage,
                        uint64_t *room)
{
  char path[600];
  uint64_t l, u;
  char *slash;

  for (;;) {
    snprintf(path, sizeof path, "%s/%s", dir, limit);
    if (read_u64(path, NULL, &l)) {
      snprintf(path, sizeof path, "%s/%s", dir, usage);
      if (!read_u64(path, NULL, &u))
        u = 0;
      if (l < (uint64_t)1 << 60 && (l > u ? l - u : 0) < *room)
        *room = l > u ? l - u : 0;
    }
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
      return;
    *slash = '\0';
  }
}

/* How much memory a memfd of this process may still take, and what bounds
 * it (for the text). A memfd lives on the kernel's own tmpfs, which has no
 * size limit of its own: without this check a segment larger than the
 * machine's memory would allocate until the OOM killer struck (and one
 * above a memory cgroup's limit could meet that cgroup's OOM killer).
 * The bound is the kernel's estimate of available memory plus free swap,
 * and the room left under this process's memory cgroup and its ancestors
 * (cgroup v2 at /sys/fs/cgroup, v1 at /sys/fs/cgroup/memory). */
static uint64_t memory_room(const char **what)
{
  char line[512], dir[600];
  uint64_t room = UINT64_MAX, avail, swap, cg = UINT64_MAX;
  FILE *f;

  *what = "available memory";
  if (read_u64("/proc/meminfo", "MemAvailable:", &avail)) {
    if (!read_u64("/proc/meminfo", "SwapFree:", &swap))
      swap = 0;
    room = avail + swap;
  }
  f = fopen("/proc/self/cgroup", "re");
  if (f == NULL)
    return room;
  while (fgets(line, sizeof line, f) != NULL) {
    char *path = strchr(line, ':'), *nl;
    if (path == NULL || (nl = strchr(line, '\n')) == NULL)
      continue;
    *nl = '\0';
    if (strncmp(line, "0::", 3) == 0) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
      cgroup_room(dir, "memory.max", "memory.current", &cg);
    } else if (strstr(line, ":memory:") != NULL) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s",
               strstr(line, ":memory:") + 8);
      cgroup_room(dir, "memory.limit_in_bytes", "memory.usage_in_bytes", &cg);
    }
  }
  fclose(f);
  if (cg < room) {
    room = cg;
    *what = "room left under the memory cgroup's limit";
  }
  return room;
}

int shmipc__seg_create_anon(const char *name, const struct shmipc__geom *g,
                            uint32_t mode, struct shmipc__seg *out)
{
  char label[SHMIPC_MAX_NAME_LEN + 16];
  struct shmipc__seg s;
  const char *bound;
  uint64_t room;
  int r;
  void *p;

  memset(&s, 0, sizeof s);
  s.os = malloc(sizeof *s.os);
  if (s.os == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the segment");
  /* The label shows in /proc/PID/fd ("/memfd:shmipc-x (deleted)") and
   * names nothing that can be opened. */
  snprintf(label, sizeof label, "shmipc-%s", name != NULL ? name : "launched");
  s.os->fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (s.os->fd < 0) {
    r = shmipc__fail(errno == ENOMEM || errno == EMFILE || errno == ENFILE
                         ? SHMIPC_E_NOMEM
                         : SHMIPC_E_SYSTEM,
                     "memfd_create: %s", strerror(errno));
    goto err_free;
  }
  if (fchmod(s.os->fd, (mode_t)mode) != 0 ||
      ftruncate(s.os->fd, (off_t)g->segment_size) != 0) {
    r = shmipc__fail(errno_code(errno), "sizing memfd %s to %llu bytes: %s",
                     label, (unsigned long long)g->segment_size,
                     strerror(errno));
    goto err_close;
  }
  /* A memfd is charged to the kernel's internal tmpfs, which has no size
   * limit, and to the creator's memory cgroup: first the bound that
   * tmpfs's own size gives a named segment, then the reservation. */
  room = memory_room(&bound);
  if (g->segment_size > room) {
    r = shmipc__fail(SHMIPC_E_NOMEM,
                     "segment of %llu bytes (memfd %s) exceeds the %llu "
                     "bytes of %s",
                     (unsigned long long)g->segment_size, label,
                     (unsigned long long)room, bound);
    goto err_close;
  }
  r = reserve(s.os->fd, g->segment_size);
  if (r != SHMIPC_OK) {
    r = shmipc__fail(r, "reserving %llu bytes for memfd %s",
                     (unsigned long long)g->segment_size, label);
    goto err_close;
  }
  if (fcntl(s.os->fd, F_ADD_SEALS, ANON_SEALS) != 0) {
    r = shmipc__fail(SHMIPC_E_SYSTEM, "sealing memfd %s: %s", label,
                     strerror(errno));
    goto err_close;
  }
  r = shmipc__lock_take(&s, SHMIPC__ROLE_HOST);
  if (r != SHMIPC_OK) {
    r = shmipc__fail(SHMIPC_E_SYSTEM, "taking the host lock of memfd %s",
                     label);
    goto err_close;
  }
  p = mmap(NULL, (size_t)g->segment_size, PROT_READ | PROT_WRITE, MAP_SHARED,
           s.os->fd, 0);
  if (p == MAP_FAILED) {
    r = shmipc__fail(errno_code(errno), "mapping memfd %s: %s", label,
                     strerror(errno));
    goto err_close;
  }
  s.base = p;
  s.geom = *g;
  s.nonce = shmipc__random64();
  *out = s;
  return SHMIPC_OK;

err_close:
  close(s.os->fd); /* the memory goes with the last descriptor */
err_free:
  free(s.os);
  return r;
}

int shmipc__seg_child_fd(const struct shmipc__seg *s)
{
  char proc[48];
  int fd;

  /* Opening the descriptor's /proc link makes a new open file
   * description of the same memfd (a dup() would share ours, and with it
   * our host lock, so that neither side could see the other's). */
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", s->os->fd);
  fd = open(proc, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return shmipc__fail(errno == ENOENT ? SHMIPC_E_SYSTEM : errno_code(errno),
                        "reopening the segment through %s (/proc must be "
                        "mounted): %s",
                        proc, strerror(errno));
  return fd;
}

int shmipc__seg_os_inherit(struct shmipc__seg *s, char *what, size_t len)
{
  const char *v = getenv(SHMIPC_ENV_FD);
  char *end = NULL;
  long n;
  int fd, seals;

  snprintf(what, len, "inherited segment (%s unset)", SHMIPC_ENV_FD);
  if (v == NULL)
    return shmipc__fail(SHMIPC_E_NOT_FOUND,
                        "%s is not set: this program was not started by a "
                        "host's shmipc_host_launch() (attach by name "
                        "instead)",
                        SHMIPC_ENV_FD);
  errno = 0;
  n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 1 << 20)
    return shmipc__fail(SHMIPC_E_NOT_FOUND,
                        "%s=\"%.16s\" is not a descriptor number",
                        SHMIPC_ENV_FD, v);
  fd = (int)n;
  snprintf(what, len, "inherited segment (%s=%d)", SHMIPC_ENV_FD, fd);
  if (fcntl(fd, F_GETFD) < 0)
    return shmipc__fail(SHMIPC_E_NOT_FOUND,
                        "%s=%d: descriptor %d is not open (a launched "
                        "guest's own children do not inherit it)",
                        SHMIPC_ENV_FD, fd, fd);
  /* Only a memfd sealed against shrinking and growing is safe to map:
   * anybody holding a descriptor of another file could truncate it under
   * our mapping. */
  seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0)
    return shmipc__fail(SHMIPC_E_NOT_FOUND,
                        "%s=%d: descriptor %d is not a memfd (%s)",
                        SHMIPC_ENV_FD, fd, fd, strerror(errno));
  if ((seals & ANON_SEALS) != ANON_SEALS)
    return shmipc__fail(SHMIPC_E_ACCESS,
                        "%s=%d: memfd seals %#x lack %#x (shrink, grow, "
                        "seal)",
                        SHMIPC_ENV_FD, fd, (unsigned)seals,
                        (unsigned)(ANON_SEALS & ~seals));
  s->os = malloc(sizeof *s->os);
  if (s->os == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the segment");
  /* Ours now: not passed on to what this process starts. */
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  s->os->fd = fd;
  s->path[0] = '\0';
  return SHMIPC_OK;
}

void shmipc__seg_close(struct shmipc__seg *s, bool unlink_it)
{
  if (s->base != NULL)
    munmap(s->base, (size_t)s->geom.segment_size);
  s->base = NULL;
  /* Only while the name still leads to our file: a name removed under a
   * live session (systemd-logind's RemoveIPC, or by hand) may belong to
   * another host's new segment by now, which is not ours to unlink. While
   * we hold our file's host lock no host of this library unlinks its name
   * (reap_stale() takes the lock first), so the check holds until the
   * unlink. */
  if (unlink_it && s->path[0] != '\0' && s->os != NULL &&
      still_named(s->path, s->os->fd) == 1)
    shm_unlink(s->path);
  /* Closing the descriptor drops our liveness lock. */
  if (s->os != NULL) {
    close(s->os->fd);
    free(s->os);
  }
  s->os = NULL;
}
