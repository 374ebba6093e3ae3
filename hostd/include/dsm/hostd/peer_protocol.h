// The wire format between host daemons (dsm-hostd to dsm-hostd over ZeroMQ).
// Version kPeerVersion.
//
// This header is the single definition of these bytes; docs/peer-protocol.md
// draws them. Every message is one ZeroMQ frame: a PeerHeader followed by
// header.body_len bytes of body whose layout depends on header.type. All
// integers are little-endian. Nothing in a message is trusted: every decoder
// checks the version, the sizes, the counts against the body length, host ids
// against the number of hosts and page numbers against the data area, and
// answers "malformed" rather than reading past the end.
//
// Patterns (see docs/design.md): every daemon binds one ROUTER socket at the
// address it was given and talks to every other daemon through one DEALER
// per peer whose identity is "h<host id>"; a message to host j goes out on
// the DEALER connected to j, and everything arrives on the ROUTER. Host 0 is
// the meeting point (hello/welcome), the lock and barrier manager, the
// directory of page homes and the keeper of the job-wide heap.
//
// Requests that expect an answer carry a request id, unique per sender and
// never 0; the answer echoes it. A reply whose id is not outstanding (late,
// duplicated) is logged and dropped. Below that, every engine message carries
// its number on its link (PeerHeader.link_seq), so that a lost, duplicated or
// reordered message is noticed by the transport rather than by the engine.
//
// Thread safety: plain data and pure functions.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"

namespace dsm::hostd::peer {

// "DSMP" read as a little-endian integer.
constexpr uint32_t kPeerMagic = 0x504d5344u;
// Version 2 added PeerHeader.link_seq (per-link message numbers); version 3
// the barrier epoch of kFetch and kDiff (PageRequestBody), the home moves
// of kBarrierDepart and the bitmask form of page diffs (page_diff.h).
constexpr uint16_t kPeerVersion = 3;
constexpr uint32_t kMaxHosts = 64;
// The largest message a daemon accepts (a million page notices fit).
constexpr uint64_t kMaxMessageBytes = 256ULL << 20;

enum MsgType : uint16_t {
  kInvalid = 0,
  // Membership (transport level).
  kHello = 1,        // h -> 0: HelloBody. "I am host h of job J, reachable at E".
  kWelcome = 2,      // 0 -> all: WelcomeBody. Every host's endpoint; the job starts.
  kRefuse = 3,       // 0 -> h: RefuseBody. Wrong job, version or host id.
  kHeartbeat = 4,    // any -> any, every kHeartbeatMs; empty body.
  kBye = 5,          // any -> all: the sender is leaving cleanly; empty body.
  // Job control.
  kJobEnd = 10,      // any -> all: JobEndBody. Node 0 finished, or a node or host was lost.
  // Locks (manager on host 0).
  kLockRequest = 20,  // h -> 0: LockBody. Host h wants the lock's token.
  kLockRecall = 21,   // 0 -> holder: LockBody. Give the token back when it is free.
  kLockReturn = 22,   // holder -> 0: LockBody + notices. The token, and h's new intervals.
  kLockGrant = 23,    // 0 -> h: LockBody + notices. The token, and what h has not seen.
  // Barriers (manager on host 0).
  kBarrierArrive = 30,  // h -> 0: BarrierBody + notices. Every node of h arrived.
  kBarrierDepart = 31,  // 0 -> h: BarrierBody + notices + home moves.
  // Pages.
  kHomeQuery = 40,    // h -> 0 (directory): PageListBody. Who is home? (claims under first touch)
  kHomeReply = 41,    // 0 -> h: HomeReplyBody.
  kFetch = 42,        // h -> home: PageRequestBody. Send me these pages.
  kFetchReply = 43,   // home -> h: FetchReplyBody (page, version, 4096 bytes each).
  kDiff = 44,         // h -> home: PageRequestBody + diffs. Apply these diffs.
  kDiffAck = 45,      // home -> h: DiffAckBody (old and new version per page).
  // Job-wide heap (host 0).
  kAlloc = 50,        // h -> 0: AllocBody.
  kAllocReply = 51,   // 0 -> h: AllocReplyBody.
  kFree = 52,         // h -> 0: FreeBody.
  kFreeReply = 53,    // 0 -> h: FreeReplyBody.
  kMsgTypeEnd
};

// Every message starts with this.
//
// link_seq numbers the engine messages (type >= kJobEnd) of each ordered
// pair of hosts, the link from_host -> to_host: 1, 2, 3, ... A membership
// frame carries the number of the last engine message its sender sent on
// that link before it (0: none). The receiver accepts engine messages in
// exactly that order: a number it has seen is a duplicate (dropped and
// counted); a number beyond the next one, or a heartbeat or bye announcing
// messages that never came, means messages were lost or reordered on the
// link, and the sender is declared lost (the job ends, loudly). Messages a
// daemon sends to itself are not numbered.
struct PeerHeader {
  uint32_t magic;       //  0 kPeerMagic
  uint16_t version;     //  4 kPeerVersion
  uint16_t type;        //  6 MsgType
  uint32_t from_host;   //  8
  uint32_t to_host;     // 12
  uint64_t job_id;      // 16 the job both ends belong to
  uint64_t request_id;  // 24 0, or the id of the request (echoed by its reply)
  uint64_t body_len;    // 32 bytes after the header
  uint64_t link_seq;    // 40 see above
};
static_assert(sizeof(PeerHeader) == 48);
static_assert(offsetof(PeerHeader, type) == 6);
static_assert(offsetof(PeerHeader, job_id) == 16);
static_assert(offsetof(PeerHeader, body_len) == 32);
static_assert(offsetof(PeerHeader, link_seq) == 40);

// Liveness: every daemon sends a heartbeat to every peer this often (any
// message counts as one) and declares a peer lost after kPeerTimeoutMs of
// silence, so a dead daemon is noticed within 3 s.
constexpr int kHeartbeatMs = 250;
constexpr int kPeerTimeoutMs = 2000;
// Mesh set-up: host 0 waits this long for every host's hello, and a host
// waits this long for host 0's welcome (or refusal).
constexpr int kJoinTimeoutMs = 15000;

// kHello body: fixed part, then endpoint_len bytes of endpoint (no NUL).
struct HelloBody {
  uint32_t host_id;       // 0
  uint32_t num_hosts;     // 4 as the sender was told
  uint32_t endpoint_len;  // 8 at most kMaxEndpoint
  uint32_t reserved;      // 12
};
static_assert(sizeof(HelloBody) == 16);
constexpr uint32_t kMaxEndpoint = 256;

// kWelcome body: num_hosts, then num_hosts times (uint32 len, len bytes).
struct WelcomeBody {
  uint32_t num_hosts;  // 0
  uint32_t reserved;   // 4
};
static_assert(sizeof(WelcomeBody) == 8);

// kRefuse body: a reason code, then reason_len bytes of text for the log.
// A refusal is sent back on the connection the hello came in on (the ROUTER
// identity), with the hello's job id and from_host echoed, so that a daemon
// of another job can read it.
enum RefuseReason : uint32_t {
  kWrongJob = 1,
  kWrongVersion = 2,
  kBadHostId = 3,       // out of range, or 0 (host 0 does not say hello)
  kDuplicateHost = 4,   // another daemon already joined as that host
  kWrongNumHosts = 5,   // HelloBody.num_hosts differs from host 0's
};
struct RefuseBody {
  uint32_t reason;      // 0 RefuseReason
  uint32_t reason_len;  // 4
};
static_assert(sizeof(RefuseBody) == 8);

// kJobEnd body.
enum JobEndKind : uint32_t { kFinished = 1, kNodeLost = 2, kHostLost = 3 };
struct JobEndBody {
  uint32_t kind;    // 0 JobEndKind
  uint32_t value;   // 4 exit status (kFinished), node id (kNodeLost), host id (kHostLost)
};
static_assert(sizeof(JobEndBody) == 8);

// A write notice: page `page` was written by host `writer` in an interval
// that happened before the acquire carrying it; the home's copy includes the
// write from version `version` on.
struct Notice {
  uint32_t page;     // 0 data page index
  uint32_t writer;   // 4 host
  uint64_t version;  // 8
};
static_assert(sizeof(Notice) == 16);

// Notices follow LockBody / BarrierBody: the sender's vector timestamp
// (num_hosts uint64, interval counts per host this message brings the
// receiver up to), then notice_count Notice entries, sorted by page, at most
// one per page.
struct NoticeHeader {
  uint32_t num_hosts;     // 0 entries of the vector timestamp that follow
  uint32_t reserved;      // 4
  uint64_t notice_count;  // 8
};
static_assert(sizeof(NoticeHeader) == 16);

struct LockBody {
  uint32_t lock_id;  // 0
  uint32_t flags;    // 4 kLockWantAgain (return), kLockRecallAfter (grant)
  // then NoticeHeader + vector + notices for kLockReturn and kLockGrant
};
static_assert(sizeof(LockBody) == 8);
constexpr uint32_t kLockWantAgain = 1u << 0;    // the returning host still has waiters
constexpr uint32_t kLockRecallAfter = 1u << 1;  // others wait: give it back after one use

struct BarrierBody {
  uint64_t epoch;  // 0 barriers completed before this one
  // then NoticeHeader + vector + notices; kBarrierDepart then MoveHeader +
  // moves
};
static_assert(sizeof(BarrierBody) == 8);

// Home migration (kHomeMigrate): the pages whose home the barrier moved,
// sorted by page, at most one per page. Every host gets the whole list.
// `version` is the page's version at its old home when the barrier
// completed, which the new home's copy must have.
struct MoveHeader {
  uint64_t move_count;  // 0
};
static_assert(sizeof(MoveHeader) == 8);
struct HomeMove {
  uint32_t page;     // 0
  uint32_t home;     // 4 the new home host
  uint64_t version;  // 8
};
static_assert(sizeof(HomeMove) == 16);

// kHomeQuery (and the replies' count): count page indices (uint32 each)
// follow.
struct PageListBody {
  uint32_t count;  // 0
  uint32_t flags;  // 4 kHomeQuery: kClaimFirst, claim count
};
static_assert(sizeof(PageListBody) == 8);
// Under first touch, the first page of the query is claimed for the sender
// if it has no home yet; the others (read-ahead) are only looked up. Bits
// 16-31, when not zero, extend the claim to that many leading pages of the
// query (a host that touches untouched pages in order claims ahead).
constexpr uint32_t kClaimFirst = 1u << 0;
constexpr uint32_t kClaimCountShift = 16;
constexpr uint32_t ClaimedPages(uint32_t flags) {
  const uint32_t n = flags >> kClaimCountShift;
  return n != 0 ? n : (flags & kClaimFirst);
}

// kFetch (count page indices follow) and kDiff (count DiffEntry and their
// bytes follow). `epoch` is the number of barriers the sender had departed
// when it sent the request: a home that has departed fewer defers the
// request until it has (a barrier may have moved the page's home to it, and
// the sender heard of the move first).
struct PageRequestBody {
  uint32_t count;  // 0
  uint32_t flags;  // 4 0
  uint64_t epoch;  // 8
};
static_assert(sizeof(PageRequestBody) == 16);

// kHomeReply: count entries of HomeEntry follow.
struct HomeEntry {
  uint32_t page;  // 0
  uint32_t home;  // 4 host id, or kNoHome (looked up, not claimed, no home yet)
};
constexpr uint32_t kNoHome = ~0u;
static_assert(sizeof(HomeEntry) == 8);

// kFetchReply: count times (FetchEntry, 4096 bytes of page).
struct FetchEntry {
  uint32_t page;     // 0
  uint32_t status;   // 4 0 ok, 1 not home here (the sender's directory was wrong)
  uint64_t version;  // 8
};
static_assert(sizeof(FetchEntry) == 16);

// kDiff: count times (DiffEntry, len bytes of encoded diff; see page_diff.h).
struct DiffEntry {
  uint32_t page;  // 0
  uint32_t len;   // 4 bytes of diff that follow
};
static_assert(sizeof(DiffEntry) == 8);

// kDiffAck: count DiffAckEntry follow.
struct DiffAckEntry {
  uint32_t page;         // 0
  uint32_t status;       // 4 0 ok, 1 not home here, 2 malformed diff
  uint64_t old_version;  // 8 the home's version before this diff
  uint64_t new_version;  // 16 after
};
static_assert(sizeof(DiffAckEntry) == 24);

struct AllocBody {
  uint64_t bytes;      // 0
  uint64_t alignment;  // 8
};
static_assert(sizeof(AllocBody) == 16);

struct AllocReplyBody {
  int32_t status;   // 0 a device::StatusCode
  uint32_t reserved;
  uint64_t offset;  // 8 offset of the block in the shared space
};
static_assert(sizeof(AllocReplyBody) == 16);

struct FreeBody {
  uint64_t offset;  // 0
};
static_assert(sizeof(FreeBody) == 8);

struct FreeReplyBody {
  int32_t status;  // 0
  uint32_t reserved;
};
static_assert(sizeof(FreeReplyBody) == 8);

// The type's name for logs ("hello", "lock-request"), or "unknown". Never null.
const char* MsgTypeName(uint16_t type);

// ---------------------------------------------------------------------------
// Encoding and checking whole messages (peer_protocol.cc).

// A header with kPeerMagic and kPeerVersion; body_len is set by EncodeMessage.
PeerHeader MakeHeader(uint16_t type, uint32_t from_host, uint32_t to_host, uint64_t job_id,
                      uint64_t request_id);

// The frame for header + body, with header.body_len = body.size() (the other
// fields as given, so tests can build bad frames). O(body) copy.
std::string EncodeMessage(const PeerHeader& header, std::string_view body);

struct DecodedMessage {
  PeerHeader header;
  std::string_view body;  // points into the decoded frame
};

// Status codes of DecodeMessage's errors, so that a caller can answer a hello
// of another job or version with the right refusal.
constexpr int kDecodeMalformed = EBADMSG;           // size, magic, type, body length
constexpr int kDecodeWrongVersion = EPROTONOSUPPORT;
constexpr int kDecodeWrongJob = EXDEV;
constexpr int kDecodeBadHost = ERANGE;               // from_host or to_host >= num_hosts

// Checks everything in the header: at least a header's bytes, magic, version
// (before anything else: another version's header may differ), a known type,
// job id, from/to host ids < num_hosts, body_len <= kMaxMessageBytes and
// body_len == frame size - header. Never reads past the frame. O(1).
Result<DecodedMessage> DecodeMessage(std::string_view frame, uint64_t job_id, uint32_t num_hosts);

// Membership bodies. Decoders check every length against the body.
struct Hello {
  uint32_t host_id = 0;
  uint32_t num_hosts = 0;
  std::string endpoint;
};
std::string EncodeHello(const Hello& hello);
Result<Hello> DecodeHello(std::string_view body);

// endpoints[h] is host h's endpoint; exactly num_hosts entries, each at most
// kMaxEndpoint bytes.
std::string EncodeWelcome(const std::vector<std::string>& endpoints);
Result<std::vector<std::string>> DecodeWelcome(std::string_view body, uint32_t num_hosts);

struct Refusal {
  uint32_t reason = 0;  // RefuseReason
  std::string text;     // for the log; at most kMaxRefuseText bytes
};
constexpr uint32_t kMaxRefuseText = 1024;
std::string EncodeRefuse(const Refusal& refusal);
Result<Refusal> DecodeRefuse(std::string_view body);
const char* RefuseReasonName(uint32_t reason);

}  // namespace dsm::hostd::peer
