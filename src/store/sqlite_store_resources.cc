// The ML resources (clusters, datasets, tasks, checkpoints) and project quotas of the SQLite
// store. One generic table holds every kind; the services give each kind its meaning.
#include <array>

#include "store/conditions.h"
#include "store/sqlite_store.h"

namespace tendril::store {

using sqlite::Statement;

namespace {

constexpr std::array<std::pair<ResourceKind, std::string_view>, 4> kKindNames = {{
    {ResourceKind::kCluster, "cluster"},
    {ResourceKind::kDataset, "dataset"},
    {ResourceKind::kTask, "task"},
    {ResourceKind::kCheckpoint, "checkpoint"},
}};

constexpr std::string_view kResourceColumns =
    "id, kind, project_id, owner_id, name, state, parent_id, ref_id, bytes, attrs, created_ms, "
    "updated_ms";

ResourceKind kindOf(std::string_view text) {
  for (const auto& [kind, name] : kKindNames) {
    if (name == text) return kind;
  }
  return ResourceKind::kCluster;  // unreachable: the CHECK constraint allows only these
}

Resource readResource(const Statement& row) {
  Resource resource;
  resource.id = row.columnText(0);
  resource.kind = kindOf(row.columnText(1));
  resource.project_id = row.columnText(2);
  resource.owner_id = row.columnText(3);
  resource.name = row.columnText(4);
  resource.state = row.columnText(5);
  resource.parent_id = row.columnText(6);
  resource.ref_id = row.columnText(7);
  resource.bytes = row.columnInt(8);
  resource.attrs = row.columnText(9);
  resource.created_ms = row.columnInt(10);
  resource.updated_ms = row.columnInt(11);
  return resource;
}

CursorKey resourceKey(const Resource& resource) {
  return CursorKey{resource.created_ms, resource.id};
}

Conditions filterConditions(const ResourceFilter& filter) {
  Conditions conditions;
  conditions.add("kind = ?", std::string(resourceKindName(filter.kind)));
  if (filter.project_id) conditions.add("project_id = ?", *filter.project_id);
  if (filter.owner_id) conditions.add("owner_id = ?", *filter.owner_id);
  if (filter.parent_id) conditions.add("parent_id = ?", *filter.parent_id);
  if (filter.ref_id) conditions.add("ref_id = ?", *filter.ref_id);
  conditions.addIn("state", filter.states);
  return conditions;
}

std::string described(const Resource& resource) {
  return std::string(resourceKindName(resource.kind)) + " '" +
         (resource.name.empty() ? resource.id : resource.name) + "'";
}

}  // namespace

std::string_view resourceKindName(ResourceKind kind) {
  for (const auto& [known, name] : kKindNames) {
    if (known == kind) return name;
  }
  return "unknown";
}

Status SqliteStore::insertResource(const Resource& resource) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(resource.id, "resource id"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(resource.project_id, "project id"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare("INSERT INTO resources (" + std::string(kResourceColumns) +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(resource.id).bindText(resourceKindName(resource.kind));
  insert->bindText(resource.project_id).bindTextOrNull(resource.owner_id);
  insert->bindText(resource.name).bindText(resource.state).bindText(resource.parent_id);
  insert->bindText(resource.ref_id).bindInt(resource.bytes).bindText(resource.attrs);
  insert->bindInt(resource.created_ms).bindInt(resource.updated_ms);
  Status inserted = insert->run();
  if (inserted.code() == Code::kAlreadyExists) {
    return Status(Code::kAlreadyExists, "a " + described(resource) + " already exists");
  }
  if (inserted.code() == Code::kFailedPrecondition) {
    return Status::Precondition("the project or owner of " + described(resource) +
                                " does not exist");
  }
  return inserted;
}

Result<Resource> SqliteStore::getResource(ResourceKind kind, std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare("SELECT " + std::string(kResourceColumns) +
                                    " FROM resources WHERE kind = ? AND id = ?");
  if (!query.ok()) return query.status();
  query->bindText(resourceKindName(kind)).bindText(id);
  return readOne<Resource>(*query, readResource, resourceKindName(kind));
}

Result<Page<Resource>> SqliteStore::listResources(const ResourceFilter& filter,
                                                  const PageRequest& page) {
  Conditions conditions = filterConditions(filter);
  TENDRIL_RETURN_IF_ERROR(addPage(conditions, page, "created_ms", /*newest_first=*/false));
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare("SELECT " + std::string(kResourceColumns) +
                                    " FROM resources" + conditions.sql() +
                                    " ORDER BY created_ms, id LIMIT ?");
  if (!query.ok()) return query.status();
  conditions.bind(*query);
  query->bindInt(static_cast<std::int64_t>(page.limit) + 1);
  return collectPage<Resource>(*query, page.limit, readResource, resourceKey);
}

Status SqliteStore::updateResource(const Resource& resource) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare(
      "UPDATE resources SET name = ?, state = ?, parent_id = ?, ref_id = ?, bytes = ?, "
      "attrs = ?, updated_ms = ? WHERE kind = ? AND id = ?");
  if (!update.ok()) return update.status();
  update->bindText(resource.name).bindText(resource.state).bindText(resource.parent_id);
  update->bindText(resource.ref_id).bindInt(resource.bytes).bindText(resource.attrs);
  update->bindInt(resource.updated_ms).bindText(resourceKindName(resource.kind));
  update->bindText(resource.id);
  Status updated = update->run();
  if (updated.code() == Code::kAlreadyExists) {
    return Status(Code::kAlreadyExists, "a " + described(resource) + " already exists");
  }
  TENDRIL_RETURN_IF_ERROR(updated);
  if (update->changes() == 0) {
    return Status::NotFound(std::string(resourceKindName(resource.kind)) + " not found");
  }
  return Status::Ok();
}

Status SqliteStore::deleteResource(ResourceKind kind, std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> erase = prepare("DELETE FROM resources WHERE kind = ? AND id = ?");
  if (!erase.ok()) return erase.status();
  TENDRIL_RETURN_IF_ERROR(erase->bindText(resourceKindName(kind)).bindText(id).run());
  if (erase->changes() == 0) {
    return Status::NotFound(std::string(resourceKindName(kind)) + " not found");
  }
  return Status::Ok();
}

Result<std::int64_t> SqliteStore::countResources(const ResourceFilter& filter) {
  Conditions conditions = filterConditions(filter);
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare("SELECT COUNT(*) FROM resources" + conditions.sql());
  if (!query.ok()) return query.status();
  conditions.bind(*query);
  return readOne<std::int64_t>(*query, [](const Statement& row) { return row.columnInt(0); },
                               "count");
}

Result<std::int64_t> SqliteStore::sumResourceBytes(const ResourceFilter& filter) {
  Conditions conditions = filterConditions(filter);
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT COALESCE(SUM(bytes), 0) FROM resources" + conditions.sql());
  if (!query.ok()) return query.status();
  conditions.bind(*query);
  return readOne<std::int64_t>(*query, [](const Statement& row) { return row.columnInt(0); },
                               "sum");
}

Result<ProjectQuota> SqliteStore::getQuota(std::string_view project_id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare(
      "SELECT clusters, synapse_bytes, dataset_bytes, concurrent_tasks FROM project_quotas "
      "WHERE project_id = ?");
  if (!query.ok()) return query.status();
  query->bindText(project_id);
  Result<bool> row = query->step();
  if (!row.ok()) return row.status();
  ProjectQuota quota;
  quota.project_id = std::string(project_id);
  if (*row) {
    quota.clusters = query->columnOptionalInt(0);
    quota.synapse_bytes = query->columnOptionalInt(1);
    quota.dataset_bytes = query->columnOptionalInt(2);
    quota.concurrent_tasks = query->columnOptionalInt(3);
  }
  return quota;
}

Status SqliteStore::setQuota(const ProjectQuota& quota) {
  std::lock_guard lock(mutex_);
  Result<Statement> upsert = prepare(
      "INSERT INTO project_quotas (project_id, clusters, synapse_bytes, dataset_bytes, "
      "concurrent_tasks) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET "
      "clusters = excluded.clusters, synapse_bytes = excluded.synapse_bytes, "
      "dataset_bytes = excluded.dataset_bytes, concurrent_tasks = excluded.concurrent_tasks");
  if (!upsert.ok()) return upsert.status();
  upsert->bindText(quota.project_id).bindOptionalInt(quota.clusters);
  upsert->bindOptionalInt(quota.synapse_bytes).bindOptionalInt(quota.dataset_bytes);
  upsert->bindOptionalInt(quota.concurrent_tasks);
  Status written = upsert->run();
  if (written.code() == Code::kFailedPrecondition) {
    return Status::Precondition("project '" + quota.project_id + "' does not exist");
  }
  return written;
}

}  // namespace tendril::store
