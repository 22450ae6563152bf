/* SPDX-License-Identifier: MIT */
/*
 * Windows launcher (docs/PROTOCOL.md, "Windows", "Launched guests"): the
 * child gets the host's unnamed mapping and role mutexes as inherited
 * handles, named in SHMIPC_FD, and no other handle of the host but its
 * standard ones (PROC_THREAD_ATTRIBUTE_HANDLE_LIST); it runs in a job
 * object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE whose only handle the
 * host holds, so it dies with the host process; its end is learnt by
 * waiting on its process handle.
 */
#include "os_windows.h" /* <windows.h> first */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "atomic.h"
#include "internal.h"

/* The exit code a child killed by shmipc_child_kill() reports: a killed
 * process has no signal on Windows. */
#define KILLED_CODE 137
/* The longest shmipc_child_destroy() waits for a killed child's end. */
#define DESTROY_WAIT_MS 10000
/* Longest single wait of shmipc_child_wait(): a bound, not a poll (the
 * process handle wakes it at the child's end). */
#define WAIT_SLICE_MS 1000

struct shmipc_child {
  HANDLE process;
  HANDLE job; /* closing it kills the child */
  DWORD pid;
  int64_t default_timeout_ns;
  uint32_t reaped; /* atomic: the exit below is known */
  shmipc_child_exit exit;
};

void shmipc_launch_config_init(shmipc_launch_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
}

/* UTF-8 @s as a new wide string (free()), or NULL. */
static wchar_t *widen(const char *s)
{
  int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
  wchar_t *w;

  if (n <= 0)
    return NULL;
  w = malloc((size_t)n * sizeof *w);
  if (w != NULL && MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n) != n) {
    free(w);
    w = NULL;
  }
  return w;
}

/* Append @a to the command line @cl (capacity @cap, used @n) quoted as
 * CommandLineToArgvW() and the C runtimes parse it: backslashes are
 * literal except before a quote, where they are doubled. */
static size_t quote_arg(wchar_t *cl, size_t cap, size_t n, const wchar_t *a)
{
  size_t slashes, k;
  const wchar_t *p;

#define PUT(c)                                                                 \
  do {                                                                         \
    if (n + 1 < cap)                                                           \
      cl[n] = (c);                                                             \
    n++;                                                                       \
  } while (0)
  if (n > 0)
    PUT(L' ');
  if (a[0] != L'\0' && wcspbrk(a, L" \t\n\v\"") == NULL) {
    for (p = a; *p != L'\0'; p++)
      PUT(*p);
    return n;
  }
  PUT(L'"');
  for (p = a;; p++) {
    for (slashes = 0; *p == L'\\'; p++)
      slashes++;
    if (*p == L'\0') {
      for (k = 0; k < 2 * slashes; k++)
        PUT(L'\\');
      break;
    }
    if (*p == L'"') {
      for (k = 0; k < 2 * slashes + 1; k++)
        PUT(L'\\');
    } else {
      for (k = 0; k < slashes; k++)
        PUT(L'\\');
    }
    PUT(*p);
  }
  PUT(L'"');
#undef PUT
  return n;
}

/* The command line of @argv (NULL: just @path), or NULL. */
static wchar_t *command_line(const char *path, const char *const *argv)
{
  const char *self[2] = {path, NULL};
  size_t cap = 0, n = 0, i;
  wchar_t *cl = NULL, *a;

  if (argv == NULL)
    argv = self;
  for (int pass = 0; pass < 2; pass++) {
    n = 0;
    for (i = 0; argv[i] != NULL; i++) {
      a = widen(argv[i]);
      if (a == NULL) {
        free(cl);
        return NULL;
      }
      n = quote_arg(cl, cap, n, a);
      free(a);
    }
    if (pass == 0) {
      cap = n + 1;
      cl = malloc(cap * sizeof *cl);
      if (cl == NULL)
        return NULL;
    }
  }
  cl[n < cap ? n : cap - 1] = L'\0';
  return cl;
}

/* The child's environment block: @envp (or ours) without any SHMIPC_FD,
 * then @var; or NULL. */
static wchar_t *env_block(const char *const *envp, const char *var)
{
  static const wchar_t name[] = L"" SHMIPC_ENV_FD L"=";
  const size_t nlen = sizeof name / sizeof name[0] - 1;
  wchar_t *ours = NULL, *out, *w;
  size_t total = 0, n = 0, i, len;
  const wchar_t *q;

  if (envp == NULL) {
    ours = GetEnvironmentStringsW();
    if (ours == NULL)
      return NULL;
    for (q = ours; *q != L'\0'; q += wcslen(q) + 1)
      total += wcslen(q) + 1;
  } else {
    for (i = 0; envp[i] != NULL; i++)
      total += strlen(envp[i]) * 2 + 1; /* UTF-16 units never exceed bytes */
  }
  total += strlen(var) + 2;
  out = malloc(total * sizeof *out);
  if (out == NULL)
    goto done;
  if (envp == NULL) {
    for (q = ours; *q != L'\0'; q += wcslen(q) + 1)
      if (_wcsnicmp(q, name, nlen) != 0) {
        len = wcslen(q) + 1;
        memcpy(out + n, q, len * sizeof *out);
        n += len;
      }
  } else {
    for (i = 0; envp[i] != NULL; i++) {
      w = widen(envp[i]);
      if (w == NULL) {
        free(out);
        out = NULL;
        goto done;
      }
      if (_wcsnicmp(w, name, nlen) != 0) {
        len = wcslen(w) + 1;
        memcpy(out + n, w, len * sizeof *out);
        n += len;
      }
      free(w);
    }
  }
  w = widen(var);
  if (w == NULL) {
    free(out);
    out = NULL;
    goto done;
  }
  len = wcslen(w) + 1;
  memcpy(out + n, w, len * sizeof *out);
  n += len;
  free(w);
  out[n] = L'\0';
done:
  if (ours != NULL)
    FreeEnvironmentStringsW(ours);
  return out;
}

static int launch_code(DWORD e)
{
  switch (e) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_DIRECTORY:
  case ERROR_INVALID_NAME:
    return SHMIPC_E_NOT_FOUND;
  case ERROR_ACCESS_DENIED:
  case ERROR_BAD_EXE_FORMAT:
    return SHMIPC_E_ACCESS;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
    return SHMIPC_E_NOMEM;
  default:
    return SHMIPC_E_SYSTEM;
  }
}

/* An inheritable duplicate of @h, or NULL. */
static HANDLE inheritable(HANDLE h)
{
  HANDLE d = NULL;

  if (h == NULL || h == INVALID_HANDLE_VALUE)
    return NULL;
  if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &d, 0, TRUE,
                       DUPLICATE_SAME_ACCESS))
    return NULL;
  return d;
}

static int launch(shmipc_host *h, const shmipc_launch_config *cfg,
                  shmipc_child **out)
{
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
  PROCESS_INFORMATION pi;
  STARTUPINFOEXW si;
  struct shmipc__endpoint *ep;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  HANDLE pass[6]; /* map, host mutex, guest mutex, then stdd's */
  HANDLE std[3], stdd[3] = {NULL, NULL, NULL};
  wchar_t *wpath = NULL, *cl = NULL, *env = NULL, *wcwd = NULL;
  char var[160];
  shmipc_child *c;
  SIZE_T attr_size = 0;
  DWORD npass = 0, e;
  int r, k;

  if (out == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "out is NULL");
  *out = NULL;
  if (h == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "h is NULL");
  if (cfg == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "cfg is NULL");
  if (cfg->struct_size != sizeof *cfg)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "struct_size %lu, want %lu (fill the config with "
                        "shmipc_launch_config_init())",
                        (unsigned long)cfg->struct_size,
                        (unsigned long)sizeof *cfg);
  if (cfg->path == NULL || cfg->path[0] == '\0')
    return shmipc__fail(SHMIPC_E_INVALID, "path is %s",
                        cfg->path == NULL ? "NULL" : "empty");
  ep = shmipc__host_ep(h);
  if (ep->seg.path[0] != '\0')
    return shmipc__fail(SHMIPC_E_STATE,
                        "the host's segment is named (%s): launch needs one "
                        "from shmipc_host_create_anonymous()",
                        ep->seg.path);

  c = calloc(1, sizeof *c);
  if (c == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the child handle");
  c->default_timeout_ns = ep->default_timeout_ns;
  memset(pass, 0, sizeof pass);
  pass[0] = inheritable(ep->seg.os->map);
  pass[1] = inheritable(ep->seg.os->mutex[SHMIPC__ROLE_HOST]);
  pass[2] = inheritable(ep->seg.os->mutex[SHMIPC__ROLE_GUEST]);
  npass = 3;
  if (pass[0] == NULL || pass[1] == NULL || pass[2] == NULL) {
    r = shmipc__fail(SHMIPC_E_SYSTEM,
                     "duplicating the segment's handles: "
                     "error %lu",
                     (unsigned long)GetLastError());
    goto err;
  }
  std[0] = GetStdHandle(STD_INPUT_HANDLE);
  std[1] = GetStdHandle(STD_OUTPUT_HANDLE);
  std[2] = GetStdHandle(STD_ERROR_HANDLE);
  for (k = 0; k < 3; k++) {
    stdd[k] = inheritable(std[k]);
    if (stdd[k] != NULL)
      pass[npass++] = stdd[k];
  }
  snprintf(var, sizeof var, "%s=%llu:%llu:%llu:%s", SHMIPC_ENV_FD,
           (unsigned long long)(uintptr_t)pass[0],
           (unsigned long long)(uintptr_t)pass[1],
           (unsigned long long)(uintptr_t)pass[2], ep->seg.os->name);
  wpath = widen(cfg->path);
  cl = command_line(cfg->path, cfg->argv);
  env = env_block(cfg->envp, var);
  wcwd = cfg->cwd != NULL ? widen(cfg->cwd) : NULL;
  if (wpath == NULL || cl == NULL || env == NULL ||
      (cfg->cwd != NULL && wcwd == NULL)) {
    r = shmipc__fail(SHMIPC_E_NOMEM,
                     "launching %s: building the command "
                     "line and environment",
                     cfg->path);
    goto err;
  }
  /* Only the handles listed are inherited, whatever else of the host is
   * inheritable. */
  InitializeProcThreadAttributeList(NULL, 1, 0, &attr_size);
  attrs = malloc(attr_size);
  if (attrs == NULL ||
      !InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size)) {
    free(attrs);
    attrs = NULL;
    r = shmipc__fail(SHMIPC_E_NOMEM, "launching %s: attribute list", cfg->path);
    goto err;
  }
  if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                 pass, npass * sizeof pass[0], NULL, NULL)) {
    r = shmipc__fail(SHMIPC_E_SYSTEM, "launching %s: handle list: error %lu",
                     cfg->path, (unsigned long)GetLastError());
    goto err;
  }
  c->job = CreateJobObjectW(NULL, NULL);
  memset(&lim, 0, sizeof lim);
  lim.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (c->job == NULL ||
      !SetInformationJobObject(c->job, JobObjectExtendedLimitInformation, &lim,
                               sizeof lim)) {
    r = shmipc__fail(SHMIPC_E_SYSTEM, "launching %s: job object: error %lu",
                     cfg->path, (unsigned long)GetLastError());
    goto err;
  }
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = stdd[0];
  si.StartupInfo.hStdOutput = stdd[1];
  si.StartupInfo.hStdError = stdd[2];
  si.lpAttributeList = attrs;
  memset(&pi, 0, sizeof pi);
  /* Suspended until it is in the job, so that it never runs outside. */
  if (!CreateProcessW(wpath, cl, NULL, NULL, TRUE,
                      CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT |
                          EXTENDED_STARTUPINFO_PRESENT,
                      env, wcwd, &si.StartupInfo, &pi)) {
    e = GetLastError();
    r = shmipc__fail(launch_code(e), "launching %s%s%s: error %lu", cfg->path,
                     cfg->cwd != NULL ? " in " : "",
                     cfg->cwd != NULL ? cfg->cwd : "", (unsigned long)e);
    goto err;
  }
  if (!AssignProcessToJobObject(c->job, pi.hProcess)) {
    e = GetLastError();
    TerminateProcess(pi.hProcess, KILLED_CODE);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    r = shmipc__fail(SHMIPC_E_SYSTEM, "launching %s: job assignment: error %lu",
                     cfg->path, (unsigned long)e);
    goto err;
  }
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  c->process = pi.hProcess;
  c->pid = pi.dwProcessId;
  r = SHMIPC_OK;
  *out = c;
  c = NULL;

err:
  if (attrs != NULL) {
    DeleteProcThreadAttributeList(attrs);
    free(attrs);
  }
  for (k = 0; k < (int)npass && k < 3; k++)
    if (pass[k] != NULL)
      CloseHandle(pass[k]); /* the child has its own now */
  for (k = 0; k < 3; k++)
    if (stdd[k] != NULL)
      CloseHandle(stdd[k]);
  free(wpath);
  free(cl);
  free(env);
  free(wcwd);
  if (c != NULL) {
    if (c->job != NULL)
      CloseHandle(c->job);
    free(c);
  }
  return r;
}

int shmipc_host_launch(shmipc_host *h, const shmipc_launch_config *cfg,
                       shmipc_child **out)
{
  int r = launch(h, cfg, out);

  if (r == SHMIPC_OK)
    shmipc__host_launched(h, shmipc__child_dup(*out), (*out)->pid);
  return shmipc__failed(r);
}

intptr_t shmipc__child_dup(const shmipc_child *c)
{
  HANDLE dup = NULL;

  if (!DuplicateHandle(GetCurrentProcess(), c->process, GetCurrentProcess(),
                       &dup, SYNCHRONIZE, FALSE, 0))
    return -1;
  return (intptr_t)dup;
}

int shmipc__child_ended(intptr_t handle)
{
  /* A process handle is signalled once the process has ended. */
  return WaitForSingleObject((HANDLE)handle, 0) == WAIT_OBJECT_0 ? 1 : 0;
}

void shmipc__child_handle_close(intptr_t handle)
{
  CloseHandle((HANDLE)handle);
}

int64_t shmipc_child_pid(const shmipc_child *c)
{
  return c != NULL ? (int64_t)c->pid : 0;
}

intptr_t shmipc_child_handle(const shmipc_child *c)
{
  return c != NULL ? (intptr_t)c->process : -1;
}

static int child_wait(shmipc_child *c, int64_t timeout_ns,
                      shmipc_child_exit *out)
{
  struct shmipc__deadline dl;
  int64_t budget, left;
  DWORD w, code;

  if (c == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "c is NULL");
  if (out != NULL && out->struct_size != sizeof *out)
    return shmipc__fail(SHMIPC_E_INVALID, "out->struct_size %lu, want %lu",
                        (unsigned long)out->struct_size,
                        (unsigned long)sizeof *out);
  if (shmipc__budget(timeout_ns, c->default_timeout_ns, &budget) != SHMIPC_OK)
    return shmipc__fail_timeout("timeout_ns", timeout_ns);
  dl = shmipc__deadline(budget);
  /* acquire: pairs with the release below */
  while (!shmipc__load_acquire32(&c->reaped)) {
    left = shmipc__left(&dl, shmipc__now_ns());
    w = WaitForSingleObject(c->process,
                            left / 1000000 > WAIT_SLICE_MS
                                ? WAIT_SLICE_MS
                                : (DWORD)((left + 999999) / 1000000));
    if (w == WAIT_OBJECT_0) {
      if (!GetExitCodeProcess(c->process, &code))
        return shmipc__fail(
            SHMIPC_E_SYSTEM, "child %lu: GetExitCodeProcess: error %lu",
            (unsigned long)c->pid, (unsigned long)GetLastError());
      c->exit.struct_size = sizeof c->exit;
      c->exit.signal = 0;
      c->exit.code = code;
      /* release: the exit is written */
      shmipc__store_release32(&c->reaped, 1);
      break;
    }
    if (w != WAIT_TIMEOUT)
      return shmipc__fail(SHMIPC_E_SYSTEM, "waiting for child %lu: error %lu",
                          (unsigned long)c->pid, (unsigned long)GetLastError());
    if (shmipc__left(&dl, shmipc__now_ns()) == 0)
      return shmipc__fail(SHMIPC_E_TIMEOUT, "child %lu still runs",
                          (unsigned long)c->pid);
  }
  if (out != NULL)
    *out = c->exit;
  return SHMIPC_OK;
}

int shmipc_child_wait(shmipc_child *c, int64_t timeout_ns,
                      shmipc_child_exit *out)
{
  return shmipc__failed(child_wait(c, timeout_ns, out));
}

static int child_kill(shmipc_child *c)
{
  if (c == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "c is NULL");
  /* acquire: pairs with the release in child_wait() */
  if (shmipc__load_acquire32(&c->reaped))
    return SHMIPC_OK;
  /* The handle names this process even once its id is reused; ending an
   * ended process fails with ACCESS_DENIED, which is no error here. */
  if (!TerminateProcess(c->process, KILLED_CODE) &&
      WaitForSingleObject(c->process, 0) != WAIT_OBJECT_0)
    return shmipc__fail(SHMIPC_E_SYSTEM, "killing child %lu: error %lu",
                        (unsigned long)c->pid, (unsigned long)GetLastError());
  return SHMIPC_OK;
}

int shmipc_child_kill(shmipc_child *c) { return shmipc__failed(child_kill(c)); }

void shmipc_child_destroy(shmipc_child *c)
{
  if (c == NULL)
    return;
  if (!shmipc__load_acquire32(&c->reaped)) {
    (void)child_kill(c);
    (void)child_wait(c, (int64_t)DESTROY_WAIT_MS * 1000000, NULL);
  }
  CloseHandle(c->job); /* kills what is left in it */
  CloseHandle(c->process);
  free(c);
}
