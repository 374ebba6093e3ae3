// dsm-run --hostfile/--host in process: the hostfile parser, --host lists,
// placement by slots, the options that go with them, and the pieces of the
// ssh command line (splitting --ssh, quoting for the remote shell).
#include "hostfile.h"

#include <gtest/gtest.h>

#include "options.h"
#include "remote.h"

namespace dsm::launcher {
namespace {

std::vector<HostEntry> Parse(std::string_view text) {
  auto r = ParseHostfile(text);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::vector<HostEntry>{};
}

std::string Error(std::string_view text) {
  auto r = ParseHostfile(text);
  return r.ok() ? "<parsed>" : r.status().message();
}

TEST(Hostfile, HostsSlotsCommentsAndBlankLines) {
  auto hosts = Parse(
      "# the cluster\n"
      "\n"
      "a\n"
      "   b slots=4   # four cores\n"
      "root@10.0.0.3\tslots=2 max_slots=8 listen=10.1.0.3\r\n"
      "   \t\n"
      "# end");
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_EQ(hosts[0], (HostEntry{"a", 1, ""}));
  EXPECT_EQ(hosts[1], (HostEntry{"b", 4, ""}));
  EXPECT_EQ(hosts[2], (HostEntry{"root@10.0.0.3", 2, "10.1.0.3"}));
}

TEST(Hostfile, AHostListedTwiceAddsItsSlots) {
  auto hosts = Parse("a slots=2\nb\na slots=3 listen=eth1\n");
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0], (HostEntry{"a", 5, "eth1"}));
  EXPECT_EQ(hosts[1], (HostEntry{"b", 1, ""}));
  EXPECT_EQ(Error("a listen=1.2.3.4\na listen=1.2.3.5\n"),
            "line 2: host 'a' listed again with another listen= address");
}

TEST(Hostfile, BadLinesAreNamedByNumber) {
  EXPECT_EQ(Error("a\nb slots=0\n"), "line 2: slots must be 1 to 1024, not '0'");
  EXPECT_EQ(Error("a slots=\n"), "line 1: slots must be 1 to 1024, not ''");
  EXPECT_EQ(Error("a slots=x\n"), "line 1: slots must be 1 to 1024, not 'x'");
  EXPECT_EQ(Error("a slots=-1\n"), "line 1: slots must be 1 to 1024, not '-1'");
  EXPECT_EQ(Error("a slots=1025\n"), "line 1: slots must be 1 to 1024, not '1025'");
  EXPECT_EQ(Error("a slots=1 slots=2\n"), "line 1: slots given twice");
  EXPECT_EQ(Error("\n\na cpus=2\n"), "line 3: unknown keyword 'cpus' (known: slots, max_slots, listen)");
  EXPECT_EQ(Error("a 4\n"), "line 1: expected KEY=VALUE, not '4'");
  EXPECT_EQ(Error("a slots=4 max_slots=2\n"), "line 1: max_slots is below slots");
  EXPECT_EQ(Error("-oProxyCommand=x\n"), "line 1: invalid host name '-oProxyCommand=x'");
  EXPECT_EQ(Error("a;rm\n"), "line 1: invalid host name 'a;rm'");
  EXPECT_EQ(Error("a listen=$(x)\n"), "line 1: invalid listen address '$(x)'");
  EXPECT_EQ(Error("a slots=600\na slots=600\n"), "line 2: host 'a' has more than 1024 slots");
  EXPECT_EQ(Error("# nothing\n\n"), "no host in it");
  EXPECT_EQ(Error(""), "no host in it");
}

TEST(Hostfile, HostListFromTheCommandLine) {
  auto hosts = ParseHostList("a,b:2,a:3,[fe80::1]:2,[::1]");
  ASSERT_TRUE(hosts.ok()) << hosts.status().message();
  ASSERT_EQ(hosts->size(), 4u);
  EXPECT_EQ((*hosts)[0], (HostEntry{"a", 4, ""}));
  EXPECT_EQ((*hosts)[1], (HostEntry{"b", 2, ""}));
  EXPECT_EQ((*hosts)[2], (HostEntry{"[fe80::1]", 2, ""}));
  EXPECT_EQ((*hosts)[3], (HostEntry{"[::1]", 1, ""}));
  for (const char* bad : {"", "a,,b", "a:0", "a:", "a:x", ",a", "a b"}) {
    EXPECT_FALSE(ParseHostList(bad).ok()) << bad;
  }
}

std::vector<uint32_t> Place(const std::vector<HostEntry>& hosts, uint32_t nodes, Placement p,
                            std::vector<std::string>* used = nullptr) {
  auto plan = PlaceOnHosts(hosts, nodes, p, 64);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  if (!plan.ok()) return {};
  if (used != nullptr) {
    used->clear();
    for (const HostEntry& h : plan->hosts) used->push_back(h.name);
  }
  return plan->host_of_node;
}

TEST(Hostfile, BlockPlacementFillsEachHostsSlotsInTurn) {
  std::vector<HostEntry> hosts = {{"a", 2, ""}, {"b", 1, ""}, {"c", 3, ""}};
  std::vector<std::string> used;
  EXPECT_EQ(Place(hosts, 6, Placement::kBlock, &used), (std::vector<uint32_t>{0, 0, 1, 2, 2, 2}));
  EXPECT_EQ(used, (std::vector<std::string>{"a", "b", "c"}));
  // Hosts without a node are not used; the others are renumbered.
  EXPECT_EQ(Place(hosts, 2, Placement::kBlock, &used), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(used, (std::vector<std::string>{"a"}));
}

TEST(Hostfile, CyclicPlacementTakesTheHostsInTurnWithinTheirSlots) {
  std::vector<HostEntry> hosts = {{"a", 2, ""}, {"b", 1, ""}, {"c", 3, ""}};
  std::vector<std::string> used;
  EXPECT_EQ(Place(hosts, 6, Placement::kCyclic, &used), (std::vector<uint32_t>{0, 1, 2, 0, 2, 2}));
  EXPECT_EQ(Place(hosts, 2, Placement::kCyclic, &used), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(used, (std::vector<std::string>{"a", "b"}));
  std::vector<HostEntry> skip = {{"a", 1, ""}, {"b", 1, ""}, {"c", 1, ""}};
  EXPECT_EQ(Place(skip, 2, Placement::kCyclic, &used), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(used, (std::vector<std::string>{"a", "b"}));
}

TEST(Hostfile, MoreNodesThanSlotsIsRefused) {
  std::vector<HostEntry> hosts = {{"a", 2, ""}, {"b", 1, ""}};
  auto plan = PlaceOnHosts(hosts, 4, Placement::kBlock, 64);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("4 nodes do not fit in the 3 slots"), std::string::npos);
  std::vector<HostEntry> many;
  for (int i = 0; i < 3; ++i) many.push_back({"h" + std::to_string(i), 1, ""});
  EXPECT_FALSE(PlaceOnHosts(many, 3, Placement::kBlock, 2).ok());
}

Result<Options> Opts(std::vector<std::string> args) { return ParseOptions(args); }

TEST(HostfileOptions, ParsedAndResolved) {
  auto o = Opts({"--host", "a:2,b", "-n", "3", "--ssh", "ssh -i key", "--stage", "--placement", "cyclic", "prog"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_TRUE(o->remote());
  EXPECT_TRUE(o->stage);
  ASSERT_TRUE(ResolveHosts(&*o, "ignored").ok());
  EXPECT_EQ(o->hosts, 2u);
  EXPECT_EQ(o->host_of_node, (std::vector<uint32_t>{0, 1, 0}));
  EXPECT_EQ(o->ssh, "ssh -i key");

  auto d = Opts({"--host", "a", "-n", "1", "prog"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(ResolveHosts(&*d, "my-ssh -p 2222").ok());
  EXPECT_EQ(d->ssh, "my-ssh -p 2222");
  ASSERT_TRUE(ResolveHosts(&*d, "").ok());
  auto e = Opts({"--host", "a", "-n", "1", "prog"});
  ASSERT_TRUE(ResolveHosts(&*e, nullptr).ok());
  EXPECT_EQ(e->ssh, "ssh");
  EXPECT_EQ(e->hosts, 1u);

  auto too_many = Opts({"--host", "a,b", "-n", "3", "prog"});
  ASSERT_TRUE(too_many.ok());
  Status s = ResolveHosts(&*too_many, nullptr);
  EXPECT_NE(s.message().find("3 nodes do not fit in the 2 slots"), std::string::npos) << s.message();
  auto missing = Opts({"--hostfile", "/nonexistent/hosts", "-n", "1", "prog"});
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(ResolveHosts(&*missing, nullptr).message().find("cannot read the hostfile /nonexistent/hosts"),
            std::string::npos);
}

TEST(HostfileOptions, WhatDoesNotGoWithAHostfileIsRefused) {
  auto err = [](std::vector<std::string> args) {
    auto o = ParseOptions(args);
    return o.ok() ? std::string("<ok>") : o.status().message();
  };
  EXPECT_EQ(err({"--hostfile", "f", "--host", "a", "-n", "1", "p"}), "--hostfile and --host cannot be used together");
  EXPECT_EQ(err({"--hostfile", "f", "--hosts", "2", "-n", "2", "p"}),
            "--hosts cannot be used with --hostfile or --host: the hosts are the ones named");
  EXPECT_EQ(err({"--host", "a", "--netns", "-n", "1", "p"}),
            "--netns cannot be used with --hostfile or --host (not yet supported)");
  EXPECT_EQ(err({"--host", "a", "--vm", "-n", "1", "p"}),
            "--vm cannot be used with --hostfile or --host (not yet supported)");
  EXPECT_EQ(err({"--host", "a", "--trace", "t", "-n", "1", "p"}), "<ok>") << "each agent sends its nodes' timelines back";
  EXPECT_EQ(err({"--host", "a", "--stats-json", "s", "-n", "1", "p"}), "<ok>") << "each agent sends its host's back";
  EXPECT_EQ(err({"--ssh", "ssh", "-n", "1", "p"}), "option '--ssh' needs --hostfile or --host");
  EXPECT_EQ(err({"--stage", "-n", "1", "p"}), "option '--stage' needs --hostfile or --host");
  EXPECT_EQ(err({"--host", "a:0", "-n", "1", "p"}),
            "invalid value 'a:0' for --host: in 'a:0': slots must be 1 to 1024");
  EXPECT_EQ(err({"--host", "a", "--ssh", "  ", "-n", "1", "p"}), "invalid value '  ' for --ssh: no command");
  EXPECT_EQ(err({"--hostfile", "", "-n", "1", "p"}), "invalid value '' for --hostfile: empty path");
  // Hosts beyond the nodes are fine: they are not used.
  EXPECT_EQ(err({"--host", "a,b,c", "-n", "1", "p"}), "<ok>");
}

TEST(SshCommand, SplitLikeAShellWithoutExpansion) {
  auto w = SplitCommand("ssh  -i '/a key' -o \"User=x y\" -p\\ 2 \"a\\\"b\"''");
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(*w, (std::vector<std::string>{"ssh", "-i", "/a key", "-o", "User=x y", "-p 2", "a\"b"}));
  EXPECT_FALSE(SplitCommand("ssh 'x").ok());
  EXPECT_FALSE(SplitCommand("ssh \"x").ok());
  EXPECT_FALSE(SplitCommand("  ").ok());
}

TEST(SshCommand, WordsAreQuotedForTheRemoteShell) {
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("it's $HOME `x`"), "'it'\\''s $HOME `x`'");
}

}  // namespace
}  // namespace dsm::launcher
