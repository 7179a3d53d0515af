// SynthID-Text's detector counts per document (see python/tokenmark/reference/synthid_text.py,
// score_synthid_text, the spec): position j >= ngram_len - 1 hashes its context from h = 1 with
// accumulate(h, x) = (h + x) * 6364136223846793005 + 1 (uint64 wrapping), is masked when the same
// context hash occurred at most `history` positions before (or is 0 within the first `history`
// contexts: their zero-filled history), from the first EOS on, or before the prompt's end; each
// kept position adds its g-values table[accumulate(accumulate(ctx, token), key) mod size].
#include "synthid_text_score.h"

#include <algorithm>
#include <vector>

namespace tokenmark::cpu {
namespace {

constexpr uint64_t kLcgMul = 6364136223846793005ull;  // their accumulate_hash LCG

inline uint64_t accumulate(uint64_t h, uint64_t x) { return (h + x) * kLcgMul + 1u; }

// The last position of each context hash in one document (open addressing, no deletes). The
// table is reused across documents: a slot is live only when its stamp is the current one.
class LastSeen {
 public:
  void reset(int64_t n) {
    uint64_t cap = 16;
    while (cap < 4 * static_cast<uint64_t>(n)) cap <<= 1;  // load factor 1/4: short probes
    if (++current_ == 0 || slots_.size() != cap) {         // new size, or stamps wrapped
      slots_.assign(cap, Slot{0, 0, 0});
      current_ = 1;
    }
  }
  // Returns the previous position of `h` (or -1) and records `p` as its last one.
  int64_t swap(uint64_t h, int64_t p) {
    const uint64_t mask = slots_.size() - 1;
    uint64_t slot = (h * 0x9E3779B97F4A7C15ull) >> 17 & mask;
    while (slots_[slot].stamp == current_ && slots_[slot].key != h) slot = (slot + 1) & mask;
    Slot& e = slots_[slot];
    const int64_t prev = e.stamp == current_ ? e.pos : -1;
    e = Slot{h, p, current_};
    return prev;
  }

 private:
  struct Slot {
    uint64_t key;
    int64_t pos;
    uint32_t stamp;
  };
  std::vector<Slot> slots_;
  uint32_t current_ = 0;
};

// ones[l] = sum over the kept positions of table[(htc[i] + key_terms[l]) mod size]: layers outer,
// so each count stays in a register; four positions at a time on independent sums.
template <bool kPow2>
void layer_counts(const uint64_t* htc, int64_t n, const uint64_t* key_terms, int depth,
                  const uint8_t* table, int64_t size, int64_t* ones) {
  const uint64_t mask = static_cast<uint64_t>(size - 1);
  auto index = [&](uint64_t h) -> int64_t {
    if (kPow2) return static_cast<int64_t>(h & mask);
    int64_t idx = static_cast<int64_t>(h) % size;  // torch's % on int64: floor modulo
    return idx < 0 ? idx + size : idx;
  };
  for (int l = 0; l < depth; ++l) {
    const uint64_t k = key_terms[l];
    int64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      c0 += table[index(htc[i] + k)];
      c1 += table[index(htc[i + 1] + k)];
      c2 += table[index(htc[i + 2] + k)];
      c3 += table[index(htc[i + 3] + k)];
    }
    for (; i < n; ++i) c0 += table[index(htc[i] + k)];
    ones[l] = c0 + c1 + c2 + c3;
  }
}

}  // namespace

void score_synthid_text(const SynthidTextScoreArgs& a) {
  const bool pow2 = (a.table_size & (a.table_size - 1)) == 0;
  const int n = a.ngram_len;
  // (ht + k) * C + 1 = ht * C + (k * C + 1) in uint64 wrapping: one multiply per position, and
  // per layer an add (bit-exact with their per-layer accumulate).
  std::vector<uint64_t> key_terms(a.depth);
  for (int l = 0; l < a.depth; ++l) key_terms[l] = a.keys[l] * kLcgMul + 1u;
#pragma omp parallel
  {
    LastSeen seen;
    std::vector<uint64_t> kept;  // ht * C of each kept position, in order
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int32_t* doc = a.tokens + a.offsets[d];
      const int64_t len = a.offsets[d + 1] - a.offsets[d];
      int64_t end = len;  // the first EOS: positions from it on are masked
      if (a.eos >= 0) {
        for (int64_t j = 0; j < len; ++j) {
          if (doc[j] == a.eos) {
            end = j;
            break;
          }
        }
      }
      const int64_t begin = std::max<int64_t>(n - 1, a.prefix ? a.prefix[d] : 0);
      kept.clear();
      if (a.mask_repeated) seen.reset(std::max<int64_t>(len - n + 1, 0));
      for (int64_t j = n - 1; j < len; ++j) {
        uint64_t h = 1;
        for (int64_t i = j - n + 1; i < j; ++i) h = accumulate(h, static_cast<uint64_t>(doc[i]));
        bool keep = j >= begin && j < end;
        if (a.mask_repeated) {  // runs over every position, scored or not, as theirs
          const int64_t prev = seen.swap(h, j);
          if ((prev >= 0 && j - prev <= a.history) || (h == 0 && j - (n - 1) < a.history)) {
            keep = false;
          }
        }
        if (!keep) continue;
        if (a.counted) a.counted[a.offsets[d] + j] = 1;
        kept.push_back(accumulate(h, static_cast<uint64_t>(doc[j])) * kLcgMul);
      }
      const int64_t count = static_cast<int64_t>(kept.size());
      int64_t* ones = a.ones + d * a.depth;
      if (pow2) {
        layer_counts<true>(kept.data(), count, key_terms.data(), a.depth, a.table, a.table_size,
                           ones);
      } else {
        layer_counts<false>(kept.data(), count, key_terms.data(), a.depth, a.table, a.table_size,
                            ones);
      }
      a.n_scored[d] = count;
    }
  }
}

}  // namespace tokenmark::cpu
