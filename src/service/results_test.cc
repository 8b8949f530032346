// Result files (docs/formats/results.md) byte by byte, and ResultService over hand-made results:
// paging, the CSV and JSON downloads, accuracy arithmetic for images and tables, delete, and
// visibility. (Results produced by real request tasks are checked in tasks_test.cc.)
#include "service/results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/status_testing.h"
#include "data/idx.h"
#include "service/credentials.h"
#include "service/datasets.h"
#include "service/quotas.h"
#include "service/tasks.h"

namespace tendril::service {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ResultFilesTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tendril-results-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes a finished result of `rows` rows of the ports {"a": 2, "bb": 1}: row i = (i, -i, i/4).
  std::filesystem::path writeSample(std::string_view id, uint64_t rows) {
    ResultHeader header{rows, {{"a", 2}, {"bb", 1}}};
    Result<ResultFileWriter> writer = ResultFileWriter::create(resultFilePath(dir_, id), header);
    EXPECT_TRUE(writer.ok()) << writer.status().toString();
    for (uint64_t i = 0; i < rows; ++i) {
      const auto v = static_cast<float>(i);
      const float row[3] = {v, -v, v / 4};
      EXPECT_OK(writer->append(row));
    }
    EXPECT_OK(writer->finish());
    return resultFilePath(dir_, id);
  }

  std::filesystem::path dir_;
};

TEST_F(ResultFilesTest, TheFormatIsAsDocumented) {
  const std::filesystem::path path = writeSample("r1", 2);
  const std::string bytes = slurp(path);
  // Header: magic, version 1, count 2, 2 ports, width 3; ports (u32 width, u16 name bytes,
  // name); zero padding to a multiple of 8; then 2 x 3 f32.
  std::string expected("TRES", 4);
  const auto put = [&](const auto value) {
    expected.append(reinterpret_cast<const char*>(&value), sizeof(value));
  };
  put(uint32_t{1});
  put(uint64_t{2});
  put(uint32_t{2});
  put(uint32_t{3});
  put(uint32_t{2});
  put(uint16_t{1});
  expected += "a";
  put(uint32_t{1});
  put(uint16_t{2});
  expected += "bb";
  expected.resize(40, '\0');  // 24 + 7 + 8 = 39 bytes, padded to 40
  for (float value : {0.0f, -0.0f, 0.0f, 1.0f, -1.0f, 0.25f}) put(value);
  EXPECT_EQ(bytes, expected);

  ASSERT_OK_AND_ASSIGN(ResultFile file, ResultFile::open(path));
  EXPECT_EQ(file.count(), 2u);
  EXPECT_EQ(file.outputWidth(), 3u);
  ASSERT_EQ(file.header().outputs.size(), 2u);
  EXPECT_EQ(file.header().outputs[1].name, "bb");
  EXPECT_EQ(std::vector<float>(file.row(1).begin(), file.row(1).end()),
            (std::vector<float>{1.0f, -1.0f, 0.25f}));
}

TEST_F(ResultFilesTest, DamagedFilesAreRefused) {
  const std::filesystem::path path = writeSample("r2", 3);
  const std::string good = slurp(path);
  const auto rewrite = [&](std::string bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  const auto code = [&] { return ResultFile::open(path).status().code(); };
  rewrite(good.substr(0, good.size() - 1));
  EXPECT_EQ(code(), Code::kCorrupt) << "truncated";
  rewrite(good + "x");
  EXPECT_EQ(code(), Code::kCorrupt) << "trailing bytes";
  std::string magic = good;
  magic[0] = 'X';
  rewrite(magic);
  EXPECT_EQ(code(), Code::kCorrupt) << "magic";
  std::string count = good;
  count[8] = 100;
  rewrite(count);
  EXPECT_EQ(code(), Code::kCorrupt) << "count larger than the data";
  std::string width = good;
  width[20] = 4;
  rewrite(width);
  EXPECT_EQ(code(), Code::kCorrupt) << "width differs from the ports' sum";
  std::string name = good;
  name[28] = static_cast<char>(0xFF);  // name length of the first port
  rewrite(name);
  EXPECT_EQ(code(), Code::kCorrupt) << "a name running past the file";
  rewrite("TRE");
  EXPECT_EQ(code(), Code::kCorrupt) << "shorter than a header";
  EXPECT_EQ(ResultFile::open(dir_ / "missing.tres").status().code(), Code::kNotFound);
}

TEST_F(ResultFilesTest, AnUnfinishedWriterLeavesNothingBehind) {
  const std::filesystem::path path = resultFilePath(dir_, "r3");
  {
    ASSERT_OK_AND_ASSIGN(ResultFileWriter writer,
                         ResultFileWriter::create(path, ResultHeader{2, {{"out", 2}}}));
    const float row[2] = {1, 2};
    ASSERT_OK(writer.append(row));
    EXPECT_EQ(writer.finish().code(), Code::kFailedPrecondition) << "a row is missing";
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
  {
    ASSERT_OK_AND_ASSIGN(ResultFileWriter writer,
                         ResultFileWriter::create(path, ResultHeader{1, {{"out", 2}}}));
    const float odd[3] = {1, 2, 3};
    EXPECT_EQ(writer.append(odd).code(), Code::kInvalidArgument) << "not whole rows";
    const float two_rows[4] = {1, 2, 3, 4};
    EXPECT_EQ(writer.append(two_rows).code(), Code::kInvalidArgument) << "more rows than declared";
    EXPECT_FALSE(std::filesystem::exists(path)) << "visible before finish()";
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

// ResultService over rows and files made by hand.
class ResultServiceTest : public ResultFilesTest {
 protected:
  void SetUp() override {
    ResultFilesTest::SetUp();
    ASSERT_OK(initCredentials());
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    for (const char* user : {"ann", "ben"}) {
      ASSERT_OK(store_->createUser(store::User{user, user, "hash", false, 1, 1}));
    }
    ASSERT_OK(store_->createProject(store::Project{"p", "proj", "", 1}));
    ASSERT_OK(store_->setMembership("p", "ann", store::Role::kMember, 1));
    ASSERT_OK(store_->setMembership("p", "ben", store::Role::kMember, 1));
    quotas_ = std::make_unique<Quotas>(*store_, registry_, QuotaLimits{});
    datasets_ = std::make_unique<DatasetService>(*store_, *quotas_, systemClock(),
                                                 DatasetSettings{dir_, 1 << 20});
    service_ = std::make_unique<ResultService>(*store_, *datasets_, dir_ / "results");
    ann_.user_id = "ann";
    ann_.project_id = "p";
    ann_.role = PolicyRole::kMember;
    ann_.method = AuthMethod::kAccessToken;
    ben_ = ann_;
    ben_.user_id = "ben";
  }

  // A finished task row of Ann's with `attrs`.
  std::string addTaskRow(const nlohmann::json& attrs, const std::string& dataset_id,
                         store::TimeMs created) {
    store::Resource row;
    row.id = newUuid();
    row.kind = store::ResourceKind::kTask;
    row.project_id = "p";
    row.owner_id = "ann";
    row.state = "finished";
    row.parent_id = "cluster-1";
    row.ref_id = dataset_id;
    row.attrs = attrs.dump();
    row.created_ms = row.updated_ms = created;
    EXPECT_OK(store_->insertResource(row));
    return row.id;
  }
  // The same for a request task with a result.
  std::string addResultRow(nlohmann::json attrs, const std::string& dataset_id,
                           store::TimeMs created) {
    attrs["type"] = "request";
    attrs["result"] = true;
    return addTaskRow(attrs, dataset_id, created);
  }

  void writeResult(const std::string& id, const std::vector<ResultPort>& ports,
                   const std::vector<float>& values) {
    ResultHeader header{0, ports};
    header.count = values.size() / header.outputWidth();
    ASSERT_OK_AND_ASSIGN(ResultFileWriter writer,
                         ResultFileWriter::create(service_->path(id), header));
    ASSERT_OK(writer.append(values));
    ASSERT_OK(writer.finish());
  }

  std::string dataset(const std::string& name, const std::string& format,
                      const std::vector<std::pair<std::string, std::string>>& parts,
                      std::optional<uint32_t> classes = std::nullopt) {
    DatasetRequest request{name, format, {}, classes};
    for (const auto& [part, content] : parts) {
      request.parts.push_back({part, {content.size(), sha256Hex(content)}});
    }
    Result<Dataset> created = datasets_->create(ann_, request);
    EXPECT_TRUE(created.ok()) << created.status().toString();
    for (const auto& [part, content] : parts) {
      EXPECT_OK(datasets_->appendPart(
          ann_, created->row.id, part, 0,
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(content.data()),
                                   content.size())));
    }
    EXPECT_OK(datasets_->finalize(ann_, created->row.id));
    return created->row.id;
  }

  std::unique_ptr<store::MetadataStore> store_;
  ClusterRegistry registry_;
  std::unique_ptr<Quotas> quotas_;
  std::unique_ptr<DatasetService> datasets_;
  std::unique_ptr<ResultService> service_;
  Principal ann_;
  Principal ben_;
};

TEST_F(ResultServiceTest, OutputsArePagedAndDownloadsHoldEveryValue) {
  const std::string id = addResultRow(
      {{"samples_total", 3}, {"outputs", {{{"name", "out"}, {"width", 2}}}}}, "d", 5);
  writeResult(id, {{"out", 2}}, {0.1f, 0.2f, 1.0f, -3.5f, 7.0f, 1e-8f});

  ASSERT_OK_AND_ASSIGN(ResultSummary summary, service_->get(ann_, id));
  EXPECT_EQ(summary.count, 3u);
  EXPECT_EQ(resultJson(summary)["outputs"], (nlohmann::json{{{"name", "out"}, {"width", 2}}}));
  ASSERT_OK_AND_ASSIGN(ResultRows first, service_->outputs(ann_, id, 0, 2));
  ASSERT_EQ(first.rows.size(), 2u);
  EXPECT_EQ(first.next_offset, 2u);
  EXPECT_EQ(resultValuesJson(first.rows[0]).dump(), "[0.1,0.2]");
  ASSERT_OK_AND_ASSIGN(ResultRows last, service_->outputs(ann_, id, 2, 2));
  ASSERT_EQ(last.rows.size(), 1u);
  EXPECT_FALSE(last.next_offset.has_value());
  ASSERT_OK_AND_ASSIGN(ResultRows past, service_->outputs(ann_, id, 10, 2));
  EXPECT_TRUE(past.rows.empty());
  EXPECT_EQ(service_->outputs(ann_, id, 0, 1001).status().code(), Code::kInvalidArgument);

  ASSERT_OK_AND_ASSIGN(std::filesystem::path csv, service_->exportFile(ann_, id, ResultFormat::kCsv));
  EXPECT_EQ(slurp(csv), "out_0,out_1\n0.1,0.2\n1,-3.5\n7,1e-08\n");
  ASSERT_OK_AND_ASSIGN(std::filesystem::path json,
                       service_->exportFile(ann_, id, ResultFormat::kJson));
  const nlohmann::json parsed = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(parsed["id"], id);
  EXPECT_EQ(parsed["count"], 3);
  EXPECT_EQ(parsed["items"][1], (nlohmann::json{1, -3.5}));
  EXPECT_FLOAT_EQ(parsed["items"][2][1].get<float>(), 1e-8f);

  // Delete: the files go, the task row stays without a result.
  ASSERT_OK(service_->remove(ann_, id));
  EXPECT_EQ(service_->get(ann_, id).status().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(csv));
  EXPECT_FALSE(std::filesystem::exists(service_->path(id)));
  ASSERT_OK_AND_ASSIGN(store::Resource row, store_->getResource(store::ResourceKind::kTask, id));
  EXPECT_TRUE(taskJson(row)["result_id"].is_null());
}

TEST_F(ResultServiceTest, ImageAccuracyIsArgmaxAgainstTheLabels) {
  data::ImageSet set;
  set.count = 4;
  set.rows = 1;
  set.cols = 2;
  set.classes = 3;
  set.pixels = {1, 2, 3, 4, 5, 6, 7, 8};
  set.labels = {0, 2, 1, 1};
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(set));
  const std::string images = dataset(
      "four", "idx",
      {{"images", std::string(bytes.images.begin(), bytes.images.end())},
       {"labels", std::string(bytes.labels.begin(), bytes.labels.end())}},
      3);
  const std::string id = addResultRow({{"samples_total", 4}}, images, 5);
  // Argmax per row: 0, 2, 2, 1 → three of four right.
  writeResult(id, {{"out", 3}}, {9, 1, 1, 0, 0, 5, 0, 1, 2, 0, 3, 1});
  ASSERT_OK_AND_ASSIGN(ResultAccuracy accuracy, service_->accuracy(ann_, id, ""));
  EXPECT_EQ(accuracy.count, 4u);
  EXPECT_EQ(accuracy.correct, 3u);
  EXPECT_DOUBLE_EQ(accuracy.accuracy, 0.75);
  EXPECT_EQ(accuracyJson(accuracy),
            (nlohmann::json{{"count", 4}, {"correct", 3}, {"accuracy", 0.75}}));
}

TEST_F(ResultServiceTest, TableAccuracyUsesTheTasksMapping) {
  const std::string table = dataset("table", "csv", {{"table", "a,target\n0,0.5\n1,1\n2,0\n"}});
  // One output of width 1 fed from column "target" (mapping), row mode.
  const std::string id = addResultRow({{"samples_total", 3},
                                       {"mode", "row"},
                                       {"mapping", {{"out", {"target"}}}},
                                       {"inputs", {{{"name", "a"}, {"width", 1}}}},
                                       {"outputs", {{{"name", "out"}, {"width", 1}}}}},
                                      table, 5);
  writeResult(id, {{"out", 1}}, {0.55f, 0.7f, 0.05f});  // errors 0.05, 0.3, 0.05
  ASSERT_OK_AND_ASSIGN(ResultAccuracy accuracy, service_->accuracy(ann_, id, ""));
  EXPECT_FALSE(accuracy.images);
  EXPECT_EQ(accuracy.count, 3u);
  EXPECT_NEAR(accuracy.mean_absolute_error, 0.4 / 3, 1e-6);
  EXPECT_NEAR(accuracy.within_0_1, 2.0 / 3, 1e-12);
  EXPECT_NEAR(accuracy.accuracy, 2.0 / 3, 1e-12) << "width 1: accuracy is within_0_1";
  const nlohmann::json json = accuracyJson(accuracy);
  EXPECT_TRUE(json.contains("mean_absolute_error"));
  EXPECT_FALSE(json.contains("correct"));
}

TEST_F(ResultServiceTest, OnlyVisibleFinishedRequestResultsAreListed) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(addResultRow({{"samples_total", 1}}, "d", 10 + i));
    writeResult(ids.back(), {{"out", 1}}, {1.0f});
  }
  // Rows that are not results: a train task, and a request whose result was deleted.
  const std::string train = addTaskRow({{"type", "train"}}, "d", 12);
  ASSERT_OK(service_->remove(ann_, ids[3]));

  std::vector<std::string> seen;
  store::PageRequest page{2, ""};
  do {
    ASSERT_OK_AND_ASSIGN(auto listed, service_->list(ann_, page));
    EXPECT_LE(listed.items.size(), 2u);
    for (const auto& summary : listed.items) seen.push_back(summary.id);
    page.cursor = listed.next_cursor;
  } while (!page.cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{ids[0], ids[1], ids[2], ids[4]}));

  ASSERT_OK_AND_ASSIGN(auto bens, service_->list(ben_, {}));
  EXPECT_TRUE(bens.items.empty());
  EXPECT_EQ(service_->get(ben_, ids[0]).status().code(), Code::kNotFound);
  EXPECT_EQ(service_->outputs(ben_, ids[0], 0, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(service_->remove(ben_, ids[0]).code(), Code::kNotFound);
  EXPECT_EQ(service_->get(ann_, train).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace tendril::service
