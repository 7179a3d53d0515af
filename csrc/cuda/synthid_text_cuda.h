// CUDA launcher of the SynthID-Text dialect's detector counts (the CPU's is
// csrc/cpu/synthid_text_score.cpp, the spec python/tokenmark/reference/synthid_text.py).
// Pointers and sizes in, cudaError_t out; nothing is allocated and nothing synchronises. The
// binding validates the arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace tokenmark::cuda {

// Layers one launch counts (shared-memory counters per block).
constexpr int kSynthidTextMaxDepth = 256;

struct SynthidTextScoreArgs {
  const int32_t* tokens;  // [n_tokens], all >= 0
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1]
  int64_t n_docs;
  const int64_t* prefix;      // [n_docs] or null: positions before it are not scored
  int ngram_len;              // 1 .. 1024
  const uint64_t* key_terms;  // [depth] keys[l] * C + 1 (their LCG's multiplier C)
  int depth;                  // 1 .. kSynthidTextMaxDepth
  const uint8_t* table;       // [table_size] 0 / 1
  int64_t table_size;
  int64_t history;     // context_history_size
  bool mask_repeated;  // their context repetition mask
  int64_t eos;         // EOS token id, or -1: no EOS mask
  int64_t* n_scored;   // [n_docs] out
  int64_t* ones;       // [n_docs, depth] out
  uint8_t* counted;    // [n_tokens] out, or null
};

// Scratch bytes: each position's context hash (8 bytes per token).
size_t score_synthid_text_workspace_bytes(int64_t n_tokens);

// One block per document: its context hashes into the workspace (8-byte aligned), its first EOS,
// then per position the masks (the repetition search reads the `history` hashes before it, so a
// document costs its length times min(length, history)) and the g-values of the kept positions
// added up in shared memory. Integer counts: exact, the same as the CPU's.
cudaError_t score_synthid_text_cuda(const SynthidTextScoreArgs& a, void* workspace,
                                    size_t workspace_bytes, cudaStream_t stream);

}  // namespace tokenmark::cuda
