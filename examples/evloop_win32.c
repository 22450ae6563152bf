/* SPDX-License-Identifier: MIT */
/*
 * evloop_win32: a single-threaded host in a Win32 message loop keeps four
 * calls in flight and serves the guest's calls from the same loop.
 *
 *   evloop_win32 [NAME]
 *   evloop_win32 --launch GUEST [ARG...]
 *
 * Creates the segment NAME (default "MyIPC") and waits for an echo guest
 * (`shmipc-echo -name NAME`, or the C one: tests/ECHO_GUEST.md); or, with
 * --launch, starts the echo guest GUEST itself over an unnamed segment
 * (`evloop_win32 --launch shmipc-echo.exe -inherited`). Then one
 * thread makes 1000 calls, four in flight at any time, without ever
 * blocking on one: every fourth call is of type 202, for which the echo
 * guest calls the host back (type 3) and answers with what the host
 * answered, so the loop serves guest calls too. The loop sleeps in
 * MsgWaitForMultipleObjects() on the host's event handle and on the
 * thread's message queue, where a 10 ms timer (SetTimer()) posts
 * WM_TIMER (a window's messages would come the same way), after
 * announcing that it sleeps (shmipc_host_event_arm()). It prints
 * "evloop_win32: ok" and exits 0 when every answer was its own request's.
 *
 * Build (MinGW-w64):  x86_64-w64-mingw32-gcc evloop_win32.c -lshmipc
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include <shmipc/shmipc.h>

#define CALLS 1000u
#define IN_FLIGHT 4u
#define T_ECHO 130u     /* an application type: echoed */
#define T_CALLBACK 202u /* the echo guest calls the host back */
#define SEC INT64_C(1000000000)

/* Guest calls: answer each byte XOR 0x5A. */
static int on_guest_call(void *user, uint32_t type, const void *req,
                         size_t req_len, void *resp, size_t resp_cap,
                         size_t *resp_len, uint32_t *resp_type)
{
  const uint8_t *in = req;
  uint8_t *out = resp;
  size_t i;

  (*(unsigned *)user)++;
  if (req_len > resp_cap)
    return -1;
  for (i = 0; i < req_len; i++)
    out[i] = in[i] ^ 0x5A;
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

/* The type of call number @n. */
static uint32_t type_of(uint32_t n) { return n % 4 == 3 ? T_CALLBACK : T_ECHO; }

/* Acquire a slot and publish call number @n on it. */
static int send_one(shmipc_host *h, uint32_t n, shmipc_slot **out)
{
  int r = shmipc_slot_acquire(h, 5 * SEC, out);

  if (r != SHMIPC_OK)
    return r;
  memcpy(shmipc_slot_req_buf(*out), &n, sizeof n);
  return shmipc_slot_publish(*out, type_of(n), sizeof n, 0);
}

/* Whether the answer in @s is the one to call number @n. */
static int answer_ok(shmipc_slot *s, uint32_t n)
{
  uint32_t want = n, got;

  if (shmipc_slot_resp_size(s) != sizeof got ||
      shmipc_slot_resp_type(s) != type_of(n))
    return 0;
  if (type_of(n) == T_CALLBACK)
    want ^= 0x5A5A5A5Au;
  memcpy(&got, shmipc_slot_resp_data(s), sizeof got);
  return got == want;
}

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  shmipc_host *h;
  shmipc_slot *slots[IN_FLIGHT];
  uint32_t sent[IN_FLIGHT], next = 0;
  unsigned done = 0, served = 0, ticks = 0, sleeps = 0;
  shmipc_launch_config lc;
  shmipc_child *child = NULL;
  int launch = argc > 2 && strcmp(argv[1], "--launch") == 0;
  intptr_t fd;
  HANDLE ev;
  UINT_PTR timer = 0;
  DWORD w;
  MSG msg;
  size_t i, live = 0;
  int r;

  shmipc_host_config_init(&cfg);
  cfg.name = argc > 1 && !launch ? argv[1] : "MyIPC";
  cfg.host_slots = IN_FLIGHT;
  cfg.guest_slots = 2;
  if (launch) {
    shmipc_launch_config_init(&lc);
    lc.path = argv[2];
    lc.argv = (const char *const *)&argv[2];
  }
  if ((r = launch ? shmipc_host_create_anonymous(&cfg, &h)
                  : shmipc_host_create(&cfg, &h)) != SHMIPC_OK ||
      (launch && (r = shmipc_host_launch(h, &lc, &child)) != SHMIPC_OK) ||
      (r = shmipc_host_wait_guest(h, 5 * SEC)) != SHMIPC_OK ||
      (r = shmipc_host_event_handle(h, &fd)) != SHMIPC_OK) {
    fprintf(stderr, "evloop_win32: %s\n", shmipc_last_error());
    shmipc_host_destroy(h);
    shmipc_child_destroy(child);
    return 1;
  }
  /* The loop's sources: the host's handle and the message queue, where a
   * timer posts WM_TIMER. */
  ev = (HANDLE)fd;
  if ((timer = SetTimer(NULL, 0, 10, NULL)) == 0) {
    fprintf(stderr, "evloop_win32: SetTimer: error %lu\n",
            (unsigned long)GetLastError());
    r = SHMIPC_E_SYSTEM;
    goto fail;
  }
  for (i = 0; i < IN_FLIGHT; i++, live++) {
    sent[i] = next++;
    if ((r = send_one(h, sent[i], &slots[i])) != SHMIPC_OK)
      goto fail;
  }
  while (live > 0) {
    /* Look without blocking: the calls in flight, then the guest's. */
    for (i = 0; i < live;) {
      if ((r = shmipc_slot_poll(slots[i])) == 0) {
        i++;
        continue;
      }
      if (r != 1 || !answer_ok(slots[i], sent[i]))
        goto fail;
      shmipc_slot_release(slots[i]);
      done++;
      if (next < CALLS) { /* the next call takes its place */
        sent[i] = next++;
        if ((r = send_one(h, sent[i], &slots[i])) != SHMIPC_OK)
          goto fail;
        i++;
      } else {
        live--;
        slots[i] = slots[live];
        sent[i] = sent[live];
      }
    }
    r = shmipc_host_serve(h, on_guest_call, &served, 0);
    if (r < 0 && r != SHMIPC_E_TIMEOUT)
      goto fail;
    /* Announce the sleep; 1 means something is ready: look again. */
    if ((r = shmipc_host_event_arm(h, slots, live, 0)) == 1)
      continue;
    if (r != 0)
      goto fail;
    sleeps++;
    w = MsgWaitForMultipleObjects(1, &ev, FALSE, 5000, QS_ALLINPUT);
    if (w == WAIT_OBJECT_0) {
      if ((r = shmipc_host_event_clear(h)) != SHMIPC_OK)
        goto fail;
    } else if (w == WAIT_OBJECT_0 + 1) {
      while (PeekMessageW(&msg, NULL, 0, 0, PM_REMOVE)) {
        if (msg.message == WM_TIMER)
          ticks++; /* the loop's other work goes here */
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
      }
    }
  }
  printf("%u calls, 4 in flight, %u guest calls served\n", done, served);
  printf("(%u sleeps in MsgWaitForMultipleObjects, %u timer ticks)\n", sleeps,
         ticks);
  KillTimer(NULL, timer);
  shmipc_host_destroy(h);
  if (child != NULL) { /* closing the session ends the guest */
    shmipc_child_exit ex = {sizeof ex, 0, 0};
    r = shmipc_child_wait(child, 5 * SEC, &ex);
    shmipc_child_destroy(child);
    if (r != SHMIPC_OK || ex.code != 0) {
      fprintf(stderr, "evloop_win32: the guest did not exit cleanly\n");
      return 1;
    }
  }
  printf("evloop_win32: ok\n");
  return 0;

fail:
  fprintf(stderr, "evloop_win32: %s (%s)\n", shmipc_strerror(r),
          shmipc_last_error());
  if (timer != 0)
    KillTimer(NULL, timer);
  shmipc_host_destroy(h);
  shmipc_child_destroy(child);
  return 1;
}
