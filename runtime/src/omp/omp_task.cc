// OpenMP runtime ABI, part 3: explicit tasks, taskloop and task reductions.
// See omp_internal.h for the model (one thread per node).
//
// Every task runs at once, to completion, on the node that creates it: an
// undeferred task, which OpenMP allows for any task. So a task's data (its
// descriptor, private copies and shareds block) is node-private memory,
// dependences are satisfied by creation order, taskwait and taskgroup have
// nothing to wait for, and a task reduction needs no private copies: every
// task of the group updates the reduction item itself, on this one node, one
// after the other (what libomp does for a team of one). `loc` and `gtid` are
// unused unless said.
//
// Thread safety: the node's main thread only. Nothing here runs inside the
// SIGSEGV handler.
#include <cstdlib>
#include <cstring>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::Runtime;

extern "C" {
using kmp_int32 = int32_t;

// The task descriptor as Clang lays it out (libomp's kmp_task_t); the
// task's private copies follow it, then (separately) its shareds block.
struct kmp_task_t {
  void* shareds;
  kmp_int32 (*routine)(kmp_int32, void*);
  kmp_int32 part_id;
  kmp_int32 (*destructors)(kmp_int32, void*);  // data1, with kTaskDestructors
  void* data2;                                 // priority
};
}

namespace dsm::runtime::omp {
namespace {

// kmp_tasking_flags bits the compiler sets.
constexpr kmp_int32 kTaskFinal = 0x2;
constexpr kmp_int32 kTaskDestructors = 0x8;

// Before each task descriptor (16 bytes keep the alignment).
struct TaskHeader {
  kmp_int32 flags;
  kmp_int32 running;  // 1 while its routine runs (an untied task re-enqueues itself)
  uint64_t size;      // bytes allocated after the header
};
static_assert(sizeof(TaskHeader) == 16);

// Nesting depth of running final tasks on this node (their descendants are
// final too): omp_in_final.
int g_final_depth = 0;

TaskHeader* HeaderOf(kmp_task_t* t) { return reinterpret_cast<TaskHeader*>(t) - 1; }

// Runs the private copies' destructors (if any) and frees the task.
void FinishTask(kmp_int32 gtid, kmp_task_t* task) {
  if ((HeaderOf(task)->flags & kTaskDestructors) && task->destructors != nullptr) {
    task->destructors(gtid, task);
  }
  std::free(HeaderOf(task));
}

// Runs a task's routine now, counted as final if it is.
void RunTask(kmp_int32 gtid, kmp_task_t* task) {
  TaskHeader* h = HeaderOf(task);
  const bool final_task = (h->flags & kTaskFinal) != 0;
  g_final_depth += final_task ? 1 : 0;
  h->running = 1;
  task->routine(gtid, task);
  h->running = 0;
  g_final_depth -= final_task ? 1 : 0;
}

// A byte-for-byte copy of a task (descriptor, private copies, shareds
// block), as taskloop's task_dup expects before it fixes the copy up.
kmp_task_t* CopyTask(kmp_task_t* task) {
  TaskHeader* h = HeaderOf(task);
  auto* copy = static_cast<TaskHeader*>(std::malloc(sizeof(TaskHeader) + h->size));
  if (copy == nullptr) Runtime::Get().Fatal("OpenMP taskloop: out of memory");
  std::memcpy(copy, h, sizeof(TaskHeader) + h->size);
  copy->running = 0;
  auto* t = reinterpret_cast<kmp_task_t*>(copy + 1);
  if (task->shareds != nullptr) {
    t->shareds = reinterpret_cast<char*>(t) + (static_cast<char*>(task->shareds) -
                                               reinterpret_cast<char*>(task));
  }
  return t;
}

}  // namespace

bool InFinalTask() { return g_final_depth > 0; }

}  // namespace dsm::runtime::omp

using namespace dsm::runtime::omp;

extern "C" {

// __kmpc_omp_task_alloc(loc, gtid, flags, sizeof_kmp_task_t, sizeof_shareds,
// task_entry): storage for a task: the descriptor (with the task's private
// copies, sizeof_kmp_task_t bytes in all), then its shareds block. Node
// private memory: the task runs on this node. A task made inside a final
// task is final itself.
kmp_task_t* __kmpc_omp_task_alloc(ident_t*, kmp_int32, kmp_int32 flags, size_t sizeof_task,
                                  size_t sizeof_shareds, kmp_int32 (*entry)(kmp_int32, void*)) {
  size_t head = (sizeof_task + 15) & ~size_t{15};
  size_t size = head + sizeof_shareds + 16;
  auto* h = static_cast<TaskHeader*>(std::calloc(1, sizeof(TaskHeader) + size));
  if (h == nullptr) Runtime::Get().Fatal("OpenMP task: out of memory");
  h->flags = flags | (InFinalTask() ? kTaskFinal : 0);
  h->size = size;
  auto* t = reinterpret_cast<kmp_task_t*>(h + 1);
  t->shareds = sizeof_shareds > 0 ? reinterpret_cast<char*>(t) + head : nullptr;
  t->routine = entry;
  return t;
}

// __kmpc_omp_task(loc, gtid, task): a task is created; it runs now and is
// freed. An untied task calls this again on itself, from inside its routine,
// at each task scheduling point (with part_id advanced), and returns at
// once after the call: that call runs the rest of the task, and the
// outermost call frees it.
kmp_int32 __kmpc_omp_task(ident_t*, kmp_int32 gtid, kmp_task_t* task) {
  if (HeaderOf(task)->running) {
    task->routine(gtid, task);
    return 0;
  }
  RunTask(gtid, task);
  FinishTask(gtid, task);
  return 0;
}
// __kmpc_omp_task_with_deps(loc, gtid, task, ndeps, dep_list, ndeps_noalias,
// noalias_dep_list): the same with depend clauses (running at once in
// creation order satisfies every dependence).
kmp_int32 __kmpc_omp_task_with_deps(ident_t* loc, kmp_int32 gtid, kmp_task_t* task, kmp_int32,
                                    void*, kmp_int32, void*) {
  return __kmpc_omp_task(loc, gtid, task);
}
// __kmpc_omp_wait_deps: an undeferred (if(0)) task's dependences: all done.
void __kmpc_omp_wait_deps(ident_t*, kmp_int32, kmp_int32, void*, kmp_int32, void*) {}
// __kmpc_omp_task_begin_if0 / __kmpc_omp_task_complete_if0: an if(false)
// task that the compiler runs itself between the two calls.
void __kmpc_omp_task_begin_if0(ident_t*, kmp_int32, kmp_task_t* task) {
  TaskHeader* h = HeaderOf(task);
  h->running = 1;
  if (h->flags & kTaskFinal) ++g_final_depth;
}
void __kmpc_omp_task_complete_if0(ident_t*, kmp_int32 gtid, kmp_task_t* task) {
  if (HeaderOf(task)->flags & kTaskFinal) --g_final_depth;
  FinishTask(gtid, task);
}
// __kmpc_omp_reg_task_with_affinity: an affinity clause (a hint; ignored).
kmp_int32 __kmpc_omp_reg_task_with_affinity(ident_t*, kmp_int32, kmp_task_t*, kmp_int32, void*) {
  return 0;
}
// __kmpc_omp_taskwait / __kmpc_omp_taskyield / taskgroup: nothing is pending.
kmp_int32 __kmpc_omp_taskwait(ident_t*, kmp_int32) { return 0; }
kmp_int32 __kmpc_omp_taskyield(ident_t*, kmp_int32, int) { return 0; }
void __kmpc_taskgroup(ident_t*, kmp_int32) {}
void __kmpc_end_taskgroup(ident_t*, kmp_int32) {}

// __kmpc_taskloop(loc, gtid, task, if_val, lb, ub, st, nogroup, sched,
// grainsize, task_dup): a taskloop construct. `task` is the pattern: lb and
// ub point into its private copies and hold the whole iteration range. One
// copy of it, made like libomp makes each chunk's task (the bytes, then
// task_dup(copy, pattern, lastpriv) constructs the copy's firstprivates and
// marks it as running the last iteration, for lastprivate), runs every
// iteration at once; then the pattern is finished without running (its
// private copies destroyed). Inside the caller's taskgroup unless nogroup,
// which changes nothing when tasks run at once.
void __kmpc_taskloop(ident_t*, kmp_int32 gtid, kmp_task_t* task, kmp_int32, uint64_t* lb,
                     uint64_t* ub, int64_t st, kmp_int32, kmp_int32, uint64_t,
                     void* task_dup) {
  const bool empty = st > 0 ? static_cast<int64_t>(*lb) > static_cast<int64_t>(*ub)
                            : static_cast<int64_t>(*lb) < static_cast<int64_t>(*ub);
  if (!empty) {
    kmp_task_t* chunk = CopyTask(task);
    if (task_dup != nullptr) {
      reinterpret_cast<void (*)(kmp_task_t*, kmp_task_t*, kmp_int32)>(task_dup)(chunk, task, 1);
    }
    RunTask(gtid, chunk);
    FinishTask(gtid, chunk);
  }
  FinishTask(gtid, task);
}

// Task reductions (taskloop reduction, taskgroup task_reduction with tasks
// in_reduction, and the task modifier of a parallel or worksharing
// reduction). Every participating task runs on the node that made the
// group, one after the other, so each combines straight into the item:
// __kmpc_task_reduction_get_th_data returns the item's own address, as
// libomp does for a team of one.
//
// __kmpc_taskred_init(gtid, num, data) / __kmpc_task_reduction_init: the
// reductions of the current taskgroup; returns the group's handle.
void* __kmpc_taskred_init(int, int, void* data) { return data; }
void* __kmpc_task_reduction_init(int, int, void* data) { return data; }
// __kmpc_taskred_modifier_init(loc, gtid, is_ws, num, data) /
// __kmpc_task_reduction_modifier_init: reduction(task, ...) on a parallel
// or worksharing construct; data's items are this thread's private copies.
void* __kmpc_taskred_modifier_init(ident_t*, int, int, int, void* data) { return data; }
void* __kmpc_task_reduction_modifier_init(ident_t*, int, int, int, void* data) { return data; }
// __kmpc_task_reduction_modifier_fini(loc, gtid, is_ws): its end.
void __kmpc_task_reduction_modifier_fini(ident_t*, int, int) {}
// __kmpc_task_reduction_get_th_data(gtid, tskgrp, data): where this thread
// accumulates reduction item `data`: the item itself.
void* __kmpc_task_reduction_get_th_data(int, void*, void* data) { return data; }

}  // extern "C"
