// CUDA launchers of the SynthID-Text operations. Pointers and sizes in, cudaError_t out;
// nothing is allocated and nothing synchronises. The bindings validate the arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/synthid_params.h"

namespace tokenmark::cuda {

// Scratch bytes score_synthid_cuda needs: a hash table of 2 * n_tokens slots with dedup, none
// without.
size_t score_synthid_workspace_bytes(int64_t n_tokens, bool dedup);

// Ragged scoring, as score_kgw_cuda (kgw_cuda.h): valid offsets, tokens >= 0 and
// 1 <= layers <= 32 are the caller's to check, any prefix is safe; `workspace` holds
// score_synthid_workspace_bytes bytes, 4-byte aligned; dedup needs n_tokens < 2^31.
cudaError_t score_synthid_cuda(const SynthIdScoreArgs& a, void* workspace, size_t workspace_bytes,
                               cudaStream_t stream);

// Scratch bytes sample_synthid_cuda needs for `batch` rows of `n` candidates, `layers` layers
// and a.top_k = `top_k` (0 for an empty batch): 16 KiB per row and phase, plus 8 bytes per 1024
// candidates (enough for any a.chunk); with 0 < top_k < n, the top_k candidates' ids and logits
// (8 bytes each), the split pick's scratch (top_k_workspace_bytes) and the rest sized for top_k
// candidates.
size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers, int64_t top_k = 0);

// SynthIdSampleArgs::chunk, candidates per block of a pass: a multiple of the smallest (four per
// thread of a 256-thread block) up to the largest, or 0 for synthid_default_chunk. A row holds
// at most 65535 chunks (the grid's y dimension).
constexpr int kSynthIdMinChunk = 1024;
constexpr int kSynthIdMaxChunk = 16384;
constexpr int64_t kSynthIdMaxChunks = 65535;

// The chunk a pass takes by default for `batch` rows of `n` candidates on a device that holds
// `resident` pass blocks at once: the smallest power-of-two multiple of kSynthIdMinChunk whose
// grid (batch x chunks) fits in one wave, so that no block waits for a second wave, and the
// largest chunk when none does: small grids want small chunks (more blocks at work), large ones
// fewer blocks (each block pays a histogram flush and a load of its row's factors). In the H200
// sweep of the pass kernel before its 32-bit histogram words (bench/RESULTS.md, git 0c1e20b)
// this rule picks the fastest chunk, or one within 2% of it, at each of the six shapes, where a
// fixed 2048 was up to 1.18x slower. On the kernel as it is now (git e863c0b) it is within 2%
// of the fastest at five shapes and 6% slower at 32 x 128256 (8192: 0.270 ms, 4096: 0.255).
inline int64_t synthid_default_chunk(int64_t batch, int64_t n, int64_t resident) {
  int64_t chunk = kSynthIdMinChunk;
  const auto chunks = [&](int64_t c) { return (n + c - 1) / c; };
  while (chunk < kSynthIdMaxChunk &&
         (batch * chunks(chunk) > resident || chunks(chunk) > kSynthIdMaxChunks)) {
    chunk *= 2;
  }
  return chunk;
}

// The top-k candidates of `batch` rows of `vocab` logits (row stride `row_stride` elements), as
// the spec picks them (NaN as -inf, -0 as +0, equal logits lower id first): ids ascending into
// `cand` ([batch, k] int32) and their logits into `values` ([batch, k] float32); 0 < k < vocab
// <= 2^31 - 1. Long rows are split over blocks (two launches) with `workspace` holding
// top_k_workspace_bytes(batch, vocab, k) bytes, 4-byte aligned (none for short rows).
size_t top_k_workspace_bytes(int64_t batch, int64_t vocab, int64_t k);
cudaError_t top_k_candidates_cuda(const void* logits, int64_t batch, int64_t vocab,
                                  int64_t row_stride, LogitsDtype dtype, int64_t k, int32_t* cand,
                                  float* values, void* workspace, size_t workspace_bytes,
                                  cudaStream_t stream);

// Tournament sampling (docs/prf.md, "Sampling"), bit-identical to the CPU's. The candidates are
// the `a.vocab` entries of each row: the whole vocabulary (`cand` null, a.top_k 0 or >= vocab),
// its a.top_k largest logits (`cand` null, 0 < a.top_k < vocab: picked on the device by
// top_k_candidates_cuda into the workspace, one more launch), or the caller's gathered logits
// with their token ids in `cand` ([batch, a.vocab] int32; a.top_k must be 0). Keys, uniforms,
// enabled and the outputs are device pointers; `workspace` holds sample_synthid_workspace_bytes
// bytes, 16-byte aligned. Rows without a finite logit get kNoFiniteLogit.
cudaError_t sample_synthid_cuda(const SynthIdSampleArgs& a, const int32_t* cand, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream);

// Profiling (SynthIdSampleArgs::stage_times, null in use; bench/profile_gpu_synthid.py
// --stages): thread 0 of each block stamps {global timer ns, its SM's cycle counter} at each
// stage of its launch into uint64 [launches, batch, max_chunks, kSynthIdStages, 2], which the
// launcher zeroes first (a stage a block does not reach stays 0). Launch 0 is the setup kernel,
// launch 1 + p pass p; max_chunks = ceil(n / kSynthIdMinChunk), n the candidates (top_k when
// picked), whatever the chunk. Stages: entry; prologue done (the played phases' factors in
// shared memory); candidates done; counted in (histogram or chunk total flushed, fenced, the
// arrival counted); tail done (the row's last block only: the phase's factors, or the draw).
constexpr int kSynthIdStages = 5;
struct SynthIdStageShape {
  int64_t launches, batch, max_chunks;
  size_t bytes() const {
    return static_cast<size_t>(launches * batch * max_chunks) * kSynthIdStages * 2 *
           sizeof(uint64_t);
  }
};
SynthIdStageShape sample_synthid_stage_shape(int64_t batch, int64_t n, int layers, int64_t top_k);

}  // namespace tokenmark::cuda
