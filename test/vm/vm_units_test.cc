// Unit tests of what dsm-run --vm is made of, without QEMU: the job file the
// guest's init sources (run through real shells), the encoding of node 0's
// standard input (read back through a model of the guest's line discipline),
// QEMU's command line for a node, reading a guest's console and judging how
// it ended, and the checks made before anything boots (QEMU, the host's
// memory, a program linked with libdsm). Each test takes well under a second.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "file_util.h"
#include "image.h"
#include "qemu.h"
#include "vm.h"
#include "vm_test_util.h"

namespace dsm {
namespace {

namespace fs = std::filesystem;
using image::BootOptions;
using image::GuestImage;
using image::GuestJobScript;
using image::QemuCommand;
using image::StdinEncoder;
using launcher::ExitInfo;
using launcher::GuestConsole;
using launcher::JudgeGuestEnd;

using vmtest::TempDir;

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string Slurp(const std::string& path) {
  auto r = image::ReadWholeFile(path);
  return r.ok() ? *r : std::string("<unreadable " + path + ">");
}

std::vector<std::string> SplitNul(const std::string& bytes) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t nul; (nul = bytes.find('\0', start)) != std::string::npos; start = nul + 1) {
    parts.push_back(bytes.substr(start, nul - start));
  }
  EXPECT_EQ(start, bytes.size()) << "output not NUL-terminated";
  return parts;
}

// Runs argv with exactly env as its environment; the wait status.
int Run(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> a, e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  e.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execve(a[0], a.data(), e.data());
    ::_exit(127);
  }
  int status = -1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  return status;
}

// ---------------------------------------------------------------------------
// GuestJobScript, sourced the way the init sources it.

// Sources the job file at job and enters its directory as the init does,
// then writes the environment, the arguments and the shell variables the
// init reads into out/, NUL-separated.
constexpr const char* kSourceJob = R"(t_out=$1
. "$2" || exit 90
mkdir -p "$dsm_dir" && cd "$dsm_dir" || exit 91
/usr/bin/env -0 >"$t_out/env" || exit 92
: >"$t_out/args"
for t_a in "$@"; do printf '%s\0' "$t_a" >>"$t_out/args" || exit 93; done
t_pwd=$(pwd; echo .)
printf '%s\0' "$dsm_dir" "${t_pwd%??}" "$dsm_stdin" "${dsm_trace-unset}" >"$t_out/vars" || exit 94
)";

struct Sourced {
  std::map<std::string, std::string> env;
  std::vector<std::string> args;
  std::vector<std::string> vars;  // dsm_dir, pwd after entering it, dsm_stdin, dsm_trace
};

// The shells to try: the host's /bin/sh, and busybox's, the one the guest runs.
std::vector<std::vector<std::string>> Shells() {
  std::vector<std::vector<std::string>> shells = {{"/bin/sh"}};
  if (auto bb = image::FindBusybox(); bb.ok()) shells.push_back({*bb, "sh"});
  return shells;
}

std::optional<Sourced> Source(const std::vector<std::string>& shell, const std::string& script,
                              const std::string& dir) {
  const std::string job = dir + "/job";
  const std::string out = dir + "/out";
  fs::create_directories(out);
  WriteFile(job, script);
  std::vector<std::string> argv = shell;
  argv.insert(argv.end(), {"-c", kSourceJob, "sh", out, job});
  const int status = Run(argv, {});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << shell[0] << ": wait status " << status << " for the job file:\n" << script;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  Sourced s;
  for (const std::string& e : SplitNul(Slurp(out + "/env"))) {
    size_t eq = e.find('=');
    s.env[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
  }
  s.args = SplitNul(Slurp(out + "/args"));
  s.vars = SplitNul(Slurp(out + "/vars"));
  return s;
}

TEST(VmJobScript, EveryValueArgumentAndTheDirectorySurviveTheShell) {
  TempDir dir;
  const std::string marker = dir.path() + "/substituted";
  const std::vector<std::pair<std::string, std::string>> values = {
      {"DSM_NODE_ID", "0"},
      {"DSM_NUM_NODES", "2"},
      {"SINGLE", "it's a 'quoted' value '"},
      {"DOUBLE", "say \"hi\" \""},
      {"DOLLAR", "$HOME ${PATH} $((1+1)) $(touch " + marker + ") $1 $@ $"},
      {"BACKQUOTE", "`touch " + marker + "` `"},
      {"NEWLINES", "line one\nline two\n\n"},
      {"SPACES", "  leading, inner\t tab  and trailing  "},
      {"EMPTY", ""},
      {"UTF8", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"},
      {"BYTES", "\x01\x02\x1b[0m\x7f\x80\xfe\xff"},
      {"BACKSLASH", "a\\b \\\\ \\n \\' \\"},
      {"EQUALS", "a=b==c="},
      {"GLOB", "* ? [a-z] ~ ~root !x #no comment"},
      {"SHELLY", "x; exit 7 & y | z > /dev/null < /x && ( ) { }"},
      {"_UNDER_1", "ok"},
      {"PATH2", "kept: only PATH itself is the host's"},
      {"DSM_SOCKET_DIR", "kept too"},
  };
  std::vector<std::string> env;
  for (const auto& [name, value] : values) env.push_back(name + "=" + value);
  const std::vector<std::string> args = {
      "plain", "two words", "", "it's", "\"dq\"", "$HOME", "`touch " + marker + "`", "$(touch " + marker + ")",
      "a\nb", "\n", "-n", "--", "-e", "\xff\xfe\x80", "\\", "*", " ", "'", "\xc3\xa9",
  };
  const std::string cwd = dir.path() + "/work dir 'q' \"d\" $HOME `x` $(x)\nline2 \xc3\xa9\xff end";

  for (const auto& shell : Shells()) {
    SCOPED_TRACE(shell[0]);
    auto s = Source(shell, GuestJobScript(env, cwd, args, false, false), dir.path());
    ASSERT_TRUE(s.has_value());
    for (const auto& [name, value] : values) {
      auto it = s->env.find(name);
      ASSERT_NE(it, s->env.end()) << name << " not exported";
      EXPECT_EQ(it->second, value) << name;
    }
    EXPECT_EQ(s->args, args);
    ASSERT_EQ(s->vars.size(), 4u);
    EXPECT_EQ(s->vars[0], cwd) << "dsm_dir";
    EXPECT_EQ(s->vars[1], cwd) << "the directory entered";
    EXPECT_EQ(s->vars[2], "null") << "dsm_stdin";
    EXPECT_EQ(s->vars[3], "unset") << "dsm_trace";
    EXPECT_EQ(s->env.count("DSM_TRACE"), 0u);
    EXPECT_FALSE(fs::exists(marker)) << "sourcing the job file ran a command substitution";
    fs::remove_all(cwd);
  }
}

TEST(VmJobScript, HostOnlyVariablesAndNonIdentifierNamesAreLeftOut) {
  TempDir dir;
  std::vector<std::string> env = {"KEPT=1"};
  for (const char* name : {"PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "TMPDIR", "LD_LIBRARY_PATH", "LD_PRELOAD",
                           "DSM_SOCKET", "DSM_TRACE"}) {
    env.push_back(std::string(name) + "=host-only-" + name);
  }
  for (const char* bad : {"1ABC=host-only-digit", "A-B=host-only-dash", "A.B=host-only-dot", "=host-only-empty",
                          "NO_EQUALS_host-only", "A B=host-only-space", "\xc3\xa9=host-only-utf8",
                          "A$B=host-only-dollar", "A;touch x=host-only-semicolon"}) {
    env.push_back(bad);
  }
  const std::string script = GuestJobScript(env, "/", {}, false, false);
  EXPECT_EQ(script.find("host-only"), std::string::npos) << script;
  size_t exports = 0;
  for (size_t at = 0; (at = script.find("\nexport ", at)) != std::string::npos; ++at) ++exports;
  EXPECT_EQ(exports, 1u) << script;

  for (const auto& shell : Shells()) {
    SCOPED_TRACE(shell[0]);
    auto s = Source(shell, script, dir.path());
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->env["KEPT"], "1");
    for (const auto& [name, value] : s->env) {
      EXPECT_EQ(value.find("host-only"), std::string::npos) << name << "=" << value;
    }
    EXPECT_TRUE(s->args.empty());
    ASSERT_EQ(s->vars.size(), 4u);
    EXPECT_EQ(s->vars[0], "/");
  }
  // An empty directory is the root.
  EXPECT_NE(GuestJobScript({}, "", {}, false, false).find("\ndsm_dir='/'\n"), std::string::npos);
}

TEST(VmJobScript, StdinAndTraceFlags) {
  TempDir dir;
  const std::vector<std::string> env = {"DSM_TRACE=/host/trace", "A=b"};
  for (const auto& shell : Shells()) {
    SCOPED_TRACE(shell[0]);
    auto s = Source(shell, GuestJobScript(env, "/w", {"x"}, true, true), dir.path());
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(s->vars.size(), 4u);
    EXPECT_EQ(s->vars[2], "port");
    EXPECT_EQ(s->vars[3], "1");
    EXPECT_EQ(s->env["DSM_TRACE"], std::string(image::kGuestTracePrefix)) << "the guest's path, not the host's";
    EXPECT_EQ(s->env["A"], "b");
    EXPECT_EQ(s->args, std::vector<std::string>{"x"});

    s = Source(shell, GuestJobScript(env, "/w", {}, false, false), dir.path());
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->vars[2], "null");
    EXPECT_EQ(s->vars[3], "unset");
    EXPECT_EQ(s->env.count("DSM_TRACE"), 0u);
  }
}

// ---------------------------------------------------------------------------
// StdinEncoder, read back through a model of the guest's ttyS1.

// What read(2) on the guest's ttyS1 returns for bytes arriving on the port,
// with the line discipline set as the init sets it (qemu.h, docs/vm.md):
// ICANON and IEXTEN; VEOF is ^D, VLNEXT is ^V, every other special character
// is disabled, which on Linux means set to NUL (_POSIX_VDISABLE). Rules:
//   ^V        the next byte is stored as it is, whatever it is;
//   ^D        hands the line over without itself; on an empty line the read
//             returns 0 (end of file);
//   newline   stored, and hands the line over;
//   NUL       the value of every disabled special character (ERASE, KILL,
//             EOL...): n_tty would act on it, so it must never come bare;
//   a line holds at most 4095 bytes besides its terminator; more are lost;
//   bytes never handed over are never read (the reader waits for ever).
struct TtyReads {
  std::string data;        // everything the reads returned
  int eofs = 0;            // reads that returned 0
  bool after_eof = false;  // data handed over after an end of file
  std::string error;       // the first rule the bytes broke
};

TtyReads ReadThroughTty(std::string_view port) {
  constexpr char kEof = 0x04, kLnext = 0x16;
  constexpr size_t kMaxCanon = 4095;
  TtyReads r;
  std::string line;
  bool lnext = false;
  auto fail = [&](std::string what) {
    if (r.error.empty()) r.error = std::move(what);
  };
  auto store = [&](char c) {
    if (line.size() >= kMaxCanon) return fail("a line longer than 4095 bytes: bytes lost");
    line += c;
  };
  auto hand_over = [&] {
    if (r.eofs > 0 && !line.empty()) r.after_eof = true;
    r.data += line;
    line.clear();
  };
  for (char c : port) {
    if (lnext) {
      lnext = false;
      store(c);
    } else if (c == kLnext) {
      lnext = true;
    } else if (c == kEof) {
      if (line.empty()) {
        ++r.eofs;
      } else {
        hand_over();
      }
    } else if (c == '\0') {
      fail("a bare NUL (a disabled special character)");
    } else if (c == '\n') {
      line += c;
      hand_over();
    } else {
      store(c);
    }
  }
  if (lnext) fail("ends with a ^V");
  if (!line.empty()) fail(std::to_string(line.size()) + " bytes never handed over");
  return r;
}

std::string EncodeAll(std::string_view data, const std::vector<size_t>& chunks = {}) {
  StdinEncoder enc;
  std::string out;
  size_t at = 0;
  for (size_t c : chunks) {
    c = std::min(c, data.size() - at);
    enc.Encode(data.substr(at, c), &out);
    at += c;
  }
  enc.Encode(data.substr(at), &out);
  enc.Finish(&out);
  return out;
}

void ExpectRoundTrip(const std::string& data, const std::vector<size_t>& chunks = {}) {
  const TtyReads r = ReadThroughTty(EncodeAll(data, chunks));
  EXPECT_EQ(r.error, "") << data.size() << " bytes";
  EXPECT_TRUE(r.data == data) << "the guest read other bytes than were sent (" << r.data.size() << " of "
                              << data.size() << ")";
  EXPECT_EQ(r.eofs, 1) << "end of file must come exactly once";
  EXPECT_FALSE(r.after_eof) << "data after the end of file";
}

TEST(VmStdinEncoder, TheModelOfTheLineDisciplineCatchesBrokenEncodings) {
  EXPECT_NE(ReadThroughTty(std::string("a\0b\n\x04", 5)).error, "");
  EXPECT_NE(ReadThroughTty(std::string(5000, 'x') + "\n\x04").error, "");
  EXPECT_EQ(ReadThroughTty(std::string(4095, 'x') + "\n\x04").error, "");
  EXPECT_NE(ReadThroughTty("no end").error, "");
  EXPECT_EQ(ReadThroughTty("a\n\x04\x04").eofs, 2);
  EXPECT_TRUE(ReadThroughTty("\x04z\n").after_eof);
  EXPECT_EQ(ReadThroughTty("\x16\x04\x16\n\x16\x16\n\x04").data, "\x04\n\x16\n");
}

TEST(VmStdinEncoder, SmallCases) {
  EXPECT_EQ(EncodeAll(""), "\x04");
  EXPECT_EQ(EncodeAll("hello\n"), "hello\n\x04");
  EXPECT_EQ(EncodeAll("no newline"), "no newline\x04\x04");
  EXPECT_EQ(EncodeAll(std::string("\0\x04\x16", 3)), std::string("\x16\0\x16\x04\x16\x16\x04\x04", 8));
  for (const char* s : {"", "\n", "\n\n\n", "x", "\x04", "\x16", "\x04\n", "\r\n", "\x03\x1a\x1c\x7f\x15\x17\x12",
                        "\xff\xfe", "last line without newline"}) {
    ExpectRoundTrip(s);
  }
  ExpectRoundTrip(std::string(1, '\0'));
}

TEST(VmStdinEncoder, EveryByteValue) {
  std::string all;
  for (int rep = 0; rep < 4; ++rep) {
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  }
  ExpectRoundTrip(all);
  std::string no_newline = all;
  std::erase(no_newline, '\n');
  ExpectRoundTrip(no_newline);
}

TEST(VmStdinEncoder, LongLines) {
  for (size_t n : {StdinEncoder::kMaxLine - 1, StdinEncoder::kMaxLine, StdinEncoder::kMaxLine + 1,
                   2 * StdinEncoder::kMaxLine, size_t{4095}, size_t{4096}, size_t{6000}, size_t{100000}}) {
    SCOPED_TRACE(n);
    ExpectRoundTrip(std::string(n, 'a'));
    ExpectRoundTrip(std::string(n, 'b') + "\n");
    ExpectRoundTrip(std::string(n, '\x04'));  // every byte escaped
    ExpectRoundTrip(std::string(n, '\0') + "\nshort\n" + std::string(n, 'c'));
  }
}

TEST(VmStdinEncoder, RandomBinaryInRandomChunks) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::string data(rng() % 20000, '\0');
    // Some inputs are mostly special bytes, some have no newline at all.
    const int kind = static_cast<int>(seed % 4);
    for (char& c : data) {
      uint64_t v = rng();
      if (kind == 1 && v % 3 == 0) {
        c = "\0\x04\x16\n"[(v >> 8) % 4];
      } else {
        c = static_cast<char>(v >> 16);
        if (kind == 2 && c == '\n') c = 'n';
      }
    }
    std::vector<size_t> chunks;
    for (size_t left = data.size(); left > 0;) {
      size_t c = std::min<size_t>(left, rng() % 3000);
      chunks.push_back(c);
      left -= c;
    }
    ExpectRoundTrip(data, chunks);
    EXPECT_EQ(EncodeAll(data, chunks), EncodeAll(data)) << "the encoding depends on how the input was cut";
  }
}

// ---------------------------------------------------------------------------
// QemuCommand.

std::vector<std::string> ValuesOf(const std::vector<std::string>& cmd, const std::string& flag) {
  std::vector<std::string> values;
  for (size_t i = 0; i + 1 < cmd.size(); ++i) {
    if (cmd[i] == flag) values.push_back(cmd[i + 1]);
  }
  return values;
}

std::string ValueOf(const std::vector<std::string>& cmd, const std::string& flag) {
  auto v = ValuesOf(cmd, flag);
  EXPECT_EQ(v.size(), 1u) << flag;
  return v.empty() ? "" : v[0];
}

size_t IndexOf(const std::vector<std::string>& cmd, const std::string& arg) {
  return static_cast<size_t>(std::find(cmd.begin(), cmd.end(), arg) - cmd.begin());
}

GuestImage AnImage() {
  GuestImage image;
  image.kernel = "/cache/kernels/vmlinux-1";
  image.initramfs = "/cache/k/initramfs.cpio";
  return image;
}

BootOptions ANode() {
  BootOptions o;
  o.qemu = "/opt/qemu/bin/qemu-system-x86_64";
  o.ivshmem_socket = "/tmp/job,1/h0.sock";
  o.job_file = "/tmp/job,1/node0.job";
  o.console_path = "/not/used";  // the descriptor wins
  o.console_fd = 10;
  o.stdout_fd = 11;
  o.stderr_fd = 12;
  o.trace_path = "/tmp/job,1/trace.0";
  o.args = {"with \"quote\"", ""};  // travel in the job file, not on the command line
  return o;
}

TEST(VmQemuCommand, ANodeOfAJob) {
  auto cmd = QemuCommand(AnImage(), ANode());
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  const auto& c = *cmd;
  EXPECT_EQ(c[0], "/opt/qemu/bin/qemu-system-x86_64");
  EXPECT_EQ(ValueOf(c, "-M"), "q35");
  EXPECT_EQ(ValueOf(c, "-accel"), "tcg");
  EXPECT_EQ(ValueOf(c, "-m"), "256");
  EXPECT_EQ(ValueOf(c, "-smp"), "1,maxcpus=2") << "TCG's atomics need a machine that may have two CPUs";
  EXPECT_EQ(ValueOf(c, "-display"), "none");
  for (const char* f : {"-nodefaults", "-no-user-config", "-no-reboot"}) EXPECT_LT(IndexOf(c, f), c.size()) << f;
  EXPECT_EQ(ValueOf(c, "-kernel"), "/cache/kernels/vmlinux-1");
  EXPECT_EQ(ValueOf(c, "-initrd"), "/cache/k/initramfs.cpio");

  const auto devices = ValuesOf(c, "-device");
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0], "intel-iommu,intremap=on") << "the IOMMU comes before the device it translates for";
  EXPECT_EQ(devices[1], "ivshmem-doorbell,chardev=dsm,vectors=1");
  const auto chardevs = ValuesOf(c, "-chardev");
  ASSERT_EQ(chardevs.size(), 5u);
  EXPECT_EQ(chardevs[0], "socket,id=dsm,path=/tmp/job,,1/h0.sock") << "QEMU's commas doubled";
  EXPECT_LT(IndexOf(c, chardevs[0]), IndexOf(c, devices[1])) << "the chardev before the device using it";
  EXPECT_EQ(chardevs[1], "socket,id=con,fd=10");
  EXPECT_EQ(chardevs[2], "socket,id=out,fd=11");
  EXPECT_EQ(chardevs[3], "socket,id=err,fd=12");
  EXPECT_EQ(chardevs[4], "file,id=trc,path=/tmp/job,,1/trace.0");
  // -serial's order makes ttyS0..3.
  EXPECT_EQ(ValuesOf(c, "-serial"),
            (std::vector<std::string>{"chardev:con", "chardev:out", "chardev:err", "chardev:trc"}));
  EXPECT_EQ(ValueOf(c, "-fw_cfg"), "name=opt/dsmkit/job,file=/tmp/job,,1/node0.job");

  const std::string append = ValueOf(c, "-append");
  for (const char* word : {"console=ttyS0", "panic=-1", "rdinit=/init", "no_timer_check", "quiet", "loglevel=1",
                           "intel_iommu=on"}) {
    EXPECT_NE((" " + append + " ").find(std::string(" ") + word + " "), std::string::npos) << word << " in " << append;
  }
  EXPECT_EQ(append.find(" --"), std::string::npos) << "arguments travel in the job file: " << append;
  EXPECT_EQ(append.find("quote"), std::string::npos) << append;
}

TEST(VmQemuCommand, CpusMemoryAccelAndKernelMessages) {
  BootOptions o = ANode();
  o.cpus = 2;
  o.memory_mb = 1024;
  o.accel = "kvm";
  o.kernel_messages = true;
  o.trace_path.clear();
  auto cmd = QemuCommand(AnImage(), o);
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  EXPECT_EQ(ValueOf(*cmd, "-smp"), "2");
  EXPECT_EQ(ValueOf(*cmd, "-m"), "1024");
  EXPECT_EQ(ValueOf(*cmd, "-accel"), "kvm");
  EXPECT_EQ(ValuesOf(*cmd, "-serial").size(), 3u) << "no trace port";
  const std::string append = ValueOf(*cmd, "-append");
  EXPECT_NE(append.find("loglevel=7"), std::string::npos) << append;
  EXPECT_EQ(append.find("quiet"), std::string::npos) << append;
  o.cpus = 4;
  EXPECT_EQ(ValueOf(*QemuCommand(AnImage(), o), "-smp"), "4");
}

TEST(VmQemuCommand, AGuestThatIsNoNode) {
  BootOptions o;
  o.console_path = "/tmp/a,b/console";
  o.stdout_path = "/tmp/out";
  o.stderr_path = "/tmp/err";
  o.args = {"one", "two words"};
  auto cmd = QemuCommand(AnImage(), o);
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  EXPECT_EQ(ValueOf(*cmd, "-M"), "pc");
  EXPECT_EQ(ValueOf(*cmd, "-smp"), "1");
  EXPECT_TRUE(ValuesOf(*cmd, "-device").empty());
  EXPECT_TRUE(ValuesOf(*cmd, "-fw_cfg").empty());
  EXPECT_EQ(ValuesOf(*cmd, "-chardev")[0], "file,id=con,path=/tmp/a,,b/console");
  const std::string append = ValueOf(*cmd, "-append");
  EXPECT_EQ(append.find("intel_iommu"), std::string::npos) << append;
  EXPECT_TRUE(append.ends_with(" -- one \"two words\"")) << append;
}

TEST(VmQemuCommand, RefusesArgumentsTheKernelCommandLineCannotCarry) {
  BootOptions o;
  auto base = QemuCommand(AnImage(), o);
  ASSERT_TRUE(base.ok());
  const size_t base_len = ValueOf(*base, "-append").size();
  for (const std::string& bad : {std::string(), std::string("a\"b"), std::string("tab\there"), std::string("nl\n"),
                                 std::string("del\x7f"), std::string("esc\x1b")}) {
    o.args = {"fine", bad};
    auto r = QemuCommand(AnImage(), o);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' accepted";
    if (!r.ok()) EXPECT_EQ(r.status().code(), EINVAL);
  }
  // The command line must stay under the kernel's 2048 bytes.
  o.args = {std::string(2047 - base_len - 1, 'a')};
  auto r = QemuCommand(AnImage(), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ValueOf(*r, "-append").size(), 2047u);
  o.args = {std::string(2048 - base_len - 1, 'a')};
  r = QemuCommand(AnImage(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EINVAL);
  EXPECT_NE(r.status().message().find("too long"), std::string::npos) << r.status().message();
  // With a job file any arguments go, none on the command line.
  o.job_file = "/j";
  o.args = {std::string(5000, 'a'), "", "\"\n"};
  EXPECT_TRUE(QemuCommand(AnImage(), o).ok());
}

// ---------------------------------------------------------------------------
// GuestConsole and JudgeGuestEnd.

// Collects what is written to stderr (descriptor 2) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/dsm-vm-units-stderr.XXXXXX";
    file_ = ::mkstemp(path);
    ::unlink(path);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(file_, STDERR_FILENO);
  }
  ~StderrCapture() { Text(); }
  // Restores stderr and returns what was written.
  std::string Text() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, STDERR_FILENO);
      ::close(saved_);
      saved_ = -1;
      char buf[4096];
      ssize_t n;
      for (off_t at = 0; (n = ::pread(file_, buf, sizeof buf, at)) > 0; at += n) text_.append(buf, size_t(n));
      ::close(file_);
    }
    return text_;
  }

 private:
  int file_ = -1;
  int saved_ = -1;
  std::string text_;
};

TEST(VmGuestConsole, ExitLine) {
  GuestConsole c("[node 0 console] ", false);
  EXPECT_EQ(c.exit_status(), std::nullopt);
  c.Feed("x dsm-guest-exit 9\r\n");
  EXPECT_EQ(c.exit_status(), std::nullopt) << "not at the start of a line";
  c.Feed("dsm-gu");
  c.Feed("est-exit 1");
  EXPECT_EQ(c.exit_status(), std::nullopt) << "not a whole line yet";
  c.Feed("2\r");
  c.Feed("\ndsm-guest-exit 5\r\n");
  EXPECT_EQ(c.exit_status(), 12) << "the first exit line counts";

  GuestConsole unterminated("", false);
  unterminated.Feed("noise\r\ndsm-guest-exit 3");
  EXPECT_EQ(unterminated.exit_status(), std::nullopt);
  unterminated.Flush();
  EXPECT_EQ(unterminated.exit_status(), 3) << "the rest is a line once QEMU is gone";
}

TEST(VmGuestConsole, PanicLineWithoutItsTimestamp) {
  StderrCapture err;
  GuestConsole c("[node 1 console] ", false);
  c.Feed("[    2.345678] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\r\n");
  c.Feed("[    2.400000] Kernel panic - not syncing: a second one\r\n");
  EXPECT_EQ(c.panic(), "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b");
  EXPECT_EQ(c.exit_status(), std::nullopt);
  c.Feed("[    0.1] dsm-init: cannot load module vfio_pci\r\n[    0.2] just the kernel talking\r\n");
  EXPECT_EQ(err.Text(), "[node 1 console] dsm-init: cannot load module vfio_pci\n")
      << "only the init's lines without --vm-console";
}

TEST(VmGuestConsole, ForwardsKernelLinesWhenAsked) {
  StderrCapture err;
  GuestConsole c("[node 0 console] ", true);
  c.Feed("[    1.000000] virtio: hello\r\ndsm-stdin-ready\r\n\r\n");
  c.Feed("dsm-guest-exit 0\r\n");
  EXPECT_TRUE(c.stdin_ready());
  EXPECT_EQ(c.exit_status(), 0);
  EXPECT_EQ(err.Text(), "[node 0 console] virtio: hello\n") << "the init's protocol lines are not forwarded";
}

TEST(VmGuestConsole, StdinReadyLine) {
  GuestConsole c("", false);
  c.Feed("dsm-stdin-ready-not\r\n xdsm-stdin-ready\r\n");
  EXPECT_FALSE(c.stdin_ready());
  c.Feed("dsm-stdin");
  EXPECT_FALSE(c.stdin_ready());
  c.Feed("-ready\r");
  EXPECT_FALSE(c.stdin_ready()) << "not a whole line yet";
  c.Feed("\n");
  EXPECT_TRUE(c.stdin_ready());
}

TEST(VmGuestConsole, ALineLongerThanTheTail) {
  StderrCapture err;
  GuestConsole c("", true);
  // A kernel line far longer than kTailBytes, arriving in pieces: it is
  // handled (a panic recognised) without waiting for its end, and the lines
  // after it still count.
  c.Feed("[   3.0] Kernel panic - not syncing: ");
  const std::string piece(1000, 'x');
  for (size_t sent = 0; sent < 3 * GuestConsole::kTailBytes; sent += piece.size()) c.Feed(piece);
  ASSERT_TRUE(c.panic().has_value()) << "a long line's start was never looked at";
  EXPECT_TRUE(c.panic()->starts_with("Kernel panic - not syncing: xxx"));
  EXPECT_LE(c.panic()->size(), GuestConsole::kTailBytes + 1000);
  c.Feed("\r\ndsm-guest-exit 4\r\n");
  EXPECT_EQ(c.exit_status(), 4);
  const std::string text = err.Text();
  EXPECT_GE(text.size(), 3 * GuestConsole::kTailBytes) << "forwarded, in pieces";
  EXPECT_EQ(text.find("dsm-guest-exit"), std::string::npos);

  GuestConsole one("", false);
  one.Feed(std::string(GuestConsole::kTailBytes + 10, 'y') + "\ndsm-guest-exit 6\n");
  EXPECT_EQ(one.exit_status(), 6);
}

GuestConsole ConsoleOf(std::string_view bytes) {
  GuestConsole c("", false);
  c.Feed(bytes);
  c.Flush();
  return c;
}

ExitInfo Exited(int status) { return ExitInfo{false, status, false}; }
ExitInfo Killed(int sig) { return ExitInfo{true, sig, false}; }

TEST(VmJudgeGuestEnd, TheProgramsStatusFromTheExitLine) {
  auto end = JudgeGuestEnd(ConsoleOf("dsm-guest-exit 3\r\n"), Exited(0), "");
  EXPECT_FALSE(end.died);
  EXPECT_FALSE(end.exit.signaled);
  EXPECT_EQ(end.exit.value, 3);
  EXPECT_EQ(end.how, "exited with status 3 in its guest");

  end = JudgeGuestEnd(ConsoleOf("dsm-guest-exit 137\r\n"), Exited(0), "");
  EXPECT_FALSE(end.died);
  EXPECT_TRUE(end.exit.signaled) << "above 128: the shell's convention for a signal";
  EXPECT_EQ(end.exit.value, SIGKILL);
  EXPECT_EQ(end.how, "was killed by signal 9 (" + std::string(::strsignal(SIGKILL)) + ") in its guest");
  end = JudgeGuestEnd(ConsoleOf("dsm-guest-exit 139\r\n"), Exited(0), "");
  EXPECT_TRUE(end.exit.signaled);
  EXPECT_EQ(end.exit.value, SIGSEGV);
  end = JudgeGuestEnd(ConsoleOf("dsm-guest-exit 128\r\n"), Exited(0), "");
  EXPECT_FALSE(end.exit.signaled);
  EXPECT_EQ(end.exit.value, 128);
  end = JudgeGuestEnd(ConsoleOf("dsm-guest-exit 0\r\n"), Killed(SIGTERM), "");
  EXPECT_FALSE(end.died) << "the exit line came: QEMU's end afterwards does not matter";
  EXPECT_EQ(end.exit.value, 0);
}

TEST(VmJudgeGuestEnd, AGuestThatDied) {
  // A panic: QEMU exits 0 (-no-reboot) and the console names the panic.
  auto end = JudgeGuestEnd(ConsoleOf("[ 9.1] Kernel panic - not syncing: sysrq triggered crash\r\n"), Exited(0),
                           "");
  EXPECT_TRUE(end.died);
  EXPECT_TRUE(end.exit.signaled);
  EXPECT_EQ(end.how, "lost its guest: the guest kernel panicked (Kernel panic - not syncing: sysrq triggered crash)");

  end = JudgeGuestEnd(ConsoleOf("booting\r\n"), Killed(SIGKILL), "qemu-system-x86_64: terminating on signal 9\n");
  EXPECT_TRUE(end.died);
  EXPECT_TRUE(end.exit.signaled);
  EXPECT_EQ(end.exit.value, SIGKILL);
  EXPECT_EQ(end.how, "lost its guest: QEMU was killed by signal 9 (" + std::string(::strsignal(SIGKILL)) + ")");

  end = JudgeGuestEnd(ConsoleOf(""), Exited(1),
                      "qemu-system-x86_64: -chardev socket,id=dsm,path=/x: first\n"
                      "qemu-system-x86_64: Failed to connect to '/x': No such file or directory\n");
  EXPECT_TRUE(end.died);
  EXPECT_TRUE(end.exit.signaled);
  EXPECT_EQ(end.how,
            "lost its guest: QEMU exited with status 1 without the guest reporting an exit (QEMU said: "
            "qemu-system-x86_64: Failed to connect to '/x': No such file or directory)");
  end = JudgeGuestEnd(ConsoleOf(""), Exited(1), "one line, no newline");
  EXPECT_EQ(end.how, "lost its guest: QEMU exited with status 1 without the guest reporting an exit (QEMU said: "
                     "one line, no newline)");
  end = JudgeGuestEnd(ConsoleOf(""), Exited(1), "");
  EXPECT_EQ(end.how, "lost its guest: QEMU exited with status 1 without the guest reporting an exit");
  end = JudgeGuestEnd(ConsoleOf(""), Exited(1), "\n");
  EXPECT_EQ(end.how, "lost its guest: QEMU exited with status 1 without the guest reporting an exit");
}

// ---------------------------------------------------------------------------
// The checks before anything boots.

TEST(VmChecks, HostMemoryFromMeminfo) {
  TempDir dir;
  const std::string meminfo = dir.path() + "/meminfo";
  WriteFile(meminfo,
            "MemTotal:        8000000 kB\nMemFree:          100 kB\nMemAvailable:    2129920 kB\n"
            "Buffers:           1 kB\n");  // 2080 MiB available
  constexpr uint64_t kMiB = 1 << 20;
  EXPECT_TRUE(launcher::CheckHostMemory(2, 256 * kMiB, meminfo).ok());
  EXPECT_TRUE(launcher::CheckHostMemory(5, 256 * kMiB, meminfo).ok()) << "5 x (256 + 160) MiB is exactly 2080";
  Status s = launcher::CheckHostMemory(6, 256 * kMiB, meminfo);
  EXPECT_EQ(s.code(), ENOMEM);
  EXPECT_EQ(s.message(),
            "6 guests of 256 MiB need about 2496 MiB, but this machine has 2080 MiB available: use fewer nodes, "
            "more hosts' worth of machines, or a smaller --vm-memory");
  EXPECT_EQ(launcher::CheckHostMemory(1, 64ULL << 30, meminfo).code(), ENOMEM);
  EXPECT_EQ(launcher::CheckHostMemory(1024, 64ULL << 30, meminfo).code(), ENOMEM) << "no overflow";
  // Nothing to go by: QEMU is left to try.
  WriteFile(meminfo, "MemTotal: 1 kB\nMemFree: 1 kB\n");
  EXPECT_TRUE(launcher::CheckHostMemory(64, 1ULL << 30, meminfo).ok());
  EXPECT_TRUE(launcher::CheckHostMemory(64, 1ULL << 30, dir.path() + "/missing").ok());
}

TEST(VmChecks, AProgramMustBeLinkedWithLibdsm) {
  Status s = launcher::CheckLinkedWithLibdsm("/bin/true");
  EXPECT_EQ(s.code(), EINVAL);
  EXPECT_NE(s.message().find("/bin/true is not linked with libdsm"), std::string::npos) << s.message();
  EXPECT_TRUE(launcher::CheckLinkedWithLibdsm(DSM_PI_EXAMPLE).ok())
      << launcher::CheckLinkedWithLibdsm(DSM_PI_EXAMPLE).message();
#ifdef DSM_STATIC_PROGRAM
  EXPECT_TRUE(launcher::CheckLinkedWithLibdsm(DSM_STATIC_PROGRAM).ok())
      << launcher::CheckLinkedWithLibdsm(DSM_STATIC_PROGRAM).message();
#endif
  if (auto bb = image::FindBusybox(); bb.ok()) {
    EXPECT_EQ(launcher::CheckLinkedWithLibdsm(*bb).code(), EINVAL) << "a static program without libdsm";
  }
  s = launcher::CheckLinkedWithLibdsm("/etc/passwd");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.message().starts_with("cannot put /etc/passwd in a guest image: ")) << s.message();
  EXPECT_FALSE(launcher::CheckLinkedWithLibdsm("/nonexistent/program").ok());
}

TEST(VmChecks, FindQemu) {
  TempDir dir;
  auto r = launcher::FindQemu("/bin/true");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "/bin/true");
  r = launcher::FindQemu("/etc/passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "--qemu /etc/passwd is not an executable file");

  const std::string bin = dir.path() + "/bin";
  fs::create_directories(bin);
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", ("/nonexistent:" + dir.path() + ":" + bin).c_str(), 1);
  r = launcher::FindQemu("");
  EXPECT_FALSE(r.ok());
  if (!r.ok()) EXPECT_NE(r.status().message().find("qemu-system-x86"), std::string::npos) << r.status().message();
  WriteFile(bin + "/qemu-system-x86_64", "#!/bin/sh\n");
  ::chmod((bin + "/qemu-system-x86_64").c_str(), 0755);
  r = launcher::FindQemu("");
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, bin + "/qemu-system-x86_64");
}

}  // namespace
}  // namespace dsm
