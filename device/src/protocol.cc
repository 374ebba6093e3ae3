#include "dsm/device/protocol.h"

namespace dsm::device {

const char* CommandName(uint32_t command) {
  switch (command) {
    case kNone: return "none";
    case kNop: return "nop";
    case kAttach: return "attach";
    case kDetach: return "detach";
    case kLock: return "lock";
    case kUnlock: return "unlock";
    case kBarrier: return "barrier";
    case kAlloc: return "alloc";
    case kFree: return "free";
    case kStats: return "stats";
    case kFinish: return "finish";
    case kFault: return "fault";
    case kRelease: return "release";
    case kBarrierSleep: return "barrier-sleep";
    case kBarrierWake: return "barrier-wake";
    default: return "unknown";
  }
}

const char* StatusName(int32_t status) {
  switch (status) {
    case kOk: return "ok";
    case kBadCommand: return "unknown command";
    case kBadArgument: return "bad argument";
    case kBadSequence: return "bad sequence number";
    case kNotAttached: return "not attached";
    case kAttachRefused: return "attach refused";
    case kVersionMismatch: return "protocol version mismatch";
    case kNoMemory: return "out of shared memory";
    case kNotHeld: return "lock not held by this node";
    case kAlreadyHeld: return "lock already held by this node";
    case kJobFinished: return "job finished";
    case kNodeLost: return "a node left the job";
    case kNotPermitted: return "not permitted";
    case kHostLost: return "a host was lost";
    default: return "unknown status";
  }
}

}  // namespace dsm::device
