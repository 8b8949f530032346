#include "service/clusters.h"

#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "data/template_json.h"
#include "service/access.h"
#include "service/checkpoints.h"
#include "service/credentials.h"
#include "service/quotas.h"
#include "service/tasks.h"

namespace tendril::service {
namespace {

constexpr std::string_view kWhat = "cluster";

// The I/O ports a cluster built from `tmpl` has: its bricks of `role` in declaration order.
std::vector<engine::Port> portsOf(const engine::Template& tmpl, engine::BrickRole role) {
  std::vector<engine::Port> ports;
  uint32_t offset = 0;
  for (size_t index = 0; index < tmpl.bricks.size(); ++index) {
    const engine::BrickSpec& brick = tmpl.bricks[index];
    if (brick.role != role) continue;
    ports.push_back({brick.name, brick.neurons, offset, static_cast<uint32_t>(index)});
    offset += brick.neurons;
  }
  return ports;
}

store::ResourceFilter clustersOf(std::optional<std::string> project_id) {
  store::ResourceFilter filter;
  filter.kind = store::ResourceKind::kCluster;
  filter.project_id = std::move(project_id);
  return filter;
}

}  // namespace

std::filesystem::path checkpointFilePath(const std::filesystem::path& data_dir,
                                         std::string_view checkpoint_id) {
  return data_dir / "checkpoints" / (std::string(checkpoint_id) + ".tckp");
}

Status requireResourceName(std::string_view noun, std::string_view name) {
  if (isValidName(name)) return Status::Ok();
  return Status::Invalid(std::string(noun) +
                         " names are 3 to 64 characters: a letter, then letters, digits and _ . @ -");
}

Status nameConflict(const Status& status, std::string_view noun, std::string_view name) {
  if (status.code() != Code::kAlreadyExists) return status;
  return Status(Code::kAlreadyExists, "a " + std::string(noun) + " named '" + std::string(name) +
                                          "' already exists in this project");
}

std::string templateSha256(const engine::Template& tmpl) {
  return sha256Hex(data::templateToJson(tmpl));
}

ClusterService::ClusterService(store::MetadataStore& store, ClusterRegistry& registry,
                               Quotas& quotas, TaskService& tasks, Clock clock,
                               ClusterOptions options)
    : store_(store),
      registry_(registry),
      quotas_(quotas),
      tasks_(tasks),
      clock_(std::move(clock)),
      options_(std::move(options)) {}

// --- API operations ---------------------------------------------------------------------------

Result<ClusterView> ClusterService::create(const Principal& caller, std::string_view name,
                                           std::string_view template_text) {
  if (caller.project_id.empty()) return Status::Precondition("select a project first");
  TENDRIL_RETURN_IF_ERROR(requireResourceName(kWhat, name));
  Result<engine::Template> tmpl = data::parseTemplateAny(template_text, options_.limits);
  if (!tmpl.ok()) return Status::Invalid("template: " + tmpl.status().message());
  // Checked before the engine allocates the cluster, and again with the insert (below).
  auto check_quotas = [&] {
    Status status = quotas_.checkClusters(caller.project_id);
    return status.ok() ? quotas_.checkSynapseBytes(caller.project_id) : status;
  };
  TENDRIL_RETURN_IF_ERROR(check_quotas());
  Result<std::unique_ptr<engine::Cluster>> built =
      engine::Cluster::create(*tmpl, options_.pool, options_.limits);
  if (!built.ok()) return Status::Invalid("template: " + built.status().message());

  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kCluster;
  row.project_id = caller.project_id;
  row.owner_id = caller.user_id;
  row.name = std::string(name);
  row.state = "ready";
  // The HTTP layer admits only valid UTF-8; a direct caller's stray bytes become U+FFFD here
  // instead of an exception.
  row.attrs = nlohmann::json{{"template", std::string(template_text)},
                             {"template_sha256", templateSha256(*tmpl)}}
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  row.created_ms = row.updated_ms = clock_();

  auto live = std::make_shared<LiveCluster>(row.id, row.project_id, std::move(built).value());
  // The quota checks and the insert form one transaction, so two creates racing for the last
  // place cannot both pass; the live cluster joins the registry only with its row.
  Status status = store_.transaction([&](store::MetadataStore& store) -> Status {
    TENDRIL_RETURN_IF_ERROR(check_quotas());
    TENDRIL_RETURN_IF_ERROR(nameConflict(store.insertResource(row), kWhat, name));
    registry_.put(live);
    return Status::Ok();
  });
  if (!status.ok()) {
    if (std::shared_ptr<LiveCluster> put = registry_.find(row.id); put == live) {
      registry_.take(row.id);
    }
    return status;
  }
  return describe(std::move(row));
}

Result<store::Resource> ClusterService::get(const Principal& caller, std::string_view id) {
  return visibleRow(caller, id);
}

Result<ClusterView> ClusterService::view(const Principal& caller, std::string_view id) {
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  return describe(std::move(found).value());
}

Result<store::Page<ClusterView>> ClusterService::list(const Principal& caller,
                                                      const store::PageRequest& page) {
  Access::ListScope scope = Access(caller).listScope();
  store::Page<ClusterView> views;
  if (scope.nothing) return views;
  store::ResourceFilter filter = clustersOf(scope.project_id);
  filter.owner_id = scope.owner_id;
  Result<store::Page<store::Resource>> rows = store_.listResources(filter, page);
  if (!rows.ok()) return rows.status();
  for (store::Resource& row : rows->items) {
    Result<ClusterView> described = describe(std::move(row));
    if (!described.ok()) return described.status();
    views.items.push_back(std::move(described).value());
  }
  views.next_cursor = std::move(rows->next_cursor);
  return views;
}

Result<ClusterView> ClusterService::rename(const Principal& caller, std::string_view id,
                                           std::string_view name) {
  TENDRIL_RETURN_IF_ERROR(requireResourceName(kWhat, name));
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  store::Resource row = std::move(found).value();
  if (row.name != name) {
    row.name = std::string(name);
    row.updated_ms = clock_();
    TENDRIL_RETURN_IF_ERROR(nameConflict(store_.updateResource(row), kWhat, name));
  }
  return describe(std::move(row));
}

Status ClusterService::remove(const Principal& caller, std::string_view id) {
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  // Outside any store transaction: a task that is ending may still write its row.
  tasks_.cancelClusterTasks(found->id);
  return store_.transaction(
      [&](store::MetadataStore& store) { return destroy(store, *found); });
}

Result<ClusterTemplate> ClusterService::templateOf(const Principal& caller, std::string_view id) {
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  return templateOfRow(*found);
}

Result<std::shared_ptr<LiveCluster>> ClusterService::open(const Principal& caller,
                                                          std::string_view id) {
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  std::shared_ptr<LiveCluster> live = registry_.find(found->id);
  if (live == nullptr) {
    return Status::Precondition(
        "the cluster's state could not be loaded at start; restore a checkpoint or delete it");
  }
  if (live->closed()) return Status::NotFound("cluster not found");
  return live;
}

// --- Service side -----------------------------------------------------------------------------

Result<store::Resource> ClusterService::row(std::string_view id) {
  return store_.getResource(store::ResourceKind::kCluster, id);
}

Result<ClusterTemplate> ClusterService::templateOfRow(const store::Resource& row) const {
  nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
  if (!attrs.is_object() || !attrs.contains("template") || !attrs["template"].is_string()) {
    return Status::Corrupt("cluster " + row.id + ": its stored template is missing");
  }
  ClusterTemplate result;
  result.text = attrs["template"].get<std::string>();
  Result<engine::Template> tmpl = data::parseTemplateAny(result.text, options_.limits);
  if (!tmpl.ok()) return Status::Corrupt("cluster " + row.id + ": " + tmpl.status().message());
  result.tmpl = std::move(tmpl).value();
  return result;
}

Result<std::unique_ptr<engine::Cluster>> ClusterService::buildFresh(
    const store::Resource& row) const {
  Result<ClusterTemplate> tmpl = templateOfRow(row);
  if (!tmpl.ok()) return tmpl.status();
  return engine::Cluster::create(tmpl->tmpl, options_.pool, options_.limits);
}

void ClusterService::putLive(const store::Resource& row,
                             std::unique_ptr<engine::Cluster> cluster) {
  registry_.put(std::make_shared<LiveCluster>(row.id, row.project_id, std::move(cluster)));
}

Result<std::vector<store::Resource>> ClusterService::allRows() {
  std::vector<store::Resource> rows;
  store::PageRequest page{store::kMaxPageLimit, {}};
  do {
    Result<store::Page<store::Resource>> listed = store_.listResources(clustersOf({}), page);
    if (!listed.ok()) return listed.status();
    for (store::Resource& row : listed->items) rows.push_back(std::move(row));
    page.cursor = std::move(listed->next_cursor);
  } while (!page.cursor.empty());
  return rows;
}

ProjectContent ClusterService::projectContent() {
  ProjectContent content;
  content.noun = "cluster(s)";
  content.count = [this](std::string_view project_id) {
    return store_.countResources(clustersOf(std::string(project_id)));
  };
  // Runs inside the project delete's store transaction, which holds the store: tasks are not
  // waited for here (a task that is ending may need the store to write its row). Closing each
  // cluster under its writer lock is enough: a task that finds its cluster closed ends itself.
  content.remove = [this](std::string_view project_id) -> Status {
    Result<std::vector<store::Resource>> rows = allRows();
    if (!rows.ok()) return rows.status();
    for (const store::Resource& row : *rows) {
      if (row.project_id == project_id) TENDRIL_RETURN_IF_ERROR(destroy(store_, row));
    }
    return Status::Ok();
  };
  return content;
}

// --- Helpers ----------------------------------------------------------------------------------

Result<store::Resource> ClusterService::visibleRow(const Principal& caller, std::string_view id) {
  Result<store::Resource> found = store_.getResource(store::ResourceKind::kCluster, id);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) return Status::NotFound("cluster not found");
    return found.status();
  }
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireVisible(found->project_id, found->owner_id, kWhat));
  return found;
}

Result<ClusterView> ClusterService::describe(store::Resource row) {
  ClusterView view;
  if (std::shared_ptr<LiveCluster> live = registry_.find(row.id); live != nullptr) {
    auto lock = live->lockReader();
    const engine::Cluster& cluster = live->cluster();
    view.loaded = true;
    view.inputs = cluster.inputs();
    view.outputs = cluster.outputs();
    view.stats = cluster.stats();
  } else if (Result<ClusterTemplate> tmpl = templateOfRow(row); tmpl.ok()) {
    // Not loaded: the ports still come from the template, the figures are zero.
    view.inputs = portsOf(tmpl->tmpl, engine::BrickRole::kInput);
    view.outputs = portsOf(tmpl->tmpl, engine::BrickRole::kOutput);
  }
  Result<std::optional<CheckpointRef>> last = lastCheckpoint(row.id);
  if (!last.ok()) return last.status();
  view.last_checkpoint = std::move(last).value();
  Result<std::optional<std::string>> active = activeTask(row.id);
  if (!active.ok()) return active.status();
  view.active_task_id = std::move(active).value();
  view.row = std::move(row);
  return view;
}

Status ClusterService::destroy(store::MetadataStore& store, const store::Resource& row) {
  if (std::shared_ptr<LiveCluster> live = registry_.take(row.id); live != nullptr) {
    auto lock = live->lockWriter();  // waits for a cycle in progress, at most one
    live->close();
  }
  // The cluster's autosaves go with it; checkpoints a user made or uploaded stay.
  Result<std::vector<store::Resource>> autosaves = checkpointsOfCluster(store, row.id);
  if (!autosaves.ok()) return autosaves.status();
  std::vector<std::filesystem::path> files;
  for (const store::Resource& checkpoint : *autosaves) {
    if (checkpointKindOf(checkpoint) != kCheckpointAutosave) continue;
    TENDRIL_RETURN_IF_ERROR(store.deleteResource(store::ResourceKind::kCheckpoint, checkpoint.id));
    files.push_back(checkpointFilePath(options_.data_dir, checkpoint.id));
  }
  TENDRIL_RETURN_IF_ERROR(store.deleteResource(store::ResourceKind::kCluster, row.id));
  for (const std::filesystem::path& file : files) {
    std::error_code ignored;
    std::filesystem::remove(file, ignored);
  }
  return Status::Ok();
}

Result<std::optional<CheckpointRef>> ClusterService::lastCheckpoint(std::string_view cluster_id) {
  Result<std::vector<store::Resource>> checkpoints = checkpointsOfCluster(store_, cluster_id);
  if (!checkpoints.ok()) return checkpoints.status();
  std::optional<CheckpointRef> newest;
  for (const store::Resource& checkpoint : *checkpoints) {
    if (checkpoint.state != kCheckpointReady) continue;
    if (!newest || checkpoint.created_ms >= newest->created_ms) {
      newest = CheckpointRef{checkpoint.id, checkpoint.created_ms};
    }
  }
  return newest;
}

Result<std::optional<std::string>> ClusterService::activeTask(std::string_view cluster_id) {
  for (std::string_view state : {kTaskRunning, kTaskQueued}) {
    store::ResourceFilter filter;
    filter.kind = store::ResourceKind::kTask;
    filter.parent_id = std::string(cluster_id);
    filter.states = {std::string(state)};
    Result<store::Page<store::Resource>> tasks = store_.listResources(filter, {1, {}});
    if (!tasks.ok()) return tasks.status();
    if (!tasks->items.empty()) return std::optional<std::string>(tasks->items.front().id);
  }
  return std::optional<std::string>();
}

}  // namespace tendril::service
