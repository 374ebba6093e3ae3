// OpenMP constructs a lock-based distributed runtime cannot run are
// compile-time errors naming the construct, at its location.
// RUN: dsm-clang -fsyntax-only -Xclang -verify %s

int data[64];

#pragma omp declare target // expected-error {{OpenMP construct 'declare target' is not supported by dsmkit}}
int on_device;
#pragma omp end declare target

#pragma omp requires unified_shared_memory // expected-error {{OpenMP construct 'requires' is not supported}}

void f(int n) {
#pragma omp target // expected-error {{OpenMP construct 'target' is not supported}}
  data[0] = 1;
#pragma omp target data map(tofrom: data) // expected-error {{OpenMP construct 'target data' is not supported}}
  data[1] = 1;
#pragma omp target enter data map(to: data) // expected-error {{OpenMP construct 'target enter data' is not supported}}
#pragma omp target update to(data) // expected-error {{OpenMP construct 'target update' is not supported}}
#pragma omp target teams distribute parallel for // expected-error {{OpenMP construct 'target teams distribute parallel for' is not supported}}
  for (int i = 0; i < n; i++) data[i] = i;
#pragma omp teams // expected-error {{OpenMP construct 'teams' is not supported}}
  data[2] = 1;
#pragma omp parallel
  {
#pragma omp for
    for (int i = 0; i < n; i++) {
#pragma omp cancel for // expected-error {{OpenMP construct 'cancel' is not supported}}
    }
#pragma omp cancellation point parallel // expected-error {{OpenMP construct 'cancellation point' is not supported}}
  }
}

// The supported directives, in both spellings, are accepted.
void ok(int n) {
  int sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(dynamic, 4)
  for (int i = 0; i < n; i++) sum += i;
#pragma dsm parallel
  {
#pragma dsm for schedule(guided)
    for (int i = 0; i < n; i++) data[i % 64] = i;
#pragma dsm critical(update)
    sum++;
#pragma dsm barrier
#pragma dsm single
    sum++;
#pragma dsm master
    sum++;
  }
  data[0] = sum;
}
