#include "fault.h"

#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dsm/common/exit_status.h"

namespace dsm::runtime {
namespace {

// Read by the handler only; written before the faults they describe.
uintptr_t g_guard_lo = 0;
uintptr_t g_guard_hi = 0;
char g_overflow_message[256];
size_t g_overflow_length = 0;
PageFaultFn g_page_fault = nullptr;
bool g_installed = false;

// x86-64 page fault error code: bit 1 set for a write access.
bool IsWrite(void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
}

void OnSegv(int sig, siginfo_t* info, void* context) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  if (addr >= g_guard_lo && addr < g_guard_hi) {
    ssize_t ignored = ::write(STDERR_FILENO, g_overflow_message, g_overflow_length);
    (void)ignored;
    ::_exit(kExitJobFailed);
  }
  if (g_page_fault != nullptr && info->si_code == SEGV_ACCERR && g_page_fault(addr, IsWrite(context))) {
    return;  // retry the access
  }
  // Not ours: the default action, with the original fault (re-executing the
  // faulting instruction raises it again).
  signal(sig, SIG_DFL);
}

}  // namespace

bool InstallFaultHandler() {
  if (g_installed) return true;
  // The handler must run when the stack it would use is the one that
  // overflowed, and it calls the daemon for page faults: 64 KiB.
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  if (::sigaltstack(&ss, nullptr) != 0) return false;
  struct sigaction sa {};
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSEGV, &sa, nullptr) != 0) return false;
  g_installed = true;
  return true;
}

void SetStackGuard(uintptr_t guard_lo, uintptr_t guard_hi, uint64_t stack_bytes, int node) {
  int n = std::snprintf(g_overflow_message, sizeof g_overflow_message,
                        "dsm[node %d]: error: stack overflow in main: node 0's main runs on a %llu MiB "
                        "stack in shared memory; give it more with dsm-run --stack SIZE (DSM_STACK_SIZE "
                        "without dsm-run) or move large arrays to dsm_malloc\n",
                        node, static_cast<unsigned long long>(stack_bytes >> 20));
  g_overflow_length = n > 0 ? static_cast<size_t>(n) : 0;
  g_guard_lo = guard_lo;
  g_guard_hi = guard_hi;
}

void SetPageFaultHandler(PageFaultFn fn) { g_page_fault = fn; }

}  // namespace dsm::runtime
