// The dataset endpoints of docs/api.md "Datasets": create, chunked part upload at offsets (raw
// octet-stream bodies), part status, finalize, get, list, download, delete, and the plain-HTTP
// declaration of the upload WebSocket (api/upload_socket.h) so that the policy and the OpenAPI
// document cover it. Handlers only translate between validated input, service::DatasetService
// (which holds every rule) and the JSON views below.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "api/endpoint.h"
#include "service/datasets.h"

namespace tendril::api {

inline constexpr std::string_view kDatasetUploadPath = "/api/v1/datasets/{id}/upload";

// Appends the endpoints. `datasets` must outlive them.
void addDatasetEndpoints(std::vector<Endpoint>& out, service::DatasetService& datasets);

// {id, name, project_id, owner_id, created, format, state, error, parts: {name: {size, received,
//  sha256}}, bytes, kind, items, rows, image: {rows, cols}, classes, columns, checksum}; values
// not known (yet) or not applying to the kind are null, never omitted.
nlohmann::json datasetJson(const service::Dataset& dataset);
std::vector<OutputField> datasetOutput();

// {part, size, received} plus sha256 when `with_digest`.
nlohmann::json datasetPartJson(const service::DatasetPart& part, bool with_digest);

// The problem+json object for a refused append of `part`: the usual members, plus `received`
// (where to resume) when the refusal is a conflict (409) or an invalid chunk (400) and the part
// can still be read. Shared by PUT .../parts/{part} (its 409 and 400 bodies) and the upload
// WebSocket (error frames).
nlohmann::json appendProblem(service::DatasetService& datasets, const service::Principal& caller,
                             std::string_view id, std::string_view part, const Status& refusal,
                             std::string_view instance);

}  // namespace tendril::api
