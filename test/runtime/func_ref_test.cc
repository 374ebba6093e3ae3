#include "func_ref.h"

#include <gtest/gtest.h>

#include <cmath>

extern "C" void dsm_test_target(void* p) { *static_cast<int*>(p) += 1; }

namespace dsm::runtime {
namespace {

TEST(FuncRef, RoundTripsFunctionsOfTheProgramAndOfLibraries) {
  FuncRef ref;
  ASSERT_TRUE(EncodeFunc(reinterpret_cast<const void*>(&dsm_test_target), &ref));
  EXPECT_EQ(DecodeFunc(ref), reinterpret_cast<void*>(&dsm_test_target));
  double (*lib_fn)(double) = &::cos;
  ASSERT_TRUE(EncodeFunc(reinterpret_cast<const void*>(lib_fn), &ref));
  EXPECT_EQ(DecodeFunc(ref), reinterpret_cast<void*>(lib_fn));
}

TEST(FuncRef, UnknownAddressesAndMismatchedObjectsFail) {
  FuncRef ref;
  EXPECT_FALSE(EncodeFunc(reinterpret_cast<const void*>(uintptr_t{16}), &ref));
  ASSERT_TRUE(EncodeFunc(reinterpret_cast<const void*>(&dsm_test_target), &ref));
  FuncRef bad = ref;
  bad.name_hash ^= 1;
  EXPECT_EQ(DecodeFunc(bad), nullptr);
  bad = ref;
  bad.object = 100000;
  EXPECT_EQ(DecodeFunc(bad), nullptr);
}

}  // namespace
}  // namespace dsm::runtime
