#include "dsm/hostd/space_file.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>

#include "dsm/common/ivshmem.h"

namespace dsm::hostd {

namespace {

// The steps of making a private tmpfs file, named in `why_not`.
enum Step : int64_t {
  kFsopen = 1,
  kHugeOption,
  kSizeOption,
  kCreate,
  kFsmount,
  kOpen,
  kFork,
  kUnshare,
  kIdMaps,
  kChild,
};

const char* StepName(int64_t step) {
  switch (step) {
    case kFsopen: return "fsopen tmpfs";
    case kHugeOption: return "tmpfs option huge=advise";
    case kSizeOption: return "tmpfs option size";
    case kCreate: return "create tmpfs";
    case kFsmount: return "fsmount tmpfs";
    case kOpen: return "open a file on the private tmpfs";
    case kFork: return "fork";
    case kUnshare: return "unshare a user namespace";
    case kIdMaps: return "write the user namespace's id maps";
    default: return "child";
  }
}

constexpr const char* kFileName = "dsm-shared-space";

// A step and its errno in one message value (the child's report).
int64_t Failure(Step step, int err) { return (static_cast<int64_t>(step) << 32) | static_cast<uint32_t>(err); }

// Makes the file on a new detached tmpfs. System calls only (it runs in a
// child of a process that may have threads): returns the fd, or -1 with
// *failure set. `size` is the option's text, made before any fork.
int MakeFile(const char* size, int64_t* failure) {
  int fs = static_cast<int>(::syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
  if (fs < 0) {
    *failure = Failure(kFsopen, errno);
    return -1;
  }
  int file = -1;
  int mnt = -1;
  if (::syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "huge", "advise", 0) != 0) {
    *failure = Failure(kHugeOption, errno);
  } else if (::syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", size, 0) != 0) {
    *failure = Failure(kSizeOption, errno);
  } else if (::syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    *failure = Failure(kCreate, errno);
  } else if ((mnt = static_cast<int>(::syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                                                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV))) < 0) {
    *failure = Failure(kFsmount, errno);
  } else if ((file = ::openat(mnt, kFileName, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
    *failure = Failure(kOpen, errno);
  } else {
    // Unlinked, the file lives while it is open or mapped, and the mount
    // with it (an open file holds its mount).
    (void)::unlinkat(mnt, kFileName, 0);
  }
  if (mnt >= 0) ::close(mnt);
  ::close(fs);
  return file;
}

bool WriteProcFile(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  auto len = static_cast<ssize_t>(std::strlen(text));
  bool ok = ::write(fd, text, static_cast<size_t>(len)) == len;
  ::close(fd);
  return ok;
}

constexpr int kChildTimeoutMs = 10000;

// Without CAP_SYS_ADMIN: a child enters a user namespace of its own (where
// it has it), maps its ids so it may create files, makes the file there
// and sends it back over a socket pair.
int MakeFileInUserNamespace(const char* size, int64_t* failure) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    *failure = Failure(kFork, errno);
    return -1;
  }
  UniqueFd mine(sv[0]);
  UniqueFd theirs(sv[1]);
  // The id maps' text, made before the fork (the child does no allocation).
  const std::string uid_map = "0 " + std::to_string(::geteuid()) + " 1\n";
  const std::string gid_map = "0 " + std::to_string(::getegid()) + " 1\n";
  pid_t pid = ::fork();
  if (pid < 0) {
    *failure = Failure(kFork, errno);
    return -1;
  }
  if (pid == 0) {
    int64_t report = 0;
    int file = -1;
    // (A daemon that changed its ids without exec is not dumpable: its
    // /proc/self files belong to root and the maps cannot be written, so it
    // gets a memfd. Making the child dumpable would let the user's other
    // processes read the daemon's memory, its job key among it.)
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      report = Failure(kUnshare, errno);
    } else if (!WriteProcFile("/proc/self/setgroups", "deny") ||
               !WriteProcFile("/proc/self/uid_map", uid_map.c_str()) ||
               !WriteProcFile("/proc/self/gid_map", gid_map.c_str())) {
      report = Failure(kIdMaps, errno);
    } else {
      file = MakeFile(size, &report);
    }
    (void)ivshmem::SendMessageRaw(theirs.get(), report, file);  // system calls only
    ::_exit(0);
  }
  theirs.reset();
  // The child runs a few system calls; if it is stuck (it should never be)
  // the daemon does not wait for ever: it kills it and uses a memfd.
  pollfd p{mine.get(), POLLIN, 0};
  int ready;
  while ((ready = ::poll(&p, 1, kChildTimeoutMs)) < 0 && errno == EINTR) {
  }
  std::optional<Result<ivshmem::Message>> msg;
  if (ready == 1) msg = ivshmem::ReceiveMessage(mine.get());
  if (!msg) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!msg) {
    *failure = Failure(kChild, ETIMEDOUT);
    return -1;
  }
  if (!msg->ok()) {
    *failure = Failure(kChild, msg->status().code());
    return -1;
  }
  if (!msg->value().fd) {
    *failure = msg->value().value != 0 ? msg->value().value : Failure(kChild, EPROTO);
    return -1;
  }
  return msg->value().fd.release();
}

}  // namespace

Result<SpaceFile> CreateSpaceFile(uint64_t size, bool want_huge_pages) {
  SpaceFile out;
  if (want_huge_pages) {
    const std::string size_text = std::to_string(size);
    int64_t failure = 0;
    int fd = MakeFile(size_text.c_str(), &failure);
    // EPERM: no CAP_SYS_ADMIN here; a user namespace may give it.
    if (fd < 0 && failure == Failure(kFsopen, EPERM)) fd = MakeFileInUserNamespace(size_text.c_str(), &failure);
    if (fd >= 0) {
      out.fd.reset(fd);
      out.huge_pages = true;
    } else {
      const int err = static_cast<int>(failure & 0xffffffff);
      out.why_not = std::string(StepName(failure >> 32)) + ": " + std::generic_category().message(err);
    }
  } else {
    out.why_not = "not asked for";
  }
  if (!out.fd) {
    out.fd.reset(::memfd_create(kFileName, MFD_CLOEXEC));
    if (!out.fd) return Status::FromErrno("memfd_create");
  }
  if (::ftruncate(out.fd.get(), static_cast<off_t>(size)) != 0) return Status::FromErrno("ftruncate shared space");
  return out;
}

std::string DescribeSpaceFile(const SpaceFile& file) {
  return file.huge_pages ? "tmpfs huge=advise" : "memfd (" + file.why_not + ")";
}

}  // namespace dsm::hostd
