// The dataset upload WebSocket (GET /api/v1/datasets/{id}/upload, docs/api.md "Datasets"): the
// same chunked, offset-checked upload as PUT /datasets/{id}/parts/{part}, for clients that would
// rather stream frames than issue one request per chunk.
//
// Before the handshake: authentication and the policy (as every route), then the tenant check:
// a dataset the caller may not see (or that does not exist) is refused with the same 404
// problem+json as GET /datasets/{id}.
//
// Protocol, strictly one reply per client frame, in order:
//   text   {"part": "images", "offset": N} selects the part and the offset the next binary frame
//          starts at; reply {"part", "size", "received"}. N must equal `received` (else an error,
//          and no part is selected).
//   binary the next bytes of the selected part, appended at the current offset, which then moves
//          on; reply {"part", "size", "received"}.
//   Errors (no part selected, a malformed text frame, an offset mismatch, a chunk past the declared
//   size, a dataset no longer uploading, ...) are answered {"error": problem} (problem+json
//   members type, title, status, detail, and `received` when the part's offset matters); the
//   connection stays open. After an error on a binary frame the selection is dropped: the client
//   re-selects at the `received` the error names.
//
// Appends run inline on the connection's strand: a frame is bounded by ws_max_message_bytes, one
// append is a pwrite and an fdatasync, and while it runs the client's next frames wait in the
// socket buffers (natural backpressure, nothing queued in memory).
#pragma once

#include "api/api.h"
#include "api/router.h"
#include "service/datasets.h"

namespace tendril::api {

// `pipeline` and `datasets` must outlive the router.
void addUploadSocket(Router& router, const Pipeline& pipeline, service::DatasetService& datasets);

}  // namespace tendril::api
