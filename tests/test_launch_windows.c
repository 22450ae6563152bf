/* SPDX-License-Identifier: MIT */
/*
 * The launcher on Windows (docs/PROTOCOL.md, "Windows", "Launched
 * guests"), against each echo guest given on the command line: a host
 * over an unnamed mapping launches the guest, which attaches through the
 * inherited handles; calls, guest calls and a stream work; the guest killed
 * during a call is PEER_GONE and its exit code comes back; it is launched
 * again; the host's close ends it with code 0; the host process killed takes
 * the child with it (the job object), median and worst of 20, also a child that
 * is no guest (which only the job object ends); a guest not launched says so.
 *
 * usage: test-launch-windows GUEST...
 *        test-launch-windows --host GUEST FILE   (internal: a launching
 *                                                 host that writes its
 *                                                 child's pid to FILE and
 *                                                 waits to be killed)
 */
#include <windows.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"

#define MS T_MS
#define ROUNDS 20
#define LIVENESS_MS 50
#define KILLED_CODE 137
#define T_DELAY 201
#define T_GUEST_CALL 202

static char self_path[MAX_PATH];
static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " (last error: %s)\n", shmipc_last_error());             \
      failures++;                                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

static shmipc_host *anon_host(void)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&cfg);
  cfg.guest_slots = 2;
  cfg.liveness_interval_ns = LIVENESS_MS * MS;
  if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_OK)
    fprintf(stderr, "create: %s\n", shmipc_last_error());
  return h;
}

static int start(shmipc_host *h, const char *guest, shmipc_child **c)
{
  const char *argv[] = {guest, "-inherited", NULL};
  shmipc_launch_config lc;

  shmipc_launch_config_init(&lc);
  lc.path = guest;
  lc.argv = argv;
  if (shmipc_host_launch(h, &lc, c) != SHMIPC_OK)
    return -1;
  return shmipc_host_wait_guest(h, 10000 * MS);
}

static int echo(shmipc_host *h)
{
  char resp[16];
  size_t n = 0;
  uint32_t t = 0;
  int r =
      shmipc_host_call(h, 130, "ping", 4, resp, sizeof resp, &n, &t, 5000 * MS);

  return r == SHMIPC_OK && n == 4 && memcmp(resp, "ping", 4) == 0 ? 0 : -1;
}

/* The host's answer to the guest calls that T_GUEST_CALL makes. */
static int upper(void *user, uint32_t type, const void *req, size_t req_len,
                 void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type)
{
  size_t i;

  (void)user;
  (void)type;
  if (req_len > resp_cap)
    return -1;
  for (i = 0; i < req_len; i++) {
    char ch = ((const char *)req)[i];
    ((char *)resp)[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
  }
  *resp_len = req_len;
  *resp_type = SHMIPC_MSG_NORMAL;
  return 0;
}

/* A guest call through the guest, and a 1 MiB stream to it. */
static void guest_call_and_stream(shmipc_host *h)
{
  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  shmipc_stream_sender *snd = NULL;
  char resp[16];
  size_t n = 0, i;
  uint32_t t = 0;
  uint8_t *data;
  int r;

  CHECK(shmipc_host_call(h, T_GUEST_CALL, "hello", 5, resp, sizeof resp, &n, &t,
                         5000 * MS) == SHMIPC_OK &&
            n == 5 && memcmp(resp, "HELLO", 5) == 0,
        "guest call through the guest");
  data = malloc(1 << 20);
  CHECK(data != NULL, "malloc");
  for (i = 0; i < 1u << 20; i++)
    data[i] = (uint8_t)(i * 7);
  CHECK(shmipc_stream_sender_create(h, NULL, &snd) == SHMIPC_OK, "sender");
  r = shmipc_stream_send(snd, 140, data, 1 << 20, 10000 * MS, &res);
  shmipc_stream_sender_destroy(snd);
  free(data);
  CHECK(r == SHMIPC_OK, "a 1 MiB stream");
}

static void calls_kill_restart(const char *guest)
{
  shmipc_child_exit ex = {sizeof ex, 99, 99};
  uint32_t delay_ms = 10000;
  shmipc_host *h = anon_host();
  shmipc_child *c = NULL;
  shmipc_slot *s = NULL;
  int64_t t0, took;
  int round;

  CHECK(h != NULL, "anonymous host");
  CHECK(shmipc_host_listen_start(h, upper, NULL) == SHMIPC_OK, "listener");
  for (round = 0; round < 2; round++) {
    CHECK(start(h, guest, &c) == SHMIPC_OK, "launching %s", guest);
    CHECK(echo(h) == 0, "call over the inherited segment");
    if (round == 0) {
      int before = failures;
      guest_call_and_stream(h);
      CHECK(failures == before, "guest call and stream");
    }
    CHECK(shmipc_slot_acquire(h, 1000 * MS, &s) == SHMIPC_OK, "slot");
    memcpy(shmipc_slot_req_buf(s), &delay_ms, 4);
    CHECK(shmipc_slot_publish(s, T_DELAY, 4, 0) == SHMIPC_OK, "publish");
    t_sleep_ms(50);
    t0 = t_now_ns();
    CHECK(shmipc_child_kill(c) == SHMIPC_OK, "kill");
    CHECK(shmipc_slot_wait(s, 10000 * MS) == SHMIPC_E_PEER_GONE,
          "PEER_GONE after the kill");
    took = t_now_ns() - t0;
    shmipc_slot_release(s);
    printf("%s round %d: PEER_GONE %.1f ms after the kill\n", guest, round,
           t_ms(took));
    CHECK(took < (int64_t)(20 * LIVENESS_MS + 1000) * t_time_scale() * MS,
          "PEER_GONE took %.1f ms", t_ms(took));
    CHECK(shmipc_child_wait(c, 5000 * MS, &ex) == SHMIPC_OK, "wait");
    CHECK(ex.signal == 0 && ex.code == KILLED_CODE, "exit code %lld",
          (long long)ex.code);
    shmipc_child_destroy(c);
  }
  CHECK(start(h, guest, &c) == SHMIPC_OK, "launching %s again", guest);
  CHECK(echo(h) == 0, "call after the restarts");
  shmipc_host_destroy(h);
  CHECK(shmipc_child_wait(c, 5000 * MS, &ex) == SHMIPC_OK, "wait");
  CHECK(ex.signal == 0 && ex.code == 0, "exit code %lld after the close",
        (long long)ex.code);
  shmipc_child_destroy(c);
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void host_killed(const char *guest)
{
  char file[MAX_PATH];
  const char *argv[] = {self_path, "--host", guest, file, NULL};
  int64_t took[ROUNDS], t0;
  struct proc p;
  unsigned long pid;
  HANDLE child;
  DWORD w;
  FILE *f;
  int round, got, k;

  snprintf(file, sizeof file, "launch-host-%lu.pid",
           (unsigned long)GetCurrentProcessId());
  for (round = 0; round < ROUNDS; round++) {
    DeleteFileA(file);
    memset(&p, 0, sizeof p);
    CHECK(proc_spawn(&p, argv, 0) == 0, "spawning the launching host");
    for (got = 0, k = 0; !got && k < 1500; k++) {
      f = fopen(file, "r");
      if (f != NULL) {
        got = fscanf(f, "%lu\n", &pid) == 1;
        fclose(f);
      }
      if (!got)
        Sleep(10);
    }
    CHECK(got, "the launching host wrote no pid in 15 s");
    child = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    CHECK(child != NULL, "OpenProcess(%lu): error %lu", pid,
          (unsigned long)GetLastError());
    t0 = t_now_ns();
    proc_kill(&p);
    w = WaitForSingleObject(child, 5000 * (DWORD)t_time_scale());
    took[round] = t_now_ns() - t0;
    CloseHandle(child);
    proc_wait(&p, 5000, NULL);
    CHECK(w == WAIT_OBJECT_0,
          "round %d: child %lu runs %.0f ms after its "
          "host was killed",
          round, pid, t_ms(took[round]));
  }
  DeleteFileA(file);
  qsort(took, ROUNDS, sizeof took[0], cmp64);
  printf("%s: child gone after the host was killed: median %.3f ms, worst "
         "%.3f ms of %d\n",
         guest, t_ms(took[ROUNDS / 2]), t_ms(took[ROUNDS - 1]), ROUNDS);
}

static void not_launched(void)
{
  shmipc_guest_config gc;
  shmipc_guest *g = NULL;

  SetEnvironmentVariableA(SHMIPC_ENV_FD, NULL);
  _putenv(SHMIPC_ENV_FD "=");
  shmipc_guest_config_init(&gc);
  gc.flags = SHMIPC_GUEST_F_INHERITED;
  CHECK(shmipc_guest_attach(&gc, &g) == SHMIPC_E_NOT_FOUND && g == NULL,
        "attach without SHMIPC_FD");
  CHECK(strstr(shmipc_last_error(), "SHMIPC_FD is not set") != NULL, "text");
}

/* GUEST "sleep": this program sleeping, no guest at all, which only the
 * job object ends. */
/* Launch this program with @mode ("--exit3", "--sleep"), unattached. */
static int launch_self(shmipc_host *h, const char *mode, shmipc_child **c)
{
  const char *argv[] = {self_path, mode, NULL};
  shmipc_launch_config lc;

  shmipc_launch_config_init(&lc);
  lc.path = self_path;
  lc.argv = argv;
  return shmipc_host_launch(h, &lc, c);
}

/* wait_guest ends with PEER_GONE once the guest launched last has ended,
 * and waits for one that runs (test_launch.c has the Linux form). */
static void wait_guest_child_ended(void)
{
  const int64_t bound =
      (int64_t)(20 * LIVENESS_MS + 1000) * t_time_scale() * MS;
  shmipc_child_exit ex = {sizeof ex, 99, 99};
  shmipc_host *h = anon_host();
  shmipc_child *c = NULL;
  int64_t t0, took;

  CHECK(h != NULL, "anonymous host");
  CHECK(launch_self(h, "--exit3", &c) == SHMIPC_OK, "launch --exit3");
  t0 = t_now_ns();
  CHECK(shmipc_host_wait_guest(h, 20000 * MS) == SHMIPC_E_PEER_GONE,
        "PEER_GONE for a guest that exits at once");
  took = t_now_ns() - t0;
  printf("wait_guest: PEER_GONE %.1f ms after the launch of a guest that "
         "exits at once: %s\n",
         t_ms(took), shmipc_last_error());
  CHECK(took <= bound, "PEER_GONE took %.1f ms", t_ms(took));
  CHECK(strstr(shmipc_last_error(), "launched last") != NULL, "the reason");
  CHECK(shmipc_child_wait(c, 5000 * MS, &ex) == SHMIPC_OK, "wait");
  CHECK(ex.signal == 0 && ex.code == 3, "exit code %lld", (long long)ex.code);
  shmipc_child_destroy(c);

  CHECK(launch_self(h, "--sleep", &c) == SHMIPC_OK, "launch --sleep");
  t0 = t_now_ns();
  CHECK(shmipc_host_wait_guest(h, 300 * MS) == SHMIPC_E_TIMEOUT,
        "a running child is waited for");
  CHECK(t_now_ns() - t0 >= 300 * MS, "the whole timeout");
  CHECK(shmipc_child_kill(c) == SHMIPC_OK, "kill");
  t0 = t_now_ns();
  CHECK(shmipc_host_wait_guest(h, 20000 * MS) == SHMIPC_E_PEER_GONE,
        "PEER_GONE after the kill");
  took = t_now_ns() - t0;
  CHECK(took <= bound, "PEER_GONE took %.1f ms after the kill", t_ms(took));
  shmipc_child_destroy(c);
  shmipc_host_destroy(h);
}

static int launching_host(const char *guest, const char *file)
{
  const char *argv[] = {self_path, "--sleep", NULL};
  shmipc_launch_config lc;
  shmipc_host *h = anon_host();
  shmipc_child *c = NULL;
  FILE *f;
  int r;

  if (h != NULL && strcmp(guest, "sleep") == 0) {
    shmipc_launch_config_init(&lc);
    lc.path = self_path;
    lc.argv = argv;
    r = shmipc_host_launch(h, &lc, &c);
  } else {
    r = h != NULL ? start(h, guest, &c) : -1;
  }
  if (r != SHMIPC_OK) {
    fprintf(stderr, "launching host: %s\n", shmipc_last_error());
    return 1;
  }
  f = fopen(file, "w");
  if (f == NULL)
    return 1;
  fprintf(f, "%lld\n", (long long)shmipc_child_pid(c));
  fclose(f);
  Sleep(60000);
  return 1;
}

int main(int argc, char **argv)
{
  int k;

  if (argc == 2 && strcmp(argv[1], "--sleep") == 0) {
    Sleep(60000);
    return 1;
  }
  if (argc == 2 && strcmp(argv[1], "--exit3") == 0)
    return 3;
  if (proc_self_path(self_path, sizeof self_path) != 0)
    return 1;
  if (argc == 4 && strcmp(argv[1], "--host") == 0)
    return launching_host(argv[2], argv[3]);
  if (argc < 2) {
    fprintf(stderr, "usage: %s GUEST...\n", argv[0]);
    return 2;
  }
  not_launched();
  wait_guest_child_ended();
  host_killed("sleep");
  for (k = 1; k < argc; k++) {
    calls_kill_restart(argv[k]);
    host_killed(argv[k]);
  }
  printf("%s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
