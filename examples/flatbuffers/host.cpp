// SPDX-License-Identifier: MIT
/*
 * The C++ end of the FlatBuffers example: a host that builds each
 * QuoteRequest (quote.fbs) with a flatbuffers::FlatBufferBuilder straight
 * into a slot's request buffer, sends it end-aligned, and reads the Go
 * guest's QuoteReply (guest/main.go) in place in the response buffer.
 *
 *   host NAME      (the guest attaches to NAME: guest -name NAME)
 *
 * The builder's allocator (SlotAllocator below) hands out the slot's
 * request buffer and nothing else. A message that outgrows it spills into
 * a heap buffer, which the host detects and refuses to send (sending it
 * would need a copy): every request that is sent was written once, by the
 * builder, in shared memory. Copies on the round trip: none. The Go guest
 * builds its reply back to front in the response buffer and answers it
 * end-aligned (shmipc.RespEndAligned) where the builder left it; the host
 * reads the reply where it lies.
 */
#include <shmipc/shmipc.hpp>

#include <flatbuffers/flatbuffers.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "quote_generated.h"

using namespace std::chrono_literals;

namespace
{

constexpr uint32_t msg_quote = SHMIPC_MSG_APP_START + 1;

/* Hands the builder the slot's request buffer, cut to a multiple of 8 (a
 * FlatBuffer is aligned from its end), so that the message ends at
 * buf + usable(). A second allocation (the builder outgrew the slot) comes
 * from the heap and is counted: such a message is not sent. */
class SlotAllocator : public flatbuffers::Allocator
{
public:
  explicit SlotAllocator(shmipc::Slot &slot)
      : buf_(static_cast<uint8_t *>(slot.req_data())),
        cap_(slot.req_capacity() & ~size_t(7))
  {
  }
  uint8_t *allocate(size_t size) override
  {
    if (!given_ && size <= cap_) {
      given_ = true;
      return buf_ + (cap_ - size);
    }
    ++spills_;
    return new uint8_t[size];
  }
  void deallocate(uint8_t *p, size_t) override
  {
    if (p < buf_ || p >= buf_ + cap_)
      delete[] p;
  }
  /* True when the finished message @p p of @p n bytes is the last bytes
   * of the slot's usable buffer. */
  bool in_slot(const uint8_t *p, size_t n) const
  {
    return spills_ == 0 && p >= buf_ && p + n == buf_ + cap_;
  }
  size_t usable() const { return cap_; }
  unsigned spills() const { return spills_; }

private:
  uint8_t *buf_;
  size_t cap_;
  bool given_ = false;
  unsigned spills_ = 0;
};

struct Order {
  const char *symbol;
  uint32_t quantity;
  std::vector<double> levels;
};

/* One QuoteRequest built in a slot, sent end-aligned, its reply read in
 * place. Returns 0, or 1 after saying why not. */
int ask(shmipc::Host &host, uint64_t id, const Order &o)
{
  shmipc::Result<shmipc::Slot> slot = host.acquire(1s);
  if (!slot) {
    std::fprintf(stderr, "acquire: %s\n", slot.message().c_str());
    return 1;
  }
  size_t len;
  {
    SlotAllocator alloc(*slot);
    flatbuffers::FlatBufferBuilder fbb(alloc.usable(), &alloc, false, 8);
    auto sym = fbb.CreateString(o.symbol);
    auto lv = fbb.CreateVector(o.levels);
    fbb.Finish(quote::CreateQuoteRequest(fbb, id, sym, o.quantity, lv),
               quote::QuoteRequestIdentifier());
    if (!alloc.in_slot(fbb.GetBufferPointer(), fbb.GetSize())) {
      std::printf("quote %" PRIu64 " refused: %u bytes do not fit the "
                  "%zu-byte slot\n",
                  id, fbb.GetSize(), slot->req_capacity());
      return 0;
    }
    /* The message ends at usable(); the bytes after it, up to the
     * capacity (less than 8), travel along and a reader ignores them. */
    len = fbb.GetSize() + (slot->req_capacity() - alloc.usable());
  } // the builder gives its buffer back to SlotAllocator: nothing happens

  shmipc::Status st = slot->send(msg_quote, len, shmipc::Align::end, 5s);
  if (!st) {
    std::printf("quote %" PRIu64 " failed: %s\n", id, st.message().c_str());
    return st.code() == SHMIPC_E_REMOTE ? 0 : 1;
  }
  /* The reply comes from another process: verify before reading. */
  const auto *p = static_cast<const uint8_t *>(slot->resp_data());
  flatbuffers::Verifier v(p, slot->resp_size());
  if (slot->resp_type() != msg_quote ||
      !v.VerifyBuffer<quote::QuoteReply>(quote::QuoteRequestIdentifier())) {
    std::printf("quote %" PRIu64 ": the reply is not a QuoteReply\n", id);
    return 1;
  }
  const quote::QuoteReply *r = flatbuffers::GetRoot<quote::QuoteReply>(p);
  std::printf("quote %" PRIu64 " %s: %u x %.2f = %.2f (%u levels, "
              "%zu-byte request, %zu-byte reply, read in place)\n",
              r->id(), r->symbol() ? r->symbol()->c_str() : "?", r->quantity(),
              r->best(), r->total(), r->levels(), len, slot->resp_size());
  return r->id() == id ? 0 : 1;
}

/* A request that is no FlatBuffer: the guest must refuse it. */
int garbage(shmipc::Host &host)
{
  shmipc::Result<shmipc::Slot> slot = host.acquire(1s);
  if (!slot)
    return 1;
  auto *buf = static_cast<char *>(slot->req_data());
  size_t cap = slot->req_capacity();
  const char junk[] = "\x01\x00\x00\x00SHQTnot a table";
  std::memcpy(buf + cap - sizeof junk, junk, sizeof junk);
  shmipc::Status st =
      slot->send(msg_quote, sizeof junk, shmipc::Align::end, 5s);
  std::printf("garbage request: %s\n", st.message().c_str());
  return st.code() == SHMIPC_E_REMOTE ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s NAME\n", argv[0]);
    return 2;
  }
  shmipc_host_config cfg = shmipc::Host::config(argv[1]);
  cfg.req_capacity = 4096;
  cfg.resp_capacity = 4096;
  shmipc::Result<shmipc::Host> host = shmipc::Host::create(cfg);
  if (!host) {
    std::fprintf(stderr, "create: %s\n", host.message().c_str());
    return 1;
  }
  if (shmipc::Status st = host->wait_guest(5s); !st) {
    std::fprintf(stderr, "no guest: %s\n", st.message().c_str());
    return 1;
  }
  const Order orders[] = {
      {"ACME", 100, {10.5, 10.75, 11.0}},
      {"INITECH", 7, {99.25}},
      {"HOOLI", 1000000, {0.5, 0.51, 0.52, 0.53}},
      {"BIG", 1, std::vector<double>(1000, 1.0)}, // 8 KB: over the slot
  };
  int rc = 0;
  uint64_t id = 0;
  for (const Order &o : orders)
    rc |= ask(*host, ++id, o);
  rc |= garbage(*host);
  std::printf("fb_host: %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
