// The result endpoints of docs/api.md "Results": a request task's outputs (the result id is the
// task id) — summaries, paged outputs, CSV / JSON downloads (streamed from a file made once and
// kept beside the result), accuracy against a labelled dataset, delete. Handlers only translate
// between validated input and service::ResultService.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/results.h"

namespace tendril::api {

// Appends the endpoints. `results` must outlive them.
void addResultEndpoints(std::vector<Endpoint>& out, service::ResultService& results);

}  // namespace tendril::api
