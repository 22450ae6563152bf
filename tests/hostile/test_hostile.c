/* SPDX-License-Identifier: MIT */
/*
 * Hostile peers (suite 'hostile'). Usage: test-hostile TOOL GUEST, where
 * TOOL is shmipc-hostile and GUEST an echo guest (tests/ECHO_GUEST.md: the
 * C one or the Go one).
 *
 * (a) Hostile host: this process is the host (the C library) with GUEST in
 *     another process, and it corrupts the live segment in each way a peer
 *     can. The guest must either keep serving or end with a clear error
 *     (exit status, message on stderr), never with a signal, a sanitizer
 *     report or a Go panic.
 * (b) Hostile guest: a real C host here, and a fake guest (shmipc-hostile
 *     respond MODE, another process) that lies in its responses while host
 *     threads make calls. Every call returns OK with exactly the right
 *     content, or an error code; never wrong content, never a crash. After
 *     the fake has gone and a proper GUEST attaches, the host works again.
 *
 * A missing binary is a skip, or a failure under strict_tests. Every wait is
 * bounded in time. Debugging aids: HOSTILE_DEBUG=1 prints the segment's
 * raw state around the recoveries in (b); HOSTILE_ONLY=MODE runs only that
 * fake-guest mode in lying_guest; HOSTILE_GROUPS=host (or guest) runs
 * only part (a) (or (b)).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "handlers.h"
#include "hostile.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define CAP 256u

static const char *tool_path, *guest_path;

/* Open findings (reported, not yet fixed in src/) fail their tests. With
 * SHMIPC_HOSTILE_KNOWN=skip in the environment they are printed instead,
 * so that the rest of the suite can gate CI meanwhile:
 *   F1  a quarantined slot whose word a hostile guest set to FREE is
 *       claimed while its reuse mark stays set; the next claim then takes
 *       the slot from under its holder (wrong content)
 *   F2  a slot whose word the guest made unrecognisable (other generation,
 *       illegal) is out of use for the host's lifetime, even after that
 *       guest is gone and a proper one attached
 *   F3  garbage stored into the doorbell can make the host's listener miss
 *       the next ring (it rescans only when the counter moves), so that
 *       guest call waits out its timeout */
static bool known(const char *id, const char *fmt, ...)
{
  const char *e = getenv("SHMIPC_HOSTILE_KNOWN");
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (e != NULL && strcmp(e, "skip") == 0) {
    print_message("  KNOWN FINDING %s (not failed: SHMIPC_HOSTILE_KNOWN=skip): %s\n",
                  id, msg);
    return true;
  }
  fail_msg("finding %s: %s", id, msg);
  return false;
}

/* ------------------------------------------------------------------ */
/* Child processes with captured output */

struct child {
  pid_t pid;
  int out_fd, err_fd; /* memfds holding its stdout and stderr */
  int status;
  bool done;
};

static void child_spawn(struct child *c, const char *const argv[])
{
  memset(c, 0, sizeof *c);
  c->out_fd = memfd_create("child-stdout", MFD_CLOEXEC);
  c->err_fd = memfd_create("child-stderr", MFD_CLOEXEC);
  assert_true(c->out_fd >= 0 && c->err_fd >= 0);
  fflush(NULL);
  c->pid = fork();
  assert_true(c->pid >= 0);
  if (c->pid == 0) {
    dup2(c->out_fd, 1);
    dup2(c->err_fd, 2);
    execv(argv[0], (char *const *)argv);
    perror("exec");
    _exit(127);
  }
}

static void spawn_guest(struct child *c, const char *name, int timeout_ms)
{
  char t[16];
  const char *argv[] = {guest_path, "-name", name, "-timeout-ms", t, NULL};

  snprintf(t, sizeof t, "%d", timeout_ms);
  child_spawn(c, argv);
}

/* Wait up to @ms for the child to end; true when it has. */
static bool child_reap(struct child *c, int ms)
{
  int64_t end = t_now_ms() + ms;

  while (!c->done) {
    pid_t p = waitpid(c->pid, &c->status, WNOHANG);
    if (p == c->pid) {
      c->done = true;
      break;
    }
    if (t_now_ms() >= end)
      return false;
    t_sleep_ms(2);
  }
  return true;
}

static void child_read(int fd, char *buf, size_t n)
{
  ssize_t k = pread(fd, buf, n - 1, 0);

  buf[k > 0 ? k : 0] = '\0';
}

static void child_close(struct child *c)
{
  if (c->pid > 0 && !c->done) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &c->status, 0);
    c->done = true;
  }
  if (c->out_fd > 0)
    close(c->out_fd);
  if (c->err_fd > 0)
    close(c->err_fd);
  c->out_fd = c->err_fd = -1;
}

/* Marks of a crash in anything the child printed. */
static const char *const crash_marks[] = {
    "panic:",          "goroutine ",       "fatal error:",
    "SIGSEGV",         "SIGBUS",           "unexpected signal",
    "AddressSanitizer", "LeakSanitizer",   "ThreadSanitizer",
    "runtime error:",  "UndefinedBehavior", "Segmentation fault",
    /* valgrind (the guest may run under it, see scripts/sanitizers.sh) */
    "Invalid read",    "Invalid write",    "Invalid free",
    "uninitialised",   "definitely lost",  "indirectly lost",
};

/* Exit outcomes */
#define ALIVE 1u
#define EXIT0 2u
#define EXITERR 4u

/* The child has ended: check that it ended cleanly and classify it. */
static unsigned child_verdict(struct child *c, const char *what)
{
  char err[8192], out[2048];
  size_t i;

  child_read(c->err_fd, err, sizeof err);
  child_read(c->out_fd, out, sizeof out);
  if (WIFSIGNALED(c->status))
    fail_msg("%s: %s died of signal %d; stderr:\n%s", what, guest_path,
             WTERMSIG(c->status), err);
  if (!WIFEXITED(c->status))
    fail_msg("%s: odd wait status %#x", what, c->status);
  for (i = 0; i < sizeof crash_marks / sizeof crash_marks[0]; i++)
    if (strstr(err, crash_marks[i]) != NULL || strstr(out, crash_marks[i]) != NULL)
      fail_msg("%s: the peer crashed (found \"%s\"); exit %d; stderr:\n%s", what,
               crash_marks[i], WEXITSTATUS(c->status), err);
  if (WEXITSTATUS(c->status) == 0)
    return EXIT0;
  if (err[0] == '\0')
    fail_msg("%s: exit %d without a message on stderr", what,
             WEXITSTATUS(c->status));
  return EXITERR;
}

/* ------------------------------------------------------------------ */
/* Host sessions */

struct sess {
  char name[64];
  shmipc_host *h;
  struct child g;
  struct hostile_seg raw;
  uint32_t hs, gs;
};

static int sessions; /* names used: hostile-PID-0 .. hostile-PID-(n-1) */

static void host_create(struct sess *s, uint32_t hs, uint32_t gs)
{
  shmipc_host_config c;

  memset(s, 0, sizeof *s);
  s->g.pid = -1;
  s->g.out_fd = s->g.err_fd = -1;
  snprintf(s->name, sizeof s->name, "hostile-%d-%d", (int)getpid(), sessions++);
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = hs;
  c.guest_slots = gs;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  c.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&c, &s->h), SHMIPC_OK);
  assert_int_equal(hostile_open(s->name, &s->raw), 0);
  s->hs = hs;
  s->gs = gs;
}

static void sess_start(struct sess *s, uint32_t hs, uint32_t gs)
{
  host_create(s, hs, gs);
  spawn_guest(&s->g, s->name, 10000);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK) {
    char err[4096];
    child_read(s->g.err_fd, err, sizeof err);
    fail_msg("guest %s did not attach within 10 s; stderr:\n%s", guest_path, err);
  }
}

/* One echo call with a unique payload; SHMIPC_OK only with exactly the
 * right answer (a wrong answer fails the test at once). */
static int ping(struct sess *s, int64_t timeout_ns)
{
  static unsigned k;
  char msg[64], resp[CAP];
  size_t n = 0;
  uint32_t t = 0;
  int len = snprintf(msg, sizeof msg, "ping %u %s", k++, s->name), r;

  r = shmipc_host_call(s->h, 150, msg, (size_t)len, resp, sizeof resp, &n, &t,
                       timeout_ns);
  if (r == SHMIPC_OK && (n != (size_t)len || t != 150 || memcmp(resp, msg, n) != 0))
    fail_msg("ping: OK with a wrong answer (len %zu/%d, type %u)", n, len, t);
  return r;
}

/* After a corruption: the guest either ends (EXIT0 / EXITERR, checked
 * clean) within @settle_ms, or keeps serving (ALIVE: a ping works). */
static unsigned expect(struct sess *s, unsigned allowed, int settle_ms,
                       const char *what)
{
  unsigned got;
  int64_t end;
  int r = SHMIPC_E_TIMEOUT;

  if (child_reap(&s->g, (allowed & (EXIT0 | EXITERR)) ? settle_ms : 20)) {
    got = child_verdict(&s->g, what);
    if (!(got & allowed))
      fail_msg("%s: guest exited with status %d, which is not allowed here",
               what, WEXITSTATUS(s->g.status));
    return got;
  }
  if (!(allowed & ALIVE)) {
    char err[4096];
    child_read(s->g.err_fd, err, sizeof err);
    fail_msg("%s: the guest still runs %d ms later (expected it to end); stderr:\n%s",
             what, settle_ms, err);
  }
  /* Alive: it must still serve (a slot the corruption took out of use is
   * skipped by the host). */
  for (end = t_now_ms() + 3000; t_now_ms() < end;) {
    r = ping(s, 1000 * MS);
    if (r == SHMIPC_OK)
      return ALIVE;
    if (child_reap(&s->g, 0))
      break;
  }
  if (s->g.done) {
    got = child_verdict(&s->g, what);
    if (!(got & allowed))
      fail_msg("%s: guest exited with status %d, which is not allowed here",
               what, WEXITSTATUS(s->g.status));
    return got;
  }
  fail_msg("%s: the guest runs but does not serve (last call: %s)", what,
           shmipc_strerror(r));
  return 0;
}

/* Close the host; the guest (if still there) must end cleanly. */
static void sess_end(struct sess *s, const char *what)
{
  hostile_close(&s->raw);
  shmipc_host_destroy(s->h);
  s->h = NULL;
  if (s->g.pid > 0 && !s->g.done) {
    if (!child_reap(&s->g, 5000))
      fail_msg("%s: guest did not end within 5 s of the host closing", what);
    (void)child_verdict(&s->g, what);
  }
  child_close(&s->g);
}

static uint32_t ctrl_of(struct sess *s, uint32_t slot)
{
  return hostile_load32(&hostile_slot(&s->raw, slot)->ctrl);
}

/* In-process guest attach attempt, as a NEW guest would. */
static int attach_rc(const char *name, int connect_ms)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;
  int r;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = connect_ms * MS;
  r = shmipc_guest_attach(&c, &g);
  shmipc_guest_detach(g);
  return r;
}

/* A second guest process attaching to this (corrupt) segment must fail
 * with a message and a non-zero status, quickly and without crashing. */
static void new_guest_refused(const char *name, const char *what)
{
  struct child c;

  spawn_guest(&c, name, 300);
  if (!child_reap(&c, 5000))
    fail_msg("%s: a new guest did not give up within 5 s", what);
  if (child_verdict(&c, what) != EXITERR)
    fail_msg("%s: a new guest attached to a corrupt segment", what);
  child_close(&c);
}

/* ================================================================== */
/* (a) hostile host */

/* An illegal control word on a host slot ends the guest with an error. */
static void ctrl_illegal_ends_guest(void **state)
{
  static const uint32_t bad[] = {5, 6, 7, 0x08, 0x40, 0x80,
                                 0x08 | SHMIPC_SLOT_REQ_READY};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    snprintf(what, sizeof what, "ctrl %#x", bad[i]);
    sess_start(&s, 2, 0);
    assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
    t_sleep_ms(20); /* let the workers go to sleep on their words */
    assert_int_equal(hostile_set_slot(&s.raw, 0, "ctrl",
                                      (ctrl_of(&s, 0) & ~0xFFu) | bad[i]),
                     0);
    (void)expect(&s, EXITERR, 3000, what);
    sess_end(&s, what);
  }
}

struct bg_call {
  shmipc_host *h;
  uint32_t type;
  char req[64];
  size_t len;
  int64_t timeout_ns;
  int rc;
  char resp[CAP];
  size_t n;
  uint32_t t;
};

static void *bg_call_main(void *arg)
{
  struct bg_call *b = arg;

  b->rc = shmipc_host_call(b->h, b->type, b->req, b->len, b->resp,
                           sizeof b->resp, &b->n, &b->t, b->timeout_ns);
  return NULL;
}

/* The host rewrites a slot the guest holds (PROCESSING) while the handler
 * runs: the guest's publish must fail cleanly. */
static void ctrl_changed_while_guest_processes(void **state)
{
  int variant;

  (void)state;
  for (variant = 0; variant < 3; variant++) {
    struct sess s;
    struct bg_call b;
    pthread_t th;
    uint32_t i, v = 0, slot = UINT32_MAX;
    int64_t end;
    uint32_t delay = 400;
    char what[64];

    snprintf(what, sizeof what, "processing slot rewritten (%d)", variant);
    sess_start(&s, 2, 0);
    memset(&b, 0, sizeof b);
    b.h = s.h;
    b.type = 201; /* the handler sleeps */
    memcpy(b.req, &delay, 4);
    memcpy(b.req + 4, "late", 4);
    b.len = 8;
    b.timeout_ns = 5000 * MS;
    assert_int_equal(pthread_create(&th, NULL, bg_call_main, &b), 0);
    for (end = t_now_ms() + 2000; slot == UINT32_MAX && t_now_ms() < end;) {
      for (i = 0; i < 2; i++) {
        v = ctrl_of(&s, i);
        if ((v & 7) == SHMIPC_SLOT_PROCESSING) {
          slot = i;
          break;
        }
      }
      t_sleep_ms(1);
    }
    assert_true(slot != UINT32_MAX);
    switch (variant) {
    case 0: /* another generation */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl, v ^ SHMIPC_CTRL_GEN_ONE);
      break;
    case 1: /* back to FREE */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl, (v & ~7u) | SHMIPC_SLOT_FREE);
      break;
    default: /* a fake RESP_READY: the host must not take it as the answer */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl,
                      (v & ~7u) | SHMIPC_SLOT_RESP_READY);
      hostile_wake(&hostile_slot(&s.raw, slot)->ctrl);
      break;
    }
    pthread_join(th, NULL);
    if (b.rc == SHMIPC_OK)
      fail_msg("%s: the host accepted a response the guest never published", what);
    if (b.rc != SHMIPC_E_CORRUPT && b.rc != SHMIPC_E_PEER_GONE)
      fail_msg("%s: host call ended with %s", what, shmipc_strerror(b.rc));
    (void)expect(&s, EXITERR, 3000, what);
    sess_end(&s, what);
  }
}

/* Requests whose header lies are answered with SYSTEM_ERROR; the guest
 * keeps serving. */
static void bad_requests_answered_with_error(void **state)
{
  static const struct {
    uint32_t size, flags;
  } bad[] = {
      {CAP + 1, 0},
      {0xFFFFFFFFu, 0},
      {0x80000000u, 0},
      {CAP + 1, SHMIPC_WIRE_END_ALIGNED},
      {0xFFFFFFFFu, SHMIPC_WIRE_END_ALIGNED},
      {4, 0x2},
      {4, 0x80000000u},
      {4, 0xFFFFFFFFu},
  };
  struct sess s;
  struct shmipc_wire_slot resp;
  uint8_t payload[CAP];
  size_t i;
  uint64_t seq = 1000;

  (void)state;
  sess_start(&s, 2, 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++, seq++) {
    int r = hostile_request(&s.raw, 0, 150, bad[i].size, bad[i].flags, seq,
                            "abcd", 4, 3000, &resp);
    if (r != 0)
      fail_msg("request size %#x flags %#x: no answer (%d)", bad[i].size,
               bad[i].flags, r);
    if (resp.resp_type != SHMIPC_MSG_SYSTEM_ERROR || resp.resp_seq != seq ||
        resp.resp_size > CAP || resp.resp_size == 0 || resp.resp_flags != 0)
      fail_msg("request size %#x flags %#x: answered type %u size %u flags %#x "
               "seq %llu (want SYSTEM_ERROR, seq %llu)",
               bad[i].size, bad[i].flags, resp.resp_type, resp.resp_size,
               resp.resp_flags, (unsigned long long)resp.resp_seq,
               (unsigned long long)seq);
  }
  /* legal edge cases are served exactly: a full end-aligned request, an
   * empty one */
  for (i = 0; i < CAP; i++)
    payload[i] = (uint8_t)(i * 7 + 1);
  {
    uint8_t *req = hostile_req_buf(&s.raw, 1);
    assert_non_null(req);
    assert_int_equal(hostile_request(&s.raw, 1, 160, CAP, SHMIPC_WIRE_END_ALIGNED,
                                     seq, payload, CAP, 3000, &resp),
                     0);
    assert_int_equal(resp.resp_type, 160);
    assert_int_equal(resp.resp_size, CAP);
    assert_int_equal(resp.resp_seq, seq);
    assert_memory_equal(hostile_resp_buf(&s.raw, 1) +
                            ((resp.resp_flags & 1) ? CAP - resp.resp_size : 0),
                        payload, CAP);
    seq++;
    assert_int_equal(hostile_request(&s.raw, 1, 161, 0, 0, seq, NULL, 0, 3000, &resp), 0);
    assert_int_equal(resp.resp_type, 161);
    assert_int_equal(resp.resp_size, 0);
  }
  (void)expect(&s, ALIVE, 50, "bad requests");
  sess_end(&s, "bad requests");
}

/* The guest calls the host (type 202 makes the echo guest do it); the
 * host answers with lying framing. The guest's call fails, it answers the
 * host's call with SYSTEM_ERROR, and it keeps serving. */
static void lying_answers_to_guest_calls(void **state)
{
  static const int modes[] = {HM_SIZE_CAP1, HM_SIZE_MAX, HM_SIZE_HIGH,
                              HM_FLAGS,     HM_SEQ,      HM_GEN,
                              HM_STATE,     HM_RESERVED, HM_RANDOM};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    struct sess s;
    struct bg_call b;
    pthread_t th;
    uint64_t x = 0x1234 + i;
    char what[64];

    snprintf(what, sizeof what, "guest call answered '%s'", hostile_mode_name(modes[i]));
    sess_start(&s, 2, 1);
    memset(&b, 0, sizeof b);
    b.h = s.h;
    b.type = 202;
    b.len = (size_t)snprintf(b.req, sizeof b.req, "hello %zu", i);
    b.timeout_ns = 10000 * MS;
    assert_int_equal(pthread_create(&th, NULL, bg_call_main, &b), 0);
    if (hostile_serve_one(&s.raw, 2, modes[i], &x, 5000) != 0)
      fail_msg("%s: the guest made no guest call", what);
    pthread_join(th, NULL);
    if (b.rc != SHMIPC_E_REMOTE || b.n == 0)
      fail_msg("%s: host call got %s (len %zu), want the guest's SYSTEM_ERROR",
               what, shmipc_strerror(b.rc), b.n);
    (void)expect(&s, ALIVE, 50, what);
    sess_end(&s, what);
  }
}

/* Header fields change after the guest attached: the running guest keeps
 * its validated copy and serves on; a new guest is refused. */
static void header_garbage_after_attach(void **state)
{
  static const struct {
    const char *field;
    uint64_t value;
    int want; /* in-process attach result */
  } bad[] = {
      {"magic", 0x315F4350494D4854ull, SHMIPC_E_CORRUPT},
      {"magic", 0, SHMIPC_E_CORRUPT},
      {"version", 2, SHMIPC_E_VERSION},
      {"version", 0xFFFFFFFFu, SHMIPC_E_VERSION},
      {"header_size", 255, SHMIPC_E_CORRUPT},
      {"host_slots", 0, SHMIPC_E_CORRUPT},
      {"host_slots", 1025, SHMIPC_E_CORRUPT},
      {"host_slots", 3, SHMIPC_E_CORRUPT},
      {"guest_slots", 1025, SHMIPC_E_CORRUPT},
      {"guest_slots", 7, SHMIPC_E_CORRUPT},
      {"req_capacity", 0, SHMIPC_E_CORRUPT},
      {"req_capacity", (1u << 30) + 1, SHMIPC_E_CORRUPT},
      {"req_capacity", 2 * CAP, SHMIPC_E_CORRUPT},
      {"resp_capacity", 0xFFFFFFFFu, SHMIPC_E_CORRUPT},
      {"resp_capacity", CAP + 1, SHMIPC_E_CORRUPT},
      {"slot_header_size", 128, SHMIPC_E_CORRUPT},
      {"slot_stride", 0, SHMIPC_E_CORRUPT},
      {"slot_stride", 64 + CAP + CAP + 64, SHMIPC_E_CORRUPT},
      {"slots_offset", 512, SHMIPC_E_CORRUPT},
      {"flags", 1, SHMIPC_E_CORRUPT},
      {"segment_size", 0, SHMIPC_E_CORRUPT},
      {"segment_size", ~(uint64_t)0, SHMIPC_E_CORRUPT},
  };
  struct shmipc_wire_header saved;
  struct sess s;
  size_t i;

  (void)state;
  sess_start(&s, 2, 0);
  memcpy(&saved, hostile_hdr(&s.raw), 64); /* line 0 */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[96];
    int r;
    snprintf(what, sizeof what, "header %s = %#llx", bad[i].field,
             (unsigned long long)bad[i].value);
    assert_int_equal(hostile_set_header(&s.raw, bad[i].field, bad[i].value), 0);
    r = attach_rc(s.name, 300);
    if (r != bad[i].want)
      fail_msg("%s: a new in-process guest got %s, want %s", what,
               shmipc_strerror(r), shmipc_strerror(bad[i].want));
    new_guest_refused(s.name, what);
    if (expect(&s, ALIVE, 20, what) != ALIVE)
      fail_msg("%s: the running guest stopped", what);
    memcpy(hostile_hdr(&s.raw), &saved, 64);
  }
  /* restored: a second guest is refused only because one is attached */
  assert_int_equal(attach_rc(s.name, 300), SHMIPC_E_BUSY);
  sess_end(&s, "header garbage");
}

/* host_state garbage: the guest must end (the host is no longer READY);
 * a changed session nonce means a replaced host. */
static void host_state_and_nonce_garbage(void **state)
{
  static const struct {
    const char *field;
    uint64_t value;
    unsigned allowed;
  } bad[] = {
      {"host_state", SHMIPC_HOST_INIT, EXIT0 | EXITERR},
      {"host_state", SHMIPC_HOST_CLOSED, EXIT0},
      {"host_state", 7, EXIT0 | EXITERR},
      {"host_state", 0xFFFFFFFFu, EXIT0 | EXITERR},
      /* docs/PROTOCOL.md: the nonce tells a guest that its host has been
       * replaced; the Go guest ends, the C guest does not look at it (see
       * the report); either is not a crash. */
      {"session_nonce", 0x1234, ALIVE | EXIT0 | EXITERR},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[96];
    unsigned got;
    snprintf(what, sizeof what, "header %s = %#llx", bad[i].field,
             (unsigned long long)bad[i].value);
    sess_start(&s, 2, 0);
    assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
    assert_int_equal(hostile_set_header(&s.raw, bad[i].field, bad[i].value), 0);
    /* wake the workers so that they look at the header now */
    hostile_wake(&hostile_slot(&s.raw, 0)->ctrl);
    hostile_wake(&hostile_slot(&s.raw, 1)->ctrl);
    got = expect(&s, bad[i].allowed, 3000, what);
    print_message("  %s: guest %s\n", what,
                  got == ALIVE ? "keeps serving" : got == EXIT0 ? "exit 0" : "exit != 0");
    if (got == ALIVE)
      hostile_set_header(&s.raw, "host_state", SHMIPC_HOST_READY);
    sess_end(&s, what);
  }
}

/* Garbage in the attach word. */
static void attach_word_garbage(void **state)
{
  static const uint32_t bad[] = {0x7F000001u, 0xFFFFFFFFu, 0x05u, 0x80000003u};
  size_t i;

  (void)state;
  /* (1) while the guest serves: the guest does not read it until it
   * detaches; the host must not crash either way */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    snprintf(what, sizeof what, "attach %#x while serving", bad[i]);
    sess_start(&s, 2, 0);
    assert_int_equal(hostile_set_header(&s.raw, "attach", bad[i]), 0);
    (void)expect(&s, ALIVE | EXIT0 | EXITERR, 50, what);
    sess_end(&s, what);
  }
  /* (2) before a guest attaches: it must refuse with an error */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    int r;
    if (bad[i] == 0x80000003u)
      continue; /* state 3 with HOST_WAITING: state > DETACHED like 0x05 */
    snprintf(what, sizeof what, "attach %#x before attach", bad[i]);
    host_create(&s, 2, 0);
    assert_int_equal(hostile_set_header(&s.raw, "attach", bad[i]), 0);
    r = attach_rc(s.name, 300);
    if (r != SHMIPC_E_CORRUPT)
      fail_msg("%s: in-process attach got %s", what, shmipc_strerror(r));
    new_guest_refused(s.name, what);
    sess_end(&s, what);
  }
}

/* Garbage in the doorbell: guest calls still get through. A plain store
 * into the doorbell can rewind its counter to the value the listener last
 * saw (and clear LISTENER_WAITING), so the guest's next ring looks like no
 * change: finding F3 unless the listener rescans on its own. */
static void doorbell_garbage(void **state)
{
  static const uint32_t bad[] = {0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu, 0, 5};
  struct sess s;
  size_t i;
  int k;
  char lost[160] = "";

  (void)state;
  sess_start(&s, 2, 1);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (k = 0; k < 4; k++) {
      char resp[CAP];
      size_t n = 0;
      uint32_t t;
      int r;
      assert_int_equal(hostile_set_header(&s.raw, "doorbell", bad[i]), 0);
      r = shmipc_host_call(s.h, 202, "bell", 4, resp, sizeof resp, &n, &t,
                           8000 * MS);
      if (r == SHMIPC_OK && n == 4 && memcmp(resp, "BELL", 4) == 0)
        continue;
      if (r == SHMIPC_E_REMOTE && n >= 9 && memmem(resp, n, "time", 4) != NULL) {
        /* the guest's own guest call timed out: its ring was lost */
        snprintf(lost, sizeof lost, "doorbell %#x (try %d): the listener "
                 "missed the guest's ring; the guest call timed out", bad[i], k);
        goto out;
      }
      fail_msg("doorbell %#x: guest call through the host got %s", bad[i],
               shmipc_strerror(r));
    }
  }
out:
  (void)expect(&s, ALIVE, 20, "doorbell garbage");
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  sess_end(&s, "doorbell garbage");
  if (lost[0] != '\0')
    (void)known("F3", "%s", lost);
}

/* Random bytes over a whole slot header (control word included). */
static void random_slot_headers(void **state)
{
  uint64_t seed;

  (void)state;
  for (seed = 1; seed <= 9; seed++) {
    struct sess s;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull;
    char what[64];
    snprintf(what, sizeof what, "random slot header, seed %llu",
             (unsigned long long)seed);
    sess_start(&s, 2, 1);
    t_sleep_ms(10);
    assert_int_equal(hostile_random_slot(&s.raw, (uint32_t)(seed % 3), &x), 0);
    (void)expect(&s, ALIVE | EXITERR, 300, what);
    sess_end(&s, what);
  }
}

/* Calls from several threads while another process floods slot headers,
 * the attach word and the doorbell with random garbage. */
struct flood_worker {
  shmipc_host *h;
  int id;
  int64_t until_ms;
  unsigned ok, err[20];
  char what[160];
  char wrong[160];
};

static bool allowed_error(int r)
{
  return r == SHMIPC_E_CORRUPT || r == SHMIPC_E_TIMEOUT ||
         r == SHMIPC_E_PEER_GONE || r == SHMIPC_E_REMOTE;
}

static void *flood_worker_main(void *arg)
{
  struct flood_worker *w = arg;
  uint64_t x = 0xABCDEFull + (uint64_t)w->id;
  uint8_t req[CAP], resp[CAP];
  unsigned i = 0;

  while (t_now_ms() < w->until_ms) {
    size_t len = (size_t)(hostile_rand(&x) % (CAP + 1)), n = 0, k;
    uint32_t type = 1000 + (uint32_t)(hostile_rand(&x) % 1000), t = 0;
    int r;
    for (k = 0; k < len; k++)
      req[k] = (uint8_t)hostile_rand(&x);
    if (i++ % 2 == 0) {
      r = shmipc_host_call(w->h, type, req, len, resp, sizeof resp, &n, &t,
                           200 * MS);
    } else {
      shmipc_slot *s;
      r = shmipc_slot_acquire(w->h, 200 * MS, &s);
      if (r == SHMIPC_OK) {
        uint8_t *buf = shmipc_slot_req_buf(s);
        int end = (i / 2) % 2;
        memcpy(end ? buf + CAP - len : buf, req, len);
        r = shmipc_slot_send(s, type, len, end ? SHMIPC_F_END_ALIGNED : 0, 200 * MS);
        if (r == SHMIPC_OK) {
          n = shmipc_slot_resp_size(s);
          t = shmipc_slot_resp_type(s);
          memcpy(resp, shmipc_slot_resp_data(s), n <= CAP ? n : CAP);
        }
        shmipc_slot_release(s);
      }
    }
    if (r == SHMIPC_OK) {
      if (n != len || t != type || memcmp(req, resp, len) != 0) {
        if (w->wrong[0] == '\0')
          snprintf(w->wrong, sizeof w->wrong,
                   "call %u: OK with a WRONG answer: len %zu/%zu type %u/%u", i,
                   n, len, t, type);
      } else {
        w->ok++;
      }
    } else if (r == SHMIPC_E_STATE) {
      w->err[17]++; /* two threads held one slot: finding F1 */
    } else if (!allowed_error(r)) {
      if (w->what[0] == '\0')
        snprintf(w->what, sizeof w->what, "call %u: unexpected %s", i,
                 shmipc_strerror(r));
    } else {
      w->err[-r < 20 ? -r : 0]++;
      if (r == SHMIPC_E_PEER_GONE)
        t_sleep_ms(5);
    }
  }
  return NULL;
}

static void flood_while_calling(void **state)
{
  enum { THREADS = 2 };
  struct sess s;
  struct child fl;
  struct flood_worker w[THREADS];
  pthread_t th[THREADS];
  int i;
  char f1[256] = "";

  (void)state;
  sess_start(&s, 3, 1);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  {
    const char *argv[] = {tool_path, "-for-ms", "400", "-seed", "77", s.name,
                          "flood", "all", NULL};
    child_spawn(&fl, argv);
  }
  for (i = 0; i < THREADS; i++) {
    w[i] = (struct flood_worker){s.h, i, t_now_ms() + 600, 0, {0}, "", ""};
    assert_int_equal(pthread_create(&th[i], NULL, flood_worker_main, &w[i]), 0);
  }
  for (i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  for (i = 0; i < THREADS; i++) {
    if (w[i].what[0] != '\0')
      fail_msg("flood, thread %d: %s", i, w[i].what);
    if (w[i].wrong[0] != '\0' && f1[0] == '\0')
      snprintf(f1, sizeof f1, "(F1 suspected) flood, thread %d: %s", i, w[i].wrong);
    if (w[i].err[17] != 0 && f1[0] == '\0')
      snprintf(f1, sizeof f1, "flood, thread %d: %u calls ended with STATE: "
               "two threads held one slot", i, w[i].err[17]);
    print_message("  flood thread %d: %u OK, %u corrupt, %u timeout, %u peer gone, %u remote, %u state\n",
                  i, w[i].ok, w[i].err[8], w[i].err[9], w[i].err[10], w[i].err[13],
                  w[i].err[17]);
  }
  assert_true(child_reap(&fl, 3000));
  assert_int_equal(child_verdict(&fl, "flood tool"), EXIT0);
  child_close(&fl);
  (void)expect(&s, ALIVE | EXITERR | EXIT0, 100, "flood");
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  sess_end(&s, "flood");
  if (f1[0] != '\0')
    (void)known("F1", "%s", f1);
}

/* A truncated segment is tested at attach time only: truncating under a
 * live mapping makes every peer's access past the new end SIGBUS, which no
 * library can prevent for a mapping it already holds. So: truncate (with
 * the tool), then a NEW guest attaches and must get SHMIPC_E_CORRUPT (or,
 * below the header size, time out waiting for the host to size it), never
 * crash. */
static void truncated_segment_at_attach(void **state)
{
  struct sess s;
  uint8_t saved[SHMIPC_HEADER_SIZE];
  uint64_t seg;
  uint32_t stride;
  size_t i;
  char path[128];

  (void)state;
  host_create(&s, 2, 1);
  seg = hostile_hdr(&s.raw)->segment_size;
  stride = hostile_hdr(&s.raw)->slot_stride;
  memcpy(saved, s.raw.r.base, sizeof saved);
  snprintf(path, sizeof path, "/dev/shm/shmipc-%s", s.name);
  {
    const uint64_t sizes[] = {0, 100, 255, 256, seg - 1, seg - stride, seg + 4096};
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      char what[64], arg[32];
      struct child t;
      int r, fd;
      const char *argv[] = {tool_path, s.name, "truncate", arg, NULL};
      snprintf(arg, sizeof arg, "%llu", (unsigned long long)sizes[i]);
      snprintf(what, sizeof what, "segment truncated to %llu of %llu",
               (unsigned long long)sizes[i], (unsigned long long)seg);
      child_spawn(&t, argv);
      assert_true(child_reap(&t, 3000));
      assert_int_equal(child_verdict(&t, "truncate"), EXIT0);
      child_close(&t);
      r = attach_rc(s.name, 300);
      if (r != (sizes[i] < SHMIPC_HEADER_SIZE ? SHMIPC_E_TIMEOUT : SHMIPC_E_CORRUPT))
        fail_msg("%s: in-process attach got %s", what, shmipc_strerror(r));
      new_guest_refused(s.name, what);
      /* back to the real size and header, so that the host's own mapping
       * is whole again */
      fd = open(path, O_RDWR | O_CLOEXEC);
      assert_true(fd >= 0);
      assert_int_equal(ftruncate(fd, (off_t)seg), 0);
      assert_int_equal(pwrite(fd, saved, sizeof saved, 0), (ssize_t)sizeof saved);
      close(fd);
    }
  }
  /* the restored segment works */
  spawn_guest(&s.g, s.name, 5000);
  assert_int_equal(shmipc_host_wait_guest(s.h, 10000 * MS), SHMIPC_OK);
  assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
  sess_end(&s, "truncate");
}

/* ================================================================== */
/* (b) hostile guest */

struct caller {
  shmipc_host *h;
  int id;
  struct child *fake;
  int64_t until_ms;
  int64_t timeout_ns;
  unsigned ok, err[20];
  char what[200];  /* a hard failure */
  char wrong[200]; /* OK with a wrong answer */
};

/* Calls with unique random payloads until the fake guest is gone or the
 * time is up; any OK must carry exactly the echo of its own request. */
static void *caller_main(void *arg)
{
  struct caller *c = arg;
  uint64_t x = 0x5151ull * (uint64_t)(c->id + 3);
  static _Thread_local uint8_t req[CAP], resp[CAP];
  unsigned i = 0;

  while (t_now_ms() < c->until_ms) {
    size_t len = 1 + (size_t)(hostile_rand(&x) % CAP), n = 0, k;
    uint32_t type = 1000 + (uint32_t)(hostile_rand(&x) % 100000), t = 0;
    int r;
    for (k = 0; k < len; k++)
      req[k] = (uint8_t)hostile_rand(&x);
    memcpy(req, &i, sizeof i < len ? sizeof i : len); /* unique per call */
    if (i++ % 2 == 0) {
      r = shmipc_host_call(c->h, type, req, len, resp, sizeof resp, &n, &t,
                           c->timeout_ns);
    } else {
      shmipc_slot *s;
      int end = (i / 2) % 2;
      r = shmipc_slot_acquire(c->h, c->timeout_ns, &s);
      if (r == SHMIPC_OK) {
        uint8_t *buf = shmipc_slot_req_buf(s);
        memcpy(end ? buf + CAP - len : buf, req, len);
        r = shmipc_slot_send(s, type, len, end ? SHMIPC_F_END_ALIGNED : 0,
                             c->timeout_ns);
        if (r == SHMIPC_OK) {
          n = shmipc_slot_resp_size(s);
          t = shmipc_slot_resp_type(s);
          if (n > CAP || shmipc_slot_resp_data(s) == NULL) {
            snprintf(c->what, sizeof c->what, "OK with size %zu / no data", n);
            shmipc_slot_release(s);
            break;
          }
          memcpy(resp, shmipc_slot_resp_data(s), n);
        }
        shmipc_slot_release(s);
      }
    }
    if (r == SHMIPC_OK) {
      if (n != len || t != type || memcmp(req, resp, len) != 0) {
        snprintf(c->wrong, sizeof c->wrong,
                 "call %u: OK with a WRONG answer (len %zu/%zu, type %u/%u, %s)",
                 i, n, len, t, type,
                 n == len && memcmp(req, resp, len) == 0 ? "same bytes" : "other bytes");
        break;
      }
      c->ok++;
    } else if (r == SHMIPC_E_STATE) {
      /* a call of ours found its slot in another phase: another thread
       * claimed the slot it holds (finding F1); counted, judged later */
      c->err[17]++;
    } else if (!allowed_error(r)) {
      snprintf(c->what, sizeof c->what, "call %u: unexpected %s", i,
               shmipc_strerror(r));
      break;
    } else {
      c->err[-r]++;
      if (r == SHMIPC_E_PEER_GONE)
        break; /* the fake has gone */
    }
  }
  return NULL;
}

/* Run @threads callers against the session's current guest for @ms. The
 * first wrong answer, if any, is copied to @wrong (left to the caller). */
static void run_callers_w(shmipc_host *h, int threads, int ms, int64_t timeout_ns,
                          unsigned *ok, unsigned err[20], const char *what,
                          char *wrong, size_t wrong_len)
{
  struct caller c[4];
  pthread_t th[4];
  int i, k;

  assert_true(threads <= 4);
  *ok = 0;
  memset(err, 0, 20 * sizeof err[0]);
  for (i = 0; i < threads; i++) {
    memset(&c[i], 0, sizeof c[i]);
    c[i].h = h;
    c[i].id = i;
    c[i].until_ms = t_now_ms() + ms;
    c[i].timeout_ns = timeout_ns;
    assert_int_equal(pthread_create(&th[i], NULL, caller_main, &c[i]), 0);
  }
  /* join them all before judging: a failure unwinds this frame */
  for (i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  wrong[0] = '\0';
  for (i = 0; i < threads; i++) {
    if (c[i].what[0] != '\0')
      fail_msg("%s, thread %d: %s", what, i, c[i].what);
    if (c[i].wrong[0] != '\0' && wrong[0] == '\0')
      snprintf(wrong, wrong_len, "%s, thread %d: %s", what, i, c[i].wrong);
    *ok += c[i].ok;
    for (k = 0; k < 20; k++)
      err[k] += c[i].err[k];
  }
}

/* The same; a wrong answer or a STATE error fails at once. */
static void run_callers(shmipc_host *h, int threads, int ms, int64_t timeout_ns,
                        unsigned *ok, unsigned err[20], const char *what)
{
  char wrong[256];

  run_callers_w(h, threads, ms, timeout_ns, ok, err, what, wrong, sizeof wrong);
  if (wrong[0] != '\0')
    fail_msg("%s", wrong);
  if (err[17] != 0)
    fail_msg("%s: %u calls ended with STATE", what, err[17]);
}

/* With HOSTILE_DEBUG set, print the segment's raw state. */
static void debug_info(const char *name, const char *when)
{
  if (getenv("HOSTILE_DEBUG") != NULL) {
    struct child c;
    char out[8192];
    const char *argv[] = {tool_path, name, "info", NULL};
    child_spawn(&c, argv);
    if (child_reap(&c, 3000)) {
      child_read(c.out_fd, out, sizeof out);
      print_message("--- %s:\n%s", when, out);
    }
    child_close(&c);
  }
}

/* After a fake guest: a proper guest attaches and the host works again.
 * Returns false, with the reason in @why, if the host does not work. */
static bool proper_guest_recovers(struct sess *s, const char *what, char *why,
                                  size_t why_len)
{
  unsigned ok, err[20];

  debug_info(s->name, "before the proper guest");
  spawn_guest(&s->g, s->name, 5000);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("%s: the proper guest did not attach", what);
  run_callers(s->h, 2, 250, 2000 * MS, &ok, err, what);
  debug_info(s->name, "after the proper guest's calls");
  if (child_reap(&s->g, 0)) {
    (void)child_verdict(&s->g, what);
    fail_msg("%s: the proper guest ended (status %d) after the fake's garbage",
             what, WEXITSTATUS(s->g.status));
  }
  if (ok == 0 || err[8] + err[9] + err[10] + err[13] != 0) {
    snprintf(why, why_len,
             "%s: after the fake, the host with a proper guest made %u good "
             "calls, %u corrupt, %u timeout, %u peer gone, %u remote",
             what, ok, err[8], err[9], err[10], err[13]);
    return false;
  }
  return true;
}

static void lying_guest(void **state)
{
  static const struct {
    int mode;
    bool some_ok;     /* at least one call must succeed */
    bool none_ok;     /* no call may succeed */
    int need_err;     /* at least one error of this code (0: none needed) */
  } cases[] = {
      {HM_ECHO, true, false, 0},
      {HM_END_ALIGNED, true, false, 0},
      {HM_SIZE_CAP1, false, true, SHMIPC_E_CORRUPT},
      {HM_SIZE_MAX, false, true, SHMIPC_E_CORRUPT},
      {HM_SIZE_HIGH, false, true, SHMIPC_E_CORRUPT},
      {HM_FLAGS, false, true, SHMIPC_E_CORRUPT},
      {HM_SEQ, false, true, SHMIPC_E_CORRUPT},
      {HM_GEN, false, true, SHMIPC_E_CORRUPT},
      {HM_STATE, false, true, SHMIPC_E_CORRUPT},
      {HM_RESERVED, false, true, SHMIPC_E_CORRUPT},
      {HM_REGRESS, false, true, 0},
      {HM_RANDOM, false, true, 0},
      {HM_LATE, false, true, SHMIPC_E_TIMEOUT},
      {HM_SILENT, false, true, SHMIPC_E_TIMEOUT},
      {HM_MIXED, false, false, 0},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct sess s;
    struct child fake;
    unsigned ok, err[20];
    char what[64], seed[16], wrong[256], f1[300] = "";
    const char *mode = hostile_mode_name(cases[i].mode);
    /* modes that can write FREE into a slot the host quarantined */
    bool free_lie = cases[i].mode == HM_REGRESS || cases[i].mode == HM_RANDOM ||
                    cases[i].mode == HM_MIXED;
    const char *argv[] = {tool_path, "-for-ms", "350", "-late-ms", "150",
                          "-seed", seed, NULL, "respond", mode, NULL};

    snprintf(what, sizeof what, "fake guest '%s'", mode);
    if (getenv("HOSTILE_ONLY") != NULL && strcmp(getenv("HOSTILE_ONLY"), mode) != 0)
      continue;
    snprintf(seed, sizeof seed, "%zu", 11 + i);
    host_create(&s, 4, 0);
    argv[7] = s.name;
    child_spawn(&fake, argv);
    if (shmipc_host_wait_guest(s.h, 5000 * MS) != SHMIPC_OK)
      fail_msg("%s: the fake guest did not attach", what);
    run_callers_w(s.h, 3, 300, 100 * MS, &ok, err, what, wrong, sizeof wrong);
    if (!child_reap(&fake, 5000))
      fail_msg("%s: the fake guest did not stop", what);
    assert_int_equal(child_verdict(&fake, what), EXIT0);
    child_close(&fake);
    print_message("  %-24s %4u OK, %4u corrupt, %4u timeout, %3u peer gone, %3u remote, %u state\n",
                  what, ok, err[8], err[9], err[10], err[13], err[17]);
    if (wrong[0] != '\0' && !free_lie)
      fail_msg("%s", wrong);
    if (wrong[0] != '\0')
      snprintf(f1, sizeof f1, "(F1 suspected) %s", wrong);
    else if (err[17] != 0)
      snprintf(f1, sizeof f1, "%s: %u calls ended with STATE: two threads "
               "held one slot", what, err[17]);
    if (f1[0] != '\0' && !free_lie)
      fail_msg("%s", f1);
    if (f1[0] != '\0')
      ok = 0; /* the checks below are about honest slots */
    if (cases[i].some_ok && ok == 0)
      fail_msg("%s: no call succeeded", what);
    if (cases[i].some_ok && err[8] != 0)
      fail_msg("%s: %u calls CORRUPT on correct answers", what, err[8]);
    if (cases[i].none_ok && ok != 0)
      fail_msg("%s: %u calls succeeded on lying answers", what, ok);
    if (cases[i].need_err && err[-cases[i].need_err] == 0)
      fail_msg("%s: no call ended with %s", what, shmipc_strerror(cases[i].need_err));
    {
      char why[300];
      bool good = proper_guest_recovers(&s, what, why, sizeof why);
      sess_end(&s, what);
      if (f1[0] != '\0')
        (void)known("F1", "%s", f1);
      if (!good)
        (void)known("F2", "%s", why);
    }
  }
}

/* A fake guest that leaves illegal control words behind and dies (no
 * detach). The host must not crash; a proper guest that attaches next
 * meets the illegal words and, by docs/PROTOCOL.md, ends with CORRUPT (a
 * clean error, checked), or serves if the host has reset them first. */
static void garbage_left_behind(void **state)
{
  struct sess s;
  struct child fake;
  unsigned ok, err[20], got;
  int64_t end;
  const char *what = "illegal words left by a dead fake guest";
  const char *argv[] = {tool_path, "-for-ms", "300", "-leave-mess", "-no-detach",
                        NULL, "respond", "state", NULL};

  (void)state;
  host_create(&s, 4, 0);
  argv[5] = s.name;
  child_spawn(&fake, argv);
  assert_int_equal(shmipc_host_wait_guest(s.h, 5000 * MS), SHMIPC_OK);
  run_callers(s.h, 2, 250, 100 * MS, &ok, err, what);
  assert_true(child_reap(&fake, 5000));
  assert_int_equal(child_verdict(&fake, what), EXIT0);
  child_close(&fake);
  assert_int_equal(ok, 0);
  spawn_guest(&s.g, s.name, 5000);
  /* The guest may attach, meet the garbage and detach before the host
   * looks: then the host never sees it ATTACHED, which is fine. */
  for (end = t_now_ms() + 10000; t_now_ms() < end;) {
    if (shmipc_host_wait_guest(s.h, 50 * MS) == SHMIPC_OK || child_reap(&s.g, 0))
      break;
  }
  run_callers(s.h, 2, 300, 200 * MS, &ok, err, what);
  got = expect(&s, ALIVE | EXITERR, 1000, what);
  print_message("  %s: proper guest %s; host made %u good calls, %u corrupt, "
                "%u timeout, %u peer gone\n",
                what, got == ALIVE ? "serves" : "ended with an error", ok,
                err[8], err[9], err[10]);
  sess_end(&s, what);
}

/* A fake guest writes FREE into a slot whose call the host has given up
 * on (quarantined). The host must never hand that slot to two users at
 * once, nor let one call's response be read as another's. Deterministic,
 * one thread: the fake's moves are made by hand between library calls. */
static void quarantined_slot_not_handed_out_twice(void **state)
{
  struct sess s;
  struct shmipc_wire_slot *w;
  shmipc_slot *a, *b, *c;
  uint64_t x = 1;
  uint32_t v;

  (void)state;
  host_create(&s, 1, 0);
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  w = hostile_slot(&s.raw, 0);
  /* call A: the fake takes it and never answers; the host gives up */
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &a), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(a), "AAAA", 4);
  assert_int_equal(shmipc_slot_publish(a, 150, 4, 0), SHMIPC_OK);
  v = hostile_load32(&w->ctrl);
  assert_int_equal(v & 7, SHMIPC_SLOT_REQ_READY);
  assert_int_equal(hostile_cas32(&w->ctrl, v, (v & ~7u) | SHMIPC_SLOT_PROCESSING), v);
  assert_int_equal(shmipc_slot_wait(a, 20 * MS), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(a); /* quarantined until the late answer */
  /* the lie: the fake says FREE instead of answering */
  v = hostile_load32(&w->ctrl);
  hostile_store32(&w->ctrl, (v & ~7u) | SHMIPC_SLOT_FREE);
  /* call B on the (only) slot */
  if (shmipc_slot_acquire(s.h, 50 * MS, &b) != SHMIPC_OK) {
    /* refusing the slot is the safe outcome */
    hostile_guest_detach(&s.raw);
    sess_end(&s, "quarantine");
    return;
  }
  memcpy(shmipc_slot_req_buf(b), "BBBB", 4);
  assert_int_equal(shmipc_slot_publish(b, 150, 4, 0), SHMIPC_OK);
  assert_int_equal(hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100), 0);
  assert_int_equal(shmipc_slot_wait(b, 100 * MS), SHMIPC_OK);
  assert_memory_equal(shmipc_slot_resp_data(b), "BBBB", 4);
  /* B still holds the slot and reads its response. Another acquire must
   * not get the same slot now. */
  if (shmipc_slot_acquire(s.h, 50 * MS, &c) == SHMIPC_OK) {
    char now[8] = "(none)";
    int same = c == b;
    memcpy(shmipc_slot_req_buf(c), "CCCC", 4);
    if (shmipc_slot_publish(c, 150, 4, 0) == SHMIPC_OK &&
        hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100) == 0)
      (void)shmipc_slot_wait(c, 100 * MS);
    if (shmipc_slot_resp_data(b) != NULL)
      snprintf(now, sizeof now, "%.4s", (const char *)shmipc_slot_resp_data(b));
    if (!same)
      shmipc_slot_release(c);
    shmipc_slot_release(b);
    hostile_guest_detach(&s.raw);
    sess_end(&s, "quarantine");
    (void)known("F1", "a slot still held by call B was handed out again (%s "
                "handle); B's response now reads \"%s\" instead of \"BBBB\"",
                same ? "the same" : "another", now);
    return;
  }
  shmipc_slot_release(b);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "quarantine");
}

/* A fake guest makes guest calls whose headers lie; the host's listener
 * answers them with SYSTEM_ERROR and keeps serving. */
static void lying_guest_calls(void **state)
{
  static const struct {
    uint32_t size, flags;
  } bad[] = {
      {CAP + 1, 0},        {0xFFFFFFFFu, 0}, {0x80000000u, 0},
      {CAP + 1, 1},        {4, 0x2},         {4, 0x80000000u},
  };
  struct sess s;
  struct shmipc_wire_slot resp;
  size_t i;
  uint64_t seq = 500;
  uint32_t gs0;

  (void)state;
  host_create(&s, 1, 2);
  gs0 = s.hs;
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  /* garbage on the other guest slot and in the doorbell first */
  hostile_store32(&hostile_slot(&s.raw, gs0 + 1)->ctrl, 0x7u);
  hostile_set_header(&s.raw, "doorbell", 0xFFFFFFFFu);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++, seq++) {
    int r = hostile_request(&s.raw, gs0, 3, bad[i].size, bad[i].flags, seq,
                            "abcd", 4, 3000, &resp);
    if (r != 0)
      fail_msg("guest call size %#x flags %#x: no answer (%d)", bad[i].size,
               bad[i].flags, r);
    if (resp.resp_type != SHMIPC_MSG_SYSTEM_ERROR || resp.resp_seq != seq ||
        resp.resp_size > CAP || resp.resp_flags != 0)
      fail_msg("guest call size %#x flags %#x: answered type %u size %u seq %llu",
               bad[i].size, bad[i].flags, resp.resp_type, resp.resp_size,
               (unsigned long long)resp.resp_seq);
  }
  /* and a good one is served exactly */
  assert_int_equal(hostile_request(&s.raw, gs0, 3, 4, 0, seq, "abcd", 4, 3000, &resp), 0);
  assert_int_equal(resp.resp_type, T_UPPER_TYPE);
  assert_int_equal(resp.resp_size, 4);
  assert_memory_equal(hostile_resp_buf(&s.raw, gs0), "ABCD", 4);
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "lying guest calls");
}

/* ---- A hostile stream sender (docs/PROTOCOL.md, "Streams") ----------
 * Raw stream messages written straight into host slots: lies about
 * offsets, totals, ids and sizes, overlapping rewrites, floods of starts.
 * The guest's receiver must stay inside its limits (its own counters,
 * queried with type 205, and its peak) and may only ever deliver bytes
 * that a well-formed sender would have sent (digests, type 204). */

#define S_MAX_STREAM 4096u
#define S_MAX_TOTAL 8192u
#define S_MAX_STREAMS 3u

static void put_le(uint8_t *p, uint64_t v, int n)
{
  int i;

  for (i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  int i;

  for (i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* One raw stream message on host slot 0; returns the answer's status and
 * state (status -1: no legal answer). */
static void raw_stream(struct sess *s, uint32_t type, uint64_t id,
                       uint64_t total, uint64_t offset, uint32_t app,
                       uint32_t flags, const uint8_t *data, size_t len,
                       uint32_t req_size, int *status, int *state)
{
  static uint64_t seq = 1000;
  uint8_t msg[CAP];
  struct shmipc_wire_slot resp;
  const uint8_t *rb;
  int r;

  put_le(msg, id, 8);
  put_le(msg + 8, total, 8);
  put_le(msg + 16, offset, 8);
  put_le(msg + 24, app, 4);
  put_le(msg + 28, flags, 4);
  if (len > CAP - 32)
    len = CAP - 32;
  if (len > 0)
    memcpy(msg + 32, data, len);
  r = hostile_request(&s->raw, 0, type, req_size ? req_size : 32 + (uint32_t)len,
                      0, ++seq, msg, 32 + len, 3000, &resp);
  *status = *state = -1;
  if (r != 0)
    fail_msg("stream message (type %u id %llu): no answer (%d)", type,
             (unsigned long long)id, r);
  rb = hostile_resp_buf(&s->raw, 0);
  if (resp.resp_type == SHMIPC_MSG_SYSTEM_ERROR)
    return; /* a request the guest library refused before the receiver */
  if (resp.resp_type != type || resp.resp_size != 16 || rb == NULL)
    fail_msg("stream message: answer type %u size %u", resp.resp_type,
             resp.resp_size);
  *status = (int)get_le(rb, 4);
  *state = (int)get_le(rb + 4, 4);
}

/* A query to the echo guest, sent raw on slot 0 like the stream messages
 * (the library host would leave its slot for its own reuse). */
static const uint8_t *raw_query(struct sess *s, uint32_t type, uint64_t arg,
                                uint32_t want_size)
{
  static uint64_t seq = 1u << 30;
  struct shmipc_wire_slot resp;
  uint8_t req[8];

  put_le(req, arg, 8);
  if (hostile_request(&s->raw, 0, type, 8, 0, ++seq, req, 8, 3000, &resp) != 0)
    fail_msg("query %u: no answer", type);
  if (resp.resp_type != type || resp.resp_size != want_size)
    fail_msg("query %u: answer type %u size %u", type, resp.resp_type,
             resp.resp_size);
  return hostile_resp_buf(&s->raw, 0);
}

static void receiver_stats(struct sess *s, uint64_t v[5])
{
  const uint8_t *resp = raw_query(s, 205, 0, 40);
  int i;

  for (i = 0; i < 5; i++)
    v[i] = get_le(resp + 8 * i, 8);
  if (v[2] > S_MAX_TOTAL || v[1] > S_MAX_TOTAL || v[0] > S_MAX_STREAMS)
    fail_msg("receiver past its bounds: open %llu reserved %llu peak %llu",
             (unsigned long long)v[0], (unsigned long long)v[1],
             (unsigned long long)v[2]);
}

/* Deliveries of @id (type 204): count, and the digest in @sha. */
static uint32_t delivered(struct sess *s, uint64_t id, uint8_t sha[32])
{
  const uint8_t *resp = raw_query(s, 204, id, 48);

  memcpy(sha, resp + 16, 32);
  return (uint32_t)get_le(resp + 12, 4);
}

static void pattern(uint8_t *p, size_t len, uint64_t off, uint64_t id)
{
  size_t i;

  for (i = 0; i < len; i++)
    p[i] = (uint8_t)((off + i) * 131 + id * 17 + 7);
}

static void hostile_stream_sender(void **state)
{
  char mt[24], mts[24], ms[24];
  const char *argv[] = {guest_path, NULL, NULL, "-timeout-ms", "10000",
                        "-stream-max-stream", ms, "-stream-max-total", mt,
                        "-stream-max-streams", mts, "-stream-max-parked", "2",
                        "-stream-idle-ms", "300", NULL};
  struct sess s;
  uint8_t data[CAP], want[32], got[32], all[2 * 200];
  uint64_t x = 0x5EED5EED, v[5], tot[7] = {0};
  int st, sa, i;
  uint64_t id;

  (void)state;
  snprintf(ms, sizeof ms, "%u", S_MAX_STREAM);
  snprintf(mt, sizeof mt, "%u", S_MAX_TOTAL);
  snprintf(mts, sizeof mts, "%u", S_MAX_STREAMS);
  host_create(&s, 2, 0);
  argv[1] = "-name";
  argv[2] = s.name;
  child_spawn(&s.g, argv);
  assert_int_equal(shmipc_host_wait_guest(s.h, 10000 * MS), SHMIPC_OK);

  /* 1. Overlap: a second copy of bytes already taken must not replace
   * them; the stream is dropped and never delivered. */
  pattern(all, sizeof all, 0, 7);
  raw_stream(&s, 4, 7, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  raw_stream(&s, 5, 7, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  memset(data, 0xAA, sizeof data);
  raw_stream(&s, 5, 7, 400, 100, 300, 0, data, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_OVERLAP && sa == 3);
  raw_stream(&s, 5, 7, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_UNKNOWN && sa == 0);
  assert_int_equal(delivered(&s, 7, got), 0);

  /* 2. The same stream, well formed but out of order, is delivered once
   * with exactly its bytes; a rewrite after completion changes nothing. */
  raw_stream(&s, 4, 8, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  pattern(all, sizeof all, 0, 8);
  raw_stream(&s, 5, 8, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  raw_stream(&s, 5, 8, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 2);
  raw_stream(&s, 5, 8, 400, 0, 300, 0, data, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_UNKNOWN);
  /* The reference: stream 8's bytes sent again as stream 9, in order; the
   * guest's digest of it is what stream 8's must equal. */
  raw_stream(&s, 4, 9, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  raw_stream(&s, 5, 9, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  raw_stream(&s, 5, 9, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 2);
  assert_int_equal(delivered(&s, 8, got), 1);
  assert_int_equal(delivered(&s, 9, want), 1);
  assert_memory_equal(got, want, 32);

  /* 3. A flood of lies: random starts, chunks, totals, offsets, flags,
   * request sizes. The bounds hold throughout. */
  for (i = 0; i < 3000; i++) {
    uint64_t r = hostile_rand(&x), total, off;
    uint32_t type = (r & 3) == 0 ? 4 : 5, req_size = 0, flags = 0, app = 300;
    size_t len = (size_t)(hostile_rand(&x) % (CAP - 31));
    bool honest = (r >> 4) % 10 < 7;

    id = 1 + (r >> 8) % 6;
    switch ((r >> 12) % 5) {
    case 0: total = hostile_rand(&x); break; /* anything */
    case 1: total = S_MAX_STREAM; break;
    default: total = (r >> 16) % 3000; break;
    }
    off = (r >> 32) % 5 == 0 ? hostile_rand(&x) : (r >> 40) % 3000;
    if (type == 4 && honest) {
      len = 0;
      off = 0;
    } else if (type == 5 && honest && tot[id] > 0) {
      total = tot[id];
      off = (r >> 40) % tot[id];
      if (len == 0)
        len = 1;
    }
    if ((r >> 28) % 50 == 0)
      req_size = (uint32_t)hostile_rand(&x); /* past the capacity */
    if ((r >> 34) % 40 == 0)
      flags = (uint32_t)(r >> 50) & 3;
    if ((r >> 36) % 30 == 0)
      app = 301;
    hostile_random_bytes(data, len, &x);
    raw_stream(&s, type, id, total, off, app, flags, data, len, req_size, &st,
               &sa);
    if (st > (int)SHMIPC_STREAM_REFUSED || sa > 3)
      fail_msg("message %d: illegal answer %d/%d", i, st, sa);
    if (type == 4 && st == 0 && sa == 1)
      tot[id] = total;
    if (i % 250 == 0)
      receiver_stats(&s, v);
  }
  receiver_stats(&s, v);
  /* idle streams are swept by the next stream message after 300 ms */
  t_sleep_ms(400);
  raw_stream(&s, 5, 99, 1, 0, 300, 0, data, 1, 0, &st, &sa);
  assert_int_equal(st, SHMIPC_STREAM_UNKNOWN);
  receiver_stats(&s, v);
  assert_int_equal(v[0], 0);
  assert_int_equal(v[1], 0);
  printf("hostile streams: peak %llu of %u bytes, %llu delivered, %llu dropped\n",
         (unsigned long long)v[2], S_MAX_TOTAL, (unsigned long long)v[3],
         (unsigned long long)v[4]);
  /* and the guest still serves */
  assert_int_equal(ping(&s, 1000 * MS), SHMIPC_OK);
  sess_end(&s, "hostile stream sender");
}

int main(int argc, char **argv)
{
  const struct CMUnitTest hostile_host[] = {
      cmocka_unit_test(ctrl_illegal_ends_guest),
      cmocka_unit_test(ctrl_changed_while_guest_processes),
      cmocka_unit_test(bad_requests_answered_with_error),
      cmocka_unit_test(lying_answers_to_guest_calls),
      cmocka_unit_test(header_garbage_after_attach),
      cmocka_unit_test(host_state_and_nonce_garbage),
      cmocka_unit_test(attach_word_garbage),
      cmocka_unit_test(doorbell_garbage),
      cmocka_unit_test(random_slot_headers),
      cmocka_unit_test(flood_while_calling),
      cmocka_unit_test(truncated_segment_at_attach),
      cmocka_unit_test(hostile_stream_sender),
  };
  const struct CMUnitTest hostile_guest[] = {
      cmocka_unit_test(lying_guest),
      cmocka_unit_test(garbage_left_behind),
      cmocka_unit_test(quarantined_slot_not_handed_out_twice),
      cmocka_unit_test(lying_guest_calls),
  };
  const char *groups;
  struct stat st;
  char title[256];
  int i, fails = 0;

  if (argc != 3) {
    fprintf(stderr, "usage: %s SHMIPC-HOSTILE GUEST-BINARY\n", argv[0]);
    return 2;
  }
  tool_path = argv[1];
  guest_path = argv[2];
  for (i = 1; i < 3; i++) {
    if (stat(argv[i], &st) != 0 || !(st.st_mode & S_IXUSR))
      return t_cannot_run("binary %s is missing", argv[i]);
  }
  signal(SIGPIPE, SIG_IGN);
  /* HOSTILE_GROUPS=host or =guest runs one half only */
  groups = getenv("HOSTILE_GROUPS");
  if (groups == NULL || strcmp(groups, "guest") != 0) {
    snprintf(title, sizeof title, "hostile host vs %s", guest_path);
    fails += cmocka_run_group_tests_name(title, hostile_host, NULL, NULL);
  }
  if (groups == NULL || strcmp(groups, "host") != 0) {
    snprintf(title, sizeof title, "hostile guest, then %s", guest_path);
    fails += cmocka_run_group_tests_name(title, hostile_guest, NULL, NULL);
  }
  /* A failed test skips its host's destroy: remove what it left. */
  for (i = 0; i < sessions; i++) {
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/shmipc-hostile-%d-%d", (int)getpid(), i);
    (void)unlink(path);
  }
  return fails != 0;
}
