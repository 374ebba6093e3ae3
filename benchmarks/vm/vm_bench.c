/* dsm_vm_bench: the costs that change when nodes run as virtual machines
 * (dsm-run --vm), measured with the public API only, so that the same binary
 * runs as native nodes and as QEMU guests and the two can be compared.
 * benchmarks/vm/run runs it on each placement and prints the table that
 * docs/performance-vm.md shows.
 *
 *   dsm-run [--vm] -n N build/bin/dsm_vm_bench [--rtt I] [--lock R] [--barrier B]
 *
 * What it measures, each loop after a few untimed warm-up iterations, with
 * dsm_wtime (CLOCK_MONOTONIC) on node 0:
 *   rtt      one register round trip to the daemon. The public API has no
 *            request without side effects (no nop or statistics call), so
 *            this is dsm_malloc of a block above the arena's large-block
 *            threshold (one kAlloc) plus its dsm_free (one kFree): two round
 *            trips per iteration, reported per round trip. The daemon only
 *            does bookkeeping for either; the block's header page is the same
 *            each time (first fit), so no page is touched for the first time.
 *            Runs in main on node 0 while the other nodes sleep in the
 *            barrier that waits for the next parallel region.
 *   lock     a lock handed from node 0 to node 1 and back (ping-pong),
 *            each node waiting in dsm_lock for the other's dsm_unlock (three
 *            locks passed on like a baton, see PingPong). Node 0's time from
 *            its first timed step to its last, divided by the hand-offs in
 *            between (two a step), is one hand-off. Needs two nodes; the
 *            others only wait at the region's end.
 *   barrier  dsm_barrier across every node of the job, inside one parallel
 *            region. Needs two nodes.
 * I, R and B count iterations (0 skips the loop); defaults suit native nodes.
 *
 * Output, on node 0's stdout, one line each, flushed at once so that a
 * reader on the host sees it as soon as it is printed (key=value fields):
 *   vmbench event=main nodes=N realtime_ns=T monotonic_ns=M   main's first thing
 *   vmbench event=clock source=S        the kernel's clocksource (tsc, kvm-clock, ...)
 *   vmbench op=rtt nodes=N count=C total_ns=T per_op_ns=P [irqs=Q] p50_ns=M p90_ns=X
 *   vmbench op=lock nodes=N count=C total_ns=T per_op_ns=P [irqs=Q]
 *   vmbench op=barrier nodes=N count=C total_ns=T per_op_ns=P [irqs=Q]
 *   vmbench event=end status=ok realtime_ns=T monotonic_ns=M
 * irqs, only inside guests: the device's MSI-X interrupts that the nodes
 * taking part took during the timed loop (the "vfio" lines of each guest's
 * /proc/interrupts, read before and after the loop). The realtime and
 * monotonic stamps let the reader check a guest's clocks against the
 * host's. Exit status 0, or 2 for a bad command line.
 *
 * Single-threaded, like every dsmkit node; shared state lives in a struct on
 * node 0's main stack (which is in the shared space).
 */
#include <dsm/dsm.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kLockId = 7 };
/* Above the arena's large-block threshold (64 KiB): one kAlloc, one kFree. */
enum { kBigBlock = 128 * 1024 };
enum { kWarmup = 3 };
/* Nodes whose interrupts are counted; a larger job counts the first ones. */
enum { kMaxCounted = 64 };

struct shared {
  long lock_rounds;
  long barrier_iters;
  long lock_count; /* hand-offs timed */
  double lock_ns;
  double barrier_ns;
  long long lock_irqs[kMaxCounted]; /* per node; -1 outside a guest */
  long long barrier_irqs[kMaxCounted];
};

static uint64_t ClockNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The interrupts VFIO delivered to this guest so far (every CPU), or -1 when
 * /proc/interrupts has no vfio line: a native node, or a guest in polling
 * mode, which never enables MSI-X. */
static long long VfioInterrupts(void) {
  FILE *f = fopen("/proc/interrupts", "r");
  if (f == NULL) return -1;
  long long total = -1;
  char line[1024];
  while (fgets(line, sizeof line, f) != NULL) {
    if (strstr(line, "vfio") == NULL) continue;
    char *p = strchr(line, ':');
    if (p == NULL) continue;
    ++p;
    if (total < 0) total = 0;
    for (;;) {
      char *end;
      long long v = strtoll(p, &end, 10);
      if (end == p) break;
      total += v;
      p = end;
    }
  }
  fclose(f);
  return total;
}

/* The difference of two VfioInterrupts() readings; -1 if either had none. */
static long long Taken(long long before, long long after) {
  return before < 0 || after < 0 ? -1 : after - before;
}

/* Sum over the counted nodes; -1 when any of them is not in a guest. */
static long long SumTaken(const long long *per_node) {
  int n = dsm_num_nodes() < kMaxCounted ? dsm_num_nodes() : kMaxCounted;
  long long sum = 0;
  for (int k = 0; k < n; ++k) {
    if (per_node[k] < 0) return -1;
    sum += per_node[k];
  }
  return sum;
}

/* The clocksource behind CLOCK_MONOTONIC, into buf ("unknown" if unreadable). */
static void ClockSource(char *buf, size_t size) {
  snprintf(buf, size, "unknown");
  FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
  if (f == NULL) return;
  if (fgets(buf, (int)size, f) == NULL) snprintf(buf, size, "unknown");
  buf[strcspn(buf, " \n")] = '\0';
  fclose(f);
}

static void Report(const char *op, long count, double ns, long long irqs, const char *extra) {
  printf("vmbench op=%s nodes=%d count=%ld total_ns=%.0f per_op_ns=%.0f", op, dsm_num_nodes(), count, ns,
         count > 0 ? ns / (double)count : 0.0);
  if (irqs >= 0) printf(" irqs=%lld", irqs);
  printf("%s\n", extra);
  fflush(stdout);
}

static int CompareDoubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Each round trip is also timed on its own, for the median and the 90th
 * percentile: the mean hides whether a few slow ones or all of them cost. */
static void RoundTrips(long iters) {
  const long n = 2 * iters;
  double *each = malloc((size_t)n * sizeof *each);
  if (each == NULL) {
    fprintf(stderr, "dsm_vm_bench: out of memory\n");
    exit(1);
  }
  double start = 0.0;
  long long irqs = -1;
  for (long i = 0; i < iters + kWarmup; ++i) {
    if (i == kWarmup) {
      irqs = VfioInterrupts();
      start = dsm_wtime();
    }
    double t0 = dsm_wtime();
    void *p = dsm_malloc(kBigBlock);
    double t1 = dsm_wtime();
    if (p == NULL) {
      fprintf(stderr, "dsm_vm_bench: dsm_malloc(%d) failed\n", kBigBlock);
      exit(1);
    }
    dsm_free(p);
    double t2 = dsm_wtime();
    if (i >= kWarmup) {
      each[2 * (i - kWarmup)] = (t1 - t0) * 1e9;
      each[2 * (i - kWarmup) + 1] = (t2 - t1) * 1e9;
    }
  }
  double ns = (dsm_wtime() - start) * 1e9;
  irqs = Taken(irqs, VfioInterrupts());
  qsort(each, (size_t)n, sizeof *each, CompareDoubles);
  char extra[96];
  snprintf(extra, sizeof extra, " p50_ns=%.0f p90_ns=%.0f", each[n / 2], each[n * 9 / 10]);
  free(each);
  Report("rtt", n, ns, irqs, extra);
}

/* Three locks passed around like a baton, so that every dsm_lock waits for
 * one dsm_unlock of the other node and the turns alternate strictly without
 * the program spinning on a flag. Node 0 starts holding locks 0 and 1, node 1
 * lock 2; in step j node 0 unlocks lock j%3 and then takes lock (j+2)%3,
 * while node 1 takes lock j%3 (released by node 0 in this step) and then
 * unlocks lock (j+2)%3 (which node 0 takes). Each step is two hand-offs in
 * a row: 0 -> 1, then 1 -> 0. */
static void PingPong(struct shared *s) {
  const int me = dsm_node_id();
  int held[3] = {me == 0, me == 0, me == 1};
  for (int k = 0; k < 3; ++k) {
    if (held[k]) dsm_lock(kLockId + k);
  }
  dsm_barrier(); /* nodes 0 and 1 hold their starting locks; the others only wait */
  if (me > 1) {
    if (me < kMaxCounted) s->lock_irqs[me] = VfioInterrupts() < 0 ? -1 : 0; /* not taking part */
    return;
  }
  double first = 0.0;
  long long irqs = -1;
  for (long j = 0; j < s->lock_rounds; ++j) {
    const int now = (int)(j % 3), then = (int)((j + 2) % 3);
    if (me == 0) {
      dsm_unlock(kLockId + now);
      dsm_lock(kLockId + then);
    } else {
      dsm_lock(kLockId + now);
      dsm_unlock(kLockId + then);
    }
    held[now] = me == 1;
    held[then] = me == 0;
    if (j == kWarmup) {
      irqs = VfioInterrupts();
      first = dsm_wtime();
    }
    if (j == s->lock_rounds - 1) {
      if (me == 0) {
        s->lock_count = 2 * (s->lock_rounds - 1 - kWarmup);
        s->lock_ns = (dsm_wtime() - first) * 1e9;
      }
      s->lock_irqs[me] = Taken(irqs, VfioInterrupts());
    }
  }
  for (int k = 0; k < 3; ++k) {
    if (held[k]) dsm_unlock(kLockId + k);
  }
}

static void Region(void *arg) {
  struct shared *s = arg;
  const int me = dsm_node_id();
  if (s->lock_rounds > 0) PingPong(s);
  if (s->barrier_iters > 0) {
    dsm_barrier();
    double start = 0.0;
    long long irqs = -1;
    for (long i = 0; i < s->barrier_iters + kWarmup; ++i) {
      if (i == kWarmup) {
        irqs = VfioInterrupts();
        start = dsm_wtime();
      }
      dsm_barrier();
    }
    if (me == 0) s->barrier_ns = (dsm_wtime() - start) * 1e9;
    if (me < kMaxCounted) s->barrier_irqs[me] = Taken(irqs, VfioInterrupts());
  }
}

static int ParseCount(const char *flag, const char *text, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || end == text || v < 0 || v > 100000000) {
    fprintf(stderr, "dsm_vm_bench: %s takes a count from 0 to 100000000, not '%s'\n", flag, text);
    return 0;
  }
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  /* First thing: the reader on the host times the boot by this line. */
  printf("vmbench event=main nodes=%d realtime_ns=%llu monotonic_ns=%llu\n", dsm_num_nodes(),
         (unsigned long long)ClockNs(CLOCK_REALTIME), (unsigned long long)ClockNs(CLOCK_MONOTONIC));
  fflush(stdout);
  char source[64];
  ClockSource(source, sizeof source);
  printf("vmbench event=clock source=%s\n", source);

  long rtt = 2000;
  struct shared s;
  memset(&s, 0, sizeof s);
  s.lock_rounds = 200;
  s.barrier_iters = 500;
  for (int i = 1; i < argc; i += 2) {
    long *target = strcmp(argv[i], "--rtt") == 0       ? &rtt
                   : strcmp(argv[i], "--lock") == 0    ? &s.lock_rounds
                   : strcmp(argv[i], "--barrier") == 0 ? &s.barrier_iters
                                                       : NULL;
    if (target == NULL || i + 1 == argc) {
      fprintf(stderr, "usage: %s [--rtt I] [--lock R] [--barrier B]\n", argv[0]);
      return 2;
    }
    if (!ParseCount(argv[i], argv[i + 1], target)) return 2;
  }
  /* The lock loop times from its warm-up's end to its last step. */
  if (s.lock_rounds > 0 && s.lock_rounds < kWarmup + 2) s.lock_rounds = kWarmup + 2;
  if (dsm_num_nodes() < 2) {
    s.lock_rounds = 0;
    s.barrier_iters = 0;
  }

  if (rtt > 0) RoundTrips(rtt);
  if (s.lock_rounds > 0 || s.barrier_iters > 0) {
    dsm_parallel(Region, &s);
    if (s.lock_rounds > 0) Report("lock", s.lock_count, s.lock_ns, SumTaken(s.lock_irqs), "");
    if (s.barrier_iters > 0) Report("barrier", s.barrier_iters, s.barrier_ns, SumTaken(s.barrier_irqs), "");
  }
  printf("vmbench event=end status=ok realtime_ns=%llu monotonic_ns=%llu\n",
         (unsigned long long)ClockNs(CLOCK_REALTIME), (unsigned long long)ClockNs(CLOCK_MONOTONIC));
  fflush(stdout);
  return 0;
}
