// Tests of the image cache's pruning (tools/dsm-image/cache_prune.h): least
// recently used first, within the budget, never what was used lately nor
// what is kept; builds mark their image used and prune the rest; the
// command's options and errors.
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cache_prune.h"
#include "file_util.h"
#include "image.h"
#include "vm_test_util.h"

namespace dsm::image {
namespace {

namespace fs = std::filesystem;
using vmtest::TempDir;

constexpr uint64_t kMiB = 1 << 20;

// A key-named image folder (or any entry) of `bytes` bytes of data, last
// used `hours_ago` hours ago. Random bytes, written through: a compressing
// file system stores them whole, so the blocks the pruner counts are there.
std::string MakeEntry(const std::string& path, uint64_t bytes, double hours_ago, bool dir = true) {
  const std::string file = dir ? path + "/initramfs.cpio" : path;
  if (dir) fs::create_directories(path);
  {
    std::mt19937_64 random(bytes ^ static_cast<uint64_t>(hours_ago * 1000));
    std::string data(bytes, '\0');
    for (char& c : data) c = static_cast<char>(random());
    std::ofstream(file, std::ios::binary) << data;
  }
  if (FILE* f = std::fopen(file.c_str(), "r+")) {
    ::fsync(::fileno(f));
    std::fclose(f);
  }
  timeval now{};
  ::gettimeofday(&now, nullptr);
  timeval when[2] = {now, now};
  when[0].tv_sec = when[1].tv_sec = now.tv_sec - static_cast<time_t>(hours_ago * 3600);
  EXPECT_EQ(::utimes(path.c_str(), when), 0);
  return path;
}

std::string Key(char c) { return std::string(64, c); }

TEST(ImageCache, PrunesLeastRecentlyUsedFirstWithinTheBudget) {
  TempDir dir;
  const std::string c = dir.path() + "/cache";
  fs::create_directories(c + "/kernels");
  const std::string kernel = MakeEntry(c + "/kernels/vmlinux-old", kMiB, 5, false);
  const std::string a = MakeEntry(c + "/" + Key('a'), kMiB, 4);
  const std::string b = MakeEntry(c + "/" + Key('b'), kMiB, 3);
  const std::string d = MakeEntry(c + "/" + Key('d'), kMiB, 2);
  const std::string e = MakeEntry(c + "/" + Key('e'), kMiB, 0);         // just used
  const std::string kept = MakeEntry(c + "/" + Key('f'), kMiB, 9);      // old, but kept
  const std::string stale = MakeEntry(c + "/.build.abc123", 1000, 2.5);  // a build that never finished
  const std::string building = MakeEntry(c + "/.build.xyz789", 1000, 0);
  const std::string other = MakeEntry(c + "/README", 100, 9, false);     // not an entry of the cache
  const std::string short_key = MakeEntry(c + "/abc", kMiB, 9);          // nor is this

  PruneOptions o;
  o.max_bytes = 3 * kMiB + kMiB / 2;
  o.keep = {kept};
  auto r = PruneImageCache(c, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // 6 MiB and two small folders: the stale build goes whatever the size,
  // then the oldest until 3.5 MiB is left.
  EXPECT_EQ(r->removed, (std::vector<std::string>{kernel, a, b, stale})) << ::testing::PrintToString(r->removed);
  for (const std::string& p : {kernel, a, stale, b}) EXPECT_FALSE(fs::exists(p)) << p;
  for (const std::string& p : {d, e, kept, building, other, short_key}) EXPECT_TRUE(fs::exists(p)) << p;
  EXPECT_GE(r->removed_bytes, 3 * kMiB);
  EXPECT_LE(r->kept_bytes, o.max_bytes);
  EXPECT_GE(r->kept_bytes, 3 * kMiB);

  // A budget of nothing removes all but what was used lately or is kept.
  o.max_bytes = 0;
  r = PruneImageCache(c, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->removed, (std::vector<std::string>{d}));
  for (const std::string& p : {e, kept, building}) EXPECT_TRUE(fs::exists(p)) << p;
  // With no minimum age those go too, but for the kept one.
  o.min_age = std::chrono::seconds(0);
  r = PruneImageCache(c, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->removed.size(), 2u);
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_FALSE(fs::exists(e));

  // A cache that does not exist is empty.
  r = PruneImageCache(dir.path() + "/none", o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->removed.empty());
}

// Restores an environment variable at the end of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
};

TEST(ImageCache, ABuildMarksItsImageUsedAndPrunesTheRest) {
  REQUIRE_IMAGE_INPUTS();
  TempDir dir;
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  const std::string old1 = MakeEntry(options.cache_dir + "/" + Key('1'), kMiB, 24);
  const std::string old2 = MakeEntry(options.cache_dir + "/" + Key('2'), kMiB, 48);
  {
    ScopedEnv budget("DSM_IMAGE_CACHE_MAX", "1");
    auto first = BuildImage(DSM_GUEST_PROGRAM, options);
    ASSERT_TRUE(first.ok()) << first.status().message();
    EXPECT_FALSE(fs::exists(old1));
    EXPECT_FALSE(fs::exists(old2));
    EXPECT_TRUE(IsReadableFile(first->initramfs)) << "the image just built stays";
    EXPECT_TRUE(IsReadableFile(first->kernel)) << "and its kernel";
    // Found in the cache again, it is marked used: its time is now.
    const std::string image_dir = options.cache_dir + "/" + first->key;
    timeval long_ago[2] = {{1000000000, 0}, {1000000000, 0}};
    ASSERT_EQ(::utimes(image_dir.c_str(), long_ago), 0);
    auto second = BuildImage(DSM_GUEST_PROGRAM, options);
    ASSERT_TRUE(second.ok()) << second.status().message();
    EXPECT_TRUE(second->cached);
    struct stat st {};
    ASSERT_EQ(::stat(image_dir.c_str(), &st), 0);
    EXPECT_GT(st.st_mtim.tv_sec, ::time(nullptr) - 600);
  }
  {
    ScopedEnv budget("DSM_IMAGE_CACHE_MAX", "plenty");
    auto bad = BuildImage(DSM_GUEST_PROGRAM, options);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().message(), "DSM_IMAGE_CACHE_MAX='plenty' is not a size such as 512M or 4G");
  }
}

// Runs the command; returns its exit status and puts its output in *out.
int RunTool(const std::string& args, std::string* out) {
  TempDir dir;
  const std::string file = dir.path() + "/out";
  const int status = ::system((std::string(DSM_IMAGE_TOOL) + " " + args + " > " + file + " 2>&1").c_str());
  auto text = ReadWholeFile(file);
  *out = text.ok() ? *text : "";
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ImageCache, TheCommandPrunesAndNamesBadArguments) {
  TempDir dir;
  const std::string c = dir.path() + "/cache";
  MakeEntry(c + "/" + Key('a'), kMiB, 2);
  MakeEntry(c + "/" + Key('b'), kMiB, 0);
  std::string out;
  EXPECT_EQ(RunTool("prune --cache " + c + " --max 0", &out), 0) << out;
  EXPECT_EQ(out.rfind("removed 1 entries (", 0), 0u) << out;
  EXPECT_TRUE(fs::exists(c + "/" + Key('b'))) << "used within the last 10 minutes";
  EXPECT_EQ(RunTool("prune --cache " + c + " --max 0 --min-age 0", &out), 0) << out;
  EXPECT_EQ(out.rfind("removed 1 entries (", 0), 0u) << out;
  EXPECT_NE(out.find("), 0 bytes kept"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(c + "/" + Key('b')));

  EXPECT_EQ(RunTool("prune --cache " + c + " --max lots", &out), 2);
  EXPECT_NE(out.find("--max needs a size such as 512M or 4G, not 'lots'"), std::string::npos) << out;
  EXPECT_EQ(RunTool("prune --cache " + c + " --min-age soon", &out), 2);
  EXPECT_NE(out.find("--min-age needs a number of seconds, not 'soon'"), std::string::npos) << out;
  EXPECT_EQ(RunTool("prune --cache", &out), 2);
  EXPECT_NE(out.find("'--cache' needs a value"), std::string::npos) << out;
  EXPECT_EQ(RunTool("prune --keep x", &out), 2);
  EXPECT_NE(out.find("unknown argument '--keep'"), std::string::npos) << out;
  EXPECT_EQ(::system(("DSM_IMAGE_CACHE_MAX=much " + std::string(DSM_IMAGE_TOOL) + " prune --cache " + c +
                      " 2>/dev/null").c_str()),
            2 << 8);
}

}  // namespace
}  // namespace dsm::image
