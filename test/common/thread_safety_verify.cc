// Not a program: compiled by the test common.ThreadSafetyAnalysisRejectsMisuse
// with clang's -verify and the project's own warning flags (DSM_WARNINGS).
// Each misuse of dsm::Mutex below must be reported as an error where it is
// marked, and nothing else may be reported: the test fails if the annotations
// stop expanding, if -Wthread-safety leaves the project's flags, or if it
// stops being an error.
#include "dsm/common/thread_annotations.h"

namespace {

class Account {
 public:
  void Deposit(int n) EXCLUDES(mu_) {
    dsm::MutexLock lock(&mu_);
    AddLocked(n);
  }
  void AddLocked(int n) REQUIRES(mu_) { balance_ += n; }
  int Peek() NO_THREAD_SAFETY_ANALYSIS { return balance_; }

  void WritesUnlocked() {
    // expected-error@+1 {{writing variable 'balance_' requires holding mutex 'mu_' exclusively}}
    balance_ = 0;
  }
  int ReadsUnlocked() {
    return balance_;  // expected-error {{reading variable 'balance_' requires holding mutex 'mu_'}}
  }
  int ReadsPointeeUnlocked() {
    // expected-error@+1 {{reading the value pointed to by 'history_' requires holding mutex 'mu_'}}
    return *history_;
  }
  void CallsWithoutHolding() {
    // expected-error@+1 {{calling function 'AddLocked' requires holding mutex 'mu_' exclusively}}
    AddLocked(1);
  }
  void CallsWhileHolding() {
    dsm::MutexLock lock(&mu_);
    Deposit(1);  // expected-error {{cannot call function 'Deposit' while mutex 'mu_' is held}}
  }
  void ForgetsToUnlock() {
    mu_.Lock();  // expected-note {{mutex acquired here}}
  }  // expected-error {{mutex 'mu_' is still held at the end of function}}
  void UnlocksTwice() {
    mu_.Lock();
    mu_.Unlock();  // expected-note {{mutex released here}}
    mu_.Unlock();  // expected-error {{releasing mutex 'mu_' that was not held}}
  }

 private:
  dsm::Mutex mu_;
  int balance_ GUARDED_BY(mu_) = 0;
  int* history_ PT_GUARDED_BY(mu_) = nullptr;
};

}  // namespace
