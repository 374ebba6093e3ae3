// QEMU's stock ivshmem-doorbell device attached to dsmkit's ivshmem server.
//
// Starts qemu-system-x86_64 with no kernel and no disk: SeaBIOS still
// enumerates PCI and assigns BARs, which is all this needs. Everything is
// observed through QEMU's human monitor on stdio: `info pci` for the BARs,
// `xp` to read the device's registers (BAR0) and shared memory (BAR2).
// Skipped only if qemu-system-x86_64 is not installed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dsm/common/ivshmem.h"
#include "dsm/hostd/ivshmem_server.h"
#include "device_client.h"
#include "dsm/device/protocol.h"
#include "ivshmem_test_util.h"

namespace dsm {
namespace {

using ivstest::Clock;
using std::chrono::milliseconds;

constexpr size_t kShmSize = 1 << 20;  // QEMU requires a power of two (a PCI BAR)
constexpr uint64_t kMagic = 0x6473'6d6b'6974'2121ULL;   // "dsmkit!!"
constexpr uint64_t kMagic2 = 0x0123'4567'89ab'cdefULL;  // written after QEMU mapped it
constexpr const char* kQemu = "qemu-system-x86_64";

std::optional<std::string> FindInPath(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + exe;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return std::nullopt;
}

// A QEMU child process with its monitor on a pair of pipes.
class Qemu {
 public:
  ~Qemu() { Kill(); }

  // Starts QEMU; stderr goes to the same pipe as the monitor so that a
  // failure to start is visible in transcript().
  bool Start(const std::string& binary, const std::vector<std::string>& args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return false;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return false;
    }
    std::vector<std::string> argv_s{binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Child: async-signal-safe calls only (the parent has threads).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_qemu_.reset(in[1]);
    from_qemu_.reset(out[0]);
    if (pid_ < 0) return false;
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    return true;
  }

  // Reads monitor output until it ends with a fresh prompt. Returns the
  // output since `from` (excluding the prompt), or nullopt on EOF/timeout.
  std::optional<std::string> ReadUntilPrompt(Clock::time_point deadline) {
    const size_t from = transcript_.size();
    static const std::string kPrompt = "(qemu) ";
    for (;;) {
      size_t pos = transcript_.rfind(kPrompt);
      if (pos != std::string::npos && pos >= from && pos + kPrompt.size() == transcript_.size())
        return transcript_.substr(from, pos - from);
      pollfd p{from_qemu_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, ivstest::RemainingMs(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        transcript_ += "\n<<timed out waiting for the monitor prompt>>\n";
        return std::nullopt;
      }
      char buf[4096];
      ssize_t n = ::read(from_qemu_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        transcript_ += "\n<<QEMU closed its monitor>>\n";
        return std::nullopt;
      }
      transcript_.append(buf, static_cast<size_t>(n));
    }
  }

  // Runs one monitor command and returns its output.
  std::optional<std::string> Command(const std::string& cmd, int timeout_ms = 5000) {
    const std::string line = cmd + "\n";
    if (::write(to_qemu_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) return std::nullopt;
    return ReadUntilPrompt(Clock::now() + milliseconds(timeout_ms));
  }

  // Sends `quit` and waits (bounded) for the process to exit.
  bool Quit(int timeout_ms) {
    const std::string line = "quit\n";
    if (::write(to_qemu_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    return WaitExit(timeout_ms);
  }

  bool WaitExit(int timeout_ms) {
    if (pid_ <= 0) return true;
    if (pidfd_.valid()) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      int r;
      do {
        r = ::poll(&p, 1, timeout_ms);
      } while (r < 0 && errno == EINTR);
      if (r != 1) return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return false;
    exit_status_ = status;
    pid_ = -1;
    return true;
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = status;
    pid_ = -1;
  }

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] int exit_status() const { return exit_status_; }
  [[nodiscard]] const std::string& transcript() const { return transcript_; }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_, to_qemu_, from_qemu_;
  std::string transcript_;
  int exit_status_ = -1;
};

struct Bars {
  uint64_t bar0 = 0;
  uint64_t bar2 = 0;
};

// Finds the 1af4:1110 function in `info pci` output and its BAR0/BAR2
// addresses; nullopt until both are assigned (unassigned BARs read as
// 0xffffffffffffffff).
std::optional<Bars> ParseInfoPci(const std::string& out) {
  size_t dev = out.find("1af4:1110");
  if (dev == std::string::npos) return std::nullopt;
  size_t end = out.find("Bus ", dev);
  const std::string block = out.substr(dev, end == std::string::npos ? std::string::npos : end - dev);
  static const std::regex kBar(R"(BAR([0-5]): [^\n]*memory at (0x[0-9a-fA-F]+))");
  Bars bars;
  bool have0 = false, have2 = false;
  for (std::sregex_iterator it(block.begin(), block.end(), kBar), e; it != e; ++it) {
    const int bar = std::stoi((*it)[1].str());
    const uint64_t addr = std::stoull((*it)[2].str(), nullptr, 16);
    if (addr == ~0ULL || addr == 0) continue;
    if (bar == 0) {
      bars.bar0 = addr;
      have0 = true;
    } else if (bar == 2) {
      bars.bar2 = addr;
      have2 = true;
    }
  }
  if (!have0 || !have2) return std::nullopt;
  return bars;
}

// Parses the value of an `xp /1wx` or `xp /1gx` answer: "ADDR: 0xVALUE".
std::optional<uint64_t> ParseXp(const std::string& out) {
  static const std::regex kLine(R"([0-9a-fA-F]+: (0x[0-9a-fA-F]+))");
  std::smatch m;
  if (!std::regex_search(out, m, kLine)) return std::nullopt;
  return std::stoull(m[1].str(), nullptr, 16);
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Polls `info pci` (bounded) until SeaBIOS has assigned BAR0 and BAR2. Gives
// up at once when the monitor fails or lists no ivshmem device (1af4:1110);
// *last holds the last answer (the monitor echoes the command line, with
// readline escapes, first: that line is dropped).
std::optional<Bars> WaitForBars(class Qemu& qemu, Clock::time_point deadline, std::string* last) {
  while (Clock::now() < deadline) {
    auto out = qemu.Command("info pci");
    if (!out) return std::nullopt;
    *last = out->substr(std::min(out->size(), out->find('\n') + 1));
    if (last->find("1af4:1110") == std::string::npos) return std::nullopt;
    if (auto bars = ParseInfoPci(*last)) return bars;
    pollfd none{-1, 0, 0};
    ::poll(&none, 1, 50);  // let the guest run a little before asking again
  }
  return std::nullopt;
}

// Reads guest-physical memory through the monitor: 4 bytes (w) or 8 (g).
std::optional<uint64_t> ReadPhys(class Qemu& qemu, uint64_t addr, char size) {
  auto out = qemu.Command(std::string("xp /1") + size + "x " + Hex(addr));
  if (!out) return std::nullopt;
  return ParseXp(*out);
}

TEST(QemuAttachTest, DoorbellDeviceAttachesToServer) {
  const auto qemu_bin = FindInPath(kQemu);
  if (!qemu_bin) GTEST_SKIP() << kQemu << " is not installed";
  const auto test_deadline = Clock::now() + std::chrono::seconds(20);

  // Shared memory with a magic value the guest side must see.
  UniqueFd shm = ivstest::MakeMemfd("qemu-attach", kShmSize);
  ASSERT_TRUE(shm.valid());
  void* map = ::mmap(nullptr, kShmSize, PROT_READ | PROT_WRITE, MAP_SHARED, shm.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  std::unique_ptr<void, void (*)(void*)> unmap(map, [](void* p) { ::munmap(p, kShmSize); });
  auto* words = static_cast<volatile uint64_t*>(map);
  words[0] = kMagic;

  ivstest::TempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string path = tmp.File("ivshmem.sock");
  auto created = hostd::IvshmemServer::Create(path, shm.get(), 8);
  ASSERT_TRUE(created.ok()) << created.status().message();
  auto server = std::move(created.value());
  ivstest::ServerLoop loop(server.get());

  // A test client first, so that QEMU's id is 2 and IVPosition is not
  // trivially 1.
  auto client = ivshmem::ConnectClient(path, 5000);
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_EQ(client->own_id, 1);
  ASSERT_TRUE(loop.WaitFor([](const auto& e) { return e.joined.size() == 1; }, 5000));

  Qemu qemu;
  const auto started = Clock::now();
  ASSERT_TRUE(qemu.Start(*qemu_bin, {"-accel", "tcg", "-machine", "pc", "-m", "64", "-nodefaults",
                                     "-no-user-config", "-display", "none", "-chardev",
                                     "socket,path=" + path + ",id=ivs", "-device",
                                     "ivshmem-doorbell,chardev=ivs,vectors=1", "-monitor", "stdio"}))
      << "could not start " << *qemu_bin << ": " << std::strerror(errno);

  // The device does the whole handshake while it is realized, before the
  // monitor comes up; so the first prompt means QEMU attached (or died).
  auto banner = qemu.ReadUntilPrompt(std::min(test_deadline, Clock::now() + std::chrono::seconds(10)));
  ASSERT_TRUE(banner) << "QEMU did not start; output:\n" << qemu.transcript();
  const auto prompt_at = Clock::now();

  // (a) QEMU connected and got peer id 2.
  ASSERT_TRUE(loop.WaitFor([](const auto& e) { return e.joined.size() == 2; }, 5000))
      << "the server never saw QEMU join; transcript:\n" << qemu.transcript();
  const auto joined = loop.Snapshot().joined;
  ASSERT_EQ(joined[1], 2);
  EXPECT_TRUE(loop.Snapshot().accept_errors.empty());
  EXPECT_TRUE(server->HasPeer(2));
  // The test client is told that peer 2 (QEMU) joined, with its eventfd.
  auto join = ivstest::ReceiveWithin(client->socket.get(), 5000);
  ASSERT_TRUE(join.ok()) << join.status().message();
  EXPECT_TRUE(join->fd.valid());
  auto applied = ivshmem::ApplyNotice(client.value(), std::move(join.value()));
  ASSERT_TRUE(applied.ok()) << applied.status().message();
  EXPECT_EQ(applied.value(), 2);

  // Wait for SeaBIOS to assign the BARs (polling the monitor, bounded).
  std::string info_pci;
  std::optional<Bars> bars =
      WaitForBars(qemu, std::min(test_deadline, Clock::now() + std::chrono::seconds(10)), &info_pci);
  ASSERT_NE(info_pci.find("1af4:1110"), std::string::npos)
      << "no ivshmem device in:\n" << info_pci << "\ntranscript:\n" << qemu.transcript();
  ASSERT_TRUE(bars) << "BARs never assigned; last info pci:\n" << info_pci;
  const auto bars_at = Clock::now();
  RecordProperty("info_pci", info_pci);

  // (b) IVPosition (BAR0 + 8) is the id the server gave QEMU.
  auto ivpos = qemu.Command("xp /1wx " + Hex(bars->bar0 + 8));
  ASSERT_TRUE(ivpos) << qemu.transcript();
  auto ivpos_value = ParseXp(*ivpos);
  ASSERT_TRUE(ivpos_value) << "cannot parse: " << *ivpos;
  EXPECT_EQ(*ivpos_value, 2u) << *ivpos;

  // (c) BAR2 is our shared memory: the magic written before QEMU started...
  auto word0 = qemu.Command("xp /1gx " + Hex(bars->bar2));
  ASSERT_TRUE(word0) << qemu.transcript();
  auto word0_value = ParseXp(*word0);
  ASSERT_TRUE(word0_value) << "cannot parse: " << *word0;
  EXPECT_EQ(*word0_value, kMagic) << *word0;
  // ...and a value written now, while QEMU has it mapped (shared, not copied).
  words[1] = kMagic2;
  auto word1 = qemu.Command("xp /1gx " + Hex(bars->bar2 + 8));
  ASSERT_TRUE(word1) << qemu.transcript();
  auto word1_value = ParseXp(*word1);
  ASSERT_TRUE(word1_value) << "cannot parse: " << *word1;
  EXPECT_EQ(*word1_value, kMagic2) << *word1;

  // (d) QEMU quits: the server removes peer 2 and tells the client.
  ASSERT_TRUE(qemu.Quit(10000)) << "QEMU did not exit after quit; transcript:\n" << qemu.transcript();
  EXPECT_TRUE(WIFEXITED(qemu.exit_status()) && WEXITSTATUS(qemu.exit_status()) == 0)
      << "exit status " << qemu.exit_status();
  ASSERT_TRUE(loop.WaitFor([](const auto& e) { return e.left.size() == 1 && e.left[0] == 2; }, 5000))
      << "the server never saw QEMU leave";
  EXPECT_FALSE(server->HasPeer(2));
  auto leave = ivstest::ReceiveWithin(client->socket.get(), 5000);
  ASSERT_TRUE(leave.ok()) << leave.status().message();
  EXPECT_EQ(leave->value, 2);
  EXPECT_FALSE(leave->fd.valid()) << "a leave notice carries no fd";
  auto left = ivshmem::ApplyNotice(client.value(), std::move(leave.value()));
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(client->peers.count(2), 0u);

  auto ms = [](auto d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
  std::printf("QEMU: monitor prompt after %lld ms, BARs assigned after %lld ms\n",
              static_cast<long long>(ms(prompt_at - started)), static_cast<long long>(ms(bars_at - started)));
  std::printf("QEMU start-up output:\n%s\n", banner->c_str());
  std::printf("info pci:\n%s\n", info_pci.c_str());
}

}  // namespace
}  // namespace dsm

namespace dsm {
namespace {

// The real daemon: dsm-hostd serves a native node (which attaches through
// the register protocol) and QEMU's device as its next peer. The guest sees
// the daemon's shared space in BAR2, including the native node's register
// page as the daemon completed it.
TEST(QemuAttachTest, RealDaemonServesANativeNodeAndQemu) {
  const auto qemu_bin = FindInPath(kQemu);
  if (!qemu_bin) GTEST_SKIP() << kQemu << " is not installed";
  const auto test_deadline = Clock::now() + std::chrono::seconds(30);
  ivstest::TempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string path = tmp.File("hostd.sock");

  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t daemon = ::fork();
  if (daemon == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(ready[1], 3);
    ::execl(DSM_HOSTD_PATH, DSM_HOSTD_PATH, "--socket", path.c_str(), "--nodes", "1", "--memory", "64M",
            "--ready-fd", "3", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(ready[1]);
  UniqueFd ready_r(ready[0]);
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{daemon};
  char buf[16] = {};
  pollfd rp{ready_r.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&rp, 1, 10000), 1) << "dsm-hostd did not start";
  ASSERT_EQ(::read(ready_r.get(), buf, 6), 6);
  ASSERT_STREQ(buf, "ready\n");

  // A native node: peer 1, attached as node 0.
  auto node = runtime::DeviceClient::Connect(path, 5000);
  ASSERT_TRUE(node.ok()) << node.status().message();
  ASSERT_EQ(node.value()->peer_id(), 1);
  auto attach = node.value()->Call(device::kAttach, {device::kVersion, 0, static_cast<uint64_t>(::getpid())});
  ASSERT_EQ(attach.status, device::kOk);
  const uint64_t attach_seq = node.value()->regs()->done_seq;

  Qemu qemu;
  ASSERT_TRUE(qemu.Start(*qemu_bin, {"-accel", "tcg", "-machine", "pc", "-m", "64", "-nodefaults",
                                     "-no-user-config", "-display", "none", "-chardev",
                                     "socket,path=" + path + ",id=ivs", "-device",
                                     "ivshmem-doorbell,chardev=ivs,vectors=1", "-monitor", "stdio"}));
  ASSERT_TRUE(qemu.ReadUntilPrompt(std::min(test_deadline, Clock::now() + std::chrono::seconds(10))))
      << "QEMU did not start; output:\n" << qemu.transcript();
  std::string info_pci;
  auto bars = WaitForBars(qemu, std::min(test_deadline, Clock::now() + std::chrono::seconds(10)), &info_pci);
  ASSERT_NE(info_pci.find("1af4:1110"), std::string::npos) << "no ivshmem device in:\n" << info_pci;
  ASSERT_TRUE(bars) << "BARs never assigned; last info pci:\n" << info_pci << qemu.transcript();

  // IVPosition: QEMU is the daemon's second peer.
  EXPECT_EQ(ReadPhys(qemu, bars->bar0 + 8, 'w'), 2u);
  // BAR2 is the daemon's shared space: header magic and version...
  EXPECT_EQ(ReadPhys(qemu, bars->bar2, 'g'), device::kMagic);
  EXPECT_EQ(ReadPhys(qemu, bars->bar2 + 8, 'w'), device::kVersion);
  // ...and the native node's register page, as the daemon completed it.
  const device::SpaceHeader* h = node.value()->header();
  const uint64_t page1 = bars->bar2 + h->regs_offset + device::kPageSize;
  EXPECT_EQ(ReadPhys(qemu, page1 + offsetof(device::RegisterFile, done_seq), 'g'), attach_seq);
  EXPECT_EQ(ReadPhys(qemu, page1 + offsetof(device::RegisterFile, results), 'g'), 0u);  // node id 0
  // A request made now is visible to the guest at once (one memory).
  auto nop = node.value()->Call(device::kNop, {});
  ASSERT_EQ(nop.status, device::kOk);
  EXPECT_EQ(ReadPhys(qemu, page1 + offsetof(device::RegisterFile, done_seq), 'g'), attach_seq + 1);

  // QEMU leaving (it never attached as a node) does not disturb the job.
  ASSERT_TRUE(qemu.Quit(10000)) << qemu.transcript();
  EXPECT_EQ(node.value()->Call(device::kNop, {}).status, device::kOk);
  EXPECT_EQ(node.value()->Call(device::kFinish, {0}).status, device::kOk);
}

}  // namespace
}  // namespace dsm
