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

// The kept positions of document d, as ht * C (ht: the hash of their context and token), in
// order; `seen` tracks the context repetition mask when it is on.
template <typename Tracker>
void kept_positions(const SynthidTextScoreArgs& a, int64_t d, Tracker& seen,
                    std::vector<uint64_t>& kept) {
  const int n = a.ngram_len;
  const int32_t* doc = a.tokens + a.offsets[d];
  const int64_t len = a.offsets[d + 1] - a.offsets[d];
  int64_t end = len;  // the first EOS: positions from it on are masked (ids are int32)
  if (a.eos >= 0 && a.eos <= std::numeric_limits<int32_t>::max()) {
    end = std::find(doc, doc + len, static_cast<int32_t>(a.eos)) - doc;
  }
  const int64_t begin = std::max<int64_t>(n - 1, a.prefix ? a.prefix[d] : 0);
  kept.clear();
  if (a.mask_repeated) seen.start(std::max<int64_t>(len - n + 1, 0));
  for (int64_t j = n - 1; j < len; ++j) {
    uint64_t h = 1;
    for (int64_t i = j - n + 1; i < j; ++i) h = accumulate(h, static_cast<uint64_t>(doc[i]));
    bool keep = j >= begin && j < end;
    if (a.mask_repeated) {  // runs over every position, scored or not, as theirs
      const int64_t c = j - (n - 1);
      if (seen.seen(h, c, a.history) || (h == 0 && c < a.history)) keep = false;
    }
    if (!keep) continue;
    if (a.counted) a.counted[a.offsets[d] + j] = 1;
    kept.push_back(accumulate(h, static_cast<uint64_t>(doc[j])) * kLcgMul);
  }
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
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      if (seen.fits(a.offsets[d + 1] - a.offsets[d])) {
        kept_positions(a, d, seen, kept);
      } else {
        kept_positions(a, d, seen_long, kept);
      }
      const int64_t count = static_cast<int64_t>(kept.size());
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
