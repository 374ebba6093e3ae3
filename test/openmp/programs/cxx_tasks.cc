// C++ tasks: firstprivate class objects of tasks (every copy destroyed),
// tasks created in a member function and from a lambda, depend clauses on
// array elements, untied tasks with taskyield, taskloop over a std::array
// with firstprivate and lastprivate objects, task reductions (taskloop
// reduction, taskgroup task_reduction with in_reduction tasks, the task
// modifier of a worksharing reduction), and a recursive template of tasks.
#include <array>
#include <string>

#include "omp_test.h"

namespace {

thread_local long tl_made = 0;
thread_local long tl_gone = 0;

struct Payload {
  long v;
  std::string tag;
  Payload() : v(0), tag("default") { ++tl_made; }
  explicit Payload(long x) : v(x), tag("value") { ++tl_made; }
  Payload(const Payload& o) : v(o.v), tag(o.tag) { ++tl_made; }
  Payload& operator=(const Payload& o) {
    v = o.v;
    tag = o.tag;
    return *this;
  }
  ~Payload() { ++tl_gone; }
};

class Pipeline {
 public:
  // Three stages per item, ordered by depend clauses on the item's slots.
  void Run(int items) {
#pragma omp parallel
#pragma omp single
    for (int i = 0; i < items; ++i) {
#pragma omp task depend(out : stage_[i][0]) firstprivate(i)
      stage_[i][0] = i + 1;
#pragma omp task depend(in : stage_[i][0]) depend(out : stage_[i][1]) firstprivate(i)
      stage_[i][1] = stage_[i][0] * 10;
#pragma omp task depend(in : stage_[i][1]) depend(out : stage_[i][2]) firstprivate(i)
      stage_[i][2] = stage_[i][1] + 7;
    }
  }
  long Sum(int items) const {
    long s = 0;
    for (int i = 0; i < items; ++i) s += stage_[i][2];
    return s;
  }

 private:
  long stage_[32][3] = {};
};

template <typename T>
T Fib(int n) {
  if (n < 2) return static_cast<T>(n);
  T a = 0, b = 0;
#pragma omp task shared(a) if (n > 8)
  a = Fib<T>(n - 1);
#pragma omp task shared(b) if (n > 8)
  b = Fib<T>(n - 2);
#pragma omp taskwait
  return a + b;
}

}  // namespace

int main() {
  int failures = 0;
  constexpr int kMax = 64;
  int n = omp_get_max_threads();

  // Tasks with firstprivate class objects: each copy is destroyed.
  long values[kMax] = {0};
#pragma omp parallel shared(values)
  {
    Payload p(omp_get_thread_num() + 1);
    for (int k = 0; k < 5; ++k) {
#pragma omp task firstprivate(p) shared(values)
      {
        p.v *= 2;
        p.tag += "!";
#pragma omp critical
        values[0] += p.v + static_cast<long>(p.tag.size());
      }
    }
#pragma omp taskwait
  }
  long balance[kMax] = {0};
#pragma omp parallel shared(balance)
  balance[omp_get_thread_num()] = tl_made - tl_gone;
  long unbalanced = 0;
  for (int t = 0; t < n; ++t) unbalanced += balance[t];
  printf("task copies: total %ld alive after %ld\n", values[0], unbalanced);

  // A member function's tasks with depend clauses.
  Pipeline pipe;
  pipe.Run(32);
  printf("pipeline %ld\n", pipe.Sum(32));

  // An untied task with a taskyield in its middle.
  long untied[kMax] = {0};
#pragma omp parallel shared(untied)
  {
    int t = omp_get_thread_num();
#pragma omp task untied shared(untied) firstprivate(t)
    {
      untied[t] += 1;
#pragma omp taskyield
      untied[t] += 10;
#pragma omp taskyield
      untied[t] += 100;
    }
#pragma omp taskwait
  }
  printf("untied:");
  for (int t = 0; t < n; ++t) printf(" %ld", untied[t]);
  printf("\n");

  // taskloop over a std::array with firstprivate and lastprivate objects.
  std::array<int, 200> arr{};
  Payload seed(3), last_seen;
#pragma omp parallel shared(arr, last_seen)
#pragma omp single
  {
#pragma omp taskloop grainsize(16) firstprivate(seed) lastprivate(last_seen)
    for (size_t i = 0; i < arr.size(); ++i) {
      arr[i] = static_cast<int>(i) * static_cast<int>(seed.v);
      last_seen = Payload(static_cast<long>(i));
    }
  }
  long arr_sum = 0;
  for (int v : arr) arr_sum += v;
  printf("taskloop: %ld last %ld %s\n", arr_sum, last_seen.v, last_seen.tag.c_str());

  // Task reductions.
  long tl_sum = 0;
  double tl_prod = 1.0;
  long grouped = 0;
#pragma omp parallel shared(tl_sum, tl_prod, grouped)
#pragma omp single
  {
#pragma omp taskloop reduction(+ : tl_sum) reduction(* : tl_prod) num_tasks(7)
    for (int i = 1; i <= 20; ++i) {
      tl_sum += i;
      tl_prod *= 1.5;
    }
#pragma omp taskgroup task_reduction(+ : grouped)
    {
      for (int i = 0; i < 10; ++i) {
#pragma omp task in_reduction(+ : grouped) firstprivate(i)
        grouped += i * i;
      }
    }
  }
  long modifier = 0;
#pragma omp parallel for reduction(task, + : modifier) schedule(static)
  for (int i = 0; i < 16; ++i) {
#pragma omp task in_reduction(+ : modifier) firstprivate(i)
    modifier += i;
  }
  printf("task reductions: %ld %.4f %ld modifier %ld\n", tl_sum, tl_prod, grouped, modifier);

  // Recursive template tasks, from a lambda.
  long fibs[kMax] = {0};
  auto compute = [&fibs](int t) { fibs[t] = Fib<long>(18 + t % 2); };
#pragma omp parallel shared(fibs)
  compute(omp_get_thread_num());
  printf("fib:");
  for (int t = 0; t < n; ++t) printf(" %ld", fibs[t]);
  printf("\n");
  printf("failures %d\n", failures);
  return failures != 0;
}
