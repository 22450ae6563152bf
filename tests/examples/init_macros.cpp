// SPDX-License-Identifier: MIT
//
// SHMIPC_STREAM_RESULT_INIT and SHMIPC_STREAM_STATS_INIT in C++ (the
// README's stream sender initialises its result so): they compile under
// -Werror with the strict C++ warnings, which a designated initialiser
// does not before C++20, and they set struct_size and zero the rest.
#include <shmipc/shmipc.h>

#include <cstdio>
#include <cstring>

template <typename T> static bool rest_zero(const T &v)
{
  static const unsigned char zero[sizeof(T)] = {};
  return std::memcmp(reinterpret_cast<const unsigned char *>(&v) +
                         sizeof(uint32_t),
                     zero, sizeof(T) - sizeof(uint32_t)) == 0;
}

int main()
{
  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  int bad = 0;

  if (res.struct_size != sizeof res || !rest_zero(res)) {
    std::fprintf(stderr, "FAIL: SHMIPC_STREAM_RESULT_INIT: struct_size %u\n",
                 static_cast<unsigned>(res.struct_size));
    bad = 1;
  }
  if (st.struct_size != sizeof st || !rest_zero(st)) {
    std::fprintf(stderr, "FAIL: SHMIPC_STREAM_STATS_INIT: struct_size %u\n",
                 static_cast<unsigned>(st.struct_size));
    bad = 1;
  }
  if (!bad)
    std::puts("ok: both initialisers set struct_size and zero the rest");
  return bad;
}
