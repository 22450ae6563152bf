/* SPDX-License-Identifier: MIT */
/*
 * The host that tests/stat/test_stat.py looks at with shmipc-stat:
 *
 *   stat-host NAME GUEST   scripted traffic with the echo guest GUEST
 *                          (tests/ECHO_GUEST.md), then commands on stdin
 *   stat-host --crash NAME create a host and die without destroying it,
 *                          leaving a dead host's segment
 *
 * After its traffic it prints "traffic" and its own shmipc_host_stats() as
 * JSON, then obeys one command a line: "block MS" (a call that the guest
 * holds MS ms in its handler, in a thread: prints "blocking"), "join"
 * (that call's end: "joined CODE"), "replace" (replace_guest():
 * "replaced" and the stats),
 * "stats", "exit". Every
 * wait is bounded; anything unexpected exits 1 with a message.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "handlers.h"
#include "proc.h"

#define MS INT64_C(1000000)
#define CAP 4096u

/* The traffic's figures, which the test checks against shmipc-stat. */
enum {
  N_ECHO = 20,
  N_LATE = 2,
  STREAM_LEN = 2500,
  STREAM_CHUNK = 1000,
  N_AFTER_REPLACE = 5,
};

static shmipc_host *h;
static const char *guest_path;
static const char *name;
static struct proc guest;

static void die(const char *what, int r)
{
  fprintf(stderr, "stat-host: %s: %d %s (%s)\n", what, r, shmipc_strerror(r),
          shmipc_last_error());
  if (guest.id != 0)
    proc_kill(&guest);
  exit(1);
}

static void start_guest(void)
{
  const char *argv[] = {guest_path,    "-name", name,
                        "-timeout-ms", "10000", NULL};
  int r;

  /* captured: its "ready" is not ours to print */
  if (proc_spawn(&guest, argv, PROC_CAPTURE) != 0)
    die("starting the guest", -1);
  r = shmipc_host_wait_guest(h, 10000 * MS);
  if (r != SHMIPC_OK)
    die("waiting for the guest", r);
}

static int call(uint32_t type, const void *req, size_t len, int64_t timeout)
{
  char resp[CAP];
  size_t n;
  uint32_t t;

  return shmipc_host_call(h, type, req, len, resp, sizeof resp, &n, &t,
                          timeout);
}

static void echo_calls(int n)
{
  char req[64];
  int i, r;

  memset(req, 'x', sizeof req);
  for (i = 0; i < n; i++)
    if ((r = call(SHMIPC_MSG_APP_START + 2, req, sizeof req, 5000 * MS)) != 0)
      die("echo call", r);
}

/* A request of type 201: the guest sleeps @ms in its handler, then
 * echoes. */
static int late_call(uint32_t ms, int64_t timeout)
{
  unsigned char req[4] = {(unsigned char)ms, (unsigned char)(ms >> 8),
                          (unsigned char)(ms >> 16), (unsigned char)(ms >> 24)};

  return call(201, req, sizeof req, timeout);
}

static void print_stats(const char *tag)
{
  shmipc_stats st = SHMIPC_STATS_INIT;
  int r = shmipc_host_stats(h, &st);

  if (r != SHMIPC_OK)
    die("shmipc_host_stats", r);
  printf("%s {\"calls\": %" PRIu64 ", \"answered\": %" PRIu64
         ", \"timeouts\": %" PRIu64 ", \"cancels\": %" PRIu64
         ", \"quarantined\": %" PRIu64 ", \"late_dropped\": %" PRIu64
         ", \"recovered\": %" PRIu64 ", \"peer_gone\": %" PRIu64
         ", \"remote\": %" PRIu64 ", \"corrupt\": %" PRIu64
         ", \"served\": %" PRIu64 ", \"served_errors\": %" PRIu64
         ", \"stream_chunks\": %" PRIu64 ", \"stream_bytes\": %" PRIu64
         ", \"stream_drops\": %" PRIu64 ", \"attaches\": %" PRIu64
         ", \"epoch\": %u, \"pid\": %u}\n",
         tag, st.calls, st.answered, st.timeouts, st.cancels, st.quarantined,
         st.late_dropped, st.recovered, st.peer_gone, st.remote, st.corrupt,
         st.served, st.served_errors, st.stream_chunks, st.stream_bytes,
         st.stream_drops, st.attaches, st.epoch, proc_self_id());
  fflush(stdout);
}

static void traffic(void)
{
  shmipc_stream_sender *snd;
  shmipc_stream_config sc;
  shmipc_slot *held[4];
  static char data[STREAM_LEN];
  int i, r;

  echo_calls(N_ECHO);
  if ((r = call(200, "x", 1, 5000 * MS)) != SHMIPC_E_REMOTE)
    die("handler failure call", r);
  /* Timeouts while the guest holds the request: the slots are
   * quarantined until the late answers come, and the claims below drop
   * them. */
  for (i = 0; i < N_LATE; i++)
    if ((r = late_call(400, 50 * MS)) != SHMIPC_E_TIMEOUT)
      die("late call", r);
  t_sleep_ms(800);
  for (i = 0; i < 4; i++)
    if ((r = shmipc_slot_acquire(h, 2000 * MS, &held[i])) != SHMIPC_OK)
      die("acquiring every slot", r);
  for (i = 0; i < 4; i++)
    shmipc_slot_release(held[i]);
  /* A guest call, answered by the listener. */
  if ((r = call(202, "ping", 4, 5000 * MS)) != SHMIPC_OK)
    die("guest call", r);
  /* A stream: a start and three chunks. */
  shmipc_stream_config_init(&sc);
  sc.chunk_size = STREAM_CHUNK;
  sc.depth = 1;
  if ((r = shmipc_stream_sender_create(h, &sc, &snd)) != SHMIPC_OK)
    die("stream sender", r);
  memset(data, 's', sizeof data);
  if ((r = shmipc_stream_send(snd, SHMIPC_MSG_APP_START, data, sizeof data,
                              5000 * MS, NULL)) != SHMIPC_OK)
    die("stream", r);
  shmipc_stream_sender_destroy(snd);
}

struct blocked {
  uint32_t ms;
  int r;
};

static void *block_main(void *arg)
{
  struct blocked *b = arg;

  b->r = late_call(b->ms, 10000 * MS);
  return NULL;
}

/* Kill the guest in the middle of two calls (on two slots): both end
 * PEER_GONE with their slots quarantined. Before a new guest attaches, a
 * claim of every slot frees one of them (nobody can answer it: recovered)
 * and leaves the other, which the new guest answers at attach
 * (SYSTEM_ERROR); a claim of every slot after the new guest's calls drops
 * that late answer. */
static void replace_guest(void)
{
  struct blocked two[2] = {{5000, 0}, {5000, 0}};
  pthread_t t[2];
  shmipc_slot *held[4];
  int i, r;

  for (i = 0; i < 2; i++) {
    if (pthread_create(&t[i], NULL, block_main, &two[i]) != 0)
      die("starting a call to kill the guest in", -1);
    t_sleep_ms(150);
  }
  t_sleep_ms(150);
  proc_kill(&guest);
  (void)proc_wait(&guest, 5000, NULL);
  for (i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    if (two[i].r != SHMIPC_E_PEER_GONE)
      die("a call the guest died in", two[i].r);
  }
  for (i = 0; i < 3; i++)
    if ((r = shmipc_slot_acquire(h, 2000 * MS, &held[i])) != SHMIPC_OK)
      die("acquiring three slots with no guest", r);
  for (i = 0; i < 3; i++)
    shmipc_slot_release(held[i]);
  start_guest();
  echo_calls(N_AFTER_REPLACE);
  for (i = 0; i < 4; i++)
    if ((r = shmipc_slot_acquire(h, 2000 * MS, &held[i])) != SHMIPC_OK)
      die("acquiring every slot", r);
  for (i = 0; i < 4; i++)
    shmipc_slot_release(held[i]);
}

int main(int argc, char **argv)
{
  shmipc_host_config c;
  pthread_t blocker;
  bool blocking = false;
  struct blocked b = {0, 0};
  char line[128];
  int r;

  if (argc == 3 && strcmp(argv[1], "--crash") == 0) {
    shmipc_host_config_init(&c);
    c.name = argv[2];
    if ((r = shmipc_host_create(&c, &h)) != SHMIPC_OK)
      die("creating the host", r);
    printf("created %u\n", proc_self_id());
    fflush(stdout);
    _Exit(0); /* no destroy: the segment stays, its host lock goes */
  }
  if (argc != 3) {
    fprintf(stderr, "usage: stat-host NAME GUEST | stat-host --crash NAME\n");
    return 2;
  }
  name = argv[1];
  guest_path = argv[2];
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 4;
  c.guest_slots = 2;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  if ((r = shmipc_host_create(&c, &h)) != SHMIPC_OK)
    die("creating the host", r);
  if ((r = shmipc_host_listen_start(h, t_echo, NULL)) != SHMIPC_OK)
    die("starting the listener", r);
  start_guest();
  traffic();
  print_stats("traffic");

  while (fgets(line, sizeof line, stdin) != NULL) {
    unsigned ms;

    if (sscanf(line, "block %u", &ms) == 1) {
      b.ms = ms;
      if (pthread_create(&blocker, NULL, block_main, &b) != 0)
        die("starting the blocked call", -1);
      blocking = true;
      t_sleep_ms(100);
      printf("blocking\n");
    } else if (strncmp(line, "join", 4) == 0 && blocking) {
      pthread_join(blocker, NULL);
      blocking = false;
      printf("joined %d\n", b.r);
    } else if (strncmp(line, "replace", 7) == 0 && !blocking) {
      replace_guest();
      print_stats("replaced");
    } else if (strncmp(line, "stats", 5) == 0) {
      print_stats("stats");
    } else if (strncmp(line, "exit", 4) == 0) {
      break;
    } else {
      fprintf(stderr, "stat-host: unknown command %s", line);
      break;
    }
    fflush(stdout);
  }
  if (blocking)
    pthread_join(blocker, NULL);
  (void)shmipc_host_listen_stop(h);
  shmipc_host_destroy(h);
  (void)proc_wait(&guest, 10000, NULL);
  printf("done\n");
  return 0;
}
