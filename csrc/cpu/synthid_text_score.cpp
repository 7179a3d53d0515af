// SynthID-Text's detector counts per document (see python/tokenmark/reference/synthid_text.py,
// score_synthid_text, the spec): position j >= ngram_len - 1 hashes its context from h = 1 with
// accumulate(h, x) = (h + x) * 6364136223846793005 + 1 (uint64 wrapping), is masked when the same
// context hash occurred at most `history` positions before (or is 0 within the first `history`
// contexts: their zero-filled history), from the first EOS on, or before the prompt's end; each
// kept position adds its g-values table[accumulate(accumulate(ctx, token), key) mod size].
#include "synthid_text_score.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "synthid_text_bits.h"

namespace tokenmark::cpu {
namespace {

constexpr uint64_t kLcgMul = 6364136223846793005ull;  // their accumulate_hash LCG

inline uint64_t accumulate(uint64_t h, uint64_t x) { return (h + x) * kLcgMul + 1u; }

// The newest earlier occurrence of each context hash of a document, as hash chains (zlib's
// scheme): head_[b] is the newest context in bucket b (a running index over the documents the
// thread has seen since the last reset, so older documents' entries are stale without
// clearing), prev_[c] the one before context c in its bucket. Recording is branch-free; a search
// walks the chain only while it stays within the history window. 2^14 buckets (64 KiB of int32_t
// heads) were the fastest of 2^10 to 2^16 at 512-token documents (fewer shared buckets, fewer
// mispredicted walks); documents of 2^31 - 1 contexts or more take int64_t indices.
template <typename Index>
class RecentContexts {
 public:
  static bool fits(int64_t n) { return n < std::numeric_limits<Index>::max(); }
  void start(int64_t n) {  // a document of n contexts, fits(n)
    if (head_.empty() || next_ > std::numeric_limits<Index>::max() - n) {
      head_.assign(kBuckets, -1);
      next_ = 0;
    }
    base_ = next_;
    next_ += n;
    prev_.resize(static_cast<size_t>(n));
    hash_.resize(static_cast<size_t>(n));
  }
  // Whether context c (from 0 in the document) has hash h among the `history` contexts before
  // it; records it.
  bool seen(uint64_t h, int64_t c, int64_t history) {
    Index& head = head_[(h * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits)];
    bool found = false;
    for (int64_t i = head; i >= base_ && base_ + c - i <= history; i = prev_[i - base_]) {
      if (hash_[i - base_] == h) {
        found = true;
        break;
      }
    }
    prev_[c] = head;
    hash_[c] = h;
    head = static_cast<Index>(base_ + c);
    return found;
  }

 private:
  static constexpr int kBucketBits = 14;
  static constexpr int64_t kBuckets = int64_t{1} << kBucketBits;
  std::vector<Index> head_, prev_;
  std::vector<uint64_t> hash_;
  int64_t base_ = 0, next_ = 0;
};

// Their context hash is affine in the context's tokens: accumulate(h, x) = h * C + (x * C + 1),
// so from h = 1 over the m = ngram_len - 1 tokens before position j,
//   h_j = K + S_j,  K = accumulate^m(1, 0, ..., 0),  S_j = sum_{i < m} t[j - m + i] * C^(m - i)
// (uint64 wrapping: a ring, where every step below is exact). S rolls one position on with
//   S_{j+1} = (S_j + t[j]) * C - t[j - m] * C^(m + 1),
// and the kept value accumulate(h_j, t[j]) * C is (h_j + t[j]) * C^2 + C: three multiplies per
// position whatever m, instead of m + 2.
struct ContextHashes {
  static constexpr uint64_t kC2 = kLcgMul * kLcgMul;
  uint64_t k = 1, c_top = kLcgMul;  // K and C^(m + 1)
  explicit ContextHashes(int m) {
    for (int i = 0; i < m; ++i) {
      k = accumulate(k, 0);
      c_top *= kLcgMul;
    }
  }
  // S of the first position, m, of doc.
  static uint64_t first(const int32_t* doc, int m) {
    uint64_t s = 0;
    for (int i = 0; i < m; ++i) s = (s + static_cast<uint64_t>(doc[i])) * kLcgMul;
    return s;
  }
};

// The kept positions of document d, as ht * C (ht: the hash of their context and token), in
// order, into kept[0 .. count) (count returned); `seen` tracks the context repetition mask when
// it is on.
template <typename Tracker>
int64_t kept_positions(const SynthidTextScoreArgs& a, const ContextHashes& hashes, int64_t d,
                       Tracker& seen, std::vector<uint64_t>& kept) {
  const int m = a.ngram_len - 1;
  const int32_t* doc = a.tokens + a.offsets[d];
  const int64_t len = a.offsets[d + 1] - a.offsets[d];
  if (len <= m) return 0;
  int64_t end = len;  // the first EOS: positions from it on are masked (ids are int32)
  if (a.eos >= 0 && a.eos <= std::numeric_limits<int32_t>::max()) {
    end = std::find(doc, doc + len, static_cast<int32_t>(a.eos)) - doc;
  }
  const int64_t begin = std::max<int64_t>(m, a.prefix ? a.prefix[d] : 0);
  kept.resize(static_cast<size_t>(len - m));
  uint64_t* out = kept.data();
  uint8_t* counted = a.counted ? a.counted + a.offsets[d] : nullptr;
  const bool mask_repeated = a.mask_repeated;
  const int64_t history = a.history;
  if (mask_repeated) seen.start(len - m);
  int64_t n = 0;
  uint64_t s = ContextHashes::first(doc, m);
  for (int64_t j = m; j < len; ++j) {
    const uint64_t h = hashes.k + s;
    const uint64_t t = static_cast<uint64_t>(doc[j]);
    s = (s + t) * kLcgMul - static_cast<uint64_t>(doc[j - m]) * hashes.c_top;
    bool keep = j >= begin && j < end;
    if (mask_repeated) {  // runs over every position, scored or not, as theirs
      const int64_t c = j - m;
      if (seen.seen(h, c, history) || (h == 0 && c < history)) keep = false;
    }
    if (counted && keep) counted[j] = 1;
    out[n] = (h + t) * ContextHashes::kC2 + kLcgMul;  // always written, kept if n moves on
    n += keep;
  }
  return n;
}

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
  // (ht + k) * C + 1 = ht * C + (k * C + 1) in uint64 wrapping: one multiply per position, and
  // per layer an add (bit-exact with their per-layer accumulate).
  std::vector<uint64_t> key_terms(a.depth);
  for (int l = 0; l < a.depth; ++l) key_terms[l] = a.keys[l] * kLcgMul + 1u;
#pragma omp parallel
  {
    RecentContexts<int32_t> seen;
    RecentContexts<int64_t> seen_long;  // documents of 2^31 - 1 contexts or more
    std::vector<uint64_t> kept;
    const ContextHashes hashes(a.ngram_len - 1);
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int64_t count = seen.fits(a.offsets[d + 1] - a.offsets[d])
                                ? kept_positions(a, hashes, d, seen, kept)
                                : kept_positions(a, hashes, d, seen_long, kept);
      int64_t* ones = a.ones + d * a.depth;
      if (a.layer_bits) {
        std::fill(ones, ones + a.depth, 0);
        count_layer_bits(kept.data(), count, a.layer_bits, a.table_size, a.depth, ones);
      } else if (pow2) {
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
