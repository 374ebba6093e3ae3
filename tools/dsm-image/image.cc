#include "image.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <set>

#include "cache_prune.h"
#include "cpio.h"
#include "dsm/common/fd.h"
#include "file_util.h"
#include "vmlinux.h"

namespace dsm::image {
namespace {

namespace fs = std::filesystem;

// The init, run by busybox's shell as PID 1. Its bytes are part of the key.
constexpr std::string_view kInit = R"(#!/bin/sh
# dsmkit guest init (tools/dsm-image, docs/vm.md): mount, load modules, run
# the program on ttyS1 (stdout; node 0's stdin) and ttyS2 (stderr), report its
# exit status on the console, power off. The root is the initramfs itself,
# writable (/tmp included: the program may live under /tmp, at the path it
# had on the host).
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
# Every node's program at the same addresses (dsm-run starts native nodes the
# same way): pointers into a position-independent program's shared globals
# and functions mean the same on every node.
echo 0 >/proc/sys/kernel/randomize_va_space
while read -r m; do
  insmod "/lib/modules/dsm/$m.ko" || echo "dsm-init: cannot load module $m"
done </etc/dsm/modules
exec 3<>/dev/ttyS1 4>/dev/ttyS2
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
if [ -s /etc/dsm/library-path ]; then
  LD_LIBRARY_PATH=$(cat /etc/dsm/library-path)
  export LD_LIBRARY_PATH
fi
prog=$(cat /etc/dsm/program)
dsm_dir=/
dsm_stdin=null
# A node of a job: its environment, arguments, directory and standard input
# come from dsm-run through QEMU's fw_cfg (qemu.h, GuestJobScript).
job=/sys/firmware/qemu_fw_cfg/by_name/opt/dsmkit/job/raw
if [ -r $job ]; then
  . $job
fi
stdin=/dev/null
if [ "$dsm_stdin" = port ]; then
  # Canonical input with only ^D (end of file) and ^V (literal next) special:
  # the encoding StdinEncoder writes.
  stty -F /dev/ttyS1 icanon iexten -isig -echo eof ^D lnext ^V erase undef kill undef werase undef \
    rprnt undef eol undef eol2 undef intr undef quit undef susp undef start undef stop undef -ixon
  stdin=/dev/ttyS1
  # The host sends nothing before this line: earlier bytes would be lost or
  # echoed.
  echo "dsm-stdin-ready"
fi
if [ -n "$dsm_share" ]; then
  # A host directory shared by QEMU (virtio-9p), at its path on the host.
  mkdir -p "$dsm_share"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 dsmshare "$dsm_share" ||
    echo "dsm-init: cannot mount the host's $dsm_share"
fi
mkdir -p "$dsm_dir"
cd "$dsm_dir" || echo "dsm-init: cannot enter $dsm_dir" >&4
"$prog" "$@" <$stdin >&3 2>&4 3>&- 4>&-
status=$?
exec 3>&- 4>&-
if [ -n "$dsm_trace" ]; then
  stty -F /dev/ttyS3 raw -echo
  cat /tmp/dsm-trace.node*.json >/dev/ttyS3 2>/dev/null
fi
echo "dsm-guest-exit $status"
poweroff -f
)";

std::string CacheHome() {
  const char* xdg = getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return xdg;
  const char* home = getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.cache";
}

std::string NormalizeModule(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

bool IsDir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The kernel version in `root` (newest first by name), if any.
std::optional<KernelFiles> KernelIn(const std::string& root) {
  std::error_code ec;
  std::vector<KernelFiles> found;
  for (const auto& e : fs::directory_iterator(root + "/boot", ec)) {
    const std::string name = e.path().filename();
    if (name.rfind("vmlinuz-", 0) != 0) continue;
    KernelFiles k;
    k.version = name.substr(8);
    k.vmlinuz = e.path();
    for (const char* lib : {"/lib/modules/", "/usr/lib/modules/"}) {
      if (IsDir(root + lib + k.version)) {
        k.modules_dir = root + lib + k.version;
        break;
      }
    }
    if (!k.modules_dir.empty() && IsReadableFile(k.vmlinuz)) found.push_back(k);
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end(),
            [](const KernelFiles& a, const KernelFiles& b) { return a.version < b.version; });
  return found.back();
}

// Every module file under `dir`, by normalised module name.
void IndexModules(const std::string& dir, std::map<std::string, std::string>* index) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".ko") == 0) {
      index->emplace(NormalizeModule(name.substr(0, name.size() - 3)), it->path());
    }
  }
}

struct Module {
  std::string name;
  std::string bytes;
};

// `name` and its dependencies, dependencies first, each once.
Status AddModule(const std::string& name, const std::map<std::string, std::string>& index,
                 const std::string& modules_dir, std::set<std::string>* seen,
                 std::vector<Module>* out, int depth) {
  const std::string n = NormalizeModule(name);
  if (seen->count(n)) return Status::Ok();
  if (depth > 32) return Status(ELOOP, "module dependencies of " + n + " loop");
  auto it = index.find(n);
  if (it == index.end()) {
    return Status(ENOENT, "kernel module " + n + " not found under " + modules_dir);
  }
  auto bytes = ReadWholeFile(it->second);
  if (!bytes.ok()) return bytes.status();
  auto info = ParseElf(*bytes, it->second);
  if (!info.ok()) return info.status();
  for (const auto& dep : info->module_depends) {
    if (Status s = AddModule(dep, index, modules_dir, seen, out, depth + 1); !s.ok()) return s;
  }
  seen->insert(n);
  out->push_back({n, std::move(*bytes)});
  return Status::Ok();
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// Adds every missing parent directory of `path` to the archive.
void AddParents(const std::string& path, std::set<std::string>* dirs, CpioWriter* w) {
  std::string prefix;
  size_t pos = 1;
  size_t slash;
  while ((slash = path.find('/', pos)) != std::string::npos) {
    prefix = path.substr(0, slash);
    if (dirs->insert(prefix).second) w->AddDirectory(prefix);
    pos = slash + 1;
  }
}

Status WriteFile(const std::string& path, const std::string& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Status::FromErrno("cannot create " + path);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Status::FromErrno("cannot write " + path);
  return Status::Ok();
}

}  // namespace

Result<KernelFiles> FindKernel(const std::string& root) {
  std::vector<std::string> roots;
  const char* env = getenv("DSM_GUEST_KERNEL");
  if (!root.empty()) {
    roots.push_back(root);
  } else if (env != nullptr && env[0] != '\0') {
    roots.push_back(env);  // chosen explicitly: no other kernel is taken instead
  } else {
    const std::string cache = CacheHome() + "/dsmkit/guest-kernel";
    std::vector<std::string> unpacked;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
      if (e.path().filename().string().rfind("linux-image-", 0) == 0) unpacked.push_back(e.path());
    }
    std::sort(unpacked.rbegin(), unpacked.rend());
    roots.insert(roots.end(), unpacked.begin(), unpacked.end());
    roots.push_back("/");
  }
  std::string where;
  for (const auto& r : roots) {
    if (auto k = KernelIn(r == "/" ? "" : r)) return *k;
    where += (where.empty() ? "" : ", ") + r;
  }
  return Status(ENOENT, "no guest kernel (a readable boot/vmlinuz-VERSION with lib/modules/VERSION) in " +
                            where + ": run scripts/bootstrap (it fetches Debian's linux-image-amd64)");
}

Result<std::string> FindBusybox() {
  for (const char* p : {"/usr/bin/busybox", "/bin/busybox"}) {
    if (!IsReadableFile(p)) continue;
    auto info = ReadElf(p);
    if (!info.ok()) return info.status();
    if (!info->interpreter.empty() || !info->needed.empty()) {
      return Status(EINVAL, std::string(p) + " is dynamically linked: install busybox-static "
                                              "(scripts/bootstrap does)");
    }
    return std::string(p);
  }
  return Status(ENOENT, "no busybox: install busybox-static (scripts/bootstrap does)");
}

const std::vector<std::string>& GuestModules() {
  static const std::vector<std::string> kModules = {"qemu_fw_cfg", "vfio_iommu_type1", "vfio_pci", "virtio_pci", "9pnet_virtio", "9p"};
  return kModules;
}

std::string DefaultImageCache() { return CacheHome() + "/dsmkit/images"; }

namespace {

Result<GuestImage> BuildOrFind(const std::string& program_arg, const BuildOptions& options) {
  const std::string program = Absolute(program_arg);
  if (!IsReadableFile(program)) {
    return Status(ENOENT, program_arg + ": no such readable file");
  }
  LibrarySearch search = options.search;
  if (search.system_dirs.empty()) search.system_dirs = SystemLibraryDirs();
  // Every check before anything is written.
  auto libs = CollectLibraries(program, search);
  if (!libs.ok()) return libs.status();
  auto kernel = FindKernel(options.kernel_root);
  if (!kernel.ok()) return kernel.status();
  auto busybox = FindBusybox();
  if (!busybox.ok()) return busybox.status();
  std::map<std::string, std::string> index;
  IndexModules(kernel->modules_dir, &index);
  std::vector<Module> modules;
  std::set<std::string> seen;
  for (const auto& m : GuestModules()) {
    if (Status s = AddModule(m, index, kernel->modules_dir, &seen, &modules, 0); !s.ok()) return s;
  }

  // The key: every input's bytes, each with its guest path.
  struct Input {
    std::string guest_path;
    std::string bytes;
  };
  std::vector<Input> files;
  auto add_input = [&](const std::string& guest_path, const std::string& host_path) -> Status {
    auto bytes = ReadWholeFile(host_path);
    if (!bytes.ok()) return bytes.status();
    files.push_back({guest_path, std::move(*bytes)});
    return Status::Ok();
  };
  if (Status s = add_input(program, program); !s.ok()) return s;
  // Libraries found through LD_LIBRARY_PATH or /etc/ld.so.conf: the guest has
  // neither, so its init sets LD_LIBRARY_PATH to their directories (DT_RPATH
  // and DT_RUNPATH travel in the files themselves).
  std::set<std::string> needs_path(search.ld_library_path.begin(), search.ld_library_path.end());
  needs_path.insert(search.system_dirs.begin(), search.system_dirs.end());
  for (const auto& d : LoaderBuiltinDirs()) needs_path.erase(d);
  std::string library_path;
  std::set<std::string> extra_dirs;
  for (const Library& lib : *libs) {
    const std::string path = Absolute(lib.path);
    if (Status s = add_input(path, path); !s.ok()) return s;
    const std::string dir = fs::path(lib.path).parent_path();
    if (lib.soname != lib.path && needs_path.count(dir) && extra_dirs.insert(dir).second) {
      library_path += (library_path.empty() ? "" : ":") + dir;
    }
  }
  if (Status s = add_input("/bin/busybox", *busybox); !s.ok()) return s;
  auto kernel_bytes = ReadWholeFile(kernel->vmlinuz);
  if (!kernel_bytes.ok()) return kernel_bytes.status();

  Sha256 h;
  h.UpdateField("dsm-image 1");
  h.UpdateField(kInit);
  h.UpdateField(*kernel_bytes);
  h.UpdateField(library_path);
  for (const auto& f : files) {
    h.UpdateField(f.guest_path);
    h.UpdateField(f.bytes);
  }
  for (const auto& m : modules) {
    h.UpdateField(m.name);
    h.UpdateField(m.bytes);
  }
  GuestImage image;
  image.key = h.HexDigest();
  image.program = program;
  const std::string cache = options.cache_dir.empty() ? DefaultImageCache() : options.cache_dir;
  // The uncompressed kernel boots faster; the bzImage still boots without it.
  // Marked used before it is looked at, so that a prune in another process
  // leaves it (cache_prune.h); if one removed it just before, it is made
  // again.
  auto vmlinux = CachedVmlinux(kernel->vmlinuz, cache + "/kernels");
  if (vmlinux.ok()) {
    MarkUsed(*vmlinux);
    if (!IsReadableFile(*vmlinux)) vmlinux = CachedVmlinux(kernel->vmlinuz, cache + "/kernels");
  }
  image.kernel = vmlinux.ok() ? *vmlinux : kernel->vmlinuz;
  const std::string dir = cache + "/" + image.key;
  image.initramfs = dir + "/initramfs.cpio";
  MarkUsed(dir);
  if (IsReadableFile(image.initramfs)) {
    image.cached = true;
    return image;
  }

  CpioWriter w;
  std::set<std::string> dirs;
  for (const char* d : {"/bin", "/dev", "/etc", "/etc/dsm", "/proc", "/sys", "/tmp", "/lib",
                        "/lib/modules", "/lib/modules/dsm"}) {
    dirs.insert(d);
    w.AddDirectory(d, std::string_view(d) == "/tmp" ? 01777 : 0755);
  }
  w.AddCharDevice("/dev/console", 5, 1);
  w.AddFile("/init", kInit, 0755);
  w.AddSymlink("/bin/sh", "busybox");
  std::string module_list;
  for (const auto& m : modules) {
    w.AddFile("/lib/modules/dsm/" + m.name + ".ko", m.bytes);
    module_list += m.name + "\n";
  }
  w.AddFile("/etc/dsm/modules", module_list);
  w.AddFile("/etc/dsm/program", program + "\n");
  w.AddFile("/etc/dsm/library-path", library_path.empty() ? "" : library_path + "\n");
  for (const auto& f : files) {
    if (f.guest_path == "/bin/busybox") {
      w.AddFile(f.guest_path, f.bytes, 0755);
      continue;
    }
    AddParents(f.guest_path, &dirs, &w);
    w.AddFile(f.guest_path, f.bytes, 0755);
  }
  const std::string archive = w.Finish();

  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) return Status(ec.value(), "cannot create " + cache + ": " + ec.message());
  std::string tmpl = cache + "/.build.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("cannot create a folder in " + cache);
  if (Status s = WriteFile(tmpl + "/initramfs.cpio", archive); !s.ok()) {
    fs::remove_all(tmpl, ec);
    return s;
  }
  ::chmod(tmpl.c_str(), 0755);
  if (::rename(tmpl.c_str(), dir.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(tmpl, ec);
    // Another builder put the same image in place first: use it.
    if ((err == EEXIST || err == ENOTEMPTY) && IsReadableFile(image.initramfs)) {
      image.cached = true;
      return image;
    }
    return Status::FromErrno("cannot move the image to " + dir, err);
  }
  return image;
}

}  // namespace

Result<GuestImage> BuildImage(const std::string& program, const BuildOptions& options) {
  auto max = CacheMaxFromEnvironment();
  if (!max.ok()) return max.status();
  auto image = BuildOrFind(program, options);
  if (!image.ok()) return image;
  // This image and its kernel were used now; the least recently used others
  // go while the cache is over its budget (cache_prune.h).
  const std::string cache = options.cache_dir.empty() ? DefaultImageCache() : options.cache_dir;
  const std::string dir = cache + "/" + image->key;
  MarkUsed(dir);
  PruneOptions prune;
  prune.max_bytes = *max;
  prune.keep = {dir};
  if (image->kernel.rfind(cache + "/kernels/", 0) == 0) {  // not the system's bzImage
    MarkUsed(image->kernel);
    prune.keep.push_back(image->kernel);
  }
  (void)PruneImageCache(cache, prune);
  return image;
}

}  // namespace dsm::image
