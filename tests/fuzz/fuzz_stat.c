/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: shmipc-stat's reader (tools/shmipc-stat.c) over an
 * arbitrary segment file. The input is the file's bytes, in a memfd: the
 * reader validates it as a guest would and must then print it, as text
 * and as JSON, without a crash, an out-of-bounds read or a hang. The
 * seeds are real segments (tests/fuzz/corpus/stat).
 */
#define SHMIPC_STAT_NO_MAIN
#include "../../tools/shmipc-stat.c"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static bool quiet;
  struct source src;
  struct snap s;

  if (!quiet) {
    /* the printing is under test, not its output */
    if (freopen("/dev/null", "w", stdout) == NULL)
      abort();
    out = stdout;
    quiet = true;
  }
  memset(&s, 0, sizeof s);
  s.host_alive = s.guest_alive = -1;
  s.uid = -1;
  snprintf(s.name, sizeof s.name, "fuzz");
  snprintf(s.path, sizeof s.path, "memfd");
  src.fd = memfd_create("fuzz-stat", MFD_CLOEXEC);
  if (src.fd < 0)
    abort();
  if (size > 0 && write(src.fd, data, size) != (ssize_t)size)
    abort();
  s.size = size;
  snap_read(&s, &src);
  if (s.valid) {
    text_segment(&s, NULL, 0);
    json_segment(&s, NULL, 0);
  } else {
    json_segment(&s, NULL, 0);
  }
  snap_free(&s);
  close(src.fd);
  return 0;
}
