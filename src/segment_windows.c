/* SPDX-License-Identifier: MIT */
/*
 * Windows side of segments (docs/PROTOCOL.md, "Windows"): a named,
 * pagefile-backed file mapping in the session's Local\ namespace (or, with
 * SHMIPC_HOST_F_GLOBAL, in Global\), a named mutex per role as the liveness
 * lock, and the security descriptor that keeps both to the creating user
 * (global: the user, SYSTEM and one named peer). The guest's attach runs
 * over the operations below from segment.c.
 *
 * Mutexes belong to threads, not processes: a mutex whose owning thread
 * ends is abandoned even if its process lives on. So a role's mutex is
 * taken and held by a small thread of its own for the endpoint's whole
 * life; an abandoned mutex then really means that the process died.
 */
#include "os_windows.h" /* <windows.h> first: the headers below need it */

#include <aclapi.h>
#include <bcrypt.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* How long taking a role's mutex waits: a peer's liveness check holds it
 * for a moment (see shmipc__lock_held()), a live owner for good. */
#define LOCK_TAKE_MS 200
/* How long a new host waits for a dead host's mapping to go away: the
 * object lives while a guest still maps it, and a guest lets go once it
 * notices, within its liveness interval, that its host died. */
#define STALE_WAIT_NS INT64_C(2000000000)

/* Object names by role (enum shmipc__role). */
static const char *const role_suffix[2] = {"host", "guest"};

/* Segment "X" is the file mapping Local\shmipc-X (docs/PROTOCOL.md, "Names
 * and files"), or Global\shmipc-X with SHMIPC_HOST_F_GLOBAL. */
const char shmipc__seg_prefix[] = "Local\\shmipc-";
const char shmipc__seg_prefix_global[] = "Global\\shmipc-";

void shmipc__win_object_name(wchar_t *out, size_t len,
                             const struct shmipc__seg_os *os,
                             const uint64_t *nonce, const char *suffix)
{
  const char *prefix =
      os->global ? shmipc__seg_prefix_global : shmipc__seg_prefix;
  char buf[SHMIPC__WIN_NAME_MAX];
  size_t i;

  if (nonce != NULL)
    snprintf(buf, sizeof buf, "%s%s-%016llx-%s", prefix, os->name,
             (unsigned long long)*nonce, suffix);
  else if (suffix != NULL)
    snprintf(buf, sizeof buf, "%s%s-%s", prefix, os->name, suffix);
  else
    snprintf(buf, sizeof buf, "%s%s", prefix, os->name);
  /* Names are ASCII ([A-Za-z0-9._-], checked by shmipc__name_valid()). */
  for (i = 0; i + 1 < len && buf[i] != '\0'; i++)
    out[i] = (wchar_t)buf[i];
  out[i] = L'\0';
}

struct shmipc__holder {
  HANDLE mutex;
  HANDLE ready;   /* set by the holder once it knows the outcome */
  HANDLE release; /* set by the owner to end the hold */
  HANDLE thread;
  int result;
};

static DWORD WINAPI holder_main(void *p)
{
  struct shmipc__holder *h = p;
  DWORD r = WaitForSingleObject(h->mutex, LOCK_TAKE_MS);

  if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED)
    h->result = SHMIPC_OK; /* abandoned: the previous holder died */
  else
    h->result = r == WAIT_TIMEOUT ? SHMIPC_E_BUSY : SHMIPC_E_SYSTEM;
  SetEvent(h->ready);
  if (h->result != SHMIPC_OK)
    return 0;
  WaitForSingleObject(h->release, INFINITE);
  ReleaseMutex(h->mutex);
  return 0;
}

static void holder_free(struct shmipc__holder *h)
{
  if (h->thread != NULL) {
    SetEvent(h->release);
    WaitForSingleObject(h->thread, INFINITE);
    CloseHandle(h->thread);
  }
  if (h->ready != NULL)
    CloseHandle(h->ready);
  if (h->release != NULL)
    CloseHandle(h->release);
  free(h);
}

int shmipc__lock_take(const struct shmipc__seg *s, enum shmipc__role role)
{
  struct shmipc__holder *h;
  int r;

  if (s->os == NULL || s->os->held != NULL || s->os->mutex[role] == NULL)
    return SHMIPC_E_SYSTEM;
  h = calloc(1, sizeof *h);
  if (h == NULL)
    return SHMIPC_E_NOMEM;
  h->mutex = s->os->mutex[role];
  h->ready = CreateEventW(NULL, TRUE, FALSE, NULL);
  h->release = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (h->ready == NULL || h->release == NULL) {
    holder_free(h);
    return SHMIPC_E_SYSTEM;
  }
  h->thread = CreateThread(NULL, 64 * 1024, holder_main, h,
                           STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
  if (h->thread == NULL) {
    holder_free(h);
    return SHMIPC_E_SYSTEM;
  }
  WaitForSingleObject(h->ready, INFINITE);
  r = h->result;
  if (r != SHMIPC_OK) {
    holder_free(h);
    return r;
  }
  s->os->held = h;
  return SHMIPC_OK;
}

int shmipc__lock_held(const struct shmipc__seg *s, enum shmipc__role role)
{
  HANDLE m = s->os != NULL ? s->os->mutex[role] : NULL;
  DWORD r;

  if (m == NULL)
    return SHMIPC_E_SYSTEM;
  /* Windows cannot ask who owns a mutex without taking it. Taking it
   * means nobody held it (or its holder died: abandoned); give it back at
   * once. A role taking its own mutex meanwhile waits LOCK_TAKE_MS. Our
   * own role's mutex is held by our holder thread, never by this one. */
  r = WaitForSingleObject(m, 0);
  if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {
    ReleaseMutex(m);
    return 0;
  }
  return r == WAIT_TIMEOUT ? 1 : SHMIPC_E_SYSTEM;
}

uint32_t shmipc__getpid(void) { return (uint32_t)GetCurrentProcessId(); }

uint64_t shmipc__random64(void)
{
  uint64_t v = 0;
  LARGE_INTEGER c;

  if (BCryptGenRandom(NULL, (PUCHAR)&v, sizeof v,
                      BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 &&
      v != 0)
    return v;
  QueryPerformanceCounter(&c);
  return (uint64_t)c.QuadPart ^ ((uint64_t)GetCurrentProcessId() << 32) ^
         (uint64_t)(uintptr_t)&v;
}

static int win_code(DWORD e)
{
  switch (e) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
    return SHMIPC_E_NOT_FOUND;
  case ERROR_ACCESS_DENIED:
  case ERROR_INVALID_HANDLE: /* the name belongs to an object of another type */
    return SHMIPC_E_ACCESS;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_COMMITMENT_LIMIT:
    return SHMIPC_E_NOMEM;
  case ERROR_ALREADY_EXISTS:
    return SHMIPC_E_EXISTS;
  default:
    return SHMIPC_E_SYSTEM;
  }
}

/* The SID of this process's user (LocalFree() it), or NULL. */
static PSID user_sid(void)
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
    if (sid != NULL && !CopySid(n, sid, buf.u.User.Sid)) {
      LocalFree(sid);
      sid = NULL;
    }
  }
  CloseHandle(tok);
  return sid;
}

/* Owner and DACL: the creating user, full access; with any group or other
 * bit in @mode, authenticated users too (a guest needs read and write, so
 * the bits cannot be honoured more finely). The owner is set explicitly:
 * an elevated administrator's objects would otherwise belong to the
 * Administrators group and fail the guest's owner check. */
static int make_security(struct shmipc__seg_os *os, uint32_t mode)
{
  wchar_t sddl[256];
  wchar_t *sid_str = NULL;
  PSID sid = user_sid();
  int ok;

  if (sid == NULL || !ConvertSidToStringSidW(sid, &sid_str)) {
    if (sid != NULL)
      LocalFree(sid);
    return SHMIPC_E_SYSTEM;
  }
  _snwprintf(sddl, sizeof sddl / sizeof sddl[0], L"O:%lsD:P(A;;GA;;;%ls)%ls",
             sid_str, sid_str, (mode & 0077u) ? L"(A;;GA;;;AU)" : L"");
  sddl[sizeof sddl / sizeof sddl[0] - 1] = L'\0';
  ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(
      sddl, SDDL_REVISION_1, &os->sd, NULL);
  LocalFree(sid_str);
  LocalFree(sid);
  if (!ok)
    return SHMIPC_E_SYSTEM;
  os->sa.nLength = sizeof os->sa;
  os->sa.lpSecurityDescriptor = os->sd;
  os->sa.bInheritHandle = FALSE;
  return SHMIPC_OK;
}

/* The global namespace's descriptor (docs/PROTOCOL.md, "Windows"): owner
 * the creating user; a protected DACL (nothing inherited) with full access
 * for that user, SYSTEM and @peer_sid, nobody else. @peer_sid is parsed
 * and written back as a plain SID string, so that no text of the caller's
 * reaches the SDDL. */
static int make_security_global(struct shmipc__seg_os *os, const char *peer_sid)
{
  wchar_t sddl[512], wpeer[SECURITY_MAX_SID_SIZE * 4];
  wchar_t *sid_str = NULL, *peer_str = NULL;
  PSID sid = user_sid(), peer = NULL;
  size_t i, n;
  int ok, r = SHMIPC_OK;

  if (sid == NULL || !ConvertSidToStringSidW(sid, &sid_str)) {
    r = shmipc__fail(SHMIPC_E_SYSTEM,
                     "reading this process's user SID: "
                     "error %lu",
                     (unsigned long)GetLastError());
    goto out;
  }
  if (peer_sid != NULL) {
    n = strlen(peer_sid);
    for (i = 0; i < n && i + 1 < sizeof wpeer / sizeof wpeer[0]; i++)
      wpeer[i] = (wchar_t)(unsigned char)peer_sid[i];
    wpeer[i] = L'\0';
    if (n == 0 || i < n || !ConvertStringSidToSidW(wpeer, &peer) ||
        !ConvertSidToStringSidW(peer, &peer_str)) {
      r = shmipc__fail(SHMIPC_E_INVALID,
                       "global_peer_sid \"%.80s\" is not a SID (want an "
                       "SDDL SID string: \"S-1-5-...\", or an alias such as "
                       "\"BU\")",
                       peer_sid);
      goto out;
    }
  }
  _snwprintf(sddl, sizeof sddl / sizeof sddl[0],
             L"O:%lsD:P(A;;GA;;;%ls)(A;;GA;;;SY)%ls%ls%ls", sid_str, sid_str,
             peer_str != NULL ? L"(A;;GA;;;" : L"",
             peer_str != NULL ? peer_str : L"", peer_str != NULL ? L")" : L"");
  sddl[sizeof sddl / sizeof sddl[0] - 1] = L'\0';
  ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(
      sddl, SDDL_REVISION_1, &os->sd, NULL);
  if (!ok) {
    r = shmipc__fail(SHMIPC_E_SYSTEM,
                     "building the Global\\ security descriptor: error %lu",
                     (unsigned long)GetLastError());
    goto out;
  }
  os->sa.nLength = sizeof os->sa;
  os->sa.lpSecurityDescriptor = os->sd;
  os->sa.bInheritHandle = FALSE;
out:
  if (peer_str != NULL)
    LocalFree(peer_str);
  if (peer != NULL)
    LocalFree(peer);
  if (sid_str != NULL)
    LocalFree(sid_str);
  if (sid != NULL)
    LocalFree(sid);
  return r;
}

/* 1 when this process's token holds SeCreateGlobalPrivilege enabled, 0
 * when not, -1 when that cannot be read. */
static int global_privilege(void)
{
  union {
    TOKEN_PRIVILEGES p;
    uint8_t b[4096];
  } buf;
  HANDLE tok;
  LUID luid;
  DWORD n, i;
  int r = -1;

  if (!LookupPrivilegeValueW(NULL, L"SeCreateGlobalPrivilege", &luid) ||
      !OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return -1;
  if (GetTokenInformation(tok, TokenPrivileges, &buf, sizeof buf, &n)) {
    r = 0;
    for (i = 0; i < buf.p.PrivilegeCount; i++)
      if (buf.p.Privileges[i].Luid.LowPart == luid.LowPart &&
          buf.p.Privileges[i].Luid.HighPart == luid.HighPart &&
          (buf.p.Privileges[i].Attributes & SE_PRIVILEGE_ENABLED))
        r = 1;
  }
  CloseHandle(tok);
  return r;
}

int shmipc__win_global_create_error(unsigned long err, const char *object,
                                    uint64_t size, int privileged)
{
  if (err != ERROR_ACCESS_DENIED)
    return shmipc__fail(win_code(err),
                        "creating file mapping %s of %llu bytes: error %lu",
                        object, (unsigned long long)size, err);
  /* Section objects in Global\ need SeCreateGlobalPrivilege outside
   * session 0; a name already held by an object whose DACL keeps us out
   * gives the same error. */
  if (privileged == 1)
    return shmipc__fail(SHMIPC_E_ACCESS,
                        "creating file mapping %s: access denied, though "
                        "this process holds SeCreateGlobalPrivilege: "
                        "another user's object has the name",
                        object);
  return shmipc__fail(
      SHMIPC_E_ACCESS,
      "creating file mapping %s: access denied: a file mapping in Global\\ "
      "needs SeCreateGlobalPrivilege, which this process %s (services, "
      "administrators and SYSTEM hold it: let the service be the host, or "
      "grant the privilege), or another user's object has the name",
      object, privileged == 0 ? "lacks" : "may lack");
}

/* 1 when @h (a kernel object opened with READ_CONTROL) belongs to this
 * process's user, 0 when not, negative on error. */
static int owned_by_me(HANDLE h)
{
  PSECURITY_DESCRIPTOR sd = NULL;
  PSID owner = NULL, me;
  int r;

  if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                      NULL, NULL, NULL, &sd) != ERROR_SUCCESS)
    return SHMIPC_E_SYSTEM;
  me = user_sid();
  r = me == NULL ? SHMIPC_E_SYSTEM : owner != NULL && EqualSid(owner, me);
  if (me != NULL)
    LocalFree(me);
  LocalFree(sd);
  return r;
}

/* Global\: the events a guest creates first must admit the host's user,
 * who may be another. They get the mapping's DACL (the host's explicit
 * one) and, as the host's objects, this user as owner, set explicitly (an
 * elevated administrator's default owner is the Administrators group). */
static int copy_security(struct shmipc__seg_os *os)
{
  PSECURITY_DESCRIPTOR msd = NULL;
  wchar_t *dacl_str = NULL, *sid_str = NULL, *sddl = NULL;
  PSID sid = user_sid();
  size_t n;
  int r = SHMIPC_E_SYSTEM;

  if (sid == NULL || !ConvertSidToStringSidW(sid, &sid_str) ||
      GetSecurityInfo(os->map, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                      NULL, NULL, NULL, NULL, &msd) != ERROR_SUCCESS ||
      !ConvertSecurityDescriptorToStringSecurityDescriptorW(
          msd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &dacl_str, NULL))
    goto out;
  n = wcslen(sid_str) + wcslen(dacl_str) + 3;
  sddl = malloc(n * sizeof *sddl);
  if (sddl == NULL) {
    r = SHMIPC_E_NOMEM;
    goto out;
  }
  _snwprintf(sddl, n, L"O:%ls%ls", sid_str, dacl_str);
  sddl[n - 1] = L'\0';
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          sddl, SDDL_REVISION_1, &os->sd, NULL)) {
    os->sd = NULL;
    goto out;
  }
  os->sa.nLength = sizeof os->sa;
  os->sa.lpSecurityDescriptor = os->sd;
  os->sa.bInheritHandle = FALSE;
  r = SHMIPC_OK;
out:
  free(sddl);
  if (dacl_str != NULL)
    LocalFree(dacl_str);
  if (msd != NULL)
    LocalFree(msd);
  if (sid_str != NULL)
    LocalFree(sid_str);
  if (sid != NULL)
    LocalFree(sid);
  return r;
}

static struct shmipc__seg_os *os_new(const char *name)
{
  struct shmipc__seg_os *os = calloc(1, sizeof *os);

  if (os != NULL)
    memcpy(os->name, name, strlen(name) + 1);
  return os;
}

/* Events are opened lazily; the table is sized once the geometry is
 * known. */
static int events_alloc(struct shmipc__seg_os *os, const struct shmipc__geom *g)
{
  os->n_events = 2 + 2 * (g->host_slots + g->guest_slots);
  os->events = calloc(os->n_events, sizeof *os->events);
  return os->events != NULL ? SHMIPC_OK : SHMIPC_E_NOMEM;
}

static void os_free(struct shmipc__seg_os *os)
{
  uint32_t i;
  int k;

  if (os == NULL)
    return;
  /* Releasing the role's mutex is the detach of the liveness lock, after
   * the view is gone, as on Linux. */
  if (os->view != NULL)
    UnmapViewOfFile(os->view);
  if (os->held != NULL)
    holder_free(os->held);
  for (i = 0; i < os->n_events; i++)
    if (os->events[i] != NULL)
      CloseHandle(os->events[i]);
  free(os->events);
  for (k = 0; k < 2; k++)
    if (os->mutex[k] != NULL)
      CloseHandle(os->mutex[k]);
  if (os->map != NULL)
    CloseHandle(os->map);
  if (os->sd != NULL)
    LocalFree(os->sd);
  free(os);
}

/* Open the role mutexes, creating them when this side comes first; they
 * carry the same security descriptor as the mapping. */
static int open_mutexes(struct shmipc__seg_os *os, bool create)
{
  wchar_t name[SHMIPC__WIN_NAME_MAX];
  int k;

  for (k = SHMIPC__ROLE_HOST; k <= SHMIPC__ROLE_GUEST; k++) {
    shmipc__win_object_name(name, SHMIPC__WIN_NAME_MAX, os, NULL,
                            role_suffix[k]);
    os->mutex[k] =
        create ? CreateMutexW(&os->sa, FALSE, name)
               : OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, FALSE, name);
    if (os->mutex[k] == NULL) {
      DWORD e = GetLastError();

      if (!os->global || e != ERROR_ACCESS_DENIED)
        return win_code(e);
      return shmipc__fail(SHMIPC_E_ACCESS,
                          "%s mutex %ls: access denied (another user's "
                          "object, or a DACL without this user)",
                          create ? "creating" : "opening", name);
    }
    /* In Global\ other users may create names: one whose mutex came
     * first must not hold a role of ours. */
    if (create && os->global && GetLastError() == ERROR_ALREADY_EXISTS &&
        owned_by_me(os->mutex[k]) != 1)
      return shmipc__fail(SHMIPC_E_ACCESS,
                          "mutex %ls exists and belongs to another user", name);
  }
  return SHMIPC_OK;
}

/* A named segment in Local\ (@global false: the owner-only descriptor of
 * @mode) or in Global\ (the explicit descriptor with @peer_sid). */
static int seg_create(const char *name, const struct shmipc__geom *g,
                      uint32_t mode, bool global, const char *peer_sid,
                      struct shmipc__seg *out)
{
  wchar_t wname[SHMIPC__WIN_NAME_MAX];
  struct shmipc__seg s;
  int64_t deadline;
  DWORD err;
  int r;

  memset(&s, 0, sizeof s);
  if (!shmipc__name_valid(name))
    return SHMIPC_E_NAME;
  s.os = os_new(name);
  if (s.os == NULL)
    return SHMIPC_E_NOMEM;
  s.os->global = global;
  r = global ? make_security_global(s.os, peer_sid) : make_security(s.os, mode);
  if (r != SHMIPC_OK)
    goto err;
  r = open_mutexes(s.os, true);
  if (r != SHMIPC_OK)
    goto err;
  /* The host mutex is the name's ownership: a live host holds it. */
  r = shmipc__lock_take(&s, SHMIPC__ROLE_HOST);
  if (r != SHMIPC_OK) {
    r = r == SHMIPC_E_BUSY ? SHMIPC_E_EXISTS : r;
    goto err;
  }
  shmipc__win_object_name(wname, SHMIPC__WIN_NAME_MAX, s.os, NULL, NULL);
  deadline = shmipc__now_ns() + STALE_WAIT_NS;
  for (;;) {
    /* Pagefile-backed and SEC_COMMIT: the whole size is charged against
     * the commit limit here, so a segment that does not fit fails now
     * (ERROR_COMMITMENT_LIMIT: SHMIPC_E_NOMEM) and no later touch of it
     * lacks backing; a failed create leaves no mapping. */
    s.os->map = CreateFileMappingW(
        INVALID_HANDLE_VALUE, &s.os->sa, PAGE_READWRITE | SEC_COMMIT,
        (DWORD)(g->segment_size >> 32), (DWORD)g->segment_size, wname);
    err = GetLastError();
    if (s.os->map == NULL) {
      char what[SHMIPC__WIN_NAME_MAX];

      snprintf(what, sizeof what, "%s%s", shmipc__seg_prefix_global, name);
      r = global ? shmipc__win_global_create_error(err, what, g->segment_size,
                                                   global_privilege())
                 : win_code(err);
      goto err;
    }
    if (err == ERROR_ALREADY_EXISTS && global && owned_by_me(s.os->map) != 1) {
      /* Another user's mapping of the name, which its DACL let us open. */
      r = shmipc__fail(SHMIPC_E_ACCESS,
                       "file mapping %ls exists and belongs to another user",
                       wname);
      goto err;
    }
    if (err != ERROR_ALREADY_EXISTS)
      break;
    /* A dead host's mapping (we hold the host mutex), still mapped by its
     * guest. Named objects cannot be unlinked: wait for it to go. */
    CloseHandle(s.os->map);
    s.os->map = NULL;
    if (shmipc__now_ns() >= deadline) {
      r = SHMIPC_E_EXISTS;
      goto err;
    }
    Sleep(5);
  }
  s.os->view = MapViewOfFile(s.os->map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0,
                             (SIZE_T)g->segment_size);
  if (s.os->view == NULL) {
    r = win_code(GetLastError());
    goto err;
  }
  s.os->view_size = g->segment_size;
  s.base = s.os->view;
  s.geom = *g;
  s.nonce = shmipc__random64();
  r = events_alloc(s.os, g);
  if (r != SHMIPC_OK)
    goto err;
  snprintf(s.path, sizeof s.path, "%s%s",
           global ? shmipc__seg_prefix_global : shmipc__seg_prefix, name);
  *out = s;
  return SHMIPC_OK;

err:
  os_free(s.os);
  return r;
}

int shmipc__seg_create(const char *name, const struct shmipc__geom *g,
                       uint32_t mode, struct shmipc__seg *out)
{
  return seg_create(name, g, mode, false, NULL, out);
}

int shmipc__seg_create_global(const char *name, const struct shmipc__geom *g,
                              const char *peer_sid, struct shmipc__seg *out)
{
  return seg_create(name, g, 0600, true, peer_sid, out);
}

int shmipc__seg_os_open(const char *name, uint32_t guest_flags,
                        struct shmipc__seg *s)
{
  wchar_t wname[SHMIPC__WIN_NAME_MAX];
  struct shmipc__seg_os *os = os_new(name);
  MEMORY_BASIC_INFORMATION mbi;
  int r;

  if (os == NULL)
    return SHMIPC_E_NOMEM;
  os->global = (guest_flags & SHMIPC_GUEST_F_GLOBAL) != 0;
  shmipc__win_object_name(wname, SHMIPC__WIN_NAME_MAX, os, NULL, NULL);
  os->map = OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE | READ_CONTROL,
                             FALSE, wname);
  if (os->map == NULL) {
    r = win_code(GetLastError());
    r = r == SHMIPC_E_NOT_FOUND ? SHMIPC__E_NO_SEGMENT : r;
    goto err;
  }
  /* Windows cannot read a mapping without mapping it: map it whole; the
   * header is validated as a private copy before anything else is used. */
  os->view = MapViewOfFile(os->map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0);
  if (os->view == NULL) {
    r = win_code(GetLastError());
    goto err;
  }
  if (VirtualQuery(os->view, &mbi, sizeof mbi) != sizeof mbi) {
    r = SHMIPC_E_SYSTEM;
    goto err;
  }
  os->view_size = mbi.RegionSize;
  if (os->global) {
    r = copy_security(os);
    if (r != SHMIPC_OK)
      goto err;
  }
  snprintf(s->path, sizeof s->path, "%s%s",
           os->global ? shmipc__seg_prefix_global : shmipc__seg_prefix, name);
  s->os = os;
  return SHMIPC_OK;

err:
  os_free(os);
  return r;
}

int shmipc__seg_os_stat(const struct shmipc__seg *s,
                        struct shmipc__seg_stat *out)
{
  out->size = s->os->view_size;
  out->regular = true;
  out->mine = owned_by_me(s->os->map);
  return SHMIPC_OK;
}

int shmipc__seg_os_read_header(const struct shmipc__seg *s,
                               struct shmipc_wire_header *out)
{
  if (s->os->view_size < sizeof *out)
    return SHMIPC_E_CORRUPT;
  memcpy(out, s->os->view, sizeof *out);
  return SHMIPC_OK;
}

bool shmipc__seg_os_size_matches(uint64_t size, uint64_t segment_size)
{
  SYSTEM_INFO si;

  /* A view covers whole pages: the section is @segment_size if that
   * rounds up to the view. */
  GetSystemInfo(&si);
  return segment_size <= size && segment_size > size - si.dwPageSize;
}

int shmipc__lock_open(struct shmipc__seg *s)
{
  int r;

  if (s->os->mutex[SHMIPC__ROLE_HOST] != NULL)
    return SHMIPC_OK; /* inherited with the segment */
  r = open_mutexes(s->os, false);

  return r == SHMIPC_E_NOT_FOUND ? SHMIPC__E_NO_HOST : r; /* nobody holds a
                                                           * handle: no host */
}

int shmipc__seg_os_map(struct shmipc__seg *s)
{
  int r;

  /* Mapped whole at open; validation matched the view to the geometry. */
  if (s->geom.segment_size > s->os->view_size)
    return SHMIPC_E_CORRUPT;
  r = events_alloc(s->os, &s->geom);
  if (r != SHMIPC_OK)
    return r;
  /* Events the guest creates first get the default descriptor of its
   * (the same) user, in Global\ the mapping's DACL (shmipc__seg_os_open());
   * the host's are owner-only. */
  s->os->sa.nLength = sizeof s->os->sa;
  s->base = s->os->view;
  return SHMIPC_OK;
}

void shmipc__seg_close(struct shmipc__seg *s, bool unlink_it)
{
  /* Named objects go away with their last handle: nothing to unlink. */
  (void)unlink_it;
  s->base = NULL; /* the view is the OS side's (os_free) */
  os_free(s->os);
  s->os = NULL;
}

/* Anonymous segments (docs/PROTOCOL.md, "Windows", "Launched guests"):
 * the mapping and the role mutexes have no name and reach the launched
 * guest as inherited handles; the wake-up events, which either side
 * creates on first use, keep their names, made unguessable by a random
 * 128-bit label in place of the segment name (and the session nonce). */
int shmipc__seg_create_anon(const char *name, const struct shmipc__geom *g,
                            uint32_t mode, struct shmipc__seg *out)
{
  char label[SHMIPC_MAX_NAME_LEN + 1];
  struct shmipc__seg s;
  int r, k;

  (void)name; /* no object shows a label on Windows */
  memset(&s, 0, sizeof s);
  snprintf(label, sizeof label, "anon-%016llx%016llx",
           (unsigned long long)shmipc__random64(),
           (unsigned long long)shmipc__random64());
  s.os = os_new(label);
  if (s.os == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the segment");
  r = make_security(s.os, mode);
  if (r != SHMIPC_OK)
    goto err;
  for (k = SHMIPC__ROLE_HOST; k <= SHMIPC__ROLE_GUEST; k++) {
    s.os->mutex[k] = CreateMutexW(&s.os->sa, FALSE, NULL);
    if (s.os->mutex[k] == NULL) {
      r = win_code(GetLastError());
      goto err;
    }
  }
  r = shmipc__lock_take(&s, SHMIPC__ROLE_HOST);
  if (r != SHMIPC_OK)
    goto err;
  /* Committed as a named segment is: a segment that does not fit the
   * commit limit fails here. */
  s.os->map = CreateFileMappingW(
      INVALID_HANDLE_VALUE, &s.os->sa, PAGE_READWRITE | SEC_COMMIT,
      (DWORD)(g->segment_size >> 32), (DWORD)g->segment_size, NULL);
  if (s.os->map == NULL) {
    r = shmipc__fail(win_code(GetLastError()),
                     "creating an unnamed mapping of %llu bytes: error %lu",
                     (unsigned long long)g->segment_size,
                     (unsigned long)GetLastError());
    goto err;
  }
  s.os->view = MapViewOfFile(s.os->map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0,
                             (SIZE_T)g->segment_size);
  if (s.os->view == NULL) {
    r = win_code(GetLastError());
    goto err;
  }
  s.os->view_size = g->segment_size;
  s.base = s.os->view;
  s.geom = *g;
  s.nonce = shmipc__random64();
  r = events_alloc(s.os, g);
  if (r != SHMIPC_OK)
    goto err;
  s.path[0] = '\0'; /* no name: nothing to open, nothing to launch by */
  *out = s;
  return SHMIPC_OK;

err:
  os_free(s.os);
  return r;
}

/* A handle value of SHMIPC_FD (decimal), checked to be open. */
static int parse_handle(const char **p, char end, HANDLE *out)
{
  unsigned long long v = 0;
  DWORD flags;
  const char *q = *p;

  if (*q < '0' || *q > '9')
    return -1;
  while (*q >= '0' && *q <= '9' && v < (1ull << 40))
    v = v * 10 + (unsigned)(*q++ - '0');
  if (*q != end)
    return -1;
  *p = q + 1;
  *out = (HANDLE)(uintptr_t)v;
  return GetHandleInformation(*out, &flags) ? 0 : 1;
}

int shmipc__seg_os_inherit(struct shmipc__seg *s, char *what, size_t len)
{
  const char *v = getenv(SHMIPC_ENV_FD), *p;
  struct shmipc__seg_os *os;
  MEMORY_BASIC_INFORMATION mbi;
  HANDLE h[3];
  int i, r;

  snprintf(what, len, "inherited segment (%s unset)", SHMIPC_ENV_FD);
  if (v == NULL)
    return shmipc__fail(SHMIPC_E_NOT_FOUND,
                        "%s is not set: this program was not started by a "
                        "host's shmipc_host_launch() (attach by name "
                        "instead)",
                        SHMIPC_ENV_FD);
  snprintf(what, len, "inherited segment (%s=%.24s)", SHMIPC_ENV_FD, v);
  /* MAPPING:HOSTMUTEX:GUESTMUTEX:LABEL (docs/PROTOCOL.md, "Windows") */
  p = v;
  for (i = 0; i < 3; i++) {
    r = parse_handle(&p, ':', &h[i]);
    if (r < 0)
      return shmipc__fail(SHMIPC_E_NOT_FOUND,
                          "%s=\"%.40s\" is not MAPPING:HOST:GUEST:LABEL",
                          SHMIPC_ENV_FD, v);
    if (r > 0)
      return shmipc__fail(SHMIPC_E_NOT_FOUND,
                          "%s: handle %llu is not open (a launched guest's "
                          "own children do not inherit it)",
                          SHMIPC_ENV_FD, (unsigned long long)(uintptr_t)h[i]);
  }
  if (!shmipc__name_valid(p))
    return shmipc__fail(SHMIPC_E_NOT_FOUND, "%s: label \"%.40s\" is not valid",
                        SHMIPC_ENV_FD, p);
  os = os_new(p);
  if (os == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the segment");
  os->view = MapViewOfFile(h[0], FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0);
  if (os->view == NULL ||
      VirtualQuery(os->view, &mbi, sizeof mbi) != sizeof mbi) {
    r = shmipc__fail(SHMIPC_E_NOT_FOUND,
                     "%s: handle %llu is not a file mapping (error %lu)",
                     SHMIPC_ENV_FD, (unsigned long long)(uintptr_t)h[0],
                     (unsigned long)GetLastError());
    os_free(os);
    return r;
  }
  os->view_size = mbi.RegionSize;
  /* Ours now: not passed on to what this process starts. */
  for (i = 0; i < 3; i++)
    SetHandleInformation(h[i], HANDLE_FLAG_INHERIT, 0);
  os->map = h[0];
  os->mutex[SHMIPC__ROLE_HOST] = h[1];
  os->mutex[SHMIPC__ROLE_GUEST] = h[2];
  s->os = os;
  s->path[0] = '\0';
  return SHMIPC_OK;
}

int shmipc__seg_child_fd(const struct shmipc__seg *s)
{
  (void)s;
  return SHMIPC_E_SYSTEM; /* Linux only: Windows duplicates handles */
}
