// dsm-run --vm end to end, with real QEMU (TCG) guests on real daemons: the
// examples and the consistency programs on two VMs on one host, on two hosts
// of one VM and on two hosts of two VMs, and with a native node and a VM in
// one job (--vm-nodes); node 0's standard input, its
// environment and directory; exit statuses; a guest whose program crashes,
// whose kernel panics, or whose QEMU is killed; and the errors found before
// anything boots. Guests boot in seconds under TCG, so each job is bounded
// by --timeout and the harness.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "run_program.h"
#include "stdin_check.h"
#include "vm_test_util.h"

namespace {

using dsm::testing::ProgramOutput;
using dsm::testing::RunProgram;
using namespace std::chrono_literals;

constexpr auto kDeadline = 240s;  // the harness's bound on one job
const std::string kTimeout = "150";

std::string Program(const std::string& name) { return std::string(DSM_PROGRAMS_DIR) + "/" + name; }

std::string Describe(const ProgramOutput& r) {
  return "status " + std::to_string(r.status) + (r.timed_out ? " (timed out)" : "") + "\n--- stdout\n" + r.out +
         "--- stderr\n" + r.err;
}

std::vector<std::string> VmRun(int hosts, int nodes, std::vector<std::string> rest) {
  std::vector<std::string> argv = {DSM_RUN_PATH, "--hostd", DSM_HOSTD_PATH, "--vm", "--timeout", kTimeout};
  if (hosts > 1) argv.insert(argv.end(), {"--hosts", std::to_string(hosts)});
  argv.insert(argv.end(), {"-n", std::to_string(nodes)});
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

using dsm::vmtest::TempDir;

// Every job's private directory is $TMPDIR/dsm-XXXXXX: a test gives each job
// a TMPDIR of its own and checks that it is empty afterwards.
bool DirectoryEmpty(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  int entries = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++entries;
  }
  ::closedir(d);
  return entries == 0;
}

// Processes whose command line mentions text (QEMUs of a job: their job
// files are under the job's TMPDIR).
std::vector<pid_t> ProcessesMentioning(const std::string& text) {
  std::vector<pid_t> found;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return found;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == ::getpid()) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(text) != std::string::npos) found.push_back(pid);
  }
  ::closedir(d);
  return found;
}

// ---- placements x programs ----

struct Case {
  std::string name;
  int hosts, nodes;
  std::string program;
  std::vector<std::string> args;
  std::string expect;  // a piece of stdout proving the result was checked
  std::vector<std::string> options = {};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class VmJob : public ::testing::TestWithParam<Case> {};

TEST_P(VmJob, ComputesTheVerifiedResult) {
  const Case& c = GetParam();
  std::vector<std::string> rest = c.options;
  rest.insert(rest.end(), {"--", Program(c.program)});
  rest.insert(rest.end(), c.args.begin(), c.args.end());
  auto argv = VmRun(c.hosts, c.nodes, rest);
  TempDir tmp;
  ProgramOutput r = RunProgram(argv, {{"TMPDIR", tmp.path()}}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find(c.expect), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << Describe(r);
  EXPECT_TRUE(DirectoryEmpty(tmp.path())) << "dsm-run left files in " << tmp.path();
}

std::vector<Case> Cases() {
  struct Placement {
    std::string name;
    int hosts, nodes;
  };
  const std::vector<Placement> placements = {
      {"TwoVms", 1, 2}, {"TwoHostsOneVmEach", 2, 2}, {"TwoHostsTwoVmsEach", 2, 4}};
  std::vector<Case> all;
  for (const Placement& p : placements) {
    std::string n = std::to_string(p.nodes);
    all.push_back({p.name + "_LockCounter", p.hosts, p.nodes, "dsm_test_counter", {"500"},
                   "counter=" + std::to_string(500 * p.nodes) + " expected=" + std::to_string(500 * p.nodes)});
    all.push_back({p.name + "_BarrierPhases", p.hosts, p.nodes, "dsm_test_phases", {"10"},
                   "checks=" + std::to_string(10 * p.nodes * p.nodes * 64) + " errors=0"});
    all.push_back({p.name + "_LinkedList", p.hosts, p.nodes, "dsm_test_list", {"300"},
                   "nodes=" + n + " items=300 errors=0"});
    if (p.hosts > 1) {
      all.push_back({p.name + "_FalseSharing", p.hosts, p.nodes, "dsm_cons_falseshare", {"6", "12", "words"},
                     "falseshare words: OK"});
      all.push_back({p.name + "_LitmusLock", p.hosts, p.nodes, "dsm_cons_litmus", {"lock", "8"}, "litmus lock: OK"});
    }
  }
  // Native and VM nodes in one job: node 0 a process, node 1 a guest.
  all.push_back({"NativeAndVmOnOneHost_LockCounter", 1, 2, "dsm_test_counter", {"500"},
                 "counter=1000 expected=1000", {"--vm-nodes", "1"}});
  all.push_back({"NativeHostAndVmHost_LitmusLock", 2, 2, "dsm_cons_litmus", {"lock", "8"}, "litmus lock: OK",
                 {"--vm-nodes", "1"}});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Placements, VmJob, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

// ---- the README's example, a static program ----

TEST(DsmRunVm, PiExampleOnTwoVirtualMachines) {
  ProgramOutput r = RunProgram(VmRun(1, 2, {DSM_PI_EXAMPLE}), {}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("on 2 nodes"), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("pi: OK"), std::string::npos) << Describe(r);
}

// examples/heat: unmodified OpenMP built by dsm-clang (shared globals, the
// shared heap), on two VM hosts: the same result as one process.
TEST(DsmRunVm, OpenMpProgramOnTwoVmHostsMatchesOneProcess) {
  ProgramOutput alone = RunProgram({DSM_HEAT_EXAMPLE, "64", "50"}, {}, kDeadline);
  ASSERT_EQ(alone.status, 0) << Describe(alone);
  std::string line = alone.out.substr(0, alone.out.find('\n') + 1);
  ASSERT_NE(line.find("mean temperature"), std::string::npos) << Describe(alone);
  ProgramOutput r = RunProgram(VmRun(2, 2, {DSM_HEAT_EXAMPLE, "64", "50"}), {}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find(line), std::string::npos) << "expected " << line << Describe(r);
}

TEST(DsmRunVm, StaticallyLinkedProgram) {
  ProgramOutput r = RunProgram(VmRun(1, 2, {Program("dsm_test_counter_static"), "300"}), {}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=600 expected=600"), std::string::npos) << Describe(r);
}

// ---- what node 0 sees: stdin, environment, directory, exit status ----

TEST(DsmRunVm, NodeZeroGetsStdinEnvironmentAndDirectory) {
  TempDir dir;
  // Every byte value, ^D and ^V and NUL among them, and a line longer than
  // the guest's canonical line buffer.
  const dsm::testing::StdinCheck check = dsm::testing::MakeStdinCheck(8, 6000);
  const std::string& input = check.input;
  std::string in_path = dir.path() + "/input";
  std::ofstream(in_path, std::ios::binary) << input;

  std::string value = "it's \"quoted\" $HOME `x`";
  std::string cmd = "cd '" + dir.path() + "' && DSM_VM_TEST='it'\\''s \"quoted\" $HOME `x`' '" DSM_RUN_PATH +
                    "' --hostd '" DSM_HOSTD_PATH "' --vm --timeout " + kTimeout + " --tag-output -n 2 -- '" +
                    Program("vm_node") + "' stdin < '" + in_path + "'";
  ProgramOutput r = RunProgram({"/bin/sh", "-c", cmd}, {}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("[node 0] " + check.expect), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("[node 0] cwd=" + dir.path() + " env=" + value + "\n"), std::string::npos) << Describe(r);
}

// The working directory is the host's, mounted in the guest: node 0 reads a
// file of it and writes another, which the host sees; --vm-share none leaves
// the guest without it.
TEST(DsmRunVm, TheWorkingDirectoryIsSharedWithTheGuests) {
  TempDir dir("dsm-vm-share");
  std::string data;
  for (int i = 0; i < 3000; ++i) data += "row " + std::to_string(i) + "\n";
  std::ofstream(dir.path() + "/in.txt") << data;
  auto argv = VmRun(2, 2, {Program("vm_node"), "copy", "in.txt", "out.txt"});
  std::string cmd = "cd '" + dir.path() + "' && exec";
  for (const std::string& a : argv) cmd += " '" + a + "'";
  ProgramOutput r = RunProgram({"/bin/sh", "-c", cmd}, {}, kDeadline);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("copied " + std::to_string(data.size()) + " bytes"), std::string::npos) << Describe(r);
  EXPECT_EQ(dsm::vmtest::Slurp(dir.path() + "/out.txt"), data);

  auto none = VmRun(1, 1, {"--vm-share", "none", Program("vm_node"), "copy", "in.txt", "out2.txt"});
  cmd = "cd '" + dir.path() + "' && exec";
  for (const std::string& a : none) cmd += " '" + a + "'";
  r = RunProgram({"/bin/sh", "-c", cmd}, {}, kDeadline);
  EXPECT_NE(r.status, 0) << Describe(r);
  EXPECT_NE(r.err.find("in.txt: No such file or directory"), std::string::npos) << Describe(r);
}

TEST(DsmRunVm, NodeZerosExitStatusIsTheJobs) {
  ProgramOutput r = RunProgram(VmRun(1, 2, {Program("vm_node"), "exit", "7"}), {}, kDeadline);
  EXPECT_EQ(r.status, 7) << Describe(r);
}

// ---- guests that die ----

TEST(DsmRunVm, ProgramCrashingInItsGuestEndsTheJobNamingIt) {
  TempDir tmp;
  ProgramOutput r = RunProgram(VmRun(1, 2, {Program("vm_node"), "fail", "1", "segv"}), {{"TMPDIR", tmp.path()}},
                               kDeadline);
  EXPECT_EQ(r.status, 128 + SIGSEGV) << Describe(r);
  EXPECT_NE(r.err.find("node 1 (VM)"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("killed by signal 11 (Segmentation fault) in its guest"), std::string::npos) << Describe(r);
  EXPECT_TRUE(DirectoryEmpty(tmp.path()));
}

TEST(DsmRunVm, GuestKernelPanicEndsTheJobNamingIt) {
  TempDir tmp;
  ProgramOutput r = RunProgram(VmRun(1, 2, {Program("vm_node"), "fail", "1", "panic"}), {{"TMPDIR", tmp.path()}},
                               kDeadline);
  EXPECT_NE(r.status, 0) << Describe(r);
  EXPECT_NE(r.err.find("node 1 (VM)"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("the guest kernel panicked (Kernel panic - not syncing: sysrq triggered crash)"),
            std::string::npos)
      << Describe(r);
  EXPECT_TRUE(DirectoryEmpty(tmp.path()));
  EXPECT_TRUE(ProcessesMentioning(tmp.path()).empty());
}

// Kills node 1's QEMU once its program runs; the job must end within 3 s,
// naming it, with no QEMU, socket or file left.
TEST(DsmRunVm, KilledVmEndsTheJobWithinThreeSeconds) {
  TempDir tmp;
  auto argv = VmRun(1, 2, {"--tag-output", Program("vm_node"), "fail", "1", "hang"});
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::setenv("TMPDIR", tmp.path().c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  dsm::UniqueFd read_end(out[0]);
  std::string text;
  auto start = std::chrono::steady_clock::now();
  // Wait (on the pipe, with a deadline) until node 1 says it runs.
  while (text.find("[node 1] node 1 armed") == std::string::npos) {
    auto left = kDeadline - (std::chrono::steady_clock::now() - start);
    ASSERT_GT(left.count(), 0) << "node 1 never ran:\n" << text;
    pollfd p{read_end.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
    ASSERT_GE(n, 0);
    char buf[4096];
    ssize_t got = ::read(read_end.get(), buf, sizeof buf);
    ASSERT_GT(got, 0) << "dsm-run ended first:\n" << text;
    text.append(buf, static_cast<size_t>(got));
  }
  std::vector<pid_t> qemus = ProcessesMentioning(tmp.path());
  pid_t victim = -1;
  for (pid_t q : qemus) {
    std::ifstream in("/proc/" + std::to_string(q) + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find("node1.job") != std::string::npos) victim = q;
  }
  ASSERT_GT(victim, 0) << "no QEMU for node 1 among " << qemus.size() << " processes";
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  for (;;) {
    char buf[4096];
    ssize_t got = ::read(read_end.get(), buf, sizeof buf);
    if (got <= 0) break;
    text.append(buf, static_cast<size_t>(got));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 3.0) << text;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL) << text;
  EXPECT_NE(text.find("node 1 (VM) (pid " + std::to_string(victim) + ") lost its guest: QEMU was killed by signal 9"),
            std::string::npos)
      << text;
  EXPECT_TRUE(ProcessesMentioning(tmp.path()).empty()) << "a QEMU of the job is still running";
  EXPECT_TRUE(DirectoryEmpty(tmp.path())) << "dsm-run left files in " << tmp.path();
}

// ---- errors before anything boots ----

TEST(DsmRunVm, MissingQemuIsNamedBeforeAnythingStarts) {
  ProgramOutput r = RunProgram(VmRun(1, 2, {"--qemu", "/nonexistent/qemu", DSM_PI_EXAMPLE}), {}, 30s);
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("--qemu /nonexistent/qemu is not an executable file"), std::string::npos) << Describe(r);
}

TEST(DsmRunVm, ProgramNotLinkedWithLibdsmIsRefusedBeforeBooting) {
  ProgramOutput r = RunProgram(VmRun(1, 2, {"/bin/true"}), {}, 30s);
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("/bin/true is not linked with libdsm"), std::string::npos) << Describe(r);
}

TEST(DsmRunVm, MissingGuestKernelIsNamedBeforeBooting) {
  TempDir empty;
  ProgramOutput r = RunProgram(VmRun(1, 2, {DSM_PI_EXAMPLE}), {{"DSM_GUEST_KERNEL", empty.path()}}, 30s);
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("no guest kernel"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("scripts/bootstrap"), std::string::npos) << Describe(r);
}

// A program whose library is gone cannot go into an image: named, nothing boots.
TEST(DsmRunVm, MissingLibraryIsNamedBeforeBooting) {
  TempDir dir;
  const std::string d = dir.path();
  std::ofstream(d + "/dep.c") << "int vm_test_dep(void) { return 42; }\n";
  std::ofstream(d + "/prog.c") << "int vm_test_dep(void);\nint main(void) { return vm_test_dep() == 42 ? 0 : 1; }\n";
  std::string build = "cd '" + d + "' && '" DSM_C_COMPILER "' -shared -fPIC -o libvmtestdep.so dep.c && '" DSM_CLANG_PATH
                      "' -o prog prog.c -L. -lvmtestdep -Wl,-rpath,'" + d + "' && rm libvmtestdep.so";
  ProgramOutput b = RunProgram({"/bin/sh", "-c", build}, {}, 120s);
  ASSERT_EQ(b.status, 0) << Describe(b);
  ProgramOutput r = RunProgram(VmRun(1, 2, {d + "/prog"}), {}, 30s);
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("libvmtestdep.so"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << Describe(r);
}

TEST(DsmRunVm, TooLittleMemoryForTheGuestsIsNamedBeforeBooting) {
  ProgramOutput r = RunProgram(VmRun(1, 64, {"--vm-memory", "64G", DSM_PI_EXAMPLE}), {}, 30s);
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("64 guests of 65536 MiB need about"), std::string::npos) << Describe(r);
}

}  // namespace
