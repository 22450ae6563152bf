/* SPDX-License-Identifier: MIT */
/* Raw segment access for the unit suite on Windows (see raw.h); object
 * names as in docs/PROTOCOL.md, "Windows". */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"
#include "raw.h"

static void wide(wchar_t *out, size_t len, const char *s)
{
  size_t i;

  for (i = 0; i + 1 < len && s[i] != '\0'; i++)
    out[i] = (wchar_t)s[i];
  out[i] = L'\0';
}

static void object_name(wchar_t *out, size_t len, const char *name,
                        const char *suffix)
{
  char buf[160];

  if (suffix != NULL)
    snprintf(buf, sizeof buf, "Local\\shmipc-%s-%s", name, suffix);
  else
    snprintf(buf, sizeof buf, "Local\\shmipc-%s", name);
  wide(out, len, buf);
}

int raw_open(const char *name, struct raw *r)
{
  MEMORY_BASIC_INFORMATION mbi;
  wchar_t wname[160];
  HANDLE h;

  memset(r, 0, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  object_name(wname, 160, name, NULL);
  h = OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE | READ_CONTROL, FALSE,
                       wname);
  if (h == NULL)
    return -1;
  r->base = MapViewOfFile(h, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0);
  if (r->base == NULL ||
      VirtualQuery(r->base, &mbi, sizeof mbi) != sizeof mbi) {
    CloseHandle(h);
    return -1;
  }
  r->size = mbi.RegionSize;
  r->handle = (intptr_t)h;
  return 0;
}

void raw_close(struct raw *r)
{
  UnmapViewOfFile(r->base);
  CloseHandle((HANDLE)r->handle);
}

static int user_sid(void *buf, DWORD len)
{
  HANDLE tok;
  DWORD n;
  int ok;

  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return 0;
  ok = GetTokenInformation(tok, TokenUser, buf, len, &n);
  CloseHandle(tok);
  return ok;
}

int raw_owner_only(struct raw *r)
{
  union {
    TOKEN_USER u;
    uint8_t b[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
  } me;
  PSECURITY_DESCRIPTOR sd = NULL;
  PSID owner = NULL;
  PACL dacl = NULL;
  ACCESS_ALLOWED_ACE *ace;
  int ok;

  if (!user_sid(&me, sizeof me))
    return -1;
  if (GetSecurityInfo((HANDLE)r->handle, SE_KERNEL_OBJECT,
                      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      &owner, NULL, &dacl, NULL, &sd) != ERROR_SUCCESS)
    return -1;
  ok = owner != NULL && EqualSid(owner, me.u.User.Sid) && dacl != NULL &&
       dacl->AceCount == 1 && GetAce(dacl, 0, (void **)&ace) &&
       ace->Header.AceType == ACCESS_ALLOWED_ACE_TYPE &&
       EqualSid((PSID)&ace->SidStart, me.u.User.Sid);
  LocalFree(sd);
  return ok;
}

int raw_exists(const char *name)
{
  wchar_t wname[160];
  HANDLE h;

  object_name(wname, 160, name, NULL);
  h = OpenFileMappingW(FILE_MAP_READ, FALSE, wname);
  if (h != NULL) {
    CloseHandle(h);
    return 1;
  }
  return GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : -1;
}

struct stale {
  HANDLE mutex, map;
};

/* Takes the host mutex and ends without releasing it: abandoned, as when
 * a host process dies. */
static DWORD WINAPI take_and_die(void *p)
{
  WaitForSingleObject(((struct stale *)p)->mutex, INFINITE);
  return 0;
}

/* Still mapped by the dead host's guest for a while, then let go. */
static DWORD WINAPI guest_lets_go(void *p)
{
  Sleep(200);
  CloseHandle(((struct stale *)p)->map);
  return 0;
}

/* An abandoned host mutex (kept open, as a guest would) and a mapping that
 * a guest of the dead host still holds for 200 ms. */
int raw_make_stale(const char *name)
{
  static struct stale st; /* the handles outlive the call on purpose */
  wchar_t wname[160];
  HANDLE t;

  object_name(wname, 160, name, "host");
  st.mutex = CreateMutexW(NULL, FALSE, wname);
  if (st.mutex == NULL)
    return -1;
  t = CreateThread(NULL, 0, take_and_die, &st, 0, NULL);
  if (t == NULL)
    return -1;
  WaitForSingleObject(t, INFINITE);
  CloseHandle(t);
  object_name(wname, 160, name, NULL);
  st.map = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                              4096, wname);
  if (st.map == NULL)
    return -1;
  t = CreateThread(NULL, 0, guest_lets_go, &st, 0, NULL);
  if (t == NULL)
    return -1;
  CloseHandle(t);
  return 0;
}

int raw_resize(struct raw *r, size_t size)
{
  (void)r;
  (void)size;
  return -2;
}

const char *raw_resize_unsupported(void)
{
  return "a Windows file mapping cannot change its size once created";
}

void raw_wake(struct raw *r, uint32_t *word, uint32_t bit)
{
  const struct shmipc_wire_header *h = (const void *)r->base;
  size_t off = (size_t)((uint8_t *)word - r->base);
  char suffix[40];
  wchar_t wname[200];
  char buf[200];
  HANDLE e;

  if (off == offsetof(struct shmipc_wire_header, attach))
    snprintf(suffix, sizeof suffix, "attach");
  else if (off == offsetof(struct shmipc_wire_header, doorbell))
    snprintf(suffix, sizeof suffix, "doorbell");
  else
    snprintf(suffix, sizeof suffix, "s%u%c",
             (unsigned)((off - h->slots_offset) / h->slot_stride),
             bit == SHMIPC_CTRL_RESPONDER_WAITING ? 's' : 'r');
  snprintf(buf, sizeof buf, "Local\\shmipc-%s-%016llx-%s", r->name,
           (unsigned long long)h->session_nonce, suffix);
  wide(wname, 200, buf);
  e = OpenEventW(EVENT_MODIFY_STATE, FALSE, wname);
  if (e != NULL) {
    SetEvent(e);
    CloseHandle(e);
  }
}

static HANDLE forbidden;

/* A mapping whose DACL grants nobody anything: opening it is denied, as a
 * segment of another user is. */
int raw_make_forbidden(const char *name)
{
  SECURITY_ATTRIBUTES sa;
  PSECURITY_DESCRIPTOR sd = NULL;
  wchar_t wname[160];

  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          L"D:P", SDDL_REVISION_1, &sd, NULL))
    return -1;
  sa.nLength = sizeof sa;
  sa.lpSecurityDescriptor = sd;
  sa.bInheritHandle = FALSE;
  object_name(wname, 160, name, NULL);
  forbidden = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE, 0,
                                 4096, wname);
  LocalFree(sd);
  return forbidden != NULL ? 0 : -1;
}

void raw_forbidden_drop(void)
{
  if (forbidden != NULL)
    CloseHandle(forbidden);
  forbidden = NULL;
}

const char *raw_forbidden_unsupported(void) { return NULL; }
