// C++ with OpenMP: class objects as private, firstprivate, lastprivate and
// copyprivate data (constructors and destructors run per thread), a region
// started by a member function (shared data reached through `this`),
// templates over std::array with iterator and range loops, lambdas inside
// and around regions, a user-defined reduction over a class and over
// std::complex, exceptions caught inside a region, an RAII guard over an
// omp_lock_t, and a threadprivate class object with copyin.
#include <array>
#include <complex>
#include <stdexcept>
#include <string>

#include "omp_test.h"

namespace {

// Counts of constructions and destructions, per thread.
thread_local long tl_made = 0;
thread_local long tl_gone = 0;

struct Tracked {
  int v;
  Tracked() : v(0) { ++tl_made; }
  explicit Tracked(int x) : v(x) { ++tl_made; }
  Tracked(const Tracked& o) : v(o.v) { ++tl_made; }
  Tracked& operator=(const Tracked& o) {
    v = o.v;
    return *this;
  }
  ~Tracked() { ++tl_gone; }
};

struct Vec3 {
  double x = 0, y = 0, z = 0;
  Vec3& operator+=(const Vec3& o) {
    x += o.x;
    y += o.y;
    z += o.z;
    return *this;
  }
};

#pragma omp declare reduction(vadd : Vec3 : omp_out += omp_in) initializer(omp_priv = Vec3())
#pragma omp declare reduction(cadd : std::complex<double> : omp_out += omp_in) \
    initializer(omp_priv = std::complex<double>(0, 0))

// A lock guard over an omp_lock_t that lives in shared data.
class LockGuard {
 public:
  explicit LockGuard(omp_lock_t* l) : l_(l) { omp_set_lock(l_); }
  ~LockGuard() { omp_unset_lock(l_); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  omp_lock_t* l_;
};

// An object of main's whose member function starts the regions.
class Histogram {
 public:
  void Fill(int n) {
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n; ++i) {
      int b = (i * 37) % kBins;
#pragma omp critical
      bins_[b]++;
    }
  }
  long Total() const {
    long t = 0;
#pragma omp parallel for reduction(+ : t)
    for (int b = 0; b < kBins; ++b) t += bins_[b] * (b + 1);
    return t;
  }

 private:
  static constexpr int kBins = 10;
  long bins_[kBins] = {};
};

template <typename T, size_t N>
T SumSquares(const std::array<T, N>& a) {
  T s = 0;
#pragma omp parallel for reduction(+ : s)
  for (auto it = a.begin(); it < a.end(); ++it) s += *it * *it;
  return s;
}

struct Config {
  int id;
  double scale;
  Config& operator=(const Config& o) {
    id = o.id;
    scale = o.scale;
    return *this;
  }
};
Config tp_config = {1, 1.0};
#pragma omp threadprivate(tp_config)

}  // namespace

int main() {
  int failures = 0;
  constexpr int kMax = 64;

  // private, firstprivate and lastprivate class objects.
  Tracked proto(5);
  Tracked last(-1);
  int priv_seen[kMax] = {0};
  int first_seen[kMax] = {0};
#pragma omp parallel shared(priv_seen, first_seen)
  {
    Tracked mine;
#pragma omp for firstprivate(proto) lastprivate(last) schedule(static)
    for (int i = 0; i < 40; ++i) {
      proto.v += 1;
      last.v = i * 10;
      mine.v = proto.v;
    }
    priv_seen[omp_get_thread_num()] = mine.v;
  }
  Tracked outer(3);
#pragma omp parallel private(outer) firstprivate(proto) shared(first_seen)
  { first_seen[omp_get_thread_num()] = proto.v + outer.v; }
  long made[kMax] = {0}, gone[kMax] = {0};
#pragma omp parallel shared(made, gone)
  {
    made[omp_get_thread_num()] = tl_made;
    gone[omp_get_thread_num()] = tl_gone;
  }
  int n = omp_get_max_threads();
  printf("lastprivate %d firstprivate-loop", last.v);
  for (int t = 0; t < n; ++t) printf(" %d", priv_seen[t]);
  printf(" firstprivate");
  for (int t = 0; t < n; ++t) printf(" %d", first_seen[t]);
  printf("\n");
  printf("made/destroyed on the other threads:");
  for (int t = 1; t < n; ++t) printf(" %ld/%ld", made[t], gone[t]);
  printf("\n");

  // A member function's regions on an object of main.
  Histogram h;
  h.Fill(1000);
  printf("member regions: %ld\n", h.Total());

  // Templates over std::array: iterator loops and a range loop in a region.
  std::array<long, 100> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<long>(i);
  std::array<double, 16> d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = 0.5 * static_cast<double>(i);
  long counted = 0;
#pragma omp parallel for reduction(+ : counted) schedule(dynamic, 9)
  for (long v : a) counted += v;
  printf("templates: %ld %.2f range %ld\n", SumSquares(a), SumSquares(d), counted);

  // Lambdas: called inside a region, and a region inside a lambda.
  long by_lambda[kMax] = {0};
  auto work = [](int t) { return static_cast<long>(t + 1) * 11; };
#pragma omp parallel shared(by_lambda)
  by_lambda[omp_get_thread_num()] = work(omp_get_thread_num());
  long lambda_total = 0;
  auto run = [&lambda_total](int count) {
#pragma omp parallel for reduction(+ : lambda_total)
    for (int i = 0; i < count; ++i) lambda_total += i;
  };
  run(200);
  printf("lambdas:");
  for (int t = 0; t < n; ++t) printf(" %ld", by_lambda[t]);
  printf(" region in a lambda %ld\n", lambda_total);

  // User-defined reductions over a class and over std::complex.
  Vec3 sum;
  std::complex<double> z(0, 0);
#pragma omp parallel for reduction(vadd : sum) reduction(cadd : z) schedule(guided)
  for (int i = 0; i < 300; ++i) {
    sum += Vec3{1.0, 0.5 * i, (i % 2) ? 1.0 : -1.0};
    z += std::complex<double>(i, -i);
  }
  printf("udr: %.1f %.1f %.1f complex %.1f %.1f\n", sum.x, sum.y, sum.z, z.real(), z.imag());

  // Exceptions thrown and caught inside the region, on every thread.
  int caught[kMax] = {0};
#pragma omp parallel shared(caught)
  {
    int t = omp_get_thread_num();
    try {
      if (t >= 0) throw std::runtime_error(std::string("thread ") + std::to_string(t));
    } catch (const std::runtime_error& e) {
      caught[t] = static_cast<int>(std::string(e.what()).size());
    }
  }
  printf("exceptions:");
  for (int t = 0; t < n; ++t) printf(" %d", caught[t]);
  printf("\n");

  // An RAII guard over a shared omp_lock_t.
  omp_lock_t lock;
  omp_init_lock(&lock);
  long guarded = 0;
#pragma omp parallel shared(lock, guarded)
  {
    for (int i = 0; i < 25; ++i) {
      LockGuard g(&lock);
      guarded += 2;
    }
  }
  omp_destroy_lock(&lock);
  printf("lock guard %ld\n", guarded);

  // copyprivate of a class object, copyin of a threadprivate one.
  int cp[kMax] = {0};
#pragma omp parallel shared(cp)
  {
    Tracked value;
#pragma omp single copyprivate(value)
    value.v = 321;
    cp[omp_get_thread_num()] = value.v;
  }
  tp_config.id = 77;
  tp_config.scale = 1.5;
  int tc[kMax] = {0};
#pragma omp parallel copyin(tp_config) shared(tc)
  tc[omp_get_thread_num()] = tp_config.id * 10 + static_cast<int>(tp_config.scale * 2);
  printf("copyprivate");
  for (int t = 0; t < n; ++t) printf(" %d", cp[t]);
  printf(" copyin");
  for (int t = 0; t < n; ++t) printf(" %d", tc[t]);
  printf("\n");
  printf("failures %d\n", failures);
  return failures != 0;
}
