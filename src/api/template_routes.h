// POST /api/v1/templates/check: parses and validates a cluster template without creating
// anything, for the dashboard's live preview while a template is typed. It applies the same
// parser and limits as POST /api/v1/clusters, so a template it accepts is one a create accepts
// (quotas and names aside); a refused one gets the same 400 naming the line or JSON path.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "engine/template.h"

namespace tendril::api {

void addTemplateEndpoints(std::vector<Endpoint>& out, engine::TemplateLimits limits = {});

}  // namespace tendril::api
