// The dsmkit atomics pass: an LLVM 14 new-pass-manager pass, in the same
// dsm-clang-plugin.so as the Clang plugin, which dsm-clang loads a second time
// with -fpass-plugin. It runs last in the optimisation pipeline at every
// level (-O0 included, where it is a required pass despite optnone).
//
// Every atomic load, atomic store, atomicrmw and cmpxchg of 1, 2, 4 or 8
// bytes whose address may be shared (anything but a local alloca that never
// escapes its function) becomes
//
//   %f = load i32 @__dsm_atomics_remote
//   if (%f != 0) %r = call @__dsm_atomic_<load|store|rmw|cas>_N(...)
//   else         %r = <the original instruction, untouched>
//
// so one-host jobs keep the hardware atomic behind one predictable branch.
// Operations of 16 bytes or on under-aligned addresses (which the backend would
// turn into libatomic calls) and every call of a libatomic entry point
// (__atomic_load, __atomic_compare_exchange_16, __atomic_fetch_add_8, ...)
// call libdsm unconditionally: libatomic's locks are private to a process, so
// they are wrong between nodes even on one host, and libdsm picks the
// hardware itself where there is one. Fences and operations with
// syncscope("singlethread") (signal-handler communication) stay as they are.
// Names and operation codes: runtime/src/atomics.h. What it cannot rewrite
// (an atomicrmw fadd of a type other than float or double, a size above 16)
// is an error at the instruction.
//
// Stateless between modules; LLVM runs it on one thread. Registered by
// pass_plugin.cc.
#include "passes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Analysis/CaptureTracking.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/DiagnosticInfo.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

#include <string>

#include "atomics.h"

namespace dsm::compiler {

using namespace llvm;
namespace rt = dsm::runtime;

namespace {

// libatomic's entry points that the pass redirects: the generic ones, and the
// stems of the sized ones (followed by _1, _2, _4, _8 or _16).
constexpr const char* kGenericLibcalls[] = {"load", "store", "exchange", "compare_exchange"};
constexpr const char* kSizedLibcalls[] = {
    "load",      "store",     "exchange",  "compare_exchange", "fetch_add", "fetch_sub",
    "fetch_and", "fetch_or",  "fetch_xor", "fetch_nand",       "add_fetch", "sub_fetch",
    "and_fetch", "or_fetch",  "xor_fetch", "nand_fetch"};

// "load" for "__atomic_load", "fetch_add_8" for "__atomic_fetch_add_8"; empty
// for any other name.
StringRef LibatomicSuffix(StringRef name) {
  if (!name.consume_front("__atomic_")) return {};
  for (const char* g : kGenericLibcalls) {
    if (name == g) return name;
  }
  for (const char* s : kSizedLibcalls) {
    StringRef rest = name;
    if (!rest.consume_front(s) || !rest.consume_front("_")) continue;
    if (rest == "1" || rest == "2" || rest == "4" || rest == "8" || rest == "16") return name;
  }
  return {};
}

int32_t OpCode(AtomicRMWInst::BinOp op) {
  switch (op) {
    case AtomicRMWInst::Xchg: return rt::kAtomicXchg;
    case AtomicRMWInst::Add: return rt::kAtomicAdd;
    case AtomicRMWInst::Sub: return rt::kAtomicSub;
    case AtomicRMWInst::And: return rt::kAtomicAnd;
    case AtomicRMWInst::Nand: return rt::kAtomicNand;
    case AtomicRMWInst::Or: return rt::kAtomicOr;
    case AtomicRMWInst::Xor: return rt::kAtomicXor;
    case AtomicRMWInst::Max: return rt::kAtomicMax;
    case AtomicRMWInst::Min: return rt::kAtomicMin;
    case AtomicRMWInst::UMax: return rt::kAtomicUMax;
    case AtomicRMWInst::UMin: return rt::kAtomicUMin;
    case AtomicRMWInst::FAdd: return rt::kAtomicFAdd;
    case AtomicRMWInst::FSub: return rt::kAtomicFSub;
    default: return -1;
  }
}

class Rewriter {
 public:
  explicit Rewriter(Module& m)
      : m_(m), ctx_(m.getContext()), dl_(m.getDataLayout()), i8p_(Type::getInt8PtrTy(ctx_)),
        i32_(Type::getInt32Ty(ctx_)) {}

  // Rewrites one function; true if anything changed.
  bool Run(Function& f) {
    SmallVector<Instruction*, 16> work;
    for (Instruction& i : instructions(f)) {
      if (isa<LoadInst, StoreInst, AtomicRMWInst, AtomicCmpXchgInst, CallBase>(i)) {
        work.push_back(&i);
      }
    }
    local_.clear();
    bool changed = false;
    for (Instruction* i : work) changed |= Visit(i);
    if (changed) {
      // The runtime calls touch memory beyond the arguments and synchronise:
      // what the optimiser inferred from the bare atomics no longer holds.
      for (Attribute::AttrKind k :
           {Attribute::ReadNone, Attribute::ReadOnly, Attribute::WriteOnly, Attribute::ArgMemOnly,
            Attribute::InaccessibleMemOnly, Attribute::InaccessibleMemOrArgMemOnly,
            Attribute::NoSync}) {
        f.removeFnAttr(k);
      }
    }
    return changed;
  }

 private:
  // What the slow path of one instruction needs: its address, the integer
  // type of its size, and the runtime function.
  struct Access {
    Value* ptr = nullptr;
    Type* value_type = nullptr;  // the type the instruction loads, stores or exchanges
    uint64_t size = 0;
    bool hardware_ok = false;  // 1/2/4/8 bytes, naturally aligned: keep the hardware path
  };

  bool Visit(Instruction* i) {
    if (auto* call = dyn_cast<CallBase>(i)) return RedirectLibcall(call);
    Access a;
    if (!Describe(i, &a)) return false;
    if (a.ptr->getType()->getPointerAddressSpace() != 0) return false;
    if (IsPrivateLocal(a.ptr)) return false;
    if (a.size > 16) {
      Error(i, "an atomic operation of " + std::to_string(a.size) +
                   " bytes is not supported on distributed shared memory (at most 16)");
      return false;
    }
    if (auto* rmw = dyn_cast<AtomicRMWInst>(i); rmw && rmw->isFloatingPointOperation() &&
                                                  !(a.value_type->isFloatTy() ||
                                                    a.value_type->isDoubleTy())) {
      Error(i, "an atomic floating-point update of a type other than float or double is not "
               "supported on distributed shared memory");
      return false;
    }
    if (!a.hardware_ok) {
      IRBuilder<> b(i);
      Value* slow = EmitSlowPath(b, i, a);
      if (slow != nullptr) i->replaceAllUsesWith(slow);
      i->eraseFromParent();
      return true;
    }
    Guard(i, a);
    return true;
  }

  // Fills `a` for an atomic memory instruction; false for anything else.
  bool Describe(Instruction* i, Access* a) {
    Align align;
    if (auto* ld = dyn_cast<LoadInst>(i)) {
      if (!ld->isAtomic() || ld->getSyncScopeID() == SyncScope::SingleThread) return false;
      a->ptr = ld->getPointerOperand();
      a->value_type = ld->getType();
      align = ld->getAlign();
    } else if (auto* st = dyn_cast<StoreInst>(i)) {
      if (!st->isAtomic() || st->getSyncScopeID() == SyncScope::SingleThread) return false;
      a->ptr = st->getPointerOperand();
      a->value_type = st->getValueOperand()->getType();
      align = st->getAlign();
    } else if (auto* rmw = dyn_cast<AtomicRMWInst>(i)) {
      if (rmw->getSyncScopeID() == SyncScope::SingleThread) return false;
      a->ptr = rmw->getPointerOperand();
      a->value_type = rmw->getValOperand()->getType();
      align = rmw->getAlign();
    } else if (auto* cas = dyn_cast<AtomicCmpXchgInst>(i)) {
      if (cas->getSyncScopeID() == SyncScope::SingleThread) return false;
      a->ptr = cas->getPointerOperand();
      a->value_type = cas->getCompareOperand()->getType();
      align = cas->getAlign();
    } else {
      return false;
    }
    a->size = dl_.getTypeStoreSize(a->value_type).getFixedSize();
    bool power = a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8;
    a->hardware_ok = power && align.value() >= a->size;
    return true;
  }

  // A local variable whose address never leaves its function: no other node
  // can reach it, so its atomics stay hardware ones.
  bool IsPrivateLocal(Value* ptr) {
    const Value* base = getUnderlyingObject(ptr, 0);
    if (!isa<AllocaInst>(base)) return false;
    auto [it, inserted] = local_.try_emplace(base, false);
    if (inserted) it->second = !PointerMayBeCaptured(base, /*ReturnCaptures=*/true,
                                                     /*StoreCaptures=*/true);
    return it->second;
  }

  // Splits around `i`: the hardware instruction on the flag's 0 side, the
  // runtime call on the other, a phi for the result.
  void Guard(Instruction* i, const Access& a) {
    IRBuilder<> head(i);
    Value* flag = head.CreateLoad(i32_, Flag(), "dsm.atomics.remote");
    Value* remote = head.CreateICmpNE(flag, ConstantInt::get(i32_, 0));
    Instruction* slow_term = nullptr;
    Instruction* fast_term = nullptr;
    MDNode* weights = MDBuilder(ctx_).createBranchWeights(1, 1u << 20);
    SplitBlockAndInsertIfThenElse(remote, i, &slow_term, &fast_term, weights);
    BasicBlock* tail = i->getParent();
    i->moveBefore(fast_term);
    IRBuilder<> sb(slow_term);
    Value* slow = EmitSlowPath(sb, i, a);
    if (slow == nullptr || i->use_empty()) return;
    PHINode* phi = PHINode::Create(i->getType(), 2, "", &tail->front());
    i->replaceAllUsesWith(phi);
    phi->addIncoming(i, fast_term->getParent());
    phi->addIncoming(slow, slow_term->getParent());
  }

  // The runtime call replacing `i`, and the value it stands for (nullptr for
  // a store).
  Value* EmitSlowPath(IRBuilder<>& b, Instruction* i, const Access& a) {
    IntegerType* bits = IntegerType::get(ctx_, static_cast<unsigned>(a.size * 8));
    std::string n = std::to_string(a.size);
    Value* p = b.CreatePointerCast(a.ptr, i8p_);
    if (isa<LoadInst>(i)) {
      CallInst* c = Call(b, Runtime("load_" + n, bits, {i8p_}), {p});
      return FromBits(b, c, a.value_type);
    }
    if (auto* st = dyn_cast<StoreInst>(i)) {
      Value* v = ToBits(b, st->getValueOperand(), bits);
      Call(b, Runtime("store_" + n, b.getVoidTy(), {i8p_, bits}), {p, v});
      return nullptr;
    }
    if (auto* rmw = dyn_cast<AtomicRMWInst>(i)) {
      Value* v = ToBits(b, rmw->getValOperand(), bits);
      Value* op = ConstantInt::get(i32_, OpCode(rmw->getOperation()));
      CallInst* c = Call(b, Runtime("rmw_" + n, bits, {i8p_, bits, i32_}), {p, v, op});
      return FromBits(b, c, a.value_type);
    }
    auto* cas = cast<AtomicCmpXchgInst>(i);
    Value* expected = ToBits(b, cas->getCompareOperand(), bits);
    Value* desired = ToBits(b, cas->getNewValOperand(), bits);
    CallInst* old = Call(b, Runtime("cas_" + n, bits, {i8p_, bits, bits}),
                                 {p, expected, desired});
    Value* ok = b.CreateICmpEQ(old, expected);
    Value* pair = UndefValue::get(cas->getType());
    pair = b.CreateInsertValue(pair, FromBits(b, old, a.value_type), 0);
    return b.CreateInsertValue(pair, ok, 1);
  }

  // Calls of libatomic become calls of libdsm's entry point of the same type.
  bool RedirectLibcall(CallBase* call) {
    Function* callee = call->getCalledFunction();
    if (callee == nullptr || !callee->isDeclaration()) return false;
    StringRef suffix = LibatomicSuffix(callee->getName());
    if (suffix.empty()) return false;
    std::string name = std::string(rt::kAtomicLibPrefix) + suffix.str();
    FunctionCallee target = m_.getOrInsertFunction(name, call->getFunctionType());
    if (auto* f = dyn_cast<Function>(target.getCallee()); f && f->getAttributes().isEmpty()) {
      f->setAttributes(callee->getAttributes());
    }
    call->setCalledFunction(target);
    if (callee->use_empty()) callee->eraseFromParent();
    return true;
  }

  Value* ToBits(IRBuilder<>& b, Value* v, IntegerType* bits) {
    if (v->getType()->isPointerTy()) return b.CreatePtrToInt(v, bits);
    if (v->getType() == bits) return v;
    return b.CreateBitCast(v, bits);
  }

  Value* FromBits(IRBuilder<>& b, Value* v, Type* to) {
    if (to->isPointerTy()) return b.CreateIntToPtr(v, to);
    if (to == v->getType()) return v;
    return b.CreateBitCast(v, to);
  }

  // A call that carries the callee's argument attributes (zeroext) itself.
  CallInst* Call(IRBuilder<>& b, FunctionCallee callee, ArrayRef<Value*> args) {
    CallInst* c = b.CreateCall(callee, args);
    if (auto* f = dyn_cast<Function>(callee.getCallee())) c->setAttributes(f->getAttributes());
    return c;
  }

  GlobalVariable* Flag() {
    if (GlobalVariable* g = m_.getGlobalVariable(rt::kAtomicsRemoteFlag)) return g;
    return new GlobalVariable(m_, i32_, /*isConstant=*/false, GlobalValue::ExternalLinkage,
                              nullptr, rt::kAtomicsRemoteFlag);
  }

  // __dsm_atomic_<stem>: small integers travel zero-extended, as libdsm's
  // C declarations say.
  FunctionCallee Runtime(const std::string& stem, Type* ret, ArrayRef<Type*> params) {
    FunctionType* type = FunctionType::get(ret, params, false);
    FunctionCallee fc = m_.getOrInsertFunction(rt::kAtomicPrefix + stem, type);
    if (auto* f = dyn_cast<Function>(fc.getCallee())) {
      f->setDoesNotThrow();
      f->addParamAttr(0, Attribute::NoCapture);
      auto small = [](Type* t) { return t->isIntegerTy(8) || t->isIntegerTy(16); };
      if (small(ret)) f->addRetAttr(Attribute::ZExt);
      for (unsigned k = 0; k < params.size(); ++k) {
        if (small(params[k])) f->addParamAttr(k, Attribute::ZExt);
      }
    }
    return fc;
  }

  void Error(Instruction* i, const std::string& what) {
    ctx_.diagnose(DiagnosticInfoUnsupported(*i->getFunction(), what, i->getDebugLoc()));
  }

  Module& m_;
  LLVMContext& ctx_;
  const DataLayout& dl_;
  PointerType* i8p_;
  IntegerType* i32_;
  DenseMap<const Value*, bool> local_;  // alloca -> never escapes (this function)
};

}  // namespace

PreservedAnalyses AtomicsPass::run(Module& m, ModuleAnalysisManager&) {
  Rewriter rewriter(m);
  bool changed = false;
  for (Function& f : m) {
    if (f.isDeclaration()) continue;
    changed |= rewriter.Run(f);
  }
  return changed ? PreservedAnalyses::none() : PreservedAnalyses::all();
}

}  // namespace dsm::compiler
