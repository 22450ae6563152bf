/* SPDX-License-Identifier: MIT */
/*
 * The global namespace on Windows (SHMIPC_HOST_F_GLOBAL,
 * SHMIPC_GUEST_F_GLOBAL; docs/PROTOCOL.md, "Windows"), against each echo
 * guest given on the command line:
 *   - a global host and the guest started with -global connect, and calls
 *     echo; the objects are in Global\ and none in Local\;
 *   - the mapping, both role mutexes, a wake-up event of the host's and
 *     one the guest created carry the explicit descriptor: owner this
 *     user, a protected DACL granting this user, SYSTEM and the configured
 *     peer SID, and nobody else (no Everyone, no Authenticated Users, no
 *     Administrators);
 *   - a local guest finds no global host, a global guest no local host
 *     (NOT_FOUND);
 *   - the refused combinations (a peer SID without the flag, a peer SID
 *     that is no SID, global and anonymous, global and inherited);
 *   - a host whose token lacks SeCreateGlobalPrivilege: SHMIPC_E_ACCESS
 *     naming the privilege and the object on Windows; Wine grants the
 *     mapping regardless (it has no such check), which the test reports;
 *   - the mapping of a failed Global\ create to code and text
 *     (shmipc__win_global_create_error), which Wine cannot provoke.
 *
 * usage: test-global-windows GUEST...
 */
#include "os_windows.h" /* <windows.h> first */

#include <aclapi.h>
#include <sddl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "proc.h"

#define MS INT64_C(1000000)

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " (last error: %s)\n", shmipc_last_error());             \
      failures++;                                                              \
      goto out;                                                                \
    }                                                                          \
  } while (0)

static void unique_name(char *buf, size_t len, const char *what)
{
  snprintf(buf, len, "global-%s-%lu-%lu", what,
           (unsigned long)GetCurrentProcessId(), (unsigned long)GetTickCount());
}

static int global_host(const char *name, const char *peer, shmipc_host **h)
{
  shmipc_host_config cfg;

  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.flags = SHMIPC_HOST_F_GLOBAL;
  cfg.global_peer_sid = peer;
  cfg.liveness_interval_ns = 50 * MS;
  return shmipc_host_create(&cfg, h);
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

static PSID sid_of(const wchar_t *s)
{
  PSID sid = NULL;

  return ConvertStringSidToSidW(s, &sid) ? sid : NULL;
}

static PSID my_sid(void)
{
  union {
    TOKEN_USER u;
    uint8_t b[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
  } buf;
  HANDLE tok;
  DWORD n;
  PSID sid = NULL;

  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return NULL;
  if (GetTokenInformation(tok, TokenUser, &buf, sizeof buf, &n)) {
    n = GetLengthSid(buf.u.User.Sid);
    sid = LocalAlloc(LMEM_FIXED, n);
    if (sid != NULL)
      CopySid(n, sid, buf.u.User.Sid);
  }
  CloseHandle(tok);
  return sid;
}

/* Whether @dacl has an access-allowed ACE for @sid with a non-zero mask. */
static int allows(PACL dacl, PSID sid)
{
  ACL_SIZE_INFORMATION info;
  DWORD i;
  void *ace;

  if (!GetAclInformation(dacl, &info, sizeof info, AclSizeInformation))
    return -1;
  for (i = 0; i < info.AceCount; i++) {
    ACCESS_ALLOWED_ACE *a;

    if (!GetAce(dacl, i, &ace))
      return -1;
    a = ace;
    if (a->Header.AceType == ACCESS_ALLOWED_ACE_TYPE && a->Mask != 0 &&
        EqualSid((PSID)&a->SidStart, sid))
      return 1;
  }
  return 0;
}

/* The descriptor of @h: owner this user, a protected DACL of exactly this
 * user, SYSTEM and @peer (aces: 3). */
static void check_descriptor(HANDLE h, const char *what, PSID peer)
{
  PSECURITY_DESCRIPTOR sd = NULL;
  SECURITY_DESCRIPTOR_CONTROL ctl = 0;
  ACL_SIZE_INFORMATION info;
  PSID owner = NULL, me = my_sid(), system = sid_of(L"SY"),
       everyone = sid_of(L"WD"), au = sid_of(L"AU"), admins = sid_of(L"BA");
  PACL dacl = NULL;
  DWORD rev, e;

  CHECK(me != NULL && system != NULL && everyone != NULL && au != NULL &&
            admins != NULL,
        "SIDs");
  e = GetSecurityInfo(h, SE_KERNEL_OBJECT,
                      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      &owner, NULL, &dacl, NULL, &sd);
  CHECK(e == ERROR_SUCCESS, "%s: GetSecurityInfo: error %lu", what,
        (unsigned long)e);
  CHECK(owner != NULL && EqualSid(owner, me), "%s: owner is this user", what);
  CHECK(dacl != NULL, "%s: has a DACL (not the NULL DACL)", what);
  CHECK(GetSecurityDescriptorControl(sd, &ctl, &rev) &&
            (ctl & SE_DACL_PROTECTED),
        "%s: DACL protected (control %#x)", what, (unsigned)ctl);
  CHECK(allows(dacl, me) == 1, "%s: this user allowed", what);
  CHECK(allows(dacl, system) == 1, "%s: SYSTEM allowed", what);
  CHECK(allows(dacl, peer) == 1, "%s: the peer SID allowed", what);
  CHECK(allows(dacl, everyone) == 0, "%s: Everyone absent", what);
  CHECK(allows(dacl, au) == 0, "%s: Authenticated Users absent", what);
  CHECK(allows(dacl, admins) == 0, "%s: Administrators absent", what);
  CHECK(GetAclInformation(dacl, &info, sizeof info, AclSizeInformation) &&
            info.AceCount == 3,
        "%s: exactly 3 ACEs, has %lu", what, (unsigned long)info.AceCount);
out:
  if (sd != NULL)
    LocalFree(sd);
  LocalFree(me);
  LocalFree(system);
  LocalFree(everyone);
  LocalFree(au);
  LocalFree(admins);
}

/* A global host with peer "BU" and @guest started with -global: echo
 * works; the objects are global, carry the DACL, and none is local. */
static void connect_and_dacl(const char *guest)
{
  char name[64], oname[128];
  wchar_t wname[128];
  shmipc_host *h = NULL;
  struct proc p = {0};
  struct proc_status st = {0};
  HANDLE o = NULL;
  PSID peer = sid_of(L"BU");
  const char *argv[] = {guest, "-name", name, "-global", NULL};
  const struct shmipc_wire_header *hdr;
  void *view = NULL;
  uint64_t nonce;
  int r, before = failures;

  unique_name(name, sizeof name, "dacl");
  CHECK(peer != NULL, "the BU SID");
  r = global_host(name, "BU", &h);
  CHECK(r == SHMIPC_OK, "global host: %s", shmipc_strerror(r));
  CHECK(proc_spawn(&p, argv, 0) == 0, "start %s", guest);
  r = shmipc_host_wait_guest(h, 10000 * MS);
  CHECK(r == SHMIPC_OK, "%s attaches with -global: %s", guest,
        shmipc_strerror(r));
  /* Idle, the guest's worker goes to sleep on slot 0's responder event,
   * which it creates (checked below). */
  Sleep(300);
  CHECK(echo(h) == 0, "a call through %s", guest);

  /* The mapping, in Global\ only. */
  snprintf(oname, sizeof oname, "Global\\shmipc-%s", name);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, FALSE, wname);
  CHECK(o != NULL, "open %s: error %lu", oname, (unsigned long)GetLastError());
  check_descriptor(o, oname, peer);
  view = MapViewOfFile(o, FILE_MAP_READ, 0, 0, sizeof *hdr);
  CHECK(view != NULL, "map %s", oname);
  hdr = view;
  nonce = hdr->session_nonce;
  CloseHandle(o);
  o = NULL;
  snprintf(oname, sizeof oname, "Local\\shmipc-%s", name);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenFileMappingW(FILE_MAP_READ, FALSE, wname);
  CHECK(o == NULL && GetLastError() == ERROR_FILE_NOT_FOUND,
        "no %s (error %lu)", oname, (unsigned long)GetLastError());

  /* The role mutexes. */
  snprintf(oname, sizeof oname, "Global\\shmipc-%s-host", name);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenMutexW(READ_CONTROL, FALSE, wname);
  CHECK(o != NULL, "open %s: error %lu", oname, (unsigned long)GetLastError());
  check_descriptor(o, oname, peer);
  CloseHandle(o);
  o = NULL;
  snprintf(oname, sizeof oname, "Global\\shmipc-%s-guest", name);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenMutexW(READ_CONTROL, FALSE, wname);
  CHECK(o != NULL, "open %s: error %lu", oname, (unsigned long)GetLastError());
  check_descriptor(o, oname, peer);
  CloseHandle(o);
  o = NULL;

  /* A wake-up event: the attach event, which the waiting host or the
   * attaching guest created, whichever came first. */
  snprintf(oname, sizeof oname, "Global\\shmipc-%s-%016llx-attach", name,
           (unsigned long long)nonce);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenEventW(READ_CONTROL, FALSE, wname);
  CHECK(o != NULL, "open %s: error %lu", oname, (unsigned long)GetLastError());
  check_descriptor(o, oname, peer);
  CloseHandle(o);
  o = NULL;
  /* The event that the guest created: the mapping's DACL, copied. */
  snprintf(oname, sizeof oname, "Global\\shmipc-%s-%016llx-s0s", name,
           (unsigned long long)nonce);
  MultiByteToWideChar(CP_ACP, 0, oname, -1, wname, 128);
  o = OpenEventW(READ_CONTROL, FALSE, wname);
  CHECK(o != NULL, "open %s: error %lu", oname, (unsigned long)GetLastError());
  check_descriptor(o, oname, peer);
  CloseHandle(o);
  o = NULL;

  shmipc_host_destroy(h);
  h = NULL;
  CHECK(proc_wait(&p, 10000, &st) == 0 && st.exited && st.code == 0,
        "%s ends with 0 when the host closes", guest);
  if (failures == before)
    printf("  ok global host and %s: call, DACL of mapping, mutexes, events\n",
           guest);
out:
  if (view != NULL)
    UnmapViewOfFile(view);
  if (o != NULL)
    CloseHandle(o);
  shmipc_host_destroy(h);
  if (p.id != 0 && !p.done) {
    proc_kill(&p);
    proc_wait(&p, 5000, NULL);
  }
  if (peer != NULL)
    LocalFree(peer);
}

static int guest_once(const char *name, uint32_t flags)
{
  shmipc_guest_config cfg;
  shmipc_guest *g = NULL;
  int r;

  shmipc_guest_config_init(&cfg);
  cfg.name = name;
  cfg.flags = flags;
  cfg.connect_timeout_ns = 0;
  r = shmipc_guest_attach(&cfg, &g);
  shmipc_guest_detach(g);
  return r;
}

/* Local and global are different names: each finds nothing of the other. */
static void mismatch(void)
{
  char name[64];
  shmipc_host_config cfg;
  shmipc_host *h = NULL;
  int r;

  unique_name(name, sizeof name, "mismatch");
  r = global_host(name, NULL, &h);
  CHECK(r == SHMIPC_OK, "global host: %s", shmipc_strerror(r));
  r = guest_once(name, 0);
  CHECK(r == SHMIPC_E_NOT_FOUND, "local guest, global host: %s",
        shmipc_strerror(r));
  CHECK(strstr(shmipc_last_error(), "Local\\shmipc-") != NULL,
        "the text names the local name");
  r = guest_once(name, SHMIPC_GUEST_F_GLOBAL);
  CHECK(r == SHMIPC_OK, "global guest, global host: %s", shmipc_strerror(r));
  shmipc_host_destroy(h);
  h = NULL;

  shmipc_host_config_init(&cfg);
  cfg.name = name;
  r = shmipc_host_create(&cfg, &h);
  CHECK(r == SHMIPC_OK, "local host: %s", shmipc_strerror(r));
  r = guest_once(name, SHMIPC_GUEST_F_GLOBAL);
  CHECK(r == SHMIPC_E_NOT_FOUND, "global guest, local host: %s",
        shmipc_strerror(r));
  CHECK(strstr(shmipc_last_error(), "Global\\shmipc-") != NULL,
        "the text names the global name");
  printf("  ok local/global mismatch is NOT_FOUND both ways\n");
out:
  shmipc_host_destroy(h);
}

static void refused(void)
{
  shmipc_host_config cfg;
  shmipc_guest_config gc;
  shmipc_host *h = NULL;
  shmipc_guest *g = NULL;
  int r;

  shmipc_host_config_init(&cfg);
  cfg.name = "global-refused";
  cfg.global_peer_sid = "BU";
  r = shmipc_host_create(&cfg, &h);
  CHECK(r == SHMIPC_E_INVALID && h == NULL, "peer SID without the flag: %s",
        shmipc_strerror(r));
  cfg.flags = SHMIPC_HOST_F_GLOBAL;
  cfg.global_peer_sid = "BU)(A;;GA;;;WD";
  r = shmipc_host_create(&cfg, &h);
  CHECK(r == SHMIPC_E_INVALID && h == NULL, "a peer SID that is no SID: %s",
        shmipc_strerror(r));
  CHECK(strstr(shmipc_last_error(), "not a SID") != NULL, "the text says so");
  cfg.global_peer_sid = NULL;
  r = shmipc_host_create_anonymous(&cfg, &h);
  CHECK(r == SHMIPC_E_INVALID && h == NULL, "global and anonymous: %s",
        shmipc_strerror(r));
  shmipc_guest_config_init(&gc);
  gc.flags = SHMIPC_GUEST_F_GLOBAL | SHMIPC_GUEST_F_INHERITED;
  r = shmipc_guest_attach(&gc, &g);
  CHECK(r == SHMIPC_E_INVALID && g == NULL, "global and inherited: %s",
        shmipc_strerror(r));
  printf("  ok refused combinations\n");
out:
  shmipc_host_destroy(h);
  shmipc_guest_detach(g);
}

/* Drop SeCreateGlobalPrivilege from this process's token for good. */
static int drop_global_privilege(void)
{
  TOKEN_PRIVILEGES tp;
  HANDLE tok;
  int ok;

  if (!OpenProcessToken(GetCurrentProcess(),
                        TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &tok))
    return -1;
  tp.PrivilegeCount = 1;
  tp.Privileges[0].Attributes = SE_PRIVILEGE_REMOVED;
  ok = LookupPrivilegeValueW(NULL, L"SeCreateGlobalPrivilege",
                             &tp.Privileges[0].Luid) &&
       AdjustTokenPrivileges(tok, FALSE, &tp, 0, NULL, NULL);
  CloseHandle(tok);
  return ok ? 0 : -1;
}

/* Last, as it changes this process for good. */
static void no_privilege(void)
{
  char name[64];
  shmipc_host *h = NULL;
  int wine = GetProcAddress(GetModuleHandleW(L"ntdll.dll"),
                            "wine_get_version") != NULL;
  int r;

  unique_name(name, sizeof name, "nopriv");
  CHECK(drop_global_privilege() == 0, "drop SeCreateGlobalPrivilege: %lu",
        (unsigned long)GetLastError());
  r = global_host(name, NULL, &h);
  if (r == SHMIPC_OK && wine) {
    printf("  note: Wine does not enforce SeCreateGlobalPrivilege (a host "
           "without it created Global\\shmipc-%s); the error mapping is "
           "checked directly\n",
           name);
    goto out;
  }
  CHECK(r == SHMIPC_E_ACCESS && h == NULL,
        "a host without SeCreateGlobalPrivilege: %s", shmipc_strerror(r));
  CHECK(strstr(shmipc_last_error(), "SeCreateGlobalPrivilege") != NULL &&
            strstr(shmipc_last_error(), name) != NULL,
        "the text names the privilege and the object");
  printf("  ok a host without SeCreateGlobalPrivilege: ACCESS\n");
out:
  shmipc_host_destroy(h);
}

static void error_mapping(void)
{
  const char *obj = "Global\\shmipc-x";
  int r;

  r = shmipc__win_global_create_error(ERROR_ACCESS_DENIED, obj, 4096, 0);
  CHECK(r == SHMIPC_E_ACCESS, "access denied, no privilege: %s",
        shmipc_strerror(r));
  CHECK(strstr(shmipc_last_error(), "SeCreateGlobalPrivilege") != NULL &&
            strstr(shmipc_last_error(), obj) != NULL &&
            strstr(shmipc_last_error(), "lacks") != NULL,
        "names the privilege, the object, that it is lacking");
  r = shmipc__win_global_create_error(ERROR_ACCESS_DENIED, obj, 4096, -1);
  CHECK(r == SHMIPC_E_ACCESS &&
            strstr(shmipc_last_error(), "SeCreateGlobalPrivilege") != NULL &&
            strstr(shmipc_last_error(), "may lack") != NULL,
        "access denied, privilege unknown");
  r = shmipc__win_global_create_error(ERROR_ACCESS_DENIED, obj, 4096, 1);
  CHECK(r == SHMIPC_E_ACCESS &&
            strstr(shmipc_last_error(), "another user's object") != NULL &&
            strstr(shmipc_last_error(), obj) != NULL,
        "access denied with the privilege: a squatted name");
  r = shmipc__win_global_create_error(ERROR_COMMITMENT_LIMIT, obj, 4096, 1);
  CHECK(r == SHMIPC_E_NOMEM && strstr(shmipc_last_error(), "4096") != NULL,
        "the commit limit stays NOMEM");
  printf("  ok the mapping of a failed Global\\ create\n");
out:;
}

int main(int argc, char **argv)
{
  int k;

  if (argc < 2) {
    fprintf(stderr, "usage: %s GUEST...\n", argv[0]);
    return 2;
  }
  error_mapping();
  refused();
  mismatch();
  for (k = 1; k < argc; k++)
    connect_and_dacl(argv[k]);
  no_privilege();
  printf("%s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
