// The nodes' standard streams under dsm-run: --tag-output, shared streams
// without it, standard input for node 0 only.
#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

TEST_F(LauncherJob, TagOutputSplitsOverlongLines) {
  // 100000 characters without a newline: one piece of 65536, then the rest.
  Outcome o = Run(Job(1, {"--tag-output"}, "head -c 100000 /dev/zero | tr '\\0' x"), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out,
            "[node 0] " + std::string(65536, 'x') + "\n[node 0] " + std::string(100000 - 65536, 'x') + "\n");
}

TEST_F(LauncherJob, TagOutputPrefixesAndKeepsEveryLine) {
  constexpr int kNodes = 4;
  constexpr int kLines = 1000;
  std::string script =
      R"(i=0; while [ $i -lt 1000 ]; do echo "out $DSM_NODE_ID $i"; echo "err $DSM_NODE_ID $i" >&2; )"
      R"(i=$((i+1)); done; printf "outtail $DSM_NODE_ID"; printf "errtail $DSM_NODE_ID" >&2)";
  Outcome o = Run(Job(kNodes, {"--tag-output"}, script), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err.substr(0, 2000);
  for (const auto& [stream, text] : {std::pair<std::string, std::string>{"out", o.out}, {"err", o.err}}) {
    SCOPED_TRACE(stream);
    ASSERT_TRUE(text.empty() || text.back() == '\n');
    std::set<std::string> expected;
    for (int k = 0; k < kNodes; ++k) {
      std::string prefix = "[node " + std::to_string(k) + "] ";
      for (int i = 0; i < kLines; ++i)
        expected.insert(prefix + stream + " " + std::to_string(k) + " " + std::to_string(i));
      expected.insert(prefix + stream + "tail " + std::to_string(k));
    }
    std::vector<std::string> lines = Lines(text);
    EXPECT_EQ(lines.size(), expected.size());
    std::set<std::string> seen;
    for (const std::string& line : lines) {
      EXPECT_TRUE(expected.count(line)) << "unexpected line: " << line;
      EXPECT_TRUE(seen.insert(line).second) << "duplicate line: " << line;
    }
    EXPECT_EQ(seen.size(), expected.size());
    // Each node's lines stay in order.
    std::map<int, int> next;
    for (const std::string& line : lines) {
      int k = -1, i = -1;
      if (std::sscanf(line.c_str(), ("[node %d] " + stream + " %*d %d").c_str(), &k, &i) == 2) {
        EXPECT_EQ(i, next[k]) << line;
        next[k] = i + 1;
      }
    }
  }
  ExpectJobGone();
}

TEST_F(LauncherJob, WithoutTagOutputNodesShareTheStreams) {
  Outcome o = Run(Job(2, {}, R"(echo "plain $DSM_NODE_ID"; echo "oops $DSM_NODE_ID" >&2)"), {kFinished});
  EXPECT_EQ(o.status, 0);
  std::vector<std::string> out = Lines(o.out), err = Lines(o.err);
  std::sort(out.begin(), out.end());
  std::sort(err.begin(), err.end());
  EXPECT_EQ(out, (std::vector<std::string>{"plain 0", "plain 1"}));
  EXPECT_EQ(err, (std::vector<std::string>{"oops 0", "oops 1"}));
}

TEST_F(LauncherJob, StdinReachesNode0Only) {
  Outcome o = Run(Job(3, {}, R"(cat > "$TEST_DIR/in.$DSM_NODE_ID")"), {kFinished}, "hello\nworld\n");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ReadFile(Path("in.0")), "hello\nworld\n");
  EXPECT_EQ(ReadFile(Path("in.1")), "");
  EXPECT_EQ(ReadFile(Path("in.2")), "");
  ExpectJobGone();
}

}  // namespace
}  // namespace dsm::launcher::testing
