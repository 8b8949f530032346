#include "api/system_endpoints.h"

#include "service/host_stats.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

template <typename T>
nlohmann::json orNull(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json hostJson(const service::HostStats& stats) {
  nlohmann::json mhz = nullptr;
  if (!stats.cpu_mhz.empty()) mhz = stats.cpu_mhz;
  return {{"load",
           {{"1m", orNull(stats.load_1m)},
            {"5m", orNull(stats.load_5m)},
            {"15m", orNull(stats.load_15m)}}},
          {"cpus", stats.cpus},
          {"cpu_mhz", mhz},
          {"temperature_c", orNull(stats.temperature_c)},
          {"power_w", orNull(stats.power_w)},
          {"memory_total_bytes", orNull(stats.memory_total_bytes)},
          {"memory_available_bytes", orNull(stats.memory_available_bytes)},
          {"uptime_s", orNull(stats.uptime_s)}};
}

}  // namespace

void addSystemEndpoints(std::vector<Endpoint>& out, service::PolicyHolder& policy,
                        std::function<Status()> reload_policy,
                        std::shared_ptr<const nlohmann::json>* document) {
  Endpoint openapi = declare("GET", "/api/v1/openapi.json", "system.openapi",
                             "This API as an OpenAPI 3.1 document",
                             {PolicyRole::kAnonymous, PolicyRole::kUser, PolicyRole::kMember,
                              PolicyRole::kProjectAdmin, PolicyRole::kAdmin});
  openapi.output = {{"openapi", FieldType::kString, "3.1.0"},
                    {"info", FieldType::kObject, "title and version"},
                    {"paths", FieldType::kObject, "every route"}};
  // The document is built after every endpoint is declared; the handler reads it then.
  openapi.handler = [document](Call&) -> Result<Reply> {
    if (*document == nullptr) return Status::Internal("the OpenAPI document was not built");
    return Reply(**document);
  };
  out.push_back(std::move(openapi));

  Endpoint reload = declare("POST", "/api/v1/system/policy/reload", "system.policy.reload",
                            "Re-read the policy file", {PolicyRole::kAdmin});
  reload.success_status = 200;
  reload.description =
      "On a parse error, or rules naming routes this server does not have, the policy in force "
      "stays and the reply says why. Fails with 409 when the server runs on its built-in policy "
      "(no policy_file).";
  reload.output = {{"rules", FieldType::kInteger, "rules in force now"}};
  reload.handler = [&policy, reload_policy = std::move(reload_policy)](Call&) -> Result<Reply> {
    if (Status status = reload_policy(); !status.ok()) return status;
    return Reply(nlohmann::json{{"rules", policy.current()->ruleCount()}});
  };
  out.push_back(std::move(reload));

  Endpoint host = declare(
      "GET", "/api/v1/system/host", "system.host",
      "The host: load, CPU frequency, temperature, power, memory",
      {PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin});
  host.description =
      "Read from /proc and /sys at each call. A figure the host does not offer (common in "
      "virtual machines: frequency, temperature, power) is null. power_w comes from a hwmon "
      "sensor, or from the RAPL energy counter as the mean since the previous call.";
  host.output = {
      {"load", FieldType::kObject, "1m, 5m, 15m load averages (null when unknown)"},
      {"cpus", FieldType::kInteger, "hardware threads"},
      {"cpu_mhz", FieldType::kArray, "current frequency per CPU", true},
      {"temperature_c", FieldType::kNumber, "hottest sensor", true},
      {"power_w", FieldType::kNumber, "package power", true},
      {"memory_total_bytes", FieldType::kInteger, "MemTotal", true},
      {"memory_available_bytes", FieldType::kInteger, "MemAvailable", true},
      {"uptime_s", FieldType::kNumber, "seconds since boot", true},
  };
  host.handler = [probe = std::make_shared<service::HostProbe>()](Call&) -> Result<Reply> {
    return Reply(hostJson(probe->read()));
  };
  out.push_back(std::move(host));

  Endpoint events = declareWebSocket(
      std::string(kEventsPath), "events.stream",
      "WebSocket: live events the caller may see (audit entries)",
      {PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin},
      "Each event is one text frame {\"type\", \"entry\"}; send {\"type\": \"ping\"} for a "
      "pong.");
  out.push_back(std::move(events));
}

}  // namespace tendril::api
