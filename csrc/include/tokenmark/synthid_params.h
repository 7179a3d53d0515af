// Argument bundles of the SynthID-Text operations, shared by the CPU and CUDA launchers.
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark {

struct SynthIdSampleArgs : RowArgs<const void> {
  const double* uniforms;  // [batch] in [0, 1): each row's sampling draw
  int32_t layers;          // tournament layers m, 1..32
  int64_t top_k;           // 0: the whole vocabulary; else the k largest logits
  int64_t history;         // positions searched for a repeated context (0: none)
  int64_t* out;            // [batch]: the token, or kNoFiniteLogit
  uint8_t* marked;         // [batch]: 1 where the tournament ran
  int32_t chunk;           // CUDA: candidates per block of a pass (0: synthid_default_chunk)
  // CUDA profiling, null in use: per launch, row, chunk and stage, the global timer (ns) and the
  // SM's cycle counter (sample_synthid_stage_shape, synthid_cuda.h).
  uint64_t* stage_times;
};

struct SynthIdScoreArgs : DocArgs {
  int32_t layers;
  int64_t* ones;  // [n_docs, layers] out: g-values equal to 1 per layer
};

}  // namespace tokenmark
