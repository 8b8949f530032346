// DatasetService against a real in-memory store and a temporary data directory: the IDX (plain
// and gzip) and CSV flows, refusals of bad content, quotas, tenancy and cleanup.
#include "service/datasets.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/status_testing.h"
#include "data/csv.h"
#include "data/idx.h"
#include "service/credentials.h"

namespace tendril::service {
namespace {

std::span<const uint8_t> bytesOf(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
std::string textOf(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

std::string readAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

data::ImageSet sampleImages(uint32_t count = 6) {
  data::ImageSet set;
  set.count = count;
  set.rows = 4;
  set.cols = 3;
  for (uint32_t i = 0; i < count * 12; ++i) set.pixels.push_back(static_cast<uint8_t>(i * 13 + 1));
  for (uint32_t i = 0; i < count; ++i) set.labels.push_back(static_cast<uint8_t>(i % 10));
  return set;
}

Principal principalOf(const std::string& user, const std::string& project, PolicyRole role) {
  Principal principal;
  principal.user_id = user;
  principal.user_name = user;
  principal.project_id = project;
  principal.role = role;
  principal.is_admin = role == PolicyRole::kAdmin;
  principal.method = AuthMethod::kAccessToken;
  return principal;
}

class DatasetsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(initCredentials());
    data_dir_ = std::filesystem::temp_directory_path() /
                ("tendril-datasets-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_dir_);
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    for (const char* user : {"alice", "bob", "carol", "dave", "root"}) {
      ASSERT_OK(store_->createUser(store::User{user, user, "hash", false, 1, 1}));
    }
    ASSERT_OK(store_->createProject(store::Project{"p1", "one", "", 1}));
    ASSERT_OK(store_->createProject(store::Project{"p2", "two", "", 1}));
    ASSERT_OK(store_->setMembership("p1", "alice", store::Role::kMember, 1));
    ASSERT_OK(store_->setMembership("p1", "bob", store::Role::kMember, 1));
    ASSERT_OK(store_->setMembership("p1", "carol", store::Role::kProjectAdmin, 1));
    ASSERT_OK(store_->setMembership("p2", "dave", store::Role::kProjectAdmin, 1));
    quotas_ = std::make_unique<Quotas>(*store_, registry_, QuotaLimits{});
    service_ = makeService();
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  std::unique_ptr<DatasetService> makeService() {
    return std::make_unique<DatasetService>(
        *store_, *quotas_, [this] { return now_++; }, DatasetSettings{data_dir_, 1 << 20});
  }

  static PartDeclaration part(std::string name, std::string_view content) {
    return {std::move(name), {content.size(), sha256Hex(content)}};
  }

  Result<Dataset> createIdx(const Principal& caller, const std::string& name,
                            const std::string& images, const std::string& labels,
                            std::optional<uint32_t> classes = std::nullopt) {
    return service_->create(
        caller, {name, "idx", {part("images", images), part("labels", labels)}, classes});
  }
  Result<Dataset> createCsv(const Principal& caller, const std::string& name,
                            const std::string& text) {
    return service_->create(caller, {name, "csv", {part("table", text)}, std::nullopt});
  }

  // Sends `content` in chunks of `chunk` bytes from offset 0.
  void upload(const Principal& caller, const std::string& id, const std::string& part_name,
              const std::string& content, size_t chunk = 7) {
    for (size_t at = 0; at < content.size(); at += chunk) {
      auto piece = bytesOf(std::string_view(content).substr(at, chunk));
      ASSERT_OK_AND_ASSIGN(DatasetPart status,
                           service_->appendPart(caller, id, part_name, at, piece));
      ASSERT_EQ(status.received, at + piece.size());
    }
  }

  // Creates an IDX dataset of these two files, uploads both whole and finalizes it; `id` (when
  // given) receives the new dataset's id.
  Result<Dataset> finalizeIdx(const Principal& caller, const std::string& name,
                              const std::string& images, const std::string& labels,
                              std::optional<uint32_t> classes = std::nullopt,
                              std::string* id = nullptr) {
    Result<Dataset> created = createIdx(caller, name, images, labels, classes);
    if (!created.ok()) return created;
    if (id != nullptr) *id = created->row.id;
    for (auto [part_name, content] : {std::pair{"images", &images}, std::pair{"labels", &labels}}) {
      Result<DatasetPart> sent =
          service_->appendPart(caller, created->row.id, part_name, 0, bytesOf(*content));
      if (!sent.ok()) return sent.status();
    }
    return service_->finalize(caller, created->row.id);
  }

  // The same for an image set, encoded as IDX (gzip-compressed when asked).
  Result<Dataset> readyIdx(const Principal& caller, const std::string& name,
                           const data::ImageSet& set, bool gzip = false) {
    Result<data::IdxBytes> bytes = data::encodeIdxPair(set, gzip);
    if (!bytes.ok()) return bytes.status();
    return finalizeIdx(caller, name, textOf(bytes->images), textOf(bytes->labels));
  }

  bool stagingExists(const std::string& id) const {
    return std::filesystem::exists(data_dir_ / "uploads" / id);
  }
  bool datasetDirExists(const std::string& id) const {
    return std::filesystem::exists(data_dir_ / "datasets" / id);
  }

  std::filesystem::path data_dir_;
  std::unique_ptr<store::MetadataStore> store_;
  ClusterRegistry registry_;
  std::unique_ptr<Quotas> quotas_;
  store::TimeMs now_ = 1'700'000'000'000;
  std::unique_ptr<DatasetService> service_;
  const Principal alice_ = principalOf("alice", "p1", PolicyRole::kMember);
  const Principal bob_ = principalOf("bob", "p1", PolicyRole::kMember);
  const Principal carol_ = principalOf("carol", "p1", PolicyRole::kProjectAdmin);
  const Principal dave_ = principalOf("dave", "p2", PolicyRole::kProjectAdmin);
  const Principal root_ = principalOf("root", "", PolicyRole::kAdmin);
};

TEST_F(DatasetsTest, IdxFlowFromCreateToDownload) {
  data::ImageSet set = sampleImages();
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(set));
  std::string images = textOf(bytes.images);
  std::string labels = textOf(bytes.labels);
  ASSERT_OK_AND_ASSIGN(Dataset created, createIdx(alice_, "fashion", images, labels));
  EXPECT_EQ(created.row.state, kDatasetUploading);
  EXPECT_EQ(created.row.project_id, "p1");
  EXPECT_EQ(created.row.owner_id, "alice");
  EXPECT_EQ(created.row.bytes, static_cast<int64_t>(images.size() + labels.size()));
  EXPECT_EQ(created.kind, data::DatasetKind::kImages);
  EXPECT_EQ(created.classes, 10u);
  ASSERT_EQ(created.parts.size(), 2u);
  EXPECT_EQ(created.parts[0].name, "images");
  EXPECT_EQ(created.parts[0].received, 0u);
  const std::string id = created.row.id;

  upload(alice_, id, "images", images);
  ASSERT_OK_AND_ASSIGN(DatasetPart labels_status, service_->partStatus(alice_, id, "labels"));
  EXPECT_EQ(labels_status.received, 0u);
  EXPECT_EQ(labels_status.size, labels.size());
  EXPECT_EQ(labels_status.sha256, sha256Hex(labels));
  upload(alice_, id, "labels", labels, 5);

  ASSERT_OK_AND_ASSIGN(Dataset ready, service_->finalize(alice_, id));
  EXPECT_EQ(ready.row.state, kDatasetReady);
  EXPECT_EQ(ready.count, 6u);
  EXPECT_EQ(ready.image_rows, 4u);
  EXPECT_EQ(ready.image_cols, 3u);
  EXPECT_EQ(ready.parts[1].received, labels.size());
  EXPECT_TRUE(ready.error.empty());
  EXPECT_EQ(ready.row.bytes, static_cast<int64_t>(data::compactImageBytes(6, 4, 3)));
  // The checksum is the SHA-256 of exactly the compact form of this set.
  std::ostringstream compact;
  ASSERT_OK(data::writeImageDataset(compact, set));
  EXPECT_EQ(ready.checksum, sha256Hex(compact.str()));
  EXPECT_FALSE(stagingExists(id));

  ASSERT_OK_AND_ASSIGN(Dataset again, service_->finalize(alice_, id));  // idempotent
  EXPECT_EQ(again.checksum, ready.checksum);

  ASSERT_OK_AND_ASSIGN(DatasetDownload image_file, service_->download(alice_, id, "images"));
  EXPECT_EQ(image_file.content_type, "application/octet-stream");
  EXPECT_EQ(image_file.filename, "fashion-images.idx");
  EXPECT_EQ(readAll(image_file.file), images);
  ASSERT_OK_AND_ASSIGN(DatasetDownload label_file, service_->download(alice_, id, "labels"));
  EXPECT_EQ(readAll(label_file.file), labels);
  ASSERT_OK_AND_ASSIGN(DatasetDownload cached, service_->download(alice_, id, "images"));
  EXPECT_EQ(cached.file, image_file.file);
  EXPECT_TRUE(failsWith(service_->download(alice_, id, "table").status(), Code::kInvalidArgument,
                        "unknown part 'table'"));

  ASSERT_OK_AND_ASSIGN(ReadyDataset opened, service_->open(alice_, id));
  EXPECT_EQ(opened.reader->count(), 6u);
  EXPECT_EQ(opened.reader->label(3), 3);
  ASSERT_OK_AND_ASSIGN(ReadyDataset shared, service_->open(alice_, id));
  EXPECT_EQ(shared.reader.get(), opened.reader.get());

  EXPECT_TRUE(failsWith(service_->appendPart(alice_, id, "images", images.size(), {}).status(),
                        Code::kFailedPrecondition, "dataset is ready"));
}

TEST_F(DatasetsTest, GzipIdxIsAcceptedAndDownloadsUncompressed) {
  data::ImageSet set = sampleImages(40);
  ASSERT_OK_AND_ASSIGN(Dataset ready, readyIdx(alice_, "zipped", set, /*gzip=*/true));
  EXPECT_EQ(ready.row.state, kDatasetReady);
  EXPECT_EQ(ready.count, 40u);
  ASSERT_OK_AND_ASSIGN(data::IdxBytes plain, data::encodeIdxPair(set, false));
  ASSERT_OK_AND_ASSIGN(DatasetDownload file, service_->download(alice_, ready.row.id, "images"));
  EXPECT_EQ(readAll(file.file), textOf(plain.images));
}

TEST_F(DatasetsTest, CsvFlowRoundTrips) {
  const std::string text = "input,output\n0.5,1\n0.25,true\n\n-3e-5,\n";
  ASSERT_OK_AND_ASSIGN(Dataset created, createCsv(alice_, "steps", text));
  EXPECT_EQ(created.kind, data::DatasetKind::kTable);
  EXPECT_EQ(created.classes, 0u);
  upload(alice_, created.row.id, "table", text, 4);
  ASSERT_OK_AND_ASSIGN(Dataset ready, service_->finalize(alice_, created.row.id));
  EXPECT_EQ(ready.count, 3u);
  EXPECT_EQ(ready.columns, (std::vector<std::string>{"input", "output"}));
  EXPECT_EQ(ready.image_rows, 0u);

  ASSERT_OK_AND_ASSIGN(ReadyDataset opened, service_->open(alice_, created.row.id));
  std::span<const float> output = opened.reader->column(1);
  EXPECT_EQ(std::vector<float>(output.begin(), output.end()), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(opened.reader->column(0)[2], -3e-5f);

  ASSERT_OK_AND_ASSIGN(DatasetDownload file, service_->download(alice_, created.row.id, "table"));
  EXPECT_EQ(file.content_type, "text/csv");
  EXPECT_EQ(file.filename, "steps.csv");
  ASSERT_OK_AND_ASSIGN(data::Table original, data::parseCsv(text));
  ASSERT_OK_AND_ASSIGN(data::Table back, data::parseCsv(readAll(file.file)));
  EXPECT_EQ(back.columns, original.columns);
  EXPECT_EQ(back.values, original.values);
}

TEST_F(DatasetsTest, CsvWithABadCellIsInvalidNamingLineAndColumn) {
  const std::string text = "a,b\n1,2\n3,x\n";
  ASSERT_OK_AND_ASSIGN(Dataset created, createCsv(alice_, "broken", text));
  upload(alice_, created.row.id, "table", text);
  Result<Dataset> finalized = service_->finalize(alice_, created.row.id);
  EXPECT_TRUE(
      failsWith(finalized.status(), Code::kInvalidArgument, "table: line 3, column 2 ('b')"));
  EXPECT_EQ(finalized.status().message().find(data_dir_.string()), std::string::npos)
      << "a path leaked: " << finalized.status().message();
  ASSERT_OK_AND_ASSIGN(Dataset invalid, service_->get(alice_, created.row.id));
  EXPECT_EQ(invalid.row.state, kDatasetInvalid);
  EXPECT_EQ(invalid.error, finalized.status().message());
  EXPECT_EQ(invalid.row.bytes, 0);
  EXPECT_FALSE(stagingExists(created.row.id));
  EXPECT_TRUE(failsWith(service_->finalize(alice_, created.row.id).status(),
                        Code::kFailedPrecondition, "dataset is invalid"));
  EXPECT_TRUE(
      failsWith(service_->appendPart(alice_, created.row.id, "table", 0, bytesOf("a")).status(),
                Code::kFailedPrecondition, "dataset is invalid"));
  EXPECT_TRUE(failsWith(service_->open(alice_, created.row.id).status(), Code::kFailedPrecondition,
                        "dataset is not ready"));
  EXPECT_OK(service_->remove(alice_, created.row.id));
  EXPECT_EQ(service_->get(alice_, created.row.id).status().code(), Code::kNotFound);
}

TEST_F(DatasetsTest, LyingIdxHeaderIsInvalid) {
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(sampleImages(5)));
  bytes.images[7] = 6;  // the header claims 6 images; the file holds 5
  bytes.labels[7] = 6;
  bytes.labels.push_back(0);
  std::string id;
  Result<Dataset> finalized =
      finalizeIdx(alice_, "liar", textOf(bytes.images), textOf(bytes.labels), std::nullopt, &id);
  EXPECT_TRUE(failsWith(finalized.status(), Code::kInvalidArgument, "images: truncated"));
  EXPECT_EQ(finalized.status().message().find(data_dir_.string()), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Dataset invalid, service_->get(alice_, id));
  EXPECT_EQ(invalid.row.state, kDatasetInvalid);
  EXPECT_FALSE(stagingExists(id));
  EXPECT_FALSE(datasetDirExists(id));
}

TEST_F(DatasetsTest, LabelsOutOfRangeAreInvalidUnlessClassesAllowThem) {
  data::ImageSet set = sampleImages();
  set.labels[4] = 10;
  set.classes = 11;
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(set));
  std::string images = textOf(bytes.images);
  std::string labels = textOf(bytes.labels);
  EXPECT_TRUE(failsWith(finalizeIdx(alice_, "ten", images, labels).status(), Code::kInvalidArgument,
                        "labels: label 10 at index 4 exceeds the maximum 9"));
  ASSERT_OK_AND_ASSIGN(Dataset ready, finalizeIdx(alice_, "eleven", images, labels, 11));
  EXPECT_EQ(ready.classes, 11u);
  ASSERT_OK_AND_ASSIGN(ReadyDataset opened, service_->open(alice_, ready.row.id));
  EXPECT_EQ(opened.reader->classes(), 11u);
  EXPECT_EQ(opened.reader->label(4), 10);
}

TEST_F(DatasetsTest, ImageAndLabelCountsMustAgree) {
  ASSERT_OK_AND_ASSIGN(data::IdxBytes five, data::encodeIdxPair(sampleImages(5)));
  ASSERT_OK_AND_ASSIGN(data::IdxBytes four, data::encodeIdxPair(sampleImages(4)));
  EXPECT_TRUE(failsWith(
      finalizeIdx(alice_, "mismatch", textOf(five.images), textOf(four.labels)).status(),
      Code::kInvalidArgument, "the images file holds 5 images but the labels file holds 4 labels"));
}

TEST_F(DatasetsTest, SwappedPartsAreInvalid) {
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(sampleImages()));
  // The wrong file in each part.
  EXPECT_TRUE(
      failsWith(finalizeIdx(alice_, "swapped", textOf(bytes.labels), textOf(bytes.images)).status(),
                Code::kInvalidArgument, "images: bad magic"));
}

TEST_F(DatasetsTest, IncompleteUploadCanBeFinishedAfterARefusedFinalize) {
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(sampleImages()));
  std::string images = textOf(bytes.images);
  std::string labels = textOf(bytes.labels);
  ASSERT_OK_AND_ASSIGN(Dataset created, createIdx(alice_, "partial", images, labels));
  const std::string id = created.row.id;
  upload(alice_, id, "images", images);
  upload(alice_, id, "labels", labels.substr(0, 9));
  EXPECT_TRUE(failsWith(service_->finalize(alice_, id).status(), Code::kFailedPrecondition,
                        "part labels is incomplete: 9 of 14 bytes received"));
  ASSERT_OK_AND_ASSIGN(Dataset still, service_->get(alice_, id));
  EXPECT_EQ(still.row.state, kDatasetUploading);
  EXPECT_EQ(still.parts[1].received, 9u);

  // A wrong offset is refused; resuming where the server says works, after a restart too.
  EXPECT_TRUE(failsWith(service_->appendPart(alice_, id, "labels", 0, bytesOf("x")).status(),
                        Code::kFailedPrecondition, "resume at offset 9"));
  EXPECT_TRUE(failsWith(
      service_->appendPart(alice_, id, "labels", 9, bytesOf(labels.substr(9) + "!")).status(),
      Code::kInvalidArgument, "past the declared size of 14"));
  service_ = makeService();
  ASSERT_OK_AND_ASSIGN(DatasetPart resume, service_->partStatus(alice_, id, "labels"));
  EXPECT_EQ(resume.received, 9u);
  ASSERT_OK(service_->appendPart(alice_, id, "labels", 9, bytesOf(labels.substr(9))).status());
  ASSERT_OK_AND_ASSIGN(Dataset ready, service_->finalize(alice_, id));
  EXPECT_EQ(ready.row.state, kDatasetReady);
}

TEST_F(DatasetsTest, ShaMismatchIsInvalid) {
  const std::string text = "x\n1\n";
  ASSERT_OK_AND_ASSIGN(
      Dataset created,
      service_->create(alice_, {"digest", "csv", {{"table", {4, sha256Hex("x\n2\n")}}}, {}}));
  upload(alice_, created.row.id, "table", text);
  EXPECT_TRUE(failsWith(service_->finalize(alice_, created.row.id).status(), Code::kInvalidArgument,
                        "part table: sha256 mismatch"));
  ASSERT_OK_AND_ASSIGN(Dataset invalid, service_->get(alice_, created.row.id));
  EXPECT_EQ(invalid.row.state, kDatasetInvalid);
}

TEST_F(DatasetsTest, CreateChecksItsInput) {
  const std::string text = "x\n1\n";
  EXPECT_TRUE(
      failsWith(createCsv(principalOf("alice", "", PolicyRole::kUser), "noproject", text).status(),
                Code::kFailedPrecondition, "select a project first"));
  EXPECT_TRUE(
      failsWith(createCsv(Principal{}, "anonymous", text).status(), Code::kPermissionDenied, ""));
  EXPECT_TRUE(failsWith(createCsv(alice_, "x", text).status(), Code::kInvalidArgument, "name"));
  EXPECT_TRUE(
      failsWith(service_->create(alice_, {"fmt", "json", {part("table", text)}, {}}).status(),
                Code::kInvalidArgument, "format must be idx or csv"));
  EXPECT_TRUE(
      failsWith(service_->create(alice_, {"parts", "idx", {part("images", text)}, {}}).status(),
                Code::kInvalidArgument, "exactly the parts images, labels"));
  EXPECT_TRUE(failsWith(
      service_->create(alice_, {"twice", "idx", {part("images", text), part("images", text)}, {}})
          .status(),
      Code::kInvalidArgument, "exactly the parts"));
  EXPECT_TRUE(
      failsWith(service_->create(alice_, {"classes", "csv", {part("table", text)}, 5}).status(),
                Code::kInvalidArgument, "classes applies to idx"));
  EXPECT_TRUE(failsWith(createIdx(alice_, "oneclass", text, text, 1).status(),
                        Code::kInvalidArgument, "classes must be 2..256"));
  EXPECT_TRUE(failsWith(
      service_
          ->create(alice_, {"big", "csv", {{"table", {(1 << 20) + 1, std::string(64, 'a')}}}, {}})
          .status(),
      Code::kInvalidArgument, "part table: size 1048577 exceeds"));
  EXPECT_TRUE(
      failsWith(service_->create(alice_, {"hex", "csv", {{"table", {4, "abc"}}}, {}}).status(),
                Code::kInvalidArgument, "part table: sha256"));
  ASSERT_OK(createCsv(alice_, "taken", text).status());
  EXPECT_TRUE(failsWith(createCsv(bob_, "taken", text).status(), Code::kAlreadyExists,
                        "a dataset named taken already exists"));
  EXPECT_OK(createCsv(dave_, "taken", text).status());  // names are per project
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> staged,
                       UploadStaging(data_dir_ / "uploads").uploadIds());
  EXPECT_EQ(staged.size(), 2u) << "a refused create left staging files behind";
}

TEST_F(DatasetsTest, QuotaRefusalChangesNothing) {
  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", {}, {}, 100, {}}));
  const std::string text = "x\n" + std::string(120, '1') + "\n";
  EXPECT_TRUE(
      failsWith(createCsv(alice_, "toolarge", text).status(), Code::kResourceExhausted, "quota"));
  ASSERT_OK_AND_ASSIGN(store::Page<Dataset> page, service_->list(carol_, {}));
  EXPECT_TRUE(page.items.empty());
  EXPECT_FALSE(std::filesystem::exists(data_dir_ / "uploads") &&
               !std::filesystem::is_empty(data_dir_ / "uploads"));

  // The compact form of a gzip upload can outgrow the quota only at finalize: refused there,
  // and the dataset stays as it was, ready to finalize once there is room.
  data::ImageSet set = sampleImages(200);
  std::fill(set.pixels.begin(), set.pixels.end(), uint8_t{0});
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(set, /*gzip=*/true));
  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", {}, {}, 1000, {}}));
  std::string images = textOf(bytes.images);
  std::string labels = textOf(bytes.labels);
  ASSERT_LT(images.size() + labels.size(), 1000u);
  ASSERT_OK_AND_ASSIGN(Dataset created, createIdx(alice_, "grows", images, labels));
  upload(alice_, created.row.id, "images", images, 100);
  upload(alice_, created.row.id, "labels", labels, 100);
  EXPECT_TRUE(failsWith(service_->finalize(alice_, created.row.id).status(),
                        Code::kResourceExhausted, "quota"));
  ASSERT_OK_AND_ASSIGN(Dataset unchanged, service_->get(alice_, created.row.id));
  EXPECT_EQ(unchanged.row.state, kDatasetUploading);
  EXPECT_EQ(unchanged.row.bytes, static_cast<int64_t>(images.size() + labels.size()));
  EXPECT_TRUE(stagingExists(created.row.id));
  EXPECT_FALSE(datasetDirExists(created.row.id));
  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", {}, {}, 1 << 20, {}}));
  ASSERT_OK_AND_ASSIGN(Dataset ready, service_->finalize(alice_, created.row.id));
  EXPECT_EQ(ready.row.bytes, static_cast<int64_t>(data::compactImageBytes(200, 4, 3)));
}

TEST_F(DatasetsTest, VisibilityFollowsTheTenancyRules) {
  ASSERT_OK_AND_ASSIGN(Dataset mine, readyIdx(alice_, "alices", sampleImages()));
  const std::string id = mine.row.id;
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  Status unknown_status = service_->get(bob_, unknown).status();
  ASSERT_EQ(unknown_status.code(), Code::kNotFound);

  // Another member of the project and a project-admin of another project see nothing, and
  // what they get looks exactly like an unknown id.
  for (const Principal* outsider : {&bob_, &dave_}) {
    Status status = service_->get(*outsider, id).status();
    EXPECT_EQ(status.code(), Code::kNotFound);
    std::string message = status.message();
    message.replace(message.find(id), id.size(), unknown);
    EXPECT_EQ(message, unknown_status.message());
    EXPECT_EQ(service_->partStatus(*outsider, id, "images").status().code(), Code::kNotFound);
    EXPECT_EQ(service_->appendPart(*outsider, id, "images", 0, {}).status().code(),
              Code::kNotFound);
    EXPECT_EQ(service_->finalize(*outsider, id).status().code(), Code::kNotFound);
    EXPECT_EQ(service_->download(*outsider, id, "images").status().code(), Code::kNotFound);
    EXPECT_EQ(service_->open(*outsider, id).status().code(), Code::kNotFound);
    EXPECT_EQ(service_->remove(*outsider, id).code(), Code::kNotFound);
    ASSERT_OK_AND_ASSIGN(store::Page<Dataset> page, service_->list(*outsider, {}));
    EXPECT_TRUE(page.items.empty());
  }
  ASSERT_OK(readyIdx(bob_, "bobs", sampleImages()).status());

  // The project-admin sees both of the project; the global admin sees everything.
  for (const Principal* overseer : {&carol_, &root_}) {
    EXPECT_OK(service_->get(*overseer, id).status());
    EXPECT_OK(service_->open(*overseer, id).status());
    ASSERT_OK_AND_ASSIGN(store::Page<Dataset> page, service_->list(*overseer, {}));
    EXPECT_EQ(page.items.size(), 2u);
  }
  ASSERT_OK_AND_ASSIGN(store::Page<Dataset> own, service_->list(alice_, {}));
  ASSERT_EQ(own.items.size(), 1u);
  EXPECT_EQ(own.items[0].row.id, id);
  ASSERT_OK_AND_ASSIGN(store::Page<Dataset> none,
                       service_->list(principalOf("alice", "", PolicyRole::kUser), {}));
  EXPECT_TRUE(none.items.empty());
  EXPECT_OK(service_->remove(carol_, id));  // a project-admin may delete a member's dataset
}

TEST_F(DatasetsTest, DeleteWaitsForTasksThatUseTheDataset) {
  ASSERT_OK_AND_ASSIGN(Dataset ready, readyIdx(alice_, "used", sampleImages()));
  const std::string id = ready.row.id;
  ASSERT_OK(service_->download(alice_, id, "labels").status());
  store::Resource task;
  task.id = "task-1";
  task.kind = store::ResourceKind::kTask;
  task.project_id = "p1";
  task.owner_id = "alice";
  task.state = "running";
  task.ref_id = id;
  ASSERT_OK(store_->insertResource(task));
  EXPECT_TRUE(failsWith(service_->remove(alice_, id), Code::kFailedPrecondition,
                        "used by 1 queued or running task"));
  EXPECT_TRUE(datasetDirExists(id));
  task.state = "finished";
  ASSERT_OK(store_->updateResource(task));
  ASSERT_OK_AND_ASSIGN(ReadyDataset held, service_->open(alice_, id));
  ASSERT_OK(service_->remove(alice_, id));
  EXPECT_FALSE(datasetDirExists(id));
  EXPECT_EQ(store_->getResource(store::ResourceKind::kDataset, id).status().code(),
            Code::kNotFound);
  EXPECT_EQ(held.reader->label(2), 2) << "a reader outlives the delete";
}

TEST_F(DatasetsTest, ProjectContentCountsAndCascades) {
  ASSERT_OK_AND_ASSIGN(Dataset ready, readyIdx(alice_, "first", sampleImages()));
  const std::string text = "x\n1\n";
  ASSERT_OK_AND_ASSIGN(Dataset uploading, createCsv(bob_, "second", text));
  ASSERT_OK(createCsv(dave_, "elsewhere", text).status());
  ProjectContent content = service_->projectContent();
  EXPECT_EQ(content.noun, "datasets");
  ASSERT_OK_AND_ASSIGN(int64_t count, content.count("p1"));
  EXPECT_EQ(count, 2);
  ASSERT_OK(content.remove("p1"));
  ASSERT_OK_AND_ASSIGN(count, content.count("p1"));
  EXPECT_EQ(count, 0);
  EXPECT_FALSE(datasetDirExists(ready.row.id));
  EXPECT_FALSE(stagingExists(uploading.row.id));
  ASSERT_OK_AND_ASSIGN(int64_t other, content.count("p2"));
  EXPECT_EQ(other, 1);
}

TEST_F(DatasetsTest, OrphanFilesAreRemovedAndLiveOnesKept) {
  ASSERT_OK_AND_ASSIGN(Dataset ready, readyIdx(alice_, "kept", sampleImages()));
  const std::string text = "x\n1\n";
  ASSERT_OK_AND_ASSIGN(Dataset uploading, createCsv(alice_, "staged", text));
  const std::string orphan = "11111111-1111-4111-8111-111111111111";
  std::filesystem::create_directories(data_dir_ / "datasets" / orphan);
  std::filesystem::create_directories(data_dir_ / "uploads" / orphan);
  std::ofstream(data_dir_ / "uploads" / orphan / "table") << "left over";
  ASSERT_OK(service_->removeOrphanFiles());
  EXPECT_FALSE(datasetDirExists(orphan));
  EXPECT_FALSE(stagingExists(orphan));
  EXPECT_TRUE(datasetDirExists(ready.row.id));
  EXPECT_TRUE(stagingExists(uploading.row.id));
  EXPECT_OK(service_->open(alice_, ready.row.id).status());
}

}  // namespace
}  // namespace tendril::service
