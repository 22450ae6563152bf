/* SPDX-License-Identifier: MIT */
/*
 * shmipc-stat: a read-only look into libshmipc segments (the manual is
 * its --help, below). It reads a segment as an untrusted file: the
 * header is validated as a guest validates it, every loop is bounded by
 * that validated geometry, and every other value is shown as it is, with
 * illegal ones marked. It writes nothing into a segment and takes no lock
 * while it looks (only --clean takes the host lock, as a new host does,
 * to remove a dead host's segment).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "internal.h"
#include "stats.h"

/* The manual, a line an entry (C11 bounds a single literal). */
static const char *const manual[] = {
    "Usage: shmipc-stat [--json] [--watch] [--count N] [--interval-ms MS] "
    "[NAME]\n",
    "       shmipc-stat --clean [NAME]\n",
    "       shmipc-stat --help | --version\n",
    "\n",
    "Shows libshmipc segments from outside, read-only: it needs read access\n",
    "to the segment only, writes nothing into it and takes no lock, so it\n",
    "never looks like a host or a guest. Every value is read as untrusted:\n",
    "a segment that fails the guest's header checks is reported as invalid,\n",
    "an illegal slot word is marked, and nothing in a segment can make it\n",
    "loop or crash.\n",
    "\n",
    "  (no NAME)   list the segments on this machine (Linux: the files\n",
    "              /dev/shm/shmipc-*): name, size, owner, host pid and\n",
    "              whether the host lives, guest pid and whether it lives,\n",
    "              and the segment's state: live, stale (its host died),\n",
    "              ready (its host's liveness is not known: Windows),\n",
    "              not-ready, closed or invalid.\n",
    "  NAME        the segment NAME: its geometry, both sides' state,\n",
    "              liveness and pids, every slot (state, generation, waiter\n",
    "              bits RW/SW, the age of the call in it, request and\n",
    "              answer types and sizes, the slot's counts) and both\n",
    "              sides' counters, each with a rate per second (since the\n",
    "              side's session began; with --watch, since the last\n",
    "              refresh). On Windows NAME is the mapping "
    "Local\\shmipc-NAME,\n",
    "              opened read-only; liveness is not shown there (looking\n",
    "              would take the peer's mutex), and listing is Linux-only.\n",
    "  --json      print JSON (the schema is below) instead of text.\n",
    "  --watch     refresh every second until interrupted (JSON: one\n",
    "              document per line per refresh).\n",
    "  --count N   with --watch, stop after N refreshes.\n",
    "  --interval-ms MS  with --watch, refresh every MS milliseconds.\n",
    "  --clean     remove the segments (or the segment NAME) whose host is\n",
    "              dead; never one whose host lives. It takes the dead "
    "host's\n",
    "              lock first, as a new host replacing the segment does, so\n",
    "              it cannot remove a segment a host is creating. Needs the\n",
    "              right to remove the file (Linux only).\n",
    "\n",
    "The age of a call is the time since its requester's wait left its spin\n",
    "phase (docs/PROTOCOL.md, \"Counters\"): a call younger than that shows\n",
    "\"spin\". Counters are diagnostics: a peer can write any value into\n",
    "them. Their meaning is in docs/PROTOCOL.md, \"Counters\", and in\n",
    "shmipc.h, shmipc_stats.\n",
    "\n",
    "Exit status: 0 when everything asked for was shown (or cleaned); 1\n",
    "when a segment could not be read or was invalid, or --clean kept a\n",
    "segment named on the command line because its host lives; 2 for a\n",
    "usage error.\n",
    "\n",
    "JSON schema \"shmipc-stat/1\" (stable: later versions only add\n",
    "members). Absent knowledge is null. Listing:\n",
    "  {\"schema\": \"shmipc-stat/1\", \"segments\": [SEGMENT...]}\n",
    "  SEGMENT: {\"name\", \"path\", \"size\", \"uid\", \"owner\", "
    "\"state\",\n",
    "    \"host_pid\", \"host_alive\", \"guest_pid\", \"guest_alive\",\n",
    "    \"error\"}\n",
    "  state is \"live\", \"stale\", \"ready\", \"not-ready\", \"closed\" "
    "or \"invalid\";\n",
    "  error is null or the reason a segment is invalid or unreadable.\n",
    "One segment: SEGMENT plus\n",
    "  \"time_ns\": the reader's monotonic clock,\n",
    "  \"geometry\": {\"host_slots\", \"guest_slots\", \"req_capacity\",\n",
    "    \"resp_capacity\", \"slot_stride\", \"segment_size\"},\n",
    "  \"host\": {\"state\", \"pid\", \"alive\"},\n",
    "  \"guest\": {\"state\", \"epoch\", \"pid\", \"alive\", "
    "\"host_waiting\"},\n",
    "  \"doorbell\": {\"count\", \"listener_waiting\"},\n",
    "  \"slots\": [{\"index\", \"direction\" (\"host\": the host asks, or\n",
    "    \"guest\"), \"ctrl\", \"legal\", \"state\", \"generation\",\n",
    "    \"requester_waiting\", \"responder_waiting\", \"age_ns\" (null when\n",
    "    no call is in flight or its age is not known yet), \"req_type\",\n",
    "    \"req_size\", \"req_flags\", \"req_seq\", \"resp_type\", "
    "\"resp_size\",\n",
    "    \"resp_flags\", \"resp_seq\", \"calls\", \"answered\", \"served\",\n",
    "    \"served_errors\"}],\n",
    "  \"counters\": {\"host\": COUNTERS, \"guest\": COUNTERS},\n",
    "  \"rates\": {\"host\": RATES, \"guest\": RATES, \"interval_ns\"}\n",
    "  COUNTERS: the fields of shmipc_stats (calls, answered, timeouts,\n",
    "    cancels, quarantined, late_dropped, recovered, peer_gone, remote,\n",
    "    corrupt, served, served_errors, sleeps, wakes, stream_chunks,\n",
    "    stream_bytes, stream_drops, attaches, epoch, uptime_ns);\n",
    "  RATES: the same counts per second (numbers; interval_ns null when\n",
    "    they are averages since each side's session began).\n",
    NULL,
};

/* Where the figures go: stdout, or a test's file (tests/stat). */
static FILE *out;

static void fputc_out(int c) { fputc(c, out); }

/* ------------------------------------------------------------------ */
/* A snapshot of one segment: private copies of what was read. */

struct snap {
  char name[SHMIPC_MAX_NAME_LEN + 1];
  char path[SHMIPC_MAX_NAME_LEN + 32];
  char error[SHMIPC__ERROR_TEXT_MAX + 64];
  const char *state; /* live, stale, ready, not-ready, closed, invalid */
  bool readable;     /* header copy valid (pids, states) */
  bool valid;        /* geometry validated; slots and counters copied */
  uint64_t size;
  long long uid; /* -1: not known */
  char owner[64];
  int host_alive; /* 1, 0, -1 unknown */
  int guest_alive;
  struct shmipc_wire_header h;
  struct shmipc__geom g;
  struct shmipc_wire_slot *slots; /* host_slots + guest_slots */
  uint8_t *counters;              /* the counter region */
  int64_t now;
};

static void snap_free(struct snap *s)
{
  free(s->slots);
  free(s->counters);
  s->slots = NULL;
  s->counters = NULL;
}

static void set_error(struct snap *s, const char *what, const char *detail)
{
  s->state = "invalid";
  snprintf(s->error, sizeof s->error, "%s%s%s", what,
           detail != NULL && detail[0] != '\0' ? ": " : "",
           detail != NULL ? detail : "");
}

static uint64_t counters_size(const struct shmipc__geom *g)
{
  return SHMIPC_COUNTERS_SLOTS +
         ((uint64_t)g->host_slots + g->guest_slots) * SHMIPC_COUNTERS_SLOT_SIZE;
}

/* Reads of the segment: pread() of the file on Linux (a private copy: a
 * file truncated meanwhile gives a short read, never SIGBUS), a copy out
 * of a read-only view on Windows. */
struct source {
#ifdef _WIN32
  HANDLE map;
  const uint8_t *view;
  uint64_t view_size;
#else
  int fd;
#endif
};

static bool src_read(struct source *src, uint64_t off, void *buf, size_t len)
{
#ifdef _WIN32
  if (off > src->view_size || len > src->view_size - off)
    return false;
  memcpy(buf, src->view + off, len);
  return true;
#else
  size_t done = 0;

  while (done < len) {
    ssize_t n =
        pread(src->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += (size_t)n;
  }
  return true;
#endif
}

/* Liveness of @role: 1 lives, 0 gone, -1 not known. Linux asks the kernel
 * whether a lock conflicts with one on the role's byte (F_OFD_GETLK):
 * that takes nothing. */
static int alive(struct source *src, enum shmipc__role role)
{
#ifdef _WIN32
  (void)src;
  (void)role;
  return -1;
#else
  struct flock fl;

  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = role == SHMIPC__ROLE_HOST ? SHMIPC_LOCK_HOST_BYTE
                                         : SHMIPC_LOCK_GUEST_BYTE;
  fl.l_len = 1;
  fl.l_pid = 0;
  if (fcntl(src->fd, F_OFD_GETLK, &fl) != 0)
    return -1;
  return fl.l_type != F_UNLCK;
#endif
}

static bool src_open(struct snap *s, struct source *src)
{
#ifdef _WIN32
  wchar_t wname[SHMIPC_MAX_NAME_LEN + 32];
  MEMORY_BASIC_INFORMATION mi;

  swprintf(wname, sizeof wname / sizeof wname[0], L"Local\\shmipc-%hs",
           s->name);
  src->map = OpenFileMappingW(FILE_MAP_READ, FALSE, wname);
  if (src->map == NULL) {
    set_error(s,
              GetLastError() == ERROR_ACCESS_DENIED ? "access denied"
                                                    : "no such segment",
              s->path);
    return false;
  }
  src->view = MapViewOfFile(src->map, FILE_MAP_READ, 0, 0, 0);
  if (src->view == NULL ||
      VirtualQuery(src->view, &mi, sizeof mi) != sizeof mi) {
    if (src->view != NULL)
      UnmapViewOfFile(src->view);
    CloseHandle(src->map);
    set_error(s, "cannot map the segment read-only", s->path);
    return false;
  }
  src->view_size = mi.RegionSize;
  s->size = mi.RegionSize;
  s->uid = -1;
  return true;
#else
  struct stat st;
  struct passwd *pw;
  char shm[SHMIPC_MAX_NAME_LEN + 16];

  snprintf(shm, sizeof shm, "/shmipc-%s", s->name);
  src->fd = shm_open(shm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (src->fd < 0) {
    set_error(s, strerror(errno), s->path);
    return false;
  }
  if (fstat(src->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    set_error(s, "not a regular file", s->path);
    close(src->fd);
    return false;
  }
  s->size = (uint64_t)st.st_size;
  s->uid = (long long)st.st_uid;
  pw = getpwuid(st.st_uid);
  if (pw != NULL)
    snprintf(s->owner, sizeof s->owner, "%s", pw->pw_name);
  return true;
#endif
}

static void src_close(struct source *src)
{
#ifdef _WIN32
  UnmapViewOfFile(src->view);
  CloseHandle(src->map);
#else
  close(src->fd);
#endif
}

/* Take a snapshot of segment @name; false when it could not be read at
 * all (s->error says why; s->state is "invalid"). */
static void snap_read(struct snap *s, struct source *src);

static bool snap_take(const char *name, struct snap *s)
{
  struct source src;

  memset(s, 0, sizeof *s);
  s->host_alive = s->guest_alive = -1;
  s->uid = -1;
  snprintf(s->name, sizeof s->name, "%s", name);
  snprintf(s->path, sizeof s->path, "%s%s", shmipc__seg_prefix, name);
  if (!shmipc__name_valid(name)) {
    set_error(s, "not a segment name", "want 1-64 of [A-Za-z0-9._-]");
    return false;
  }
  if (!src_open(s, &src))
    return false;
  snap_read(s, &src);
  src_close(&src);
  return s->valid;
}

/* The snapshot's reads, from an open source of s->size bytes (a fuzz
 * target's too: tests/fuzz/fuzz_stat.c). */
static void snap_read(struct snap *s, struct source *src)
{
  struct shmipc_wire_header h;
  uint32_t i, n;
  int r;

  s->now = shmipc__now_ns();
  s->host_alive = alive(src, SHMIPC__ROLE_HOST);
  s->guest_alive = alive(src, SHMIPC__ROLE_GUEST);
  if (s->size < SHMIPC_HEADER_SIZE || !src_read(src, 0, &s->h, sizeof s->h)) {
    set_error(s, "shorter than a segment header", NULL);
    s->state = s->host_alive == 1 ? "not-ready" : "invalid";
    goto out;
  }
  s->readable = true;
  if (s->h.host_state == SHMIPC_HOST_INIT) {
    s->state = "not-ready";
    goto out;
  }
  /* The guest's checks, on a copy: a closed session keeps its geometry,
   * which is still worth showing. */
  h = s->h;
  if (h.host_state == SHMIPC_HOST_CLOSED)
    h.host_state = SHMIPC_HOST_READY;
  r = shmipc__header_validate(
      &h,
      shmipc__seg_os_size_matches(s->size, h.segment_size) ? h.segment_size
                                                           : s->size,
      &s->g);
  if (r != SHMIPC_OK) {
    s->readable = r != SHMIPC_E_VERSION && h.magic == SHMIPC_MAGIC;
    set_error(s, shmipc_last_error(), NULL);
    goto out;
  }
  n = s->g.host_slots + s->g.guest_slots; /* at most 2048: validated */
  s->slots = calloc(n, sizeof *s->slots);
  s->counters = malloc((size_t)counters_size(&s->g));
  if (s->slots == NULL || s->counters == NULL) {
    set_error(s, "out of memory", NULL);
    goto out;
  }
  for (i = 0; i < n; i++)
    if (!src_read(src, SHMIPC_SLOTS_OFFSET + (uint64_t)i * s->g.slot_stride,
                  &s->slots[i], sizeof s->slots[i]))
      break;
  if (i < n || !src_read(src, s->g.counters_offset, s->counters,
                         (size_t)counters_size(&s->g))) {
    set_error(s, "the segment changed size while it was read", NULL);
    goto out;
  }
  s->valid = true;
  if (s->h.host_state == SHMIPC_HOST_CLOSED)
    s->state = "closed";
  else
    s->state = s->host_alive == 1   ? "live"
               : s->host_alive == 0 ? "stale"
                                    : "ready";
out:
  if (!s->valid) {
    free(s->slots);
    free(s->counters);
    s->slots = NULL;
    s->counters = NULL;
  }
}

/* ------------------------------------------------------------------ */
/* Names and figures */

static const char *slot_state_name(uint32_t v)
{
  static const char *const names[] = {"FREE", "CLAIMED", "REQ_READY",
                                      "PROCESSING", "RESP_READY"};

  if (!shmipc__ctrl_legal(v))
    return "ILLEGAL";
  return names[shmipc__ctrl_state(v)];
}

static const char *host_state_name(uint32_t v)
{
  switch (v) {
  case SHMIPC_HOST_INIT:
    return "INIT";
  case SHMIPC_HOST_READY:
    return "READY";
  case SHMIPC_HOST_CLOSED:
    return "CLOSED";
  default:
    return "ILLEGAL";
  }
}

static const char *attach_state_name(uint32_t v)
{
  if ((v & SHMIPC_ATTACH_RESERVED_MASK) != 0)
    return "ILLEGAL";
  switch (v & SHMIPC_ATTACH_STATE_MASK) {
  case SHMIPC_ATTACH_NONE:
    return "NONE";
  case SHMIPC_ATTACH_ATTACHED:
    return "ATTACHED";
  case SHMIPC_ATTACH_DETACHED:
    return "DETACHED";
  default:
    return "ILLEGAL";
  }
}

/* The age of the call in slot @i in nanoseconds, -1 when none is in
 * flight or its age is not known (spin phase, or not a timestamp). */
static int64_t slot_age(const struct snap *s, uint32_t i)
{
  uint32_t v = s->slots[i].ctrl;
  uint64_t t = s->slots[i].req_time;

  if (!shmipc__ctrl_legal(v) ||
      (shmipc__ctrl_state(v) != SHMIPC_SLOT_REQ_READY &&
       shmipc__ctrl_state(v) != SHMIPC_SLOT_PROCESSING))
    return -1;
  if (t == 0 || t > (uint64_t)s->now)
    return -1;
  return s->now - (int64_t)t;
}

static bool in_flight(const struct snap *s, uint32_t i)
{
  uint32_t v = s->slots[i].ctrl;

  return shmipc__ctrl_legal(v) &&
         (shmipc__ctrl_state(v) == SHMIPC_SLOT_REQ_READY ||
          shmipc__ctrl_state(v) == SHMIPC_SLOT_PROCESSING);
}

static const struct shmipc_wire_slot_counters *slot_ctr(const struct snap *s,
                                                        uint32_t i)
{
  return (const void *)(s->counters + SHMIPC_COUNTERS_SLOTS +
                        (uint64_t)i * SHMIPC_COUNTERS_SLOT_SIZE);
}

static void side_stats(const struct snap *s, enum shmipc__role role,
                       shmipc_stats *st)
{
  memset(st, 0, sizeof *st);
  st->struct_size = sizeof *st;
  shmipc__stats_sum(s->counters, &s->g, role, s->now, st);
}

/* The counters in the order shmipc_stats has them. */
struct field {
  const char *name;
  size_t off;
};
#define F(x)                                                                   \
  {                                                                            \
#x, offsetof(shmipc_stats, x)                                              \
  }
static const struct field fields[] = {
    F(calls),        F(answered),     F(timeouts),      F(cancels),
    F(quarantined),  F(late_dropped), F(recovered),     F(peer_gone),
    F(remote),       F(corrupt),      F(served),        F(served_errors),
    F(sleeps),       F(wakes),        F(stream_chunks), F(stream_bytes),
    F(stream_drops), F(attaches),
};
#undef F
#define NFIELDS (sizeof fields / sizeof fields[0])

static uint64_t field(const shmipc_stats *st, size_t k)
{
  uint64_t v;

  memcpy(&v, (const uint8_t *)st + fields[k].off, sizeof v);
  return v;
}

/* A rate per second: the move of counter @k from @prev (NULL: since the
 * session began) over @dt_ns (the uptime when @prev is NULL). */
static double rate(const shmipc_stats *st, const shmipc_stats *prev, size_t k,
                   int64_t dt_ns)
{
  uint64_t now = field(st, k), then = prev != NULL ? field(prev, k) : 0;

  if (dt_ns <= 0 || now < then)
    return 0.0;
  return (double)(now - then) * 1e9 / (double)dt_ns;
}

/* ------------------------------------------------------------------ */
/* Text */

static void print_alive(int a)
{
  fputs(a == 1 ? "alive" : a == 0 ? "dead" : "unknown", out);
}

static void print_age(int64_t age, bool flight)
{
  if (!flight)
    fprintf(out, "%10s", "-");
  else if (age < 0)
    fprintf(out, "%10s", "spin");
  else if (age < INT64_C(1000000))
    fprintf(out, "%8.1fus", (double)age / 1e3);
  else if (age < INT64_C(1000000000))
    fprintf(out, "%8.1fms", (double)age / 1e6);
  else
    fprintf(out, "%9.2fs", (double)age / 1e9);
}

static void text_segment(const struct snap *s, const shmipc_stats prev[2],
                         int64_t prev_now)
{
  const struct shmipc__geom *g = &s->g;
  shmipc_stats st[2];
  uint32_t i, n = g->host_slots + g->guest_slots, a = s->h.attach;
  size_t k;

  fprintf(out, "segment %s  %s  %" PRIu64 " bytes", s->name, s->path, s->size);
  if (s->uid >= 0)
    fprintf(out, "  owner %s (%lld)", s->owner[0] ? s->owner : "?", s->uid);
  fprintf(out, "  %s\n", s->state);
  fprintf(out,
          "protocol %u  host slots %u  guest slots %u  request %u B  "
          "answer %u B  stride %u\n",
          s->h.version, g->host_slots, g->guest_slots, g->req_capacity,
          g->resp_capacity, g->slot_stride);
  fprintf(out, "host   %-9s pid %-8u ", host_state_name(s->h.host_state),
          s->h.host_pid);
  print_alive(s->host_alive);
  fprintf(out, "\nguest  %-9s pid %-8u ", attach_state_name(a), s->h.guest_pid);
  print_alive(s->guest_alive);
  fprintf(out, "  epoch %u%s\n",
          (a & SHMIPC_ATTACH_EPOCH_MASK) >> SHMIPC_ATTACH_EPOCH_SHIFT,
          (a & SHMIPC_ATTACH_HOST_WAITING) ? "  host waiting" : "");
  fprintf(
      out, "doorbell %u%s\n\n", s->h.doorbell & SHMIPC_DOORBELL_COUNTER_MASK,
      (s->h.doorbell & SHMIPC_DOORBELL_LISTENER_WAITING) ? "  listener waiting"
                                                         : "");

  fprintf(out,
          "slot dir   state         gen wait        age  req type/size      "
          "resp type/size     calls    served\n");
  for (i = 0; i < n; i++) {
    const struct shmipc_wire_slot *w = &s->slots[i];
    const struct shmipc_wire_slot_counters *c = slot_ctr(s, i);
    bool host = i < g->host_slots;

    fprintf(out, "%4u %-5s %-10s %6u %-2s%-2s", i, host ? "host" : "guest",
            slot_state_name(w->ctrl), w->ctrl >> SHMIPC_CTRL_GEN_SHIFT,
            (w->ctrl & SHMIPC_CTRL_REQUESTER_WAITING) ? "RW" : "",
            (w->ctrl & SHMIPC_CTRL_RESPONDER_WAITING) ? "SW" : "");
    if (!shmipc__ctrl_legal(w->ctrl))
      fprintf(out, "!%#010x", w->ctrl);
    else
      print_age(slot_age(s, i), in_flight(s, i));
    /* Sizes beyond the capacity are a peer's garbage: marked with '!'. */
    fprintf(out, "  %8u/%-8u%c %8u/%-8u%c %8" PRIu64 " %9" PRIu64 "\n",
            w->req_type, w->req_size, w->req_size > g->req_capacity ? '!' : ' ',
            w->resp_type, w->resp_size,
            w->resp_size > g->resp_capacity ? '!' : ' ',
            shmipc__load_relaxed64(&c->req_calls),
            shmipc__load_relaxed64(&c->resp_served));
  }

  side_stats(s, SHMIPC__ROLE_HOST, &st[0]);
  side_stats(s, SHMIPC__ROLE_GUEST, &st[1]);
  fprintf(out, "\n%-14s %14s %12s %14s %12s\n", "counter", "host", "host/s",
          "guest", "guest/s");
  for (k = 0; k < NFIELDS; k++) {
    int64_t dth = prev != NULL ? s->now - prev_now : (int64_t)st[0].uptime_ns;
    int64_t dtg = prev != NULL ? s->now - prev_now : (int64_t)st[1].uptime_ns;

    fprintf(out, "%-14s %14" PRIu64 " %12.1f %14" PRIu64 " %12.1f\n",
            fields[k].name, field(&st[0], k),
            rate(&st[0], prev ? &prev[0] : NULL, k, dth), field(&st[1], k),
            rate(&st[1], prev ? &prev[1] : NULL, k, dtg));
  }
  fprintf(out, "%-14s %14u %12s %14u\n", "epoch", st[0].epoch, "", st[1].epoch);
  fprintf(out, "%-14s %13.3fs %12s %13.3fs\n", "uptime",
          (double)st[0].uptime_ns / 1e9, "", (double)st[1].uptime_ns / 1e9);
}

static void text_list_row(const struct snap *s)
{
  char size[32];

  snprintf(size, sizeof size, "%" PRIu64, s->size);
  fprintf(out, "%-24s %12s %-10s %-9s ", s->name, size,
          s->owner[0] ? s->owner : "-", s->state);
  if (s->readable) {
    fprintf(out, "%8u ", s->h.host_pid);
    print_alive(s->host_alive);
    fprintf(out, " %8u ", s->h.guest_pid);
    print_alive(s->guest_alive);
  } else {
    fprintf(out, "%8s %-5s %8s %-5s", "-", "-", "-", "-");
  }
  if (s->error[0] != '\0')
    fprintf(out, "  (%s)", s->error);
  fputc_out('\n');
}

/* ------------------------------------------------------------------ */
/* JSON */

static void json_str(const char *p)
{
  fputc_out('"');
  for (; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;

    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      fprintf(out, "\\u%04x", c);
    else
      fputc_out(c);
  }
  fputc_out('"');
}

static void json_alive(int a)
{
  fputs(a == 1 ? "true" : a == 0 ? "false" : "null", out);
}

static void json_head(const struct snap *s)
{
  fprintf(out, "\"name\": ");
  json_str(s->name);
  fprintf(out, ", \"path\": ");
  json_str(s->path);
  fprintf(out, ", \"size\": %" PRIu64 ", \"uid\": ", s->size);
  if (s->uid >= 0)
    fprintf(out, "%lld", s->uid);
  else
    fprintf(out, "null");
  fprintf(out, ", \"owner\": ");
  if (s->owner[0])
    json_str(s->owner);
  else
    fprintf(out, "null");
  fprintf(out, ", \"state\": ");
  json_str(s->state);
  if (s->readable)
    fprintf(out, ", \"host_pid\": %u", s->h.host_pid);
  else
    fprintf(out, ", \"host_pid\": null");
  fprintf(out, ", \"host_alive\": ");
  json_alive(s->host_alive);
  if (s->readable)
    fprintf(out, ", \"guest_pid\": %u", s->h.guest_pid);
  else
    fprintf(out, ", \"guest_pid\": null");
  fprintf(out, ", \"guest_alive\": ");
  json_alive(s->guest_alive);
  fprintf(out, ", \"error\": ");
  if (s->error[0])
    json_str(s->error);
  else
    fprintf(out, "null");
}

static void json_counters(const shmipc_stats *st)
{
  size_t k;

  fputc_out('{');
  for (k = 0; k < NFIELDS; k++)
    fprintf(out, "\"%s\": %" PRIu64 ", ", fields[k].name, field(st, k));
  fprintf(out, "\"epoch\": %u, \"uptime_ns\": %" PRIu64 "}", st->epoch,
          st->uptime_ns);
}

static void json_rates(const shmipc_stats *st, const shmipc_stats *prev,
                       int64_t dt)
{
  size_t k;

  fputc_out('{');
  for (k = 0; k < NFIELDS; k++)
    fprintf(out, "%s\"%s\": %.3f", k ? ", " : "", fields[k].name,
            rate(st, prev, k, prev != NULL ? dt : (int64_t)st->uptime_ns));
  fputc_out('}');
}

static void json_segment(const struct snap *s, const shmipc_stats prev[2],
                         int64_t prev_now)
{
  const struct shmipc__geom *g = &s->g;
  uint32_t i, n = g->host_slots + g->guest_slots, a = s->h.attach;
  shmipc_stats st[2];

  fprintf(out, "{\"schema\": \"shmipc-stat/1\", ");
  json_head(s);
  fprintf(out, ", \"time_ns\": %" PRId64, s->now);
  if (!s->valid) {
    fprintf(out, "}\n");
    return;
  }
  fprintf(out,
          ", \"geometry\": {\"host_slots\": %u, \"guest_slots\": %u, "
          "\"req_capacity\": %u, \"resp_capacity\": %u, \"slot_stride\": %u, "
          "\"segment_size\": %" PRIu64 "}",
          g->host_slots, g->guest_slots, g->req_capacity, g->resp_capacity,
          g->slot_stride, g->segment_size);
  fprintf(out, ", \"host\": {\"state\": \"%s\", \"pid\": %u, \"alive\": ",
          host_state_name(s->h.host_state), s->h.host_pid);
  json_alive(s->host_alive);
  fprintf(out,
          "}, \"guest\": {\"state\": \"%s\", \"epoch\": %u, \"pid\": %u, "
          "\"alive\": ",
          attach_state_name(a),
          (a & SHMIPC_ATTACH_EPOCH_MASK) >> SHMIPC_ATTACH_EPOCH_SHIFT,
          s->h.guest_pid);
  json_alive(s->guest_alive);
  fprintf(out, ", \"host_waiting\": %s}",
          (a & SHMIPC_ATTACH_HOST_WAITING) ? "true" : "false");
  fprintf(out, ", \"doorbell\": {\"count\": %u, \"listener_waiting\": %s}",
          s->h.doorbell & SHMIPC_DOORBELL_COUNTER_MASK,
          (s->h.doorbell & SHMIPC_DOORBELL_LISTENER_WAITING) ? "true"
                                                             : "false");
  fprintf(out, ", \"slots\": [");
  for (i = 0; i < n; i++) {
    const struct shmipc_wire_slot *w = &s->slots[i];
    const struct shmipc_wire_slot_counters *c = slot_ctr(s, i);
    int64_t age = slot_age(s, i);

    fprintf(out,
            "%s{\"index\": %u, \"direction\": \"%s\", \"ctrl\": %u, "
            "\"legal\": %s, \"state\": \"%s\", \"generation\": %u, "
            "\"requester_waiting\": %s, \"responder_waiting\": %s, "
            "\"age_ns\": ",
            i ? ", " : "", i, i < g->host_slots ? "host" : "guest", w->ctrl,
            shmipc__ctrl_legal(w->ctrl) ? "true" : "false",
            slot_state_name(w->ctrl), w->ctrl >> SHMIPC_CTRL_GEN_SHIFT,
            (w->ctrl & SHMIPC_CTRL_REQUESTER_WAITING) ? "true" : "false",
            (w->ctrl & SHMIPC_CTRL_RESPONDER_WAITING) ? "true" : "false");
    if (age >= 0)
      fprintf(out, "%" PRId64, age);
    else
      fprintf(out, "null");
    fprintf(out,
            ", \"req_type\": %u, \"req_size\": %u, \"req_flags\": %u, "
            "\"req_seq\": %" PRIu64 ", \"resp_type\": %u, \"resp_size\": %u, "
            "\"resp_flags\": %u, \"resp_seq\": %" PRIu64 ", \"calls\": %" PRIu64
            ", \"answered\": %" PRIu64 ", \"served\": %" PRIu64
            ", \"served_errors\": %" PRIu64 "}",
            w->req_type, w->req_size, w->req_flags, w->req_seq, w->resp_type,
            w->resp_size, w->resp_flags, w->resp_seq,
            shmipc__load_relaxed64(&c->req_calls),
            shmipc__load_relaxed64(&c->req_answered),
            shmipc__load_relaxed64(&c->resp_served),
            shmipc__load_relaxed64(&c->resp_errors));
  }
  side_stats(s, SHMIPC__ROLE_HOST, &st[0]);
  side_stats(s, SHMIPC__ROLE_GUEST, &st[1]);
  fprintf(out, "], \"counters\": {\"host\": ");
  json_counters(&st[0]);
  fprintf(out, ", \"guest\": ");
  json_counters(&st[1]);
  fprintf(out, "}, \"rates\": {\"host\": ");
  json_rates(&st[0], prev ? &prev[0] : NULL, s->now - prev_now);
  fprintf(out, ", \"guest\": ");
  json_rates(&st[1], prev ? &prev[1] : NULL, s->now - prev_now);
  fprintf(out, ", \"interval_ns\": ");
  if (prev != NULL)
    fprintf(out, "%" PRId64, s->now - prev_now);
  else
    fprintf(out, "null");
  fprintf(out, "}}\n");
}

/* ------------------------------------------------------------------ */
/* Listing and cleaning (Linux) */

#define MAX_LISTED 100000 /* a bound on a directory someone else fills */

#ifndef _WIN32
static int by_name(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}
#endif

/* Call @fn for every segment name in /dev/shm, sorted; returns how many
 * there were, or -1 when the directory cannot be read. */
static int for_each_segment(void (*fn)(const char *, void *), void *arg)
{
#ifdef _WIN32
  (void)fn;
  (void)arg;
  return -1;
#else
  DIR *d = opendir("/dev/shm");
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  const size_t skip = strlen("shmipc-");

  if (d == NULL)
    return -1;
  while (n < MAX_LISTED && (e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "shmipc-", skip) != 0 ||
        !shmipc__name_valid(e->d_name + skip))
      continue;
    if (n == cap) {
      char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
      if (p == NULL)
        break;
      names = p;
    }
    if ((names[n] = strdup(e->d_name + skip)) == NULL)
      break;
    n++;
  }
  closedir(d);
  if (n > 1)
    qsort(names, n, sizeof *names, by_name);
  for (i = 0; i < n; i++) {
    fn(names[i], arg);
    free(names[i]);
  }
  free(names);
  return (int)n;
#endif
}

struct list_ctx {
  bool json;
  int count;
  int failed;
};

static void list_one(const char *name, void *arg)
{
  struct list_ctx *c = arg;
  struct snap s;

  (void)snap_take(name, &s);
  if (strcmp(s.state, "invalid") == 0)
    c->failed++;
  if (c->json) {
    fprintf(out, "%s{", c->count ? ",\n  " : "\n  ");
    json_head(&s);
    fputc_out('}');
  } else {
    text_list_row(&s);
  }
  c->count++;
  snap_free(&s);
}

static int list(bool json)
{
  struct list_ctx c = {json, 0, 0};
  int n;

  if (json)
    fprintf(out, "{\"schema\": \"shmipc-stat/1\", \"segments\": [");
  else
    fprintf(out, "%-24s %12s %-10s %-9s %8s %-5s %8s %-5s\n", "NAME", "SIZE",
            "OWNER", "STATE", "HOST", "", "GUEST", "");
  n = for_each_segment(list_one, &c);
  if (json)
    fprintf(out, "%s]}\n", c.count ? "\n" : "");
  if (n < 0) {
    fprintf(stderr, "shmipc-stat: listing segments needs Linux (/dev/shm); "
                    "give a NAME\n");
    return 1;
  }
  return 0;
}

/* Remove segment @name if its host is dead, by the rule a new host
 * follows (src/segment_linux.c, reap_stale()): take the host lock, check
 * that the name still leads to the file, unlink. 1 removed, 0 kept (its
 * host lives), -1 error. */
static int clean_one(const char *name, bool quiet)
{
#ifdef _WIN32
  (void)name;
  (void)quiet;
  fprintf(stderr, "shmipc-stat: --clean is Linux-only (Windows drops a "
                  "mapping with its last handle)\n");
  return -1;
#else
  char shm[SHMIPC_MAX_NAME_LEN + 16], file[SHMIPC_MAX_NAME_LEN + 32];
  struct flock fl;
  struct stat a, b;
  int fd, r;

  snprintf(shm, sizeof shm, "/shmipc-%s", name);
  snprintf(file, sizeof file, "/dev/shm/shmipc-%s", name);
  fd = shm_open(shm, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "shmipc-stat: %s: %s\n", file, strerror(errno));
    return -1;
  }
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = SHMIPC_LOCK_HOST_BYTE;
  fl.l_len = 1;
  fl.l_pid = 0;
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    r = errno == EAGAIN || errno == EACCES ? 0 : -1;
    if (r == 0 && !quiet)
      fprintf(out, "kept %s: its host lives\n", name);
    else if (r < 0)
      fprintf(stderr, "shmipc-stat: %s: %s\n", file, strerror(errno));
    close(fd);
    return r;
  }
  /* We hold the host lock: nobody else unlinks this file now. */
  r = -1;
  if (fstat(fd, &a) == 0 && lstat(file, &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino) {
    if (shm_unlink(shm) == 0) {
      fprintf(out, "removed %s\n", name);
      r = 1;
    } else {
      fprintf(stderr, "shmipc-stat: removing %s: %s\n", file, strerror(errno));
    }
  } else {
    r = 0; /* replaced meanwhile by a new host's segment: not ours to judge */
    if (!quiet)
      fprintf(out, "kept %s: replaced by a new segment meanwhile\n", name);
  }
  close(fd);
  return r;
#endif
}

static void clean_each(const char *name, void *arg)
{
  int *failed = arg;

  if (clean_one(name, true) < 0)
    (*failed)++;
}

/* ------------------------------------------------------------------ */

static void sleep_ms(long ms) { shmipc__sleep_ns((int64_t)ms * 1000000); }

static int show(const char *name, bool json, bool watch, long count,
                long interval_ms)
{
  shmipc_stats prev[2];
  int64_t prev_now = 0;
  bool have_prev = false;
  long i;
  int rc = 0;

  for (i = 0; !watch || count <= 0 || i < count; i++) {
    struct snap s;

    if (i > 0)
      sleep_ms(interval_ms);
    if (watch && !json)
      fputs("\033[H\033[2J", out);
    if (!snap_take(name, &s)) {
      if (json) {
        json_segment(&s, NULL, 0);
      } else {
        fprintf(out, "segment %s  %s  %s", s.name, s.path, s.state);
        if (s.readable)
          fprintf(out, "  host %s pid %u  guest %s pid %u",
                  host_state_name(s.h.host_state), s.h.host_pid,
                  attach_state_name(s.h.attach), s.h.guest_pid);
        fprintf(out, "\n");
        if (s.error[0])
          fprintf(stderr, "shmipc-stat: %s: %s\n", s.name, s.error);
      }
      rc = strcmp(s.state, "not-ready") == 0 ? rc : 1;
      have_prev = false;
    } else {
      if (json)
        json_segment(&s, have_prev ? prev : NULL, prev_now);
      else
        text_segment(&s, have_prev ? prev : NULL, prev_now);
      side_stats(&s, SHMIPC__ROLE_HOST, &prev[0]);
      side_stats(&s, SHMIPC__ROLE_GUEST, &prev[1]);
      prev_now = s.now;
      have_prev = true;
      rc = 0;
    }
    snap_free(&s);
    fflush(stdout);
    if (!watch)
      break;
  }
  return rc;
}

#ifndef SHMIPC_STAT_NO_MAIN
static int usage(const char *why)
{
  fprintf(stderr, "shmipc-stat: %s\nTry 'shmipc-stat --help'.\n", why);
  return 2;
}

int main(int argc, char **argv)
{
  bool json = false, watch = false, clean = false;
  long count = 0, interval_ms = 1000;
  const char *name = NULL;
  int i;

  out = stdout;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end;

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      for (i = 0; manual[i] != NULL; i++)
        fputs(manual[i], out);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      uint32_t v = shmipc_version();

      fprintf(out, "shmipc-stat %u.%u.%u (wire protocol %u)\n", v >> 16,
              (v >> 8) & 0xFF, v & 0xFF, SHMIPC_PROTOCOL_VERSION);
      return 0;
    } else if (strcmp(a, "--json") == 0) {
      json = true;
    } else if (strcmp(a, "--watch") == 0) {
      watch = true;
    } else if (strcmp(a, "--clean") == 0) {
      clean = true;
    } else if (strcmp(a, "--count") == 0 || strcmp(a, "--interval-ms") == 0) {
      long v;

      if (i + 1 >= argc)
        return usage("a number must follow --count and --interval-ms");
      errno = 0;
      v = strtol(argv[++i], &end, 10);
      if (errno != 0 || *end != '\0' || v < 1 || v > 86400000)
        return usage("--count and --interval-ms take 1 to 86400000");
      if (strcmp(a, "--count") == 0)
        count = v;
      else
        interval_ms = v;
    } else if (a[0] == '-') {
      return usage("unknown option");
    } else if (name != NULL) {
      return usage("one NAME at most");
    } else {
      name = a;
    }
  }
  if (name != NULL && !shmipc__name_valid(name))
    return usage("NAME must be 1-64 of [A-Za-z0-9._-], no leading '.'");
  if (clean) {
    int failed = 0;

    if (json || watch)
      return usage("--clean takes no --json or --watch");
    if (name != NULL)
      return clean_one(name, false) == 1 ? 0 : 1;
    if (for_each_segment(clean_each, &failed) < 0)
      return usage("listing segments needs Linux (/dev/shm)");
    return failed ? 1 : 0;
  }
  if (name == NULL) {
    if (watch)
      return usage("--watch needs a NAME");
    return list(json);
  }
  return show(name, json, watch, count, interval_ms);
}
#endif /* SHMIPC_STAT_NO_MAIN */
